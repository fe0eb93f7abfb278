// Chaos: the Temporal dev server is stopped mid-rollout (SIGTERM or SIGKILL, alternating) and started again on the
// same port with the same SQLite file (dev/temporal.ts restart()). The controllers keep running (the supervisor
// restarts one that gives up); every rollout in flight must resume and end as an uninterrupted one did.
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

export interface TemporalRestartOptions {
  /** Restarts; each one interrupts one rollout per lane. */
  restarts: number;
  lanes: string[];
  reference: string;
  /** Seconds after the rollouts start before the server goes down: uniform in [min, max]. */
  afterSeconds: [number, number];
  /** Seconds the server stays down: uniform in [min, max]. */
  downSeconds: [number, number];
  timeoutMs: number;
  firstImage: number;
}

export async function temporalRestart(ctx: ChaosContext, opts: TemporalRestartOptions): Promise<ScenarioResult> {
  const start = Date.now();
  const { stack } = ctx;
  const restartsBefore = stack.controllers[0]!.restarts.length;
  const failures: string[] = [];
  const durations: number[] = [];
  const downtimes: number[] = [];
  let runs = 0;
  let passed = 0;
  let image = opts.firstImage;
  for (let round = 0; round < opts.restarts && Date.now() < ctx.deadline; round++) {
    const signal = round % 2 === 0 ? 'SIGTERM' : 'SIGKILL';
    const after = opts.afterSeconds[0] + ctx.random() * (opts.afterSeconds[1] - opts.afterSeconds[0]);
    const down = opts.downSeconds[0] + ctx.random() * (opts.downSeconds[1] - opts.downSeconds[0]);
    const rollouts = opts.lanes.map((ns) => {
      const img = imageFor(image++);
      return rollOut(stack, ctx.routes, ns, img, opts.timeoutMs).then(
        (obs): RolloutObservation | Error => obs,
        (err: Error) => err,
      );
    });
    await sleep(after * 1000);
    const wentDown = Date.now();
    let restartError: Error | undefined;
    try {
      await stack.temporalServer.restart({ signal, downtimeMs: down * 1000 });
    } catch (err) {
      restartError = err as Error;
    }
    downtimes.push(Date.now() - wentDown);
    const results = await Promise.all(rollouts);
    results.forEach((r, i) => {
      runs++;
      const ns = opts.lanes[i]!;
      if (restartError) {
        failures.push(`round ${round} (${ns}): the dev server did not come back: ${restartError.message}`);
        return;
      }
      if (r instanceof Error) {
        failures.push(`round ${round} (${ns}): ${r.message}`);
        return;
      }
      durations.push(r.ms);
      const key = outcomeKey(r);
      if (key === opts.reference) passed++;
      else failures.push(`round ${round} (${ns}): ${key}`);
    });
    ctx.log(
      `temporal: round ${round}: ${signal} ${after.toFixed(1)} s into the rollouts, unavailable ` +
        `${(downtimes.at(-1)! / 1000).toFixed(1)} s (incl. start-up); ${passed}/${runs} so far as uninterrupted`,
    );
    if (restartError) break;
  }
  const restarts = stack.controllers[0]!.restarts.slice(restartsBefore);
  return {
    scenario: 'Temporal dev server restart',
    runs,
    passed,
    ms: Date.now() - start,
    failures,
    notes: [
      `${downtimes.length} restarts (SIGTERM and SIGKILL alternating), server unavailable median / max ` +
        `${medianMax(downtimes)}; controller restarts meanwhile: ${restarts.length}` +
        (restarts.length ? ` (${restarts.map((r) => r.cause.signal ?? `code ${r.cause.code}`).join(', ')})` : '') +
        `; rollout time median / max ${medianMax(durations)}`,
    ],
  };
}
