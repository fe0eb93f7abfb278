// Chaos: the controller is SIGKILLed at random moments while rollouts run on several lanes at once; the stack's
// supervisor starts it again (dev/supervisor.ts). Every rollout must end exactly as an uninterrupted one did: the same
// route sequence (each weight the HTTPRoute took, deduplicated) and the same final state (phase, primary image,
// weights).
import type { Stack } from '../../dev/stack.ts';
import {
  imageFor,
  medianMax,
  outcomeKey,
  rollOut,
  sleep,
  type ChaosContext,
  type RolloutObservation,
  type ScenarioResult,
} from './lib.ts';

export interface ControllerKillOptions {
  /** Rollouts to run (the time limit may cut this short). */
  rollouts: number;
  /** Lanes (namespaces with a Canary) rolling out at the same time. */
  lanes: string[];
  /** The uninterrupted run's outcome (outcomeKey) every rollout must match. */
  reference: string;
  /** Seconds from the controller being ready (/readyz) to the next kill: uniform in [min, max]. */
  killGapSeconds: [number, number];
  /** Per rollout. */
  timeoutMs: number;
  /** First image number of this scenario (images must differ from any rollout before). */
  firstImage: number;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const ready = (url: string) =>
  fetch(`${url}/readyz`).then(
    (r) => r.status === 200,
    () => false,
  );

/**
 * Kills controller 0 a random time after each (re)start became ready, until stop(); returns the kill times (Unix
 * ms). Counting from readiness, not from the last kill, gives every process some time to work: a kill comes at a
 * random point of its life, never only during start-up.
 */
function startKiller(stack: Stack, ctx: ChaosContext, [min, max]: [number, number]) {
  const kills: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      while (running && !(await ready(stack.controllers[0]!.url))) await sleep(100);
      const gapMs = (min + ctx.random() * (max - min)) * 1000;
      const until = Date.now() + gapMs;
      while (running && Date.now() < until) await sleep(Math.min(200, until - Date.now()));
      if (!running) break;
      const pid = stack.controllers[0]!.server.pid;
      if (!alive(pid)) continue; // between a kill and its restart: nothing to kill
      process.kill(pid, 'SIGKILL');
      kills.push(Date.now());
    }
  })();
  return {
    kills,
    async stop() {
      running = false;
      await loop;
    },
  };
}

export async function controllerKill(ctx: ChaosContext, opts: ControllerKillOptions): Promise<ScenarioResult> {
  const start = Date.now();
  const { stack } = ctx;
  const restartsBefore = stack.controllers[0]!.restarts.length;
  const failures: string[] = [];
  const durations: number[] = [];
  const killsPerRollout: number[] = [];
  let next = 0;
  let runs = 0;
  let passed = 0;
  const killer = startKiller(stack, ctx, opts.killGapSeconds);
  const lane = async (ns: string) => {
    while (next < opts.rollouts && Date.now() < ctx.deadline) {
      const n = next++;
      runs++;
      const image = imageFor(opts.firstImage + n);
      const began = Date.now();
      let obs: RolloutObservation;
      try {
        obs = await rollOut(stack, ctx.routes, ns, image, opts.timeoutMs);
      } catch (err) {
        failures.push(`rollout ${n} (${ns}): ${(err as Error).message}`);
        ctx.log(`kill: rollout ${n} in ${ns} did not end: ${(err as Error).message.slice(0, 300)}`);
        return; // this lane's Canary is stuck: stop using it
      }
      const kills = killer.kills.filter((t) => t >= began && t <= began + obs.ms).length;
      killsPerRollout.push(kills);
      durations.push(obs.ms);
      const key = outcomeKey(obs);
      if (key === opts.reference) passed++;
      else failures.push(`rollout ${n} (${ns}, ${kills} kills): ${key}`);
      ctx.log(
        `kill: rollout ${n} in ${ns}: ${key === opts.reference ? 'same as uninterrupted' : 'DIFFERENT'}, ` +
          `${kills} kills during it, ${(obs.ms / 1000).toFixed(1)} s`,
      );
    }
  };
  try {
    await Promise.all(opts.lanes.map(lane));
  } finally {
    await killer.stop();
  }
  const restarts = stack.controllers[0]!.restarts.slice(restartsBefore);
  // Restarts the killer did not cause: a process that died by itself, or one the supervisor's readiness wait
  // (120 s) gave up on. A killed pid is one whose exit came within 1 s of one of our kills.
  const unexplained = restarts.filter((r) => !killer.kills.some((k) => r.at >= k && r.at - k < 1000));
  return {
    scenario: 'controller SIGKILL',
    runs,
    passed,
    ms: Date.now() - start,
    failures,
    notes: [
      `${killer.kills.length} kills, ${restarts.length} supervised restarts` +
        (unexplained.length
          ? ` (${unexplained.length} not after one of our kills: ${unexplained
              .map((r) => `${r.cause.signal ?? `code ${r.cause.code}`} after ${(r.uptimeMs / 1000).toFixed(0)} s`)
              .join(', ')})`
          : '') +
        `; rollouts that saw at least one kill: ` +
        `${killsPerRollout.filter((k) => k > 0).length} of ${killsPerRollout.length}; ` +
        `rollout time median / max ${medianMax(durations)}` +
        (runs < opts.rollouts ? `; ${opts.rollouts - runs} rollouts not started (time limit)` : ''),
    ],
  };
}
