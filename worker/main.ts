// The controller process. Until the worker issue lands this is the minimal form: it connects to
// Temporal and to Kubernetes, says so, and runs a Temporal worker for the rollout workflows.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { pino } from 'pino';

const log = pino({ base: { component: 'fledge' } });
export const TASK_QUEUE = process.env.FLEDGE_TASK_QUEUE ?? 'fledge';

async function connectTemporal(address: string, namespace: string): Promise<void> {
  const conn = await Connection.connect({ address });
  try {
    const info = await conn.workflowService.getSystemInfo({});
    await conn.workflowService.describeNamespace({ namespace });
    log.info({ address, namespace, serverVersion: info.serverVersion }, 'connected to Temporal');
  } finally {
    await conn.close();
  }
}

async function connectKubernetes(): Promise<void> {
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  const version = await kc.makeApiClient(k8s.VersionApi).getCode();
  log.info({ server: kc.getCurrentCluster()?.server, version: version.gitVersion }, 'connected to Kubernetes');
}

async function main(): Promise<void> {
  const address = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
  const namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
  await connectTemporal(address, namespace);
  await connectKubernetes();
  const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
  if (!existsSync(workflowsPath)) {
    log.warn('no workflows yet; connected and idle');
    await new Promise<void>((resolve) => process.once('SIGTERM', resolve).once('SIGINT', resolve));
    return;
  }
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({ connection, namespace, taskQueue: TASK_QUEUE, workflowsPath });
  log.info({ taskQueue: TASK_QUEUE }, 'worker running');
  // Worker.run() shuts down gracefully on SIGINT/SIGTERM by default.
  await worker.run();
  await connection.close();
  log.info('worker stopped');
}

main().catch((err: unknown) => {
  log.error({ err }, 'fledge failed');
  process.exit(1);
});
