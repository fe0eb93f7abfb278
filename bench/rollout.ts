// Rollout benchmark on the end-to-end stack (dev/stack.ts: real apiserver + controller-manager + kwok,
// Temporal dev server, Prometheus scraping a healthy exporter, gateway stand-in, one `node worker/main.ts`).
//
//   node bench/rollout.ts                       20 runs, then 100 concurrent canaries
//   node bench/rollout.ts --runs 4 --canaries 10   a quick run
//   node bench/rollout.ts --canaries 0             latency and overhead only
//
// The canary: Gateway API, interval 1s, stepWeight 10, maxWeight 100 (10 weight steps), both builtin metrics.
// The podinfo fixture's minReadySeconds (5 s) is set to 0 (--min-ready-seconds) so the figures are fledge's.
//
//   latency   image patch sent to the apiserver → first HTTPRoute change giving the canary weight > 0, seen by a
//             watch on the apiserver
//   overhead  image patch → Canary phase Succeeded (watch), minus 10 × interval
//   RSS       VmRSS of the controller process (/proc/<pid>/status) every second: before the N canaries, with
//             them Initialized (idle: the last 10 s of --idle seconds, default 40), while they roll at once, and --after seconds (default 30) after the last
//             ended; printed also per canary (idle − before, rolling − idle) and as after vs idle
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { waitFor } from '../dev/cluster.ts';
import { procUsage } from '../dev/procstat.ts';
import { startStack, type Stack } from '../dev/stack.ts';
import {
  applyCanary as applyBenchCanary,
  nextImage,
  now,
  NamespaceWatch,
  setImage,
  sleep,
  type CanaryObj,
} from './kube.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    parallel: { type: 'string', default: '1' },
    canaries: { type: 'string', default: '100' },
    namespaces: { type: 'string', default: '5' },
    'min-ready-seconds': { type: 'string', default: '0' },
    'rss-timeout': { type: 'string', default: '600' },
    after: { type: 'string', default: '30' },
    idle: { type: 'string', default: '40' },
  },
});
const RUNS = Number(args.runs);
const PARALLEL = Math.max(1, Number(args.parallel));
const CANARIES = Number(args.canaries);
const NAMESPACES = Math.max(1, Math.min(Number(args.namespaces), CANARIES || 1));
const MIN_READY = Number(args['min-ready-seconds']);
const RSS_TIMEOUT_MS = Number(args['rss-timeout']) * 1000;
const AFTER_MS = Math.max(10, Number(args.after)) * 1000;
const IDLE_MS = Math.max(10, Number(args.idle)) * 1000;

const INTERVAL_S = 1;
const STEPS = 10;
const ANALYSIS = { interval: `${INTERVAL_S}s`, stepWeight: 10, maxWeight: 100, threshold: 2 };

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!;
}
const ms = (v: number) => `${v.toFixed(0)} ms`;
const mib = (kib: number) => `${(kib / 1024).toFixed(0)} MiB`;

interface Run {
  latencyMs: number;
  wallMs: number;
  /** First weight change → the last weight step (9 intervals apart at best). */
  stepsMs: number;
  /** Last weight step → Succeeded (promotion, primary rollout, routing back, scale-down). */
  tailMs: number;
  phase: string;
}

async function oneRollout(stack: Stack, watch: NamespaceWatch, ns: string, name: string): Promise<Run> {
  const t0 = now();
  await setImage(stack, ns, name, nextImage());
  const first = await watch.until(() => watch.firstWeightAfter(name, t0), 120_000, `first weight of ${ns}/${name}`);
  const [end, phase] = await watch.until(
    () => watch.phaseAfter(name, first, ['Succeeded', 'Failed']),
    300_000,
    `end of the rollout of ${ns}/${name}`,
  );
  const seen = (watch.weights.get(name) ?? []).filter(([t, w]) => t >= first && t <= end && w > 0);
  const top = seen.reduce((a, b) => (b[1] > a[1] ? b : a), seen[0]!)[0];
  return { latencyMs: first - t0, wallMs: end - t0, stepsMs: top - first, tailMs: end - top, phase };
}

async function latencyAndOverhead(stack: Stack): Promise<void> {
  const ns = await stack.createNamespace('bench');
  const watch = new NamespaceWatch(stack.kubeConfig, ns);
  await watch.start();
  const names = Array.from({ length: PARALLEL }, (_, i) => `podinfo${i}`);
  for (const name of names) await applyCanary(stack, ns, name);
  for (const name of names) await stack.waitForPhase(ns, 'Initialized', { name, timeoutMs: 180_000 });
  await stack.metrics.converged(ns, names[0]!);
  console.log(
    `\n## set image → first weight change, and overhead (${RUNS} runs, ${PARALLEL} canar${PARALLEL > 1 ? 'ies' : 'y'} at a time)`,
  );
  const runs: Run[] = [];
  let started = 0;
  await Promise.all(
    names.map(async (name) => {
      while (started < RUNS) {
        started++;
        const run = await oneRollout(stack, watch, ns, name);
        runs.push(run);
        console.log(
          `run ${String(runs.length).padStart(2)}  ${name}  latency ${ms(run.latencyMs).padStart(8)}  ` +
            `wall ${ms(run.wallMs).padStart(9)}  overhead ${ms(run.wallMs - STEPS * INTERVAL_S * 1000).padStart(8)}  ` +
            `(steps ${ms(run.stepsMs)}, promotion ${ms(run.tailMs)})  ${run.phase}`,
        );
        await sleep(500);
      }
    }),
  );
  watch.stop();
  const lat = runs.map((r) => r.latencyMs);
  const over = runs.map((r) => r.wallMs - STEPS * INTERVAL_S * 1000);
  const failed = runs.filter((r) => r.phase !== 'Succeeded').length;
  console.log(
    `\nset image → first weight change: p50 ${ms(percentile(lat, 50))}, p99 ${ms(percentile(lat, 99))} ` +
      `(min ${ms(Math.min(...lat))}, max ${ms(Math.max(...lat))}, n=${lat.length})`,
  );
  console.log(
    `rollout wall time − ${STEPS} × ${INTERVAL_S} s: p50 ${ms(percentile(over, 50))}, p99 ${ms(percentile(over, 99))} ` +
      `(wall p50 ${ms(
        percentile(
          runs.map((r) => r.wallMs),
          50,
        ),
      )}; ${failed} not Succeeded)`,
  );
  const steps = percentile(
    runs.map((r) => r.stepsMs),
    50,
  );
  const tail = percentile(
    runs.map((r) => r.tailMs),
    50,
  );
  const ideal = ms((STEPS - 1) * INTERVAL_S * 1000);
  console.log(
    `  of which: first → last weight step p50 ${ms(steps)} (${STEPS - 1} intervals = ${ideal}), ` +
      `last step → Succeeded p50 ${ms(tail)}`,
  );
}

const vmRssKiB = (pid: number): number | undefined => procUsage(pid)?.rssKiB;
const applyCanary = (stack: Stack, namespace: string, name: string) =>
  applyBenchCanary(stack, namespace, name, { analysis: ANALYSIS, minReadySeconds: MIN_READY });

async function concurrentRss(stack: Stack): Promise<void> {
  const pid = stack.controllers[0]!.server.pid;
  const samples: [number, number, string][] = [];
  let stage = 'idle';
  const sampler = setInterval(() => {
    const kib = vmRssKiB(pid);
    if (kib !== undefined) samples.push([now(), kib, stage]);
  }, 1000);
  const custom = stack.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
  const listPhases = async () => {
    const list = (await custom.listClusterCustomObject({
      group: 'flagger.app',
      version: 'v1beta1',
      plural: 'canaries',
    })) as { items: CanaryObj[] };
    return list.items.filter((c) => c.metadata.namespace.startsWith('rss-'));
  };
  const count = (items: CanaryObj[], phases: string[]) =>
    items.filter((c) => phases.includes(c.status?.phase ?? '')).length;
  try {
    console.log(`\n## controller RSS with ${CANARIES} concurrent canaries (${NAMESPACES} namespaces)`);
    const before = vmRssKiB(pid)!;
    const namespaces: string[] = [];
    for (let i = 0; i < NAMESPACES; i++) namespaces.push(await stack.createNamespace('rss'));
    const targets = Array.from({ length: CANARIES }, (_, i) => ({
      ns: namespaces[i % NAMESPACES]!,
      name: `podinfo${Math.floor(i / NAMESPACES)}`,
    }));
    stage = 'initializing';
    const t0 = now();
    for (let i = 0; i < targets.length; i += 10) {
      await Promise.all(targets.slice(i, i + 10).map((t) => applyCanary(stack, t.ns, t.name)));
    }
    await waitFor(
      async () => count(await listPhases(), ['Initialized']) === CANARIES,
      `${CANARIES} canaries Initialized`,
      RSS_TIMEOUT_MS,
    );
    console.log(`${CANARIES} canaries Initialized in ${((now() - t0) / 1000).toFixed(0)} s`);
    stage = 'initialized';
    await sleep(IDLE_MS);
    // The last 10 s of the idle wait: V8 frees the bootstrap runs' garbage only some seconds after they end.
    const idle = samples.filter((s) => s[2] === 'initialized' && s[0] >= now() - 10_000).map((s) => s[1]);
    console.log(
      `controller RSS before ${mib(before)}, ${CANARIES} Initialized (idle) ${mib(percentile(idle, 50))}: ` +
        `${((percentile(idle, 50) - before) / 1024 / CANARIES).toFixed(2)} MiB per idle canary`,
    );
    stage = 'rolling';
    const t1 = now();
    await Promise.all(targets.map((t) => setImage(stack, t.ns, t.name, nextImage())));
    let done = 0;
    let last = '';
    const deadline = t1 + RSS_TIMEOUT_MS;
    while (now() < deadline) {
      const items = await listPhases();
      done = count(items, ['Succeeded', 'Failed']);
      const progressing = count(items, ['Progressing', 'Promoting', 'Finalising']);
      const line = `  ${((now() - t1) / 1000).toFixed(0)} s: ${progressing} rolling, ${done} done, RSS ${mib(samples.at(-1)?.[1] ?? 0)}`;
      if (line !== last && Math.round((now() - t1) / 1000) % 10 === 0) console.log(line);
      last = line;
      if (done === CANARIES) break;
      await sleep(1000);
    }
    const wall = (now() - t1) / 1000;
    const failed = count(await listPhases(), ['Failed']);
    stage = 'after';
    await sleep(AFTER_MS);
    const rolling = samples.filter((s) => s[2] === 'rolling').map((s) => s[1]);
    // The last 10 s of the wait after the rollouts: what the process settles at.
    const after = samples.filter((s) => s[2] === 'after' && s[0] >= now() - 10_000).map((s) => s[1]);
    console.log(
      `\n${done}/${CANARIES} rollouts ended in ${wall.toFixed(0)} s (${failed} Failed; alone one takes ~${STEPS} s of intervals)`,
    );
    console.log(`controller RSS before the ${CANARIES} canaries: ${mib(before)}`);
    console.log(`controller RSS, ${CANARIES} canaries Initialized (idle): median ${mib(percentile(idle, 50))}`);
    console.log(
      `controller RSS while ${CANARIES} roll at once: peak ${mib(Math.max(...rolling))}, ` +
        `steady state (median) ${mib(percentile(rolling, 50))}, n=${rolling.length} samples`,
    );
    console.log(`controller RSS ${AFTER_MS / 1000} s after the last rollout: ${mib(percentile(after, 50))}`);
    const idleMedian = percentile(idle, 50);
    const perCanary = (kib: number) => `${(kib / 1024 / CANARIES).toFixed(2)} MiB`;
    console.log(
      `per idle (Initialized) canary: ${perCanary(idleMedian - before)} (target ≤ 0.5); ` +
        `per rolling canary above idle: ${perCanary(percentile(rolling, 50) - idleMedian)} median, ` +
        `${perCanary(Math.max(...rolling) - idleMedian)} peak (target ≤ 1); ` +
        `after vs idle: ${(((percentile(after, 50) - idleMedian) / idleMedian) * 100).toFixed(0)} % (target ≤ 10 %)`,
    );
  } finally {
    clearInterval(sampler);
  }
}

async function main(): Promise<void> {
  const t0 = now();
  const nodes = Math.max(2, Math.ceil((2 * Math.max(CANARIES, PARALLEL) + 20) / 100));
  console.log(`# fledge rollout benchmark: ${process.argv.slice(2).join(' ') || '(defaults)'}`);
  const stack = await startStack({ controllers: 1, nodes });
  const stop = async () => {
    await stack.stop();
    process.exit(130);
  };
  // `timeout` sends SIGTERM: the servers run in process groups of their own and would outlive us otherwise.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void stop());
  try {
    console.log(`stack up in ${((now() - t0) / 1000).toFixed(0)} s (${nodes} kwok nodes, 1 controller)`);
    if (RUNS > 0) await latencyAndOverhead(stack);
    if (CANARIES > 0) await concurrentRss(stack);
  } finally {
    await stack.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
