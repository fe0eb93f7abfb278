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

/** Who asked for a control, and why; recorded in the step list. */
export interface ControlRequest {
  by: string;
  reason?: string;
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
  promoteRequested?: ControlRequest;
  abortRequested?: ControlRequest;
  retryRequested?: ControlRequest;
  /** A newer revision signalled while this one runs; acted on at the next tick or after the final phase. */
  pendingRevision?: Revision;
  /** Workflow-clock ms since when a workload has been seen not ready (progress deadline). */
  notReadySince: { primary?: number; canary?: number };
  metrics: MetricResult[];
  waitingFor: string;
  message: string;
  lastPromotedRevision?: string;
  deleted: boolean;
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

export const FINAL_PHASES: readonly string[] = ['Succeeded', 'Failed', 'Initialized'];
/** Phases in which analysis runs and controls like abort/promote make sense. */
export const ACTIVE_PHASES: readonly string[] = ['Waiting', 'Progressing', 'WaitingPromotion'];
