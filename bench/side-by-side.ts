// fledge and Flagger v1.44.0 side by side on the same simulated cluster (dev/stack.ts: real apiserver +
// controller-manager + kwok, Prometheus scraping the stack's exporter, the gateway stand-in), one controller at a
// time, each in a namespace of its own, with the same Gateway API Canaries.
//
//   node bench/side-by-side.ts                        3 succeeding + 1 failing rollout each, interval 10 s, 10 steps
//   node bench/side-by-side.ts --steps 5 --rollouts 2  a shorter run
//
// Flagger is built from the Go module proxy into the binary cache on first use (scripts/build-binaries.sh flagger,
// about 3–6 minutes cold on 2 cores) and run as a process against the apiserver with the stack's kubeconfig,
// `-mesh-provider gatewayapi:v1` and `-metrics-server` at the stack's Prometheus. fledge is `node worker/main.ts
// --mode all` of the stack, against the stack's Temporal dev server.
//
// Per controller: set image → canary scaled up (target Deployment replicas > 0), → first weight > 0 on the
// HTTPRoute, → Canary Succeeded; for the failing canary, metrics turned bad → failedChecks at the threshold →
// all traffic back on the primary; controller CPU-seconds and peak RSS (/proc/<pid>/stat, VmHWM). Stops by itself
// (--timeout per controller, default 900 s).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, REPO_ROOT, spawnServer, waitReady, type Server } from '../dev/proc.ts';
import { rolloutTimeline } from './timeline.ts';
import { percentile, procUsage } from '../dev/procstat.ts';
import { startStack, type Stack } from '../dev/stack.ts';
import { applyCanary, FULL_GATEWAY_REF, nextImage, now, NamespaceWatch, setImage, sleep } from './kube.ts';

const { values: args } = parseArgs({
  options: {
    rollouts: { type: 'string', default: '3' },
    steps: { type: 'string', default: '10' },
    interval: { type: 'string', default: '10' },
    timeout: { type: 'string', default: '900' },
    only: { type: 'string' },
  },
});
const ROLLOUTS = Number(args.rollouts);
const STEPS = Number(args.steps);
const INTERVAL_S = Number(args.interval);
const TIMEOUT_MS = Number(args.timeout) * 1000;
const THRESHOLD = 2;
if (!Number.isInteger(100 / STEPS)) throw new Error('--steps must divide 100');
const ANALYSIS = { interval: `${INTERVAL_S}s`, stepWeight: 100 / STEPS, maxWeight: 100, threshold: THRESHOLD };

interface Timings {
  scaleUp: number[];
  firstWeight: number[];
  succeeded: number[];
  /** Failing canary: metrics turned bad → failedChecks reached the threshold. */
  badToThreshold: number[];
  /** Failing canary: failedChecks at the threshold → canary weight 0 (100 % primary). */
  thresholdToPrimary: number[];
  /** Failing canary: metrics turned bad → 100 % primary. */
  badToPrimary: number[];
  cpuSeconds: number;
  rssIdleKiB: number;
  rssPeakKiB: number;
  rollouts: number;
  /** fledge only: the Temporal dev server's CPU-seconds over the same rollouts (Flagger needs none). */
  temporalCpuSeconds?: number;
}

interface ControllerRun {
  name: string;
  pid: () => number;
  stop: () => Promise<void>;
}

/** Flagger v1.44.0 from the binary cache (built on first use). */
function flaggerBinary(): string {
  const out = execFileSync('bash', [join(REPO_ROOT, 'scripts', 'build-binaries.sh'), 'flagger'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const path = /^FLEDGE_FLAGGER_BIN=(.+)$/m.exec(out)?.[1];
  if (!path) throw new Error(`scripts/build-binaries.sh flagger printed no path: ${out}`);
  return path;
}

async function startFlagger(stack: Stack, bin: string, namespace: string): Promise<ControllerRun> {
  const port = await freePort();
  const server: Server = spawnServer({
    name: 'flagger',
    bin,
    args: [
      '-kubeconfig',
      stack.kubeconfigPath,
      '-mesh-provider',
      'gatewayapi:v1',
      '-metrics-server',
      stack.prometheus.url,
      '-namespace',
      namespace,
      '-port',
      String(port),
      '-log-level',
      'info',
      '-enable-leader-election=false',
    ],
    logFile: join(stack.dir, 'flagger.log'),
  });
  await waitReady(server, async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, { timeoutMs: 60_000 });
  return { name: 'Flagger v1.44.0', pid: () => server.pid, stop: () => server.stop() };
}

/** One controller: canaries Initialized, then ROLLOUTS succeeding rollouts and one failing, all at once. */
async function measure(stack: Stack, run: ControllerRun, ns: string, temporalPid?: number): Promise<Timings> {
  const deadline = now() + TIMEOUT_MS;
  const left = () => Math.max(1000, deadline - now());
  const watch = new NamespaceWatch(stack.kubeConfig, ns);
  await watch.start();
  const good = Array.from({ length: ROLLOUTS }, (_, i) => `podinfo${i}`);
  const bad = 'podinfo-bad';
  const all = [...good, bad];
  try {
    const spec = { service: { port: 9898, targetPort: 9898, gatewayRefs: [FULL_GATEWAY_REF] } };
    for (const name of all) await applyCanary(stack, ns, name, { analysis: ANALYSIS, minReadySeconds: 0, spec });
    await Promise.all(all.map((name) => stack.waitForPhase(ns, 'Initialized', { name, timeoutMs: left() })));
    await Promise.all(all.map((name) => stack.metrics.converged(ns, name)));
    await sleep(INTERVAL_S * 1000);
    const idle = procUsage(run.pid())!;
    const temporal0 = temporalPid ? procUsage(temporalPid)?.cpuSeconds : undefined;
    console.log(`${run.name}: ${all.length} canaries Initialized in ${ns}; controller RSS ${mib(idle.rssKiB)}`);

    const t: Timings = {
      scaleUp: [],
      firstWeight: [],
      succeeded: [],
      badToThreshold: [],
      thresholdToPrimary: [],
      badToPrimary: [],
      cpuSeconds: 0,
      rssIdleKiB: idle.rssKiB,
      rssPeakKiB: 0,
      rollouts: all.length,
    };
    const one = async (name: string) => {
      const t0 = now();
      await setImage(stack, ns, name, nextImage());
      const up = await watch.until(
        () => watch.firstAfter(watch.replicas, name, t0, (r) => r > 0),
        left(),
        `${name} scaled up`,
      );
      const first = await watch.until(() => watch.firstWeightAfter(name, t0), left(), `${name} first weight`);
      t.scaleUp.push(up - t0);
      t.firstWeight.push(first - t0);
      if (name !== bad) {
        const [end, phase] = await watch.until(
          () => watch.phaseAfter(name, first, ['Succeeded', 'Failed']),
          left(),
          `${name} ended`,
        );
        if (phase !== 'Succeeded') throw new Error(`${run.name}: ${ns}/${name} ended ${phase}`);
        t.succeeded.push(end - t0);
        return;
      }
      const tBad = now();
      stack.metrics.set(ns, name, { successRate: 50 });
      const atThreshold = await watch.until(
        () => watch.firstAfter(watch.failedChecks, name, tBad, (n) => n >= THRESHOLD),
        left(),
        `${name} failedChecks ${THRESHOLD}`,
      );
      const primary = await watch.until(
        () => watch.firstAfter(watch.weights, name, tBad, (w) => w === 0),
        left(),
        `${name} back on the primary`,
      );
      await watch.until(() => watch.phaseAfter(name, tBad, ['Failed']), left(), `${name} Failed`);
      t.badToThreshold.push(atThreshold - tBad);
      t.thresholdToPrimary.push(primary - atThreshold);
      t.badToPrimary.push(primary - tBad);
    };
    let peak = idle.rssKiB;
    const sampler = setInterval(() => (peak = Math.max(peak, procUsage(run.pid())?.rssKiB ?? 0)), 500);
    try {
      await Promise.all(all.map(one));
    } finally {
      clearInterval(sampler);
    }
    t.cpuSeconds = procUsage(run.pid())!.cpuSeconds - idle.cpuSeconds;
    t.rssPeakKiB = peak;
    if (temporalPid && temporal0 !== undefined) t.temporalCpuSeconds = procUsage(temporalPid)!.cpuSeconds - temporal0;
    return t;
  } finally {
    watch.stop();
  }
}

const mib = (kib: number) => `${(kib / 1024).toFixed(0)} MiB`;
const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const p50 = (v: number[]) => percentile(v, 50);

function report(results: [string, Timings][]): void {
  const rows: [string, (t: Timings) => number, (v: number) => string][] = [
    ['set image → canary scaled up (p50)', (t) => p50(t.scaleUp), sec],
    ['set image → first weight (p50)', (t) => p50(t.firstWeight), sec],
    ['set image → Succeeded (p50)', (t) => p50(t.succeeded), sec],
    ['metrics bad → failedChecks at threshold', (t) => p50(t.badToThreshold), sec],
    ['failedChecks at threshold → 100 % primary', (t) => p50(t.thresholdToPrimary), sec],
    ['metrics bad → 100 % primary', (t) => p50(t.badToPrimary), sec],
    ['controller CPU-seconds per rollout', (t) => t.cpuSeconds / t.rollouts, (v) => `${v.toFixed(2)} s`],
    ['controller RSS, canaries idle', (t) => t.rssIdleKiB, mib],
    ['controller peak RSS while rolling', (t) => t.rssPeakKiB, mib],
  ];
  const names = results.map(([n]) => n);
  console.log(`\n| | ${names.join(' | ')} |${results.length === 2 ? ' fledge / Flagger |' : ''}`);
  console.log(`| --- |${names.map(() => ' --- |').join('')}${results.length === 2 ? ' --- |' : ''}`);
  for (const [label, get, fmt] of rows) {
    const vals = results.map(([, t]) => get(t));
    const ratio = results.length === 2 ? ` ${(vals[0]! / vals[1]!).toFixed(2)} |` : '';
    console.log(`| ${label} | ${vals.map(fmt).join(' | ')} |${ratio}`);
  }
  const tc = results.find(([, t]) => t.temporalCpuSeconds !== undefined)?.[1];
  if (tc) {
    console.log(
      `\nfledge's Temporal dev server meanwhile: ${(tc.temporalCpuSeconds! / tc.rollouts).toFixed(2)} CPU-seconds per rollout`,
    );
  }
}

async function main(): Promise<void> {
  console.log(`# fledge vs Flagger v1.44.0: ${process.argv.slice(2).join(' ') || '(defaults)'}`);
  const which = args.only ? [args.only] : ['fledge', 'flagger'];
  const flaggerBin = which.includes('flagger') ? flaggerBinary() : '';
  const stack = await startStack({ controllers: which.includes('fledge') ? 1 : 0, nodes: 2 });
  // `timeout` sends SIGTERM: the servers run in process groups of their own and would outlive us otherwise.
  let flagger: ControllerRun | undefined;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => void Promise.all([flagger?.stop(), stack.stop()]).finally(() => process.exit(130)));
  }
  const results: [string, Timings][] = [];
  let timeline: string[] = [];
  try {
    if (which.includes('fledge')) {
      const controller = stack.controllers[0]!;
      const ns = await stack.createNamespace('fledge');
      const run = { name: 'fledge', pid: () => controller.server.pid, stop: () => controller.server.stop() };
      results.push(['fledge', await measure(stack, run, ns, stack.temporalServer.pid)]);
      await run.stop();
      const canary = { namespace: ns, name: 'podinfo0' };
      timeline = await rolloutTimeline(stack.temporalServer.address, stack.temporalServer.namespace, canary, {
        tail: 40,
      });
    }
    if (which.includes('flagger')) {
      const ns = await stack.createNamespace('flagger');
      const run = await startFlagger(stack, flaggerBin, ns);
      flagger = run;
      try {
        results.push(['Flagger v1.44.0', await measure(stack, run, ns)]);
      } finally {
        await run.stop();
      }
    }
    console.log(`\n## ${ROLLOUTS} succeeding + 1 failing rollout at once, interval ${INTERVAL_S} s, ${STEPS} steps`);
    report(results);
    if (timeline.length) {
      console.log(`\nfledge: the first 60 and the last 40 events of podinfo0's rollout (time since it started)`);
      for (const line of timeline) console.log(`    ${line}`);
    }
  } finally {
    await stack.stop();
  }
}

main()
  .catch((err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exitCode = 1;
  })
  .finally(() => process.exit());
