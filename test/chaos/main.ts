// The chaos suite (scripts/chaos.sh; not part of scripts/test.sh, whose `find` only picks `*.test.ts`):
//
//   kill      N rollouts (--rollouts, default 50) on several lanes at once while the controller is SIGKILLed at
//             random moments (seeded: --seed) and restarted by the stack's supervisor;
//   temporal  the Temporal dev server stopped mid-rollout and started again on the same SQLite file;
//   webhooks  a rollout webhook answering 503, answering too late, and never answering.
//
// First one uninterrupted rollout per lane gives the reference (route sequence and final state) every interrupted
// rollout must reproduce. It stops by itself: no new run starts after --time-limit minutes, and each rollout has its
// own timeout. Prints a summary table (scenario, runs, passed, time); exit status 1 when a run failed.
//
//   node test/chaos/main.ts [--rollouts 50] [--seed S] [--lanes 5] [--time-limit 30] [--temporal-restarts 4]
//                           [--webhook-runs 2] [--only kill,temporal,webhooks] [--verbose]
import { parseArgs } from 'node:util';
import { startStack, type Stack } from '../../dev/stack.ts';
import { controllerKill } from './controller-kill.chaos.ts';
import {
  RouteRecorder,
  imageFor,
  medianMax,
  outcomeKey,
  rollOut,
  seededRandom,
  setUpLane,
  type ChaosContext,
  type ScenarioResult,
} from './lib.ts';
import { temporalRestart } from './temporal-restart.chaos.ts';
import { webhookFailures } from './webhooks.chaos.ts';

const SCENARIOS = ['kill', 'temporal', 'webhooks'] as const;
/** A rollout that a kill caught inside an activity waits for the activity's 2 min start-to-close timeout. */
const ROLLOUT_TIMEOUT_MS = 6 * 60_000;

function options() {
  const { values } = parseArgs({
    options: {
      rollouts: { type: 'string', default: '50' },
      seed: { type: 'string' },
      lanes: { type: 'string', default: '5' },
      'time-limit': { type: 'string', default: '30' },
      'temporal-restarts': { type: 'string', default: '4' },
      'webhook-runs': { type: 'string', default: '2' },
      only: { type: 'string', default: SCENARIOS.join(',') },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(
      'usage: scripts/chaos.sh [--rollouts N] [--seed S] [--lanes L] [--time-limit MINUTES] ' +
        '[--temporal-restarts R] [--webhook-runs W] [--only kill,temporal,webhooks] [--verbose]',
    );
    process.exit(0);
  }
  const int = (name: string, v: string | undefined, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) {
      console.error(`--${name} must be an integer ≥ ${min}, got ${v}`);
      process.exit(2);
    }
    return n;
  };
  const only = values.only.split(',').map((s) => s.trim());
  for (const s of only) {
    if (!(SCENARIOS as readonly string[]).includes(s)) {
      console.error(`--only: unknown scenario ${s} (known: ${SCENARIOS.join(', ')})`);
      process.exit(2);
    }
  }
  return {
    rollouts: int('rollouts', values.rollouts, 1),
    seed: values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : int('seed', values.seed, 0),
    lanes: int('lanes', values.lanes, 1),
    timeLimitMin: int('time-limit', values['time-limit'], 1),
    temporalRestarts: int('temporal-restarts', values['temporal-restarts'], 1),
    webhookRuns: int('webhook-runs', values['webhook-runs'], 1),
    only: new Set(only),
    verbose: values.verbose,
  };
}

function table(results: ScenarioResult[]): string {
  const rows = [
    ['scenario', 'runs', 'passed', 'time'],
    ...results.map((r) => [r.scenario, String(r.runs), String(r.passed), `${(r.ms / 1000).toFixed(0)} s`]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(rows[0]!), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.slice(1).map(line)].join('\n');
}

async function main(): Promise<number> {
  const o = options();
  const began = Date.now();
  const deadline = began + o.timeLimitMin * 60_000;
  console.log(
    `chaos: seed ${o.seed} (--seed ${o.seed} draws the same kill gaps and restart times again), ${o.rollouts} rollouts on ${o.lanes} lanes, ` +
      `time limit ${o.timeLimitMin} min, scenarios ${[...o.only].join(', ')}`,
  );
  const elapsed = () => `${((Date.now() - began) / 1000).toFixed(0).padStart(4)} s`;
  const log = (line: string) => console.log(`[${elapsed()}] ${line}`);
  const supervisorLines: string[] = [];
  let stack: Stack | undefined;
  let routes: RouteRecorder | undefined;
  const stopAll = async () => {
    routes?.stop();
    await stack?.stop();
  };
  process.on('SIGINT', () => void stopAll().then(() => process.exit(130)));
  try {
    log('starting the stack (Kubernetes, Temporal, Prometheus, one supervised controller) ...');
    stack = await startStack({
      controllers: 1,
      // Restart at once and keep restarting: the kills come faster than the default backoff would allow.
      supervise: {
        initialBackoffMs: 250,
        maxBackoffMs: 2000,
        maxRestarts: 1000,
        log: (line) => {
          supervisorLines.push(line);
          if (o.verbose) log(`supervisor: ${line}`);
        },
      },
    });
    routes = await RouteRecorder.start(stack.kubeConfig);
    const ctx: ChaosContext = { stack, routes, random: seededRandom(o.seed), deadline, log };

    // Lanes alternate 1 s and 2 s analysis intervals; 10 % steps to 50 %, both builtin metrics.
    const needLanes = o.only.has('kill') || o.only.has('temporal');
    log(needLanes ? `setting up ${o.lanes} lanes and one uninterrupted rollout on each ...` : 'no lanes needed');
    const lanes = needLanes
      ? await Promise.all(
          Array.from({ length: o.lanes }, (_, i) =>
            setUpLane(stack!, 'chaos', { analysis: { interval: i % 2 ? '2s' : '1s', stepWeight: 10, maxWeight: 50 } }),
          ),
        )
      : [];
    let image = 0;
    const baseline = await Promise.all(
      lanes.map((ns) => rollOut(stack!, routes!, ns, imageFor(image++), ROLLOUT_TIMEOUT_MS)),
    );
    const keys = new Set(baseline.map(outcomeKey));
    const reference = baseline[0] ? outcomeKey(baseline[0]) : '';
    if (keys.size > 1) throw new Error(`uninterrupted rollouts disagree:\n${[...keys].join('\n')}`);
    if (reference) log(`reference (uninterrupted): ${reference}`);
    const uninterrupted = baseline.length
      ? `uninterrupted rollout time median / max ${medianMax(baseline.map((b) => b.ms))}`
      : '';

    const results: ScenarioResult[] = [];
    if (o.only.has('kill')) {
      log(`kill: ${o.rollouts} rollouts, controller SIGKILLed 5–20 s after each start became ready ...`);
      results.push(
        await controllerKill(ctx, {
          rollouts: o.rollouts,
          lanes,
          reference,
          killGapSeconds: [5, 20],
          timeoutMs: ROLLOUT_TIMEOUT_MS,
          firstImage: image,
        }),
      );
      image += o.rollouts;
      // The next scenario starts with a controller that is up.
      await waitControllerReady(stack);
    }
    if (o.only.has('temporal')) {
      log(`temporal: ${o.temporalRestarts} restarts of the dev server, each during ${lanes.length} rollouts ...`);
      results.push(
        await temporalRestart(ctx, {
          restarts: o.temporalRestarts,
          lanes,
          reference,
          afterSeconds: [2, 6],
          downSeconds: [1, 5],
          timeoutMs: ROLLOUT_TIMEOUT_MS,
          firstImage: image,
        }),
      );
      await waitControllerReady(stack);
    }
    if (o.only.has('webhooks')) {
      log(`webhooks: ${o.webhookRuns} runs per mode (5xx, late answer, hang) ...`);
      results.push(await webhookFailures(ctx, { runsPerMode: o.webhookRuns, timeoutMs: ROLLOUT_TIMEOUT_MS }));
    }

    console.log(`\nchaos summary (seed ${o.seed}, ${((Date.now() - began) / 1000).toFixed(0)} s in all):\n`);
    console.log(table(results));
    if (uninterrupted) console.log(`  ${uninterrupted} (${lanes.length} lanes, 1 s and 2 s analysis intervals)`);
    for (const r of results) {
      for (const n of r.notes) console.log(`  ${r.scenario}: ${n}`);
      for (const f of r.failures) console.log(`  ${r.scenario}: FAILED ${f}`);
    }
    return results.every((r) => r.passed === r.runs && r.runs > 0) ? 0 : 1;
  } catch (err) {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    if (stack) console.error(stack.controllerLogs(40));
    if (supervisorLines.length) console.error(supervisorLines.slice(-10).join('\n'));
    return 1;
  } finally {
    await stopAll();
  }
}

/** Waits until controller 0 answers /readyz (after the last kill its replacement may still be starting). */
async function waitControllerReady(stack: Stack): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const ok = await fetch(`${stack.controllers[0]!.url}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`controller 0 not ready 120 s after the scenario\n${stack.controllerLogs(40)}`);
}

process.exit(await main());
