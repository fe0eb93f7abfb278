// Delivery windows and freezes in the rollout workflow (DeliveryPolicy, fledge.dev/v1alpha1; docs/delivery-windows.md).
// Deterministic: the verdict comes from the `checkDelivery` activity (time zones, calendars), asked about the
// workflow's own clock; this module only decides from it. No Temporal import (tick.ts passes its env in).
//
// - Before a rollout starts (tick.ts startRollout): outside every window, or during a freeze, the rollout waits in
//   phase Waiting, with the status message and one event naming the window or freeze and when it opens. The
//   workflow then waits on one durable timer until that instant (holdWaitMs), not an interval loop; a control, a
//   new revision or a `deliveryPolicyChanged` signal (the watcher, `fledge freeze`/`unfreeze`) re-checks earlier.
// - At each analysis tick (tick.ts advance): a freeze in force holds the rollout at its step (policy `hold`, a
//   timer until the freeze ends) or rolls it back (policy `rollback`). Windows only govern starts.
// - An accepted `promote` (by, reason) overrides the hold: a Warning event and the step list record who and why.
import { defineSignal } from '@temporalio/workflow';
import type { ActiveFreeze, DeliveryCheckInput, DeliveryVerdict } from '../api/delivery-policy.ts';
import type { CanaryPhase } from '../api/ports.ts';
import { emit, recordStep, type ControlRequest, type RolloutState } from './state.ts';

/** patched() id of the delivery checks: histories recorded before them replay without the activity calls. */
export const DELIVERY_POLICY = 'delivery-policy';
/** Status message prefixes while a hold is in force (the Promoted condition's reason: DeliveryWindow/DeliveryFreeze). */
export const DELIVERY_WINDOW_PREFIX = 'delivery window: ';
export const DELIVERY_FREEZE_PREFIX = 'delivery freeze: ';
/** Longest single wait of a hold whose opening is unknown (none within 8 days): the policies are read again then. */
export const MAX_HOLD_WAIT_MS = 24 * 3600_000;

/** From the watcher or the CLI: a DeliveryPolicy of the Canary's namespace changed; a held rollout checks again. */
export const deliveryPolicyChangedSignal = defineSignal<[]>('deliveryPolicyChanged');

/** A rollout held by a DeliveryPolicy (plain JSON: carried across continue-as-new in RolloutState). */
export interface DeliveryHold {
  kind: 'window' | 'freeze';
  /** Status message (starts with one of the prefixes above). */
  message: string;
  /** When the hold ends (workflow clock ms); absent: unknown, checked again after MAX_HOLD_WAIT_MS. */
  until?: number;
  /** Held before the start (phase Waiting, restored on release) or mid-rollout (phase unchanged). */
  at: 'start' | 'step';
  phaseBefore: CanaryPhase | 'Pending';
  /** `ticksThisRun` of the tick that held: the wait after that tick is the hold's timer. */
  tick: number;
}

export interface DeliveryEnv {
  /** Workflow clock, ms. */
  now(): number;
  patched?(id: string): boolean;
  /** The checkDelivery activity; undefined when its attempts failed (the rollout is then not held). Absent in
   * unit tests that have no policies. */
  checkDelivery?(input: DeliveryCheckInput): Promise<DeliveryVerdict | undefined>;
}

function iso(ms: number | undefined): string {
  return ms === undefined ? 'not within 8 days' : new Date(ms).toISOString();
}

function freezeText(f: ActiveFreeze): string {
  return `${f.policy} freeze ${f.name} (${f.reason}${f.by ? `, by ${f.by}` : ''}) until ${iso(f.until)}`;
}

async function verdictOf(state: RolloutState, env: DeliveryEnv): Promise<DeliveryVerdict | undefined> {
  if (!env.checkDelivery || !(env.patched ? env.patched(DELIVERY_POLICY) : true)) return undefined;
  return env.checkDelivery({ canary: state.canary, at: env.now() });
}

function hold(state: RolloutState, next: Omit<DeliveryHold, 'tick' | 'phaseBefore'>, event: string, warn: boolean) {
  const prev = state.deliveryHold;
  if (prev?.message !== next.message) emit(state, warn ? 'Warning' : 'Normal', event);
  state.deliveryHold = { ...next, phaseBefore: prev?.phaseBefore ?? state.phase, tick: state.ticksThisRun };
  state.message = next.message;
  state.waitingFor = next.message.replace(/^delivery (window|freeze): /, '');
}

/** The hold is over (policy open again, or it no longer applies): say so once and clear it. */
export function releaseHold(state: RolloutState, who: string, why: string): void {
  const h = state.deliveryHold;
  if (!h) return;
  state.deliveryHold = undefined;
  if (h.at === 'start') state.phase = h.phaseBefore;
  if (state.message === h.message) state.message = '';
  emit(state, 'Normal', `Delivery ${h.kind} no longer holds ${who}: ${why}`);
}

/**
 * Before a rollout starts: true when a freeze or a closed window holds it (phase Waiting, message, event, timer
 * until the opening); false when it may start now (a hold that was in force is released with an event).
 */
export async function heldAtStart(state: RolloutState, env: DeliveryEnv, who: string): Promise<boolean> {
  const v = await verdictOf(state, env);
  if (!v || (!v.freeze && !v.closedWindow)) {
    releaseHold(state, who, 'starting the rollout');
    return false;
  }
  const opens = `; the rollout starts at ${iso(v.opensAt)}`;
  const base = { at: 'start' as const, ...(v.opensAt === undefined ? {} : { until: v.opensAt }) };
  if (v.freeze) {
    const message = `${DELIVERY_FREEZE_PREFIX}${freezeText(v.freeze)}${opens}`;
    hold(state, { ...base, kind: 'freeze', message }, `Halt ${who} advancement: ${message}`, true);
  } else {
    const w = v.closedWindow!;
    const message = `${DELIVERY_WINDOW_PREFIX}${w.policy} has no open window (${w.windows})${opens}`;
    hold(state, { ...base, kind: 'window', message }, `Waiting for a delivery window for ${who}: ${message}`, false);
  }
  state.phase = 'Waiting';
  return true;
}

/**
 * At an analysis tick of a rollout under way: `hold` (a freeze with policy hold is in force: the rollout stays at
 * its step until it ends), `rollback` (policy rollback: the caller rolls back), or undefined (carry on).
 */
export async function freezeAtStep(
  state: RolloutState,
  env: DeliveryEnv,
  who: string,
): Promise<'hold' | 'rollback' | undefined> {
  const v = await verdictOf(state, env);
  if (!v?.freeze) {
    releaseHold(state, who, 'resuming the rollout');
    return undefined;
  }
  const f = v.freeze;
  if (f.action === 'rollback') {
    state.deliveryHold = undefined;
    emit(state, 'Warning', `Rolling back ${who}: ${DELIVERY_FREEZE_PREFIX}${freezeText(f)} (policy rollback)`);
    return 'rollback';
  }
  const message = `${DELIVERY_FREEZE_PREFIX}${freezeText(f)}; held at step ${state.step} until then`;
  hold(state, { at: 'step', kind: 'freeze', message, until: f.until }, `Halt ${who} advancement: ${message}`, true);
  return 'hold';
}

/** An accepted promote acts while a hold is in force: record the override (Warning event, step list) and clear it. */
export function overrideHold(state: RolloutState, req: ControlRequest, who: string, now: number): void {
  const h = state.deliveryHold;
  if (!h) return;
  state.deliveryHold = undefined;
  if (state.message === h.message) state.message = '';
  const text = `Delivery ${h.kind} overridden for ${who} by ${req.by}: ${req.reason ?? 'no reason given'} (${h.message})`;
  emit(state, 'Warning', text);
  recordStep(state, 'control', text, now);
}

/** Why a promote is refused while held: an override needs a reason. Undefined when it may go ahead. */
export function overrideRejection(state: RolloutState, input: { reason?: string }): string | undefined {
  if (!state.deliveryHold || input.reason) return undefined;
  return `the rollout is held by a delivery ${state.deliveryHold.kind}: a promote that overrides it needs a reason (--reason)`;
}

/**
 * How long the workflow waits after a tick that a hold ended: until the hold's end (one durable timer), at most
 * MAX_HOLD_WAIT_MS; undefined when the tick was not held (the analysis interval applies).
 */
export function holdWaitMs(state: RolloutState, now: number): number | undefined {
  const h = state.deliveryHold;
  if (!h || h.tick !== state.ticksThisRun - 1) return undefined;
  return Math.min(Math.max((h.until ?? now + MAX_HOLD_WAIT_MS) - now, 1), MAX_HOLD_WAIT_MS);
}
