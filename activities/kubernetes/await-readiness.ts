// Waiting on the cluster instead of on an interval: the rollout workflow's wait for the canary after scale-up and
// for the primary after promotion (docs/architecture.md "Rollout timeline"). One activity polls the workloads'
// readiness and heartbeats each poll, so a dead worker is noticed within the heartbeat timeout and a control
// (abort, pause, a new revision) cancels the wait through the heartbeat. The polls start fast and slow down: a
// workload ready within a second (pods already pulled) is seen within tens of milliseconds, one that takes minutes
// costs two reads a second.
import { Context } from '@temporalio/activity';
import type { AwaitReadinessInput, Readiness, TargetInput } from '../../api/ports.ts';

/** Default polls: the first after this long, ms, each next one READINESS_POLL_GROWTH times later, up to the max. */
export const READINESS_FIRST_POLL_MS = 50;
export const READINESS_POLL_GROWTH = 1.5;
export const READINESS_MAX_POLL_MS = 500;

/** Waits between default polls, ms: 50, 75, 113, 169, 253, 380, 500, 500, … */
export function readinessPollDelays(): () => number {
  let next = READINESS_FIRST_POLL_MS;
  return () => {
    const delay = Math.round(next);
    next = Math.min(next * READINESS_POLL_GROWTH, READINESS_MAX_POLL_MS);
    return delay;
  };
}

export interface AwaitReadinessDeps {
  /** Readiness of both workloads (the checkReadiness activity). */
  check(input: TargetInput): Promise<{ primary: Readiness; canary: Readiness }>;
  /** Records liveness (the activity heartbeat); default: Temporal's, a no-op outside an activity. */
  heartbeat?(details: unknown): void;
  /** Resolves after `ms`, rejects when the activity is cancelled; default: Temporal's `Context.sleep`. */
  sleep?(ms: number): Promise<void>;
  /** Clock, ms; default `Date.now`. */
  now?(): number;
}

/**
 * Polls `deps.check` (every `input.pollMs`, else by readinessPollDelays) until `input.which` is ready, or reports
 * its progress deadline exceeded (`deadlineExceeded`), or `input.timeoutMs` has passed; returns the last readiness
 * read. A read that fails
 * (apiserver unreachable) fails the attempt: the caller's retry policy decides. Cancellation (heartbeat) rejects
 * with the SDK's CancelledFailure (from `Context.sleep`).
 */
export async function awaitReadiness(deps: AwaitReadinessDeps, input: AwaitReadinessInput): Promise<Readiness> {
  const now = deps.now ?? Date.now;
  const heartbeat = deps.heartbeat ?? activityHeartbeat;
  const sleep = deps.sleep ?? activitySleep;
  const fixed = input.pollMs === undefined ? undefined : Math.max(50, input.pollMs);
  const delays = readinessPollDelays();
  const until = now() + Math.max(0, input.timeoutMs);
  const target: TargetInput = { canary: input.canary, revision: input.revision };
  for (;;) {
    const r = (await deps.check(target))[input.which];
    if (r.ready || r.deadlineExceeded) return r;
    heartbeat({ which: input.which, message: r.message ?? 'not ready' });
    const left = until - now();
    if (left <= 0) return r;
    await sleep(Math.min(fixed ?? delays(), left));
  }
}

/** Heartbeat of the current activity; nothing outside one (unit tests, tools). */
export function activityHeartbeat(details?: unknown): void {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    return;
  }
  ctx.heartbeat(details);
}

/** Cancellation-aware sleep inside an activity; a plain timer outside one. */
async function activitySleep(ms: number): Promise<void> {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    await new Promise((r) => setTimeout(r, ms));
    return;
  }
  await ctx.sleep(ms); // throws CancelledFailure once the workflow cancelled the wait
}
