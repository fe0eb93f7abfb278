// Engine benchmark: many concurrent rollouts on a real Temporal dev server and one real worker process
// (bench/engine-worker.ts) whose activities are scripted in-process (dev/scripted-ports.ts), so only Temporal and
// the workflow are measured, not Kubernetes.
//
//   node bench/engine.ts --rollouts 1000                        1,000 concurrent 10-step rollouts, interval 10 s
//   node bench/engine.ts --rollouts 1000 --max-cached 100       the same with a small sticky cache (evictions)
//   node bench/engine.ts --rollouts 5 --interval 1              a quick run
//   options: --steps N (divides 100), --interval S, --max-cached N, --reuse-v8-context true|false,
//            --max-concurrent-wft N (workflow tasks the worker runs at once), --start-batch N, --timeout S,
//            --db DIR (where the dev server keeps its SQLite file; default /dev/shm when it exists, so the
//            server's fsyncs measure memory, not this machine's disk), --node-flags controller|none (the worker's
//            node flags: the controller's, worker/node-flags.ts, by default; none: V8's defaults),
//            --dynamic-config key=value (the dev server's, repeatable; on top of worker/dev-server.ts's)
//
// Prints: step jitter p50/p99/max (time between two weight steps − interval), worker RSS idle vs. while every
// rollout is open (MiB per open rollout), worker CPU-seconds per rollout, history events per rollout. Every run
// stops by itself (--timeout, default 900 s).
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { REPO_ROOT } from '../dev/proc.ts';
import { percentile, procUsage, RssSampler } from '../dev/procstat.ts';
import { startTemporal } from '../dev/temporal.ts';
import { workflowBundlePath } from '../dev/workflow-bundle.ts';
import type { RolloutInput } from '../workflows/rollout.ts';
import { rolloutSearchAttributes, rolloutWorkflowId } from '../workflows/controls.ts';
import type { EngineWorkerSettings, EngineWorkerStats } from './engine-worker.ts';
import { eventKind, stepLatencies, type StepLatency } from './timeline.ts';
import { WARM_UP_CANARY } from '../dev/scripted-ports.ts';
import { controllerNodeFlags } from '../worker/node-flags.ts';

const { values: args } = parseArgs({
  options: {
    rollouts: { type: 'string', default: '1000' },
    steps: { type: 'string', default: '10' },
    interval: { type: 'string', default: '10' },
    'max-cached': { type: 'string' },
    'reuse-v8-context': { type: 'string' },
    'max-concurrent-wft': { type: 'string' },
    'start-batch': { type: 'string', default: '50' },
    spread: { type: 'string', default: '0' },
    'node-flags': { type: 'string', default: 'controller' },
    timeout: { type: 'string', default: '900' },
    db: { type: 'string' },
    'dynamic-config': { type: 'string', multiple: true },
  },
});
const ROLLOUTS = Number(args.rollouts);
const STEPS = Number(args.steps);
const INTERVAL_S = Number(args.interval);
const TIMEOUT_MS = Number(args.timeout) * 1000;
const BATCH = Math.max(1, Number(args['start-batch']));
/** Seconds over which the starts are spread evenly (0: in batches, as fast as the server takes them). */
const SPREAD_MS = Math.max(0, Number(args.spread)) * 1000;
if (!Number.isInteger(100 / STEPS)) throw new Error('--steps must divide 100');
if (!['controller', 'none'].includes(args['node-flags'])) throw new Error('--node-flags is controller or none');
/** The worker's node flags: the controller's, as the image runs it, unless --node-flags none (V8's defaults). */
const WORKER_NODE_FLAGS = args['node-flags'] === 'none' ? [] : controllerNodeFlags(REPO_ROOT);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();
const mib = (kib: number) => `${(kib / 1024).toFixed(0)} MiB`;
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** `--dynamic-config key=value` flags (value as JSON, else a string) as startTemporal's dynamicConfig. */
function dynamicConfigOf(pairs: string[]): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    if (i <= 0) throw new Error(`--dynamic-config takes key=value, got ${JSON.stringify(pair)}`);
    const raw = pair.slice(i + 1);
    let value: string | number | boolean = raw;
    try {
      value = JSON.parse(raw) as string | number | boolean;
    } catch {
      // a plain string
    }
    out[pair.slice(0, i)] = value;
  }
  return out;
}

/** Asks the worker for its stats over IPC. */
function stats(child: ChildProcess): Promise<EngineWorkerStats> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the worker did not answer a stats request in 30 s')), 30_000);
    const on = (msg: { type?: string }) => {
      if (msg.type !== 'stats') return;
      clearTimeout(timer);
      child.off('message', on);
      resolve(msg as EngineWorkerStats);
    };
    child.on('message', on);
    child.send({ type: 'stats' });
  });
}

function startWorker(settings: EngineWorkerSettings): Promise<ChildProcess> {
  const child = fork(join(REPO_ROOT, 'bench', 'engine-worker.ts'), [], {
    execArgv: [...process.execArgv, ...WORKER_NODE_FLAGS],
    env: { ...process.env, FLEDGE_ENGINE_WORKER: JSON.stringify(settings) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`worker exited (${code ?? signal}) before it was ready`)));
    child.once('message', () => resolve(child));
  });
}

/**
 * Starts `names` evenly over `spreadMs` (the i-th at i × spreadMs / N after the first), as `kubectl set image`s
 * arriving over time rather than at one instant; resolves once every start was accepted.
 */
async function startSpread(names: string[], start: (name: string) => Promise<unknown>, spreadMs: number) {
  const t0 = now();
  const started: Promise<unknown>[] = [];
  for (const [i, name] of names.entries()) {
    const wait = t0 + (i * spreadMs) / names.length - now();
    if (wait > 0) await sleep(wait);
    started.push(start(name));
  }
  await Promise.all(started);
}

/** One rollout's history events counted by kind ("timerStarted 10, markerRecorded core_local_activity 33, …"). */
async function eventKinds(client: Client, name: string): Promise<string> {
  const history = await client.workflow.getHandle(rolloutWorkflowId({ namespace: 'bench', name })).fetchHistory();
  const counts = new Map<string, number>();
  for (const e of history.events ?? []) {
    const [kind, detail] = eventKind(e);
    const label = detail ? `${kind} ${detail}` : kind;
    counts.set(label, (counts.get(label) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => `${k} ${n}`).join(', ');
}

/** Step latencies (bench/timeline.ts) of every named rollout, histories fetched `parallel` at a time. */
async function latencies(client: Client, names: string[], parallel = 20): Promise<StepLatency[]> {
  const out: StepLatency[] = [];
  for (let i = 0; i < names.length; i += parallel) {
    const batch = await Promise.all(
      names.slice(i, i + parallel).map(async (name) => {
        const h = await client.workflow.getHandle(rolloutWorkflowId({ namespace: 'bench', name })).fetchHistory();
        return stepLatencies(h.events ?? []);
      }),
    );
    out.push(...batch.flat());
  }
  return out;
}

/** Lines: p50/p99/max of each segment of the steps' lateness, then the 10 s windows with the latest steps. */
function latencyReport(steps: StepLatency[]): string[] {
  if (steps.length === 0) return ['step lateness: no step followed a timer'];
  const keys = ['timer', 'taskQueue', 'task', 'activityQueue', 'total'] as const;
  const lines = [`step lateness (interval timer due → setRoutes started, server clock; n=${steps.length}):`];
  for (const k of keys) {
    const v = steps.map((x) => x[k]);
    lines.push(
      `  ${k.padEnd(13)} p50 ${s(percentile(v, 50))}, p90 ${s(percentile(v, 90))}, p99 ${s(percentile(v, 99))}, max ${s(Math.max(...v))}`,
    );
  }
  const t0 = Math.min(...steps.map((x) => x.dueAt));
  const windows = new Map<number, StepLatency[]>();
  for (const x of steps) {
    const w = Math.floor((x.dueAt - t0) / 10_000);
    const list = windows.get(w);
    if (list) list.push(x);
    else windows.set(w, [x]);
  }
  const p90 = (xs: StepLatency[], k: (typeof keys)[number]) =>
    percentile(
      xs.map((x) => x[k]),
      90,
    );
  const worst = [...windows].map(([w, xs]) => ({ w, xs, total: p90(xs, 'total') })).sort((a, b) => b.total - a.total);
  lines.push('  worst 10 s windows (from the first due timer): p90 of total, and of each segment');
  for (const { w, xs, total } of worst.slice(0, 8)) {
    const p = (k: (typeof keys)[number]) => s(p90(xs, k));
    lines.push(
      `    +${w * 10}s n=${xs.length}: total ${s(total)} = timer ${p('timer')}, taskQueue ${p('taskQueue')}, task ${p('task')}, activityQueue ${p('activityQueue')}`,
    );
  }
  return lines;
}

async function main(): Promise<void> {
  const deadline = now() + TIMEOUT_MS;
  const left = () => deadline - now();
  console.log(`# fledge engine benchmark: ${process.argv.slice(2).join(' ') || '(defaults)'}`);
  const dbRoot = args.db ?? (existsSync('/dev/shm') ? '/dev/shm' : undefined);
  const dbDir = dbRoot === undefined ? undefined : mkdtempSync(join(dbRoot, 'fledge-engine-bench-'));
  process.once('exit', () => dbDir && rmSync(dbDir, { recursive: true, force: true }));
  console.log(`# Temporal dev server database: ${dbDir ?? 'the default temporary folder'}`);
  const [temporal, bundlePath] = await Promise.all([
    startTemporal({
      ...(dbDir === undefined ? {} : { dbFile: join(dbDir, 'temporal.sqlite') }),
      dynamicConfig: dynamicConfigOf(args['dynamic-config'] ?? []),
    }),
    workflowBundlePath(),
  ]);
  let child: ChildProcess | undefined;
  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection, namespace: temporal.namespace });
  const taskQueue = 'fledge-engine-bench';
  const kill = () => child?.kill('SIGKILL');
  process.once('exit', kill);
  // `timeout` sends SIGTERM: the dev server runs in a process group of its own and would outlive us otherwise.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => void temporal.stop().finally(() => process.exit(130)));
  }
  try {
    child = await startWorker({
      address: temporal.address,
      namespace: temporal.namespace,
      taskQueue,
      bundlePath,
      intervalS: INTERVAL_S,
      steps: STEPS,
      ...(args['max-cached'] !== undefined ? { maxCachedWorkflows: Number(args['max-cached']) } : {}),
      ...(args['reuse-v8-context'] !== undefined ? { reuseV8Context: args['reuse-v8-context'] !== 'false' } : {}),
      ...(args['max-concurrent-wft'] !== undefined
        ? { maxConcurrentWorkflowTasks: Number(args['max-concurrent-wft']) }
        : {}),
    });
    const pid = child.pid!;
    const sampler = new RssSampler(pid, 1000);
    const start = (name: string) => {
      const canary = { namespace: 'bench', name };
      const input: RolloutInput = { canary, revision: { hash: 'rev-2', generation: 2 }, cause: 'new-revision' };
      // With the search attributes the watcher starts an execution with (worker/watcher.ts).
      return client.workflow.start('rollout', {
        taskQueue,
        workflowId: rolloutWorkflowId(canary),
        typedSearchAttributes: rolloutSearchAttributes(canary, 'Pending', input.revision.hash),
        args: [input],
      });
    };
    // Warm-up: one rollout to its end loads the bundle into the worker's V8 context; then the worker is idle.
    sampler.stage = 'warm-up';
    const warm = await start(WARM_UP_CANARY);
    await warm.result();
    sampler.stage = 'idle';
    await sleep(5000);
    const idle = percentile(sampler.of('idle'), 50);
    const cpu0 = procUsage(pid)!.cpuSeconds;
    const serverCpu0 = procUsage(temporal.pid)?.cpuSeconds ?? 0;

    sampler.stage = 'starting';
    const t0 = now();
    const names = Array.from({ length: ROLLOUTS }, (_, i) => `podinfo${i}`);
    if (SPREAD_MS > 0) await startSpread(names, start, SPREAD_MS);
    else for (let i = 0; i < names.length; i += BATCH) await Promise.all(names.slice(i, i + BATCH).map(start));
    const startedIn = now() - t0;
    sampler.stage = 'open';
    let done = 0;
    let firstDoneAt: number | undefined;
    let lastLog = 0;
    while (left() > 0) {
      const st = await stats(child);
      done = (st.phases.Succeeded ?? 0) + (st.phases.Failed ?? 0) - 1; // minus the warm-up canary
      if (done > 0 && firstDoneAt === undefined) {
        firstDoneAt = now();
        sampler.stage = 'ending';
      }
      if (now() - lastLog > 10_000) {
        lastLog = now();
        const u = procUsage(pid);
        console.log(`  ${s(now() - t0)}: ${done}/${ROLLOUTS} ended, worker RSS ${mib(u?.rssKiB ?? 0)}`);
      }
      if (done >= ROLLOUTS) break;
      await sleep(1000);
    }
    const wall = now() - t0;
    const cpu = procUsage(pid)!.cpuSeconds - cpu0;
    const serverCpu = (procUsage(temporal.pid)?.cpuSeconds ?? 0) - serverCpu0;
    sampler.stage = 'after';
    await sleep(Math.min(10_000, Math.max(0, left())));
    const final = await stats(child);
    const open = sampler.of('open');
    const after = percentile(sampler.of('after'), 50);
    const hwm = procUsage(pid)!.hwmKiB;
    sampler.stop();
    // History length of a sample of rollouts (each describe is one call to the server).
    const sample = names.filter((_, i) => i % Math.max(1, Math.floor(ROLLOUTS / 20)) === 0);
    const lengths = await Promise.all(
      sample.map(async (n) => {
        const d = await client.workflow.getHandle(rolloutWorkflowId({ namespace: 'bench', name: n })).describe();
        return d.historyLength;
      }),
    );
    const j = final.jitterMs;
    const openMedian = percentile(open, 50);
    const spread = SPREAD_MS > 0 ? `, starts spread over ${SPREAD_MS / 1000} s` : '';
    console.log(`\n## ${ROLLOUTS} concurrent rollouts, ${STEPS} steps, interval ${INTERVAL_S} s${spread}`);
    console.log(
      `worker: maxCachedWorkflows ${args['max-cached'] ?? 'SDK default'}, reuseV8Context ${args['reuse-v8-context'] ?? 'SDK default (true)'}, ` +
        `maxConcurrentWorkflowTaskExecutions ${args['max-concurrent-wft'] ?? 'SDK default (40)'}, ` +
        `node flags ${WORKER_NODE_FLAGS.join(' ') || "none (V8's defaults)"}`,
    );
    console.log(
      `started all in ${s(startedIn)}; ${done}/${ROLLOUTS} ended in ${s(wall)}; phases ${JSON.stringify(final.phases)}`,
    );
    console.log(
      `step jitter (step time − interval): p50 ${s(percentile(j, 50))}, p99 ${s(percentile(j, 99))}, max ${s(Math.max(...j))} (n=${j.length})`,
    );
    console.log(
      `worker RSS: idle ${mib(idle)}, ${ROLLOUTS} open: median ${mib(openMedian)} (n=${open.length}), peak ${mib(Math.max(...open))}, ` +
        `VmHWM ${mib(hwm)}; 10 s after the last ended ${mib(after)}`,
    );
    console.log(`  per open rollout above idle: ${((openMedian - idle) / 1024 / ROLLOUTS).toFixed(3)} MiB (median)`);
    console.log(
      `worker CPU: ${cpu.toFixed(1)} s for ${ROLLOUTS} rollouts = ${((cpu / ROLLOUTS) * 1000).toFixed(0)} ms per rollout`,
    );
    console.log(
      `Temporal dev server CPU: ${serverCpu.toFixed(1)} s = ${((serverCpu / ROLLOUTS) * 1000).toFixed(0)} ms per rollout`,
    );
    console.log(
      `history events per rollout: median ${percentile(lengths, 50)} (min ${Math.min(...lengths)}, max ${Math.max(...lengths)}, n=${lengths.length})`,
    );
    console.log(`  by kind (${sample[0]}): ${await eventKinds(client, sample[0]!)}`);
    for (const line of latencyReport(await latencies(client, names))) console.log(line);
    if (done < ROLLOUTS) process.exitCode = 1;
  } finally {
    child?.kill('SIGTERM');
    await connection.close();
    await temporal.stop();
  }
}

main()
  .catch((err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exitCode = 1;
  })
  .finally(() => process.exit());
