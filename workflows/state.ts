// The rollout's own state: everything the workflow decides from besides the latest observation. Carried across
// continue-as-new in the workflow input, so it must stay plain JSON and small (bounded step list).

import type {
  AlertSeverity,
  CanaryEvent,
  CanaryPhase,
  CanaryRef,
  MetricResult,
  Revision,
  RolloutSpec,
  Routes,
} from '../api/ports.ts';
import type { DeliveryHold } from './delivery.ts';
import type { GroupGateState } from './group-gate.ts';

/** Who asked for a control, and why; recorded in the step list. */
export interface ControlRequest {
  by: string;
  reason?: string;
}

/** An accepted `promote` or `abort` waiting for the tick that acts on it; `id` pairs it with its outcome. */
export interface PendingControl extends ControlRequest {
  id: number;
}

/**
 * What the rollout did with an accepted control when it came to act on it: `applied`, or not with the reason
 * (the phase moved on meanwhile, e.g. an abort that lands while the primary is being promoted).
 */
export interface ControlOutcome {
  id: number;
  control: 'promote' | 'abort';
  applied: boolean;
  message: string;
}

/**
 * An infrastructure read (the observation, the metrics) failing for longer than one tick's retries: it holds the
 * rollout without counting a failed check, shows in the status and counts toward the progress deadline.
 */
export interface InfrastructureFault {
  /** `observe` (Canary, workloads, route acceptance) or `metrics` (the metrics server). */
  source: 'observe' | 'metrics';
  message: string;
  /** Workflow-clock ms since when the infrastructure has been failing (unbroken). */
  since: number;
}

export interface StepRecord {
  /** ISO time (workflow clock). */
  at: string;
  kind: 'tick' | 'control' | 'signal';
  phase: CanaryPhase | 'Pending';
  routes: Routes;
  note: string;
}

export interface PendingAlert {
  message: string;
  severity: AlertSeverity;
  metadata: boolean;
}

export const MAX_STEPS = 50;

export interface RolloutState {
  canary: CanaryRef;
  revision: Revision;
  cause: string;
  /** `Pending` until the first observation tells a bootstrap from a new revision. */
  phase: CanaryPhase | 'Pending';
  /** True once confirm-rollout passed and the canary was scaled up (analysis under way). */
  started: boolean;
  routes: Routes;
  iterations: number;
  failedChecks: number;
  threshold: number;
  step: number;
  intervalMs: number;
  paused?: ControlRequest;
  /** Accepted, not yet acted on (re-validated against the phase when the tick comes to it). */
  promoteRequested?: ControlRequest & { id?: number };
  abortRequested?: ControlRequest & { id?: number };
  retryRequested?: ControlRequest;
  /** Sequence of accepted promote/abort requests (ids of `PendingControl`). */
  controlSeq?: number;
  /** Outcomes decided by the last tick, answered to the waiting updates once the tick is over. */
  controlOutcomes?: ControlOutcome[];
  /** The infrastructure fault holding the rollout, if any. */
  fault?: InfrastructureFault;
  /** A newer revision signalled while this one runs; acted on at the next tick or after the final phase. */
  pendingRevision?: Revision;
  /** Workflow-clock ms since when a workload has been seen not ready (progress deadline). */
  notReadySince: { primary?: number; canary?: number };
  metrics: MetricResult[];
  waitingFor: string;
  message: string;
  lastPromotedRevision?: string;
  deleted: boolean;
  /** The Canary is being deleted (canaryDeleting): finalize as the last step, then stop. */
  deleting?: boolean;
  /** The rollout reached its final phase in this execution (a Failed one then waits for retry). */
  final: boolean;
  steps: StepRecord[];
  /** Events and alerts decided in this tick, projected by the workflow at its end. */
  outbox: { events: CanaryEvent[]; alerts: PendingAlert[] };
  eventSequence: number;
  /** Ticks run by this execution run (continue-as-new bound for long A/B runs). */
  ticksThisRun: number;
  /**
   * Canary `metadata.generation` whose Services, routes and primary extras fledge last derived; a spec edit
   * (a new generation) re-derives them at the next tick, keeping the weights in force.
   */
  syncedGeneration?: number;
  /** The last valid spec seen, so a rollout whose spec turned invalid can still apply its deadline and roll back. */
  lastSpec?: RolloutSpec;
  /** Workflow-clock ms since when the spec has been invalid while a rollout is under way (progress deadline). */
  invalidSince?: number;
  /**
   * A rollback was decided but traffic still reaches the canary and the primary is not ready: the routes move
   * back only once it is (never towards pods that cannot serve).
   */
  rollingBack?: boolean;
  /** A DeliveryPolicy window or freeze holds the rollout (workflows/delivery.ts). */
  deliveryHold?: DeliveryHold;
  /**
   * What the tick just run needs before the next one, instead of an analysis interval (set by the tick, read by
   * the workflow's loop, event-driven-phases): `now` (the next phase follows at once), or a workload to be ready
   * (waited on the cluster by the awaitReadiness activity). Absent: the next tick follows one interval later.
   */
  followUp?: 'now' | 'primary' | 'canary';
  /** Release group start gate of this revision (workflows/group-gate.ts). */
  group?: GroupGateState;
}

export function initialState(canary: CanaryRef, revision: Revision, cause: string): RolloutState {
  return {
    canary,
    revision,
    cause,
    phase: 'Pending',
    started: false,
    routes: { primary: 100, canary: 0, mirrored: false },
    iterations: 0,
    failedChecks: 0,
    threshold: 1,
    step: 0,
    intervalMs: 10_000,
    notReadySince: {},
    metrics: [],
    waitingFor: 'first observation',
    message: '',
    deleted: false,
    final: false,
    steps: [],
    outbox: { events: [], alerts: [] },
    eventSequence: 0,
    ticksThisRun: 0,
  };
}

export function recordStep(state: RolloutState, kind: StepRecord['kind'], note: string, now: number): void {
  state.steps.push({ at: new Date(now).toISOString(), kind, phase: state.phase, routes: { ...state.routes }, note });
  if (state.steps.length > MAX_STEPS) state.steps.splice(0, state.steps.length - MAX_STEPS);
}

export function emit(state: RolloutState, type: CanaryEvent['type'], message: string): void {
  state.outbox.events.push({ type, message });
}

export function alert(state: RolloutState, message: string, severity: AlertSeverity, metadata = false): void {
  state.outbox.alerts.push({ message, severity, metadata });
}

/**
 * Why `control` cannot act in `phase`, or undefined when it can: the phase rules of the control validators,
 * applied again by the tick that acts on an accepted control (the phase may have moved on in between).
 */
export function phaseRejection(
  control: 'promote' | 'abort' | 'pause' | 'retry',
  phase: CanaryPhase | 'Pending',
  final: boolean,
): string | undefined {
  const bootstrap = phase === 'Pending' || phase === 'Initializing' || phase === 'Initialized';
  switch (control) {
    case 'promote':
      if (bootstrap) return `nothing to promote: canary is ${phase} (no rollout under way)`;
      if (!ACTIVE_PHASES.includes(phase)) return `nothing to promote: canary is ${phase}`;
      return undefined;
    case 'abort':
      if (phase === 'Promoting' || phase === 'Finalising') return `too late to abort: canary is ${phase}`;
      if (!ACTIVE_PHASES.includes(phase)) return `nothing to abort: canary is ${phase}`;
      return undefined;
    case 'pause':
      if (phase === 'Succeeded' || phase === 'Failed' || phase === 'Initialized')
        return `nothing to pause: canary is ${phase}`;
      return undefined;
    case 'retry':
      if (phase !== 'Failed' || !final) return `nothing to retry: canary is ${phase}`;
      return undefined;
  }
}

/** Record what became of an accepted promote/abort; the workflow answers its update after the tick. */
export function settleControl(
  state: RolloutState,
  control: 'promote' | 'abort',
  req: ControlRequest & { id?: number },
  applied: boolean,
  message: string,
): void {
  if (req.id === undefined) return;
  (state.controlOutcomes ??= []).push({ id: req.id, control, applied, message });
}

export const FINAL_PHASES: readonly string[] = ['Succeeded', 'Failed', 'Initialized'];
/** Phases in which analysis runs and controls like abort/promote make sense. */
export const ACTIVE_PHASES: readonly string[] = ['Waiting', 'Progressing', 'WaitingPromotion'];
