// The analysis cadence between ticks (pure; workflows/rollout.ts keeps one Pace per run, replayed from history like
// everything else). Fixed rate, as Flagger's ticker: a tick's own time (activities, Temporal round trips) comes off
// the wait, so N analyses take N intervals, not N × (interval + tick).

/** Readiness waits since the last interval, and where the next interval counts from. */
export interface Pace {
  waits: number;
  /**
   * Workflow clock (ms) the last tick counts from: when it was due if the interval's timer started it, else when
   * it began. The next one is due one interval after it.
   */
  tickStartedAt?: number;
  /** When the interval's timer now waited on is due (ms); undefined while no interval wait is pending. */
  dueAt?: number;
}

/** Lateness of an interval's timer up to which the next interval still counts from its due time, ms. */
export const MAX_TICK_LAG_MS = 1000;
/** Shortest wait between two ticks when a tick took longer than the interval, ms. */
export const MIN_TICK_WAIT_MS = 100;

/**
 * Where the tick that begins at `now` (workflow clock, ms) counts its interval from; clears `pace.dueAt`. Its due
 * time when the interval's timer started it, else `now`. The workflow clock is the start of a workflow task, so a
 * tick that spans several tasks measures its own time a little short (the last task's local activities and the
 * timer's start are not seen); counting from the due time keeps that from adding up over the analyses (Flagger's
 * ticker does not drift either). A timer that fired more than MAX_TICK_LAG_MS late (a worker or server that was
 * down) starts the cadence anew from `now` instead of catching up with an analysis right after this one.
 */
export function tickAnchor(pace: Pace, now: number): number {
  const due = pace.dueAt;
  pace.dueAt = undefined;
  return due !== undefined && now >= due && now - due <= MAX_TICK_LAG_MS ? due : now;
}

/**
 * The wait (ms) from `now` until the next analysis: one `intervalMs` after the last tick's anchor, at least
 * MIN_TICK_WAIT_MS (or the interval, if shorter). Records when it is due in `pace.dueAt`.
 */
export function intervalWait(pace: Pace, intervalMs: number, now: number): number {
  const elapsed = now - (pace.tickStartedAt ?? now);
  const waitMs = Math.max(intervalMs - elapsed, Math.min(intervalMs, MIN_TICK_WAIT_MS));
  pace.dueAt = now + waitMs;
  return waitMs;
}
