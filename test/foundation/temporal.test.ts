// A real Temporal dev server: durable timer, signal, and a worker replaced mid-workflow.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { quietWorkerLogs, startTemporal, type TemporalServer } from '../../dev/temporal.ts';
import { createActivities } from './activities.ts';
import { goSignal, sleepThenStamp, timerOrSignal } from './workflows.ts';

const workflowsPath = fileURLToPath(new URL('./workflows.ts', import.meta.url));
let temporal: TemporalServer;
let client: Client;
let connection: Connection;

before(async () => {
  quietWorkerLogs();
  temporal = await startTemporal();
  connection = await Connection.connect({ address: temporal.address });
  client = new Client({ connection, namespace: temporal.namespace });
});

after(async () => {
  await connection?.close();
  await temporal?.stop();
});

async function newWorker(taskQueue: string, name: string) {
  const nativeConnection = await NativeConnection.connect({ address: temporal.address });
  const worker = await Worker.create({
    connection: nativeConnection,
    namespace: temporal.namespace,
    taskQueue,
    workflowsPath,
    activities: createActivities(name),
  });
  const running = worker.run();
  return {
    async stop() {
      worker.shutdown();
      await running;
      await nativeConnection.close();
    },
  };
}

test('a durable timer fires and a signal wins over a long timer', async () => {
  const taskQueue = 'foundation-timer';
  const worker = await newWorker(taskQueue, 'w1');
  try {
    const timed = await client.workflow.execute(timerOrSignal, {
      taskQueue,
      workflowId: 'timer-only',
      args: [500],
    });
    assert.equal(timed, 'timer');
    const handle = await client.workflow.start(timerOrSignal, {
      taskQueue,
      workflowId: 'signal-first',
      args: [600_000],
    });
    await handle.signal(goSignal, 'now');
    assert.equal(await handle.result(), 'signal:now');
    const history = await handle.fetchHistory();
    const kinds = history.events?.map((e) => e.eventType) ?? [];
    assert.ok(kinds.length > 0, 'history recorded');
  } finally {
    await worker.stop();
  }
});

test('a workflow survives its worker being stopped and replaced mid-timer', async () => {
  const taskQueue = 'foundation-restart';
  const first = await newWorker(taskQueue, 'first');
  const handle = await client.workflow.start(sleepThenStamp, {
    taskQueue,
    workflowId: 'restart',
    args: [3000, 'r'],
  });
  // Wait until the first activity completed, so the workflow is parked on its timer.
  for (let i = 0; i < 100; i++) {
    const h = await handle.fetchHistory();
    if (h.events?.some((e) => e.timerStartedEventAttributes)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await first.stop();
  const second = await newWorker(taskQueue, 'second');
  try {
    // The timer is durable: the second worker picks the workflow up and finishes it.
    assert.equal(await handle.result(), 'r:before@first|r:after@second');
  } finally {
    await second.stop();
  }
});
