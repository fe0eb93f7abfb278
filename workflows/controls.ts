// Controls of the rollout workflow: search attributes, signals, updates and the status query.
// Imported by the workflow, by clients (CLI, tests) and by the test harness (which registers the search
// attributes on the dev server), so it holds only definitions and pure functions.

import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { CanaryPhase, CanaryRef, MetricResult, Revision, Routes } from '../api/ports.ts';
import { overrideRejection } from './delivery.ts';
import { phaseRejection, type ControlRequest, type RolloutState, type StepRecord } from './state.ts';

export type SearchAttributeType = 'Keyword' | 'Text' | 'Int' | 'Datetime' | 'Bool' | 'Double';

/** Custom search attributes the rollout workflow upserts; the server must have them registered. */
export const SEARCH_ATTRIBUTES: readonly { name: string; type: SearchAttributeType }[] = [
  { name: 'FledgeCanary', type: 'Keyword' },
  { name: 'FledgeNamespace', type: 'Keyword' },
  { name: 'FledgePhase', type: 'Keyword' },
  { name: 'FledgeRevision', type: 'Keyword' },
  { name: 'FledgeProvider', type: 'Keyword' },
];

/** A rollout's search attribute and its value, as the client's start options and the workflow's upsert take it. */
export interface RolloutSearchAttribute {
  key: { name: string; type: 'KEYWORD' };
  value: string;
}

/**
 * The search attributes of a rollout execution (SEARCH_ATTRIBUTES): FledgeCanary, FledgeNamespace, FledgePhase,
 * FledgeRevision (the revision's hash) and FledgeProvider once the spec was read. The watcher starts an execution
 * with them (phase Pending, no provider), so it can be listed before its first workflow task and the workflow's
 * first upsert is saved; the workflow upserts them on each phase change (workflows/rollout.ts Visibility).
 */
export function rolloutSearchAttributes(
  canary: CanaryRef,
  phase: string,
  revisionHash: string,
  provider?: string,
): RolloutSearchAttribute[] {
  const keyword = (name: string, value: string): RolloutSearchAttribute => ({ key: { name, type: 'KEYWORD' }, value });
  return [
    keyword('FledgeCanary', canary.name),
    keyword('FledgeNamespace', canary.namespace),
    keyword('FledgePhase', phase),
    keyword('FledgeRevision', revisionHash),
    ...(provider !== undefined ? [keyword('FledgeProvider', provider)] : []),
  ];
}

/** Workflow type name and id scheme: one workflow id per Canary, one execution per rollout. */
export const ROLLOUT_WORKFLOW = 'rollout';
export function rolloutWorkflowId(canary: CanaryRef): string {
  return `canary/${canary.namespace}/${canary.name}`;
}

// ---------------------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------------------

export type ControlName = 'promote' | 'abort' | 'pause' | 'resume' | 'retry';
export const CONTROL_NAMES: readonly ControlName[] = ['promote', 'abort', 'pause', 'resume', 'retry'];
export type ControlInput = ControlRequest;

/**
 * The answer of a control update. `accepted`: the validator let it in; `applied`: the rollout acted on it.
 * `pause`, `resume` and `retry` apply on arrival. `promote` and `abort` are acted on by a tick: their update
 * answers once that tick is over (an abort also interrupts a tick stuck on an infrastructure read), so
 * `applied` is true; when the phase moved on before the tick could act (an abort landing while the primary is
 * being promoted, a promote landing while the tick in flight ends the rollout) the update fails with a
 * `ControlRejected` failure whose message says why. Signals of the same names get no answer: the step list and a
 * Warning event record a control that was not applied.
 */
export interface ControlResult {
  accepted: true;
  applied: boolean;
  control: ControlName;
  /** The phase once the control was applied (e.g. still `Progressing` while a rollback waits for the primary). */
  phase: string;
  message: string;
}

/** Updates validate synchronously and reject with a clear message; signals of the same name are fire-and-forget. */
export const controlUpdates = {
  promote: defineUpdate<ControlResult, [ControlInput]>('promote'),
  abort: defineUpdate<ControlResult, [ControlInput]>('abort'),
  pause: defineUpdate<ControlResult, [ControlInput]>('pause'),
  resume: defineUpdate<ControlResult, [ControlInput]>('resume'),
  retry: defineUpdate<ControlResult, [ControlInput]>('retry'),
} as const;

export const controlSignals = {
  promote: defineSignal<[ControlInput]>('promote'),
  abort: defineSignal<[ControlInput]>('abort'),
  pause: defineSignal<[ControlInput]>('pause'),
  resume: defineSignal<[ControlInput]>('resume'),
  retry: defineSignal<[ControlInput]>('retry'),
} as const;

/** From the watcher: the target's pod template changed (duplicate hashes are no-ops). */
export const newRevisionSignal = defineSignal<[Revision]>('newRevision');
/**
 * From the watcher: the Canary is being deleted (`deletionTimestamp`, fledge's finalizer still on it); sent with
 * signal-with-start, so a Canary without a running rollout gets one. The workflow interrupts the tick in flight,
 * finalizes (revertOnDeletion) as its last step and writes nothing after: one writer of routes, scaling and status.
 */
export const canaryDeletingSignal = defineSignal<[]>('canaryDeleting');
/** From the watcher: the Canary object is gone; the workflow stops without touching the world. */
export const canaryDeletedSignal = defineSignal<[]>('canaryDeleted');

export interface StatusView {
  canary: CanaryRef;
  revision: Revision;
  pendingRevision?: Revision;
  phase: CanaryPhase | 'Pending';
  paused: boolean;
  weights: Routes;
  step: number;
  iterations: number;
  failedChecks: number;
  threshold: number;
  metrics: MetricResult[];
  waitingFor: string;
  message: string;
  steps: StepRecord[];
}

export const statusQuery = defineQuery<StatusView>('status');

export function statusView(state: RolloutState): StatusView {
  return {
    canary: state.canary,
    revision: state.revision,
    pendingRevision: state.pendingRevision,
    phase: state.phase,
    paused: Boolean(state.paused),
    weights: { ...state.routes },
    step: state.step,
    iterations: state.iterations,
    failedChecks: state.failedChecks,
    threshold: state.threshold,
    metrics: state.metrics,
    waitingFor: state.waitingFor,
    message: state.message,
    steps: state.steps,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Validation (pure): why a control cannot apply now, or undefined when it can
// ---------------------------------------------------------------------------------------------------------

export function rejectControl(control: ControlName, state: RolloutState, input: unknown): string | undefined {
  if (!isControlInput(input)) return `${control} needs { by: string; reason?: string }`;
  switch (control) {
    case 'promote':
      if (state.promoteRequested) return 'promotion already requested';
      return phaseRejection(control, state.phase, state.final) ?? overrideRejection(state, input);
    case 'abort':
      if (state.abortRequested) return 'abort already requested';
      return phaseRejection(control, state.phase, state.final);
    case 'pause':
      if (state.paused) return `already paused (by ${state.paused.by})`;
      return phaseRejection(control, state.phase, state.final);
    case 'resume':
      if (!state.paused) return 'not paused';
      return undefined;
    case 'retry':
      if (state.retryRequested) return 'retry already requested';
      return phaseRejection(control, state.phase, state.final);
  }
}

function nextControlId(state: RolloutState): number {
  state.controlSeq = (state.controlSeq ?? 0) + 1;
  return state.controlSeq;
}

function isControlInput(input: unknown): input is ControlInput {
  if (typeof input !== 'object' || input === null) return false;
  const { by, reason } = input as Record<string, unknown>;
  return typeof by === 'string' && by.length > 0 && (reason === undefined || typeof reason === 'string');
}

/** Apply an accepted control to the state (the next tick acts on it). Returns a human-readable note. */
export function applyControl(control: ControlName, state: RolloutState, input: ControlInput): string {
  const who = `${input.by}${input.reason ? ` (${input.reason})` : ''}`;
  switch (control) {
    case 'promote':
      state.promoteRequested = { ...input, id: nextControlId(state) };
      return `promote requested by ${who}`;
    case 'abort':
      state.abortRequested = { ...input, id: nextControlId(state) };
      return `abort requested by ${who}`;
    case 'pause':
      state.paused = input;
      state.waitingFor = `resume (paused by ${input.by})`;
      return `paused by ${who}`;
    case 'resume':
      state.paused = undefined;
      return `resumed by ${who}`;
    case 'retry':
      state.retryRequested = input;
      return `retry requested by ${who}`;
  }
}
