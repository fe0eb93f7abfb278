// Shared setup of the workflow tests: a real Temporal dev server, the scripted world, one in-process worker
// (reusing the on-disk workflow bundle), and helpers to build Canaries and run rollouts to their end.
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Revision, RolloutActivities, Routes } from '../../api/ports.ts';
import { quietWorkerLogs, startTemporal, type TemporalServer } from '../../dev/temporal.ts';
import { workflowBundlePath } from '../../dev/workflow-bundle.ts';
import { createScriptedActivities } from '../scripted/activities.ts';
import { newWorldCanary, startWorld, type World, type WorldCanary, type WorldCanaryInit } from '../scripted/world.ts';
import { rolloutSearchAttributes, rolloutWorkflowId } from '../../workflows/controls.ts';
import type { RolloutInput, RolloutOptions, RolloutResult } from '../../workflows/rollout.ts';

export const NAMESPACE = 'test';

export interface TestEnv {
  temporal: TemporalServer;
  client: Client;
  world: World;
  taskQueue: string;
  bundlePath: string;
  stop(): Promise<void>;
}

export async function setupEnv(label: string, opts: { worker?: boolean } = {}): Promise<TestEnv> {
  quietWorkerLogs();
  const [temporal, world, bundlePath] = await Promise.all([devServer(), startWorld(), workflowBundlePath()]);
  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection, namespace: temporal.namespace });
  const taskQueue = `fledge-${label}`;
  const stopWorker =
    opts.worker === false
      ? async () => {}
      : await startBundledWorker({ temporal, taskQueue, bundlePath }, createScriptedActivities(world.url));
  return {
    temporal,
    client,
    world,
    taskQueue,
    bundlePath,
    async stop() {
      await stopWorker();
      await connection.close();
      await world.close();
      await temporal.stop();
    },
  };
}

/** Runs an in-process worker of the bundled rollout workflow with the given activities; returns its stop. */
export async function startBundledWorker(
  env: Pick<TestEnv, 'temporal' | 'taskQueue' | 'bundlePath'>,
  activities: RolloutActivities,
): Promise<() => Promise<void>> {
  const native = await NativeConnection.connect({ address: env.temporal.address });
  const worker = await Worker.create({
    connection: native,
    namespace: env.temporal.namespace,
    taskQueue: env.taskQueue,
    workflowBundle: { codePath: env.bundlePath },
    activities,
  });
  const running = worker.run();
  return async () => {
    worker.shutdown();
    await running;
    await native.close();
  };
}

/**
 * The dev server for this test file. FLEDGE_TEST_TEMPORAL_ADDRESS reuses one already running (with our search
 * attributes registered) for fast local iteration; by default each file starts its own.
 */
async function devServer(): Promise<TemporalServer> {
  const address = process.env.FLEDGE_TEST_TEMPORAL_ADDRESS;
  if (!address) return startTemporal();
  return {
    address,
    namespace: process.env.FLEDGE_TEST_TEMPORAL_NAMESPACE ?? 'fledge-test',
    pid: 0,
    restart: async () => {
      throw new Error('FLEDGE_TEST_TEMPORAL_ADDRESS: a dev server this test did not start cannot be restarted');
    },
    stop: async () => {},
  };
}

/** A valid Canary for the Gateway API provider; `analysis` and `spec` override the defaults. */
export function canaryRaw(
  name: string,
  analysis: Record<string, unknown>,
  spec: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    apiVersion: 'flagger.app/v1beta1',
    kind: 'Canary',
    metadata: { name, namespace: NAMESPACE },
    spec: {
      provider: 'gatewayapi:v1',
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      service: { port: 80, gatewayRefs: [{ name: 'gateway', namespace: 'gateways' }] },
      progressDeadlineSeconds: 60,
      ...spec,
      analysis: { interval: '1s', threshold: 2, ...analysis },
    },
  };
}

/** A metric with a max threshold (values above fail). */
export function metric(name: string, max: number): Record<string, unknown> {
  return { name, query: `${name}_query`, thresholdRange: { max } };
}

export function hook(name: string, type: string): Record<string, unknown> {
  return { name, type, url: `http://hooks.invalid/${name}` };
}

/** Put a canary in the world as already initialized (primary runs rev-1), ready for a new revision rollout. */
export function seedInitialized(env: TestEnv, init: WorldCanaryInit): WorldCanary {
  const c = newWorldCanary({
    primary: { exists: true, ready: true, revision: 'rev-1' },
    canary: { scaled: 'down', ready: true },
    status: { phase: 'Initialized', lastAppliedRevision: 'rev-1' },
    ...init,
  });
  const meta = init.raw.metadata as { name: string; namespace: string };
  env.world.put(`${meta.namespace}/${meta.name}`, c);
  return c;
}

export const REV2: Revision = { hash: 'rev-2', generation: 2 };

export async function startRollout(
  env: TestEnv,
  name: string,
  opts: { revision?: Revision; cause?: string; options?: RolloutOptions } = {},
): Promise<WorkflowHandle> {
  const canary = { namespace: NAMESPACE, name };
  const input: RolloutInput = {
    canary,
    revision: opts.revision ?? REV2,
    cause: opts.cause ?? 'new-revision',
    options: opts.options,
  };
  // Started as the watcher starts it (worker/watcher.ts), search attributes included.
  return env.client.workflow.start('rollout', {
    taskQueue: env.taskQueue,
    workflowId: rolloutWorkflowId(canary),
    typedSearchAttributes: rolloutSearchAttributes(canary, 'Pending', input.revision.hash),
    args: [input],
  });
}

export async function runToEnd(
  env: TestEnv,
  name: string,
  opts: Parameters<typeof startRollout>[2] = {},
): Promise<{ result: RolloutResult; world: WorldCanary }> {
  const handle = await startRollout(env, name, opts);
  const result = (await handle.result()) as RolloutResult;
  return { result, world: env.world.get(`${NAMESPACE}/${name}`) };
}

/** Routes as compact strings, e.g. "90/10" or "100/0m" (mirrored), for readable sequence assertions. */
export function routeTrail(routes: Routes[]): string[] {
  return routes.map((r) => `${r.primary}/${r.canary}${r.mirrored ? 'm' : ''}`);
}

export async function waitUntil(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
