// The worker process of the engine benchmark (bench/engine.ts forks it): a real Temporal worker running the bundled
// rollout workflow with in-process scripted activities (dev/scripted-ports.ts). Settings come as JSON in
// FLEDGE_ENGINE_WORKER; it answers `{ type: 'stats' }` messages on the IPC channel with the step timings so far.
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { quietWorkerLogs } from '../dev/temporal.ts';
import { createScriptedPorts, stepJitters, WARM_UP_CANARY } from '../dev/scripted-ports.ts';

export interface EngineWorkerSettings {
  address: string;
  namespace: string;
  taskQueue: string;
  bundlePath: string;
  intervalS: number;
  steps: number;
  /** WorkerOptions.maxCachedWorkflows (sticky cache size); absent: the SDK default. */
  maxCachedWorkflows?: number;
  /** WorkerOptions.reuseV8Context; absent: the SDK default (true). */
  reuseV8Context?: boolean;
  /** WorkerOptions.maxConcurrentWorkflowTaskExecutions; absent: the SDK default (40). */
  maxConcurrentWorkflowTasks?: number;
}

export interface EngineWorkerStats {
  type: 'stats';
  /** Step jitter of every canary so far, ms. */
  jitterMs: number[];
  /** Canaries by phase. */
  phases: Record<string, number>;
}

const settings = JSON.parse(process.env.FLEDGE_ENGINE_WORKER ?? '{}') as EngineWorkerSettings;
quietWorkerLogs();
const ports = createScriptedPorts({ intervalS: settings.intervalS, steps: settings.steps });
const connection = await NativeConnection.connect({ address: settings.address });
const options: WorkerOptions = {
  connection,
  namespace: settings.namespace,
  taskQueue: settings.taskQueue,
  workflowBundle: { codePath: settings.bundlePath },
  activities: ports.activities,
  ...(settings.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: settings.maxCachedWorkflows } : {}),
  ...(settings.reuseV8Context !== undefined ? { reuseV8Context: settings.reuseV8Context } : {}),
  ...(settings.maxConcurrentWorkflowTasks !== undefined
    ? { maxConcurrentWorkflowTaskExecutions: settings.maxConcurrentWorkflowTasks }
    : {}),
};
const worker = await Worker.create(options);
process.on('message', (msg: { type?: string }) => {
  if (msg.type !== 'stats') return;
  const phases: Record<string, number> = {};
  for (const c of ports.canaries.values()) phases[c.phase] = (phases[c.phase] ?? 0) + 1;
  const stats: EngineWorkerStats = {
    type: 'stats',
    jitterMs: stepJitters(
      [...ports.canaries].filter(([key]) => !key.endsWith(`/${WARM_UP_CANARY}`)).map(([, c]) => c),
      settings.intervalS * 1000,
    ),
    phases,
  };
  process.send?.(stats);
});
process.on('SIGTERM', () => worker.shutdown());
// The parent going away ends the worker too, so a killed benchmark leaves nothing behind.
process.on('disconnect', () => worker.shutdown());
process.send?.({ type: 'ready' });
await worker.run();
await connection.close();
process.exit(0);
