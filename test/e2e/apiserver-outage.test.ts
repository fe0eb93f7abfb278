// kube-apiserver stopped for 60 s in the middle of a rollout (issue 20 item 3), end to end on the whole product
// (dev/stack.ts: real apiserver on its own etcd, controller-manager, kwok, Temporal dev server, Prometheus, the
// real controller process). etcd keeps running, so the cluster comes back with its state. While the apiserver
// is down the rollout holds at its step and says why (the workflow's status query); once it is back the same
// workflow run resumes from that step and promotes: no failed check counted, no workflow failure, no new run.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { waitFor } from '../../dev/cluster.ts';
import { startStack, type Stack } from '../../dev/stack.ts';
import { rolloutWorkflowId, type StatusView } from '../../workflows/controls.ts';
import { NEW_IMAGE, recordWeights } from './helpers.ts';

const OUTAGE_MS = 60_000;

let stack: Stack;
let connection: Connection;
let client: Client;
before(async () => {
  stack = await startStack({ controllers: 1 });
  connection = await Connection.connect({ address: stack.temporalServer.address });
  client = new Client({ connection, namespace: stack.temporalServer.namespace });
});
after(async () => {
  await connection?.close();
  await stack?.stop();
});

async function status(handle: WorkflowHandle): Promise<StatusView> {
  return handle.query<StatusView>('status');
}

describe('kube-apiserver outage mid-rollout', () => {
  it('60 s without the apiserver: the rollout holds at its step, then the same run resumes and promotes', async () => {
    const ns = await stack.createNamespace('outage');
    // 5 s steps to 50 %: the outage lands mid-way with steps still to go.
    await stack.applyPodinfo(ns, {
      analysis: { interval: '5s', stepWeight: 10, maxWeight: 50 },
      spec: { progressDeadlineSeconds: 300 },
    });
    const weights = recordWeights(stack, ns);
    await stack.kubectl(['set', 'image', '-n', ns, 'deploy/podinfo', `podinfod=${NEW_IMAGE}`]);
    const handle = client.workflow.getHandle(rolloutWorkflowId({ namespace: ns, name: 'podinfo' }));
    await waitFor(async () => (await status(handle)).weights.canary >= 20, 'canary weight 20', 180_000);
    const { runId } = await handle.describe();
    const before = await status(handle);
    assert.equal(before.failedChecks, 0);

    const stopped = Date.now();
    await stack.cluster.stopApiserver();
    // The fault is visible while it lasts (the status query: `fledge get -w` and `fledge status` show it).
    await waitFor(
      async () => /the observation to recover/.test((await status(handle)).waitingFor),
      'the outage in the rollout status',
      OUTAGE_MS,
    );
    const during = await status(handle);
    assert.match(during.message, /^infrastructure fault: observe: /);
    // The weight it held at: at most one step further than before the outage (a tick under way may finish).
    assert.ok(during.weights.canary - before.weights.canary <= 10, JSON.stringify(during.weights));
    await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - stopped))));
    assert.equal((await status(handle)).weights.canary, during.weights.canary, 'no step while the apiserver is down');
    await stack.cluster.startApiserver();
    const downMs = Date.now() - stopped;

    const done = await stack.waitForPhase(ns, ['Succeeded', 'Failed'], { timeoutMs: 240_000 }).catch(async (err) => {
      const view = await status(handle).catch(() => undefined);
      throw new Error(`${(err as Error).message}\nwaiting for: ${view?.waitingFor}; ${view?.message}`, { cause: err });
    });
    assert.equal(done.status?.phase, 'Succeeded', stack.controllerLogs());
    assert.equal(done.status?.failedChecks, 0);
    const end = await handle.describe();
    assert.equal(end.runId, runId, 'the same workflow run resumed (no failure, no new run)');
    const seen = await weights.stop();
    // One rollout, resumed from its step: the canary's weight rose step by step to 50 % and never fell back.
    const rising = seen.slice(0, seen.indexOf(50) + 1).filter((w) => w > 0);
    assert.deepEqual(
      rising,
      [...rising].sort((a, b) => a - b),
      `weights ${JSON.stringify(seen)}`,
    );
    assert.equal(seen.at(-1), 0);
    const steps = (await status(handle)).steps.map((s) => s.note);
    console.log(`apiserver down ${downMs} ms; weights ${JSON.stringify(seen)}`);
    assert.ok(!steps.some((n) => /Rolling back/.test(n)), JSON.stringify(steps));
  });
});
