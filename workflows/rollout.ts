// The rollout workflow: one execution per rollout of one Canary (id `canary/<namespace>/<name>`).
// It decides; activities act and observe. Each tick is runTick() (Flagger's order), then a projection of
// status/events/alerts, then a durable wait that any control cuts short.

import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  TemporalFailure,
  TimeoutFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  log,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  sleep,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type {
  CanaryPhase,
  CanaryRef,
  FinalizePort,
  Revision,
  RolloutActivities,
  RolloutSpec,
  Routes,
  StatusProjection,
} from '../api/ports.ts';
import {
  CONTROL_NAMES,
  applyControl,
  canaryDeletedSignal,
  canaryDeletingSignal,
  controlSignals,
  controlUpdates,
  newRevisionSignal,
  rejectControl,
  rolloutSearchAttributes,
  statusQuery,
  statusView,
  type ControlName,
  type ControlResult,
  type RolloutSearchAttribute,
} from './controls.ts';
import { MAX_WEBHOOK_RETRIES } from '../api/limits.ts';
import { emit, initialState, recordStep, settleControl, type ControlOutcome, type RolloutState } from './state.ts';
import { deliveryPolicyChangedSignal, holdWaitMs } from './delivery.ts';
import type { DeliveryPort } from '../api/delivery-policy.ts';
import {
  EVENT_DRIVEN_PHASES,
  InfrastructureError,
  runTick,
  type TickEnv,
  type TickOutcome,
  type TickPorts,
} from './tick.ts';
import { groupGatePorts, installGroupGate } from './group-gate-ports.ts';
import { intervalWait, tickAnchor, type Pace } from './pace.ts';
import {
  executionPatches,
  INVALID_NEW_CANARY_STATUS,
  PROVIDER_ATTRIBUTE,
  START_SEARCH_ATTRIBUTES,
  type Patched,
} from './patches.ts';
import {
  analysisSummary,
  currentDetails,
  humanDuration,
  setRoutesSummary,
  targetOf,
  waitSummary,
  webhookSummary,
} from './story.ts';

export interface RolloutOptions {
  /** Continue-as-new after this many ticks in one run (long A/B runs); default 500. */
  maxTicksPerRun?: number;
  /** How long a Failed rollout stays open for `retry` or a new revision; default 24 h. */
  retryWindowMs?: number;
  /** Start-to-close timeout of the (non-local) activities, e.g. "2m" (default); a dead worker's attempt is
   * retried after it. */
  activityTimeout?: string;
}

export interface RolloutInput {
  canary: CanaryRef;
  revision: Revision;
  /** Why this execution started: `bootstrap`, `new-revision`, `retry`, … (informational, except `retry`). */
  cause: string;
  options?: RolloutOptions;
  /** State carried across continue-as-new; absent on a fresh start. */
  carried?: RolloutState;
}

export interface RolloutResult {
  phase: CanaryPhase | 'Pending';
  revision: Revision;
  routes: Routes;
  deleted: boolean;
}

// Activity groups: reads and actions retry until they succeed (they are idempotent); checks have a bounded
// timeout so a hung metric backend is an infrastructure error (retried), never a failed check.
const retry = { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s' };
const nonRetryableErrorTypes = ['TargetNotFound', 'InvalidSpec'];

/** Activity proxies, grouped by retry policy and timeout; built per execution from the rollout options. */
function activityGroups(options: RolloutOptions | undefined) {
  const timeout = options?.activityTimeout ?? '2m';
  return {
    // observe is a pure read, so it runs as a local activity: one marker event instead of three events and a
    // workflow task per tick. Retried with backoff like any activity; a long outage just delays the tick.
    // A few attempts per tick (about 2 s of backoff): an outage longer than that is an infrastructure fault of
    // the tick (status, progress deadline) and the next interval tries again, as Flagger does.
    reads: proxyLocalActivities<Pick<RolloutActivities, 'observe'>>({
      startToCloseTimeout: '30s',
      localRetryThreshold: '10s',
      retry: { ...retry, maximumAttempts: TICK_ATTEMPTS, nonRetryableErrorTypes },
    }),
    // Actions are idempotent (absolute routes, declarative scale and apply), so retrying them is always safe.
    actions: proxyActivities<
      Pick<
        RolloutActivities,
        'initializePrimary' | 'scaleCanary' | 'promotePrimary' | 'reconcileRoutes' | 'setRoutes' | 'checkReadiness'
      >
    >({ startToCloseTimeout: timeout, retry: { ...retry, nonRetryableErrorTypes } }),
    // Like observe: a metrics server down through a few attempts is the tick's infrastructure fault, never a
    // failed check; the next interval queries again.
    checks: proxyActivities<Pick<RolloutActivities, 'runMetrics'>>({
      startToCloseTimeout: timeout,
      retry: { ...retry, maximumAttempts: TICK_ATTEMPTS },
    }),
    // event-driven-phases: the metrics run as a local activity, like observe (a marker instead of three events and a
    // workflow task), which keeps a 10-step rollout under 200 history events. Same timeouts and retries as above;
    // a local activity retried past localRetryThreshold backs off on a timer. Reads only: the actions stay
    // ordinary activities, so the observation a tick acts on is in history before its first write (a worker that
    // dies mid-tick re-runs the reads, never a decision made on what its own write changed).
    localChecks: proxyLocalActivities<Pick<RolloutActivities, 'runMetrics'>>({
      startToCloseTimeout: timeout,
      localRetryThreshold: '10s',
      retry: { ...retry, maximumAttempts: TICK_ATTEMPTS },
    }),
    // Waits on the cluster (event-driven-phases): polled every 50–500 ms with a heartbeat each poll, so a dead worker
    // is noticed within the heartbeat timeout and a control cancels the wait. Bounded by the progress deadline
    // (start-to-close and schedule-to-close are set per call, see awaitReady).
    waits: proxyActivities<Pick<RolloutActivities, 'awaitReadiness'>>({
      startToCloseTimeout: timeout,
      heartbeatTimeout: READINESS_HEARTBEAT_TIMEOUT,
      retry: { ...retry, nonRetryableErrorTypes },
    }),
    // A webhook's retries are attempts of this activity: it throws a retryable failure with Flagger's backoff as
    // the next delay until its own `retries` are used up, then returns the outcome; the cap here only ends the
    // retries when attempts die with their worker (then the call is one failed check, see tickEnv).
    webhooks: proxyActivities<Pick<RolloutActivities, 'callWebhook'>>({
      startToCloseTimeout: timeout,
      retry: {
        initialInterval: '1s',
        backoffCoefficient: 2,
        maximumInterval: '30s',
        maximumAttempts: 1 + MAX_WEBHOOK_RETRIES,
      },
    }),
    // Projection runs as local activities too: one marker event each, which keeps a 10-step rollout well inside
    // the history budget. They are idempotent (status apply, events named by run id + sequence).
    // A projection that fails through its attempts never fails the execution: project() keeps what it could
    // not write for the next tick (see there).
    projection: proxyLocalActivities<Pick<RolloutActivities, 'writeStatus' | 'recordEvents'>>({
      startToCloseTimeout: '30s',
      retry: { ...retry, maximumAttempts: 6 },
    }),
    // DeliveryPolicy verdicts: a read, like observe; a check that fails through its attempts holds nothing.
    delivery: proxyLocalActivities<DeliveryPort>({
      startToCloseTimeout: '30s',
      localRetryThreshold: '10s',
      retry: { ...retry, maximumAttempts: TICK_ATTEMPTS },
    }),
    notify: proxyLocalActivities<Pick<RolloutActivities, 'sendAlert'>>({
      startToCloseTimeout: '30s',
      retry: { ...retry, maximumAttempts: 3 },
    }),
  };
}
type ActivityGroups = ReturnType<typeof activityGroups>;

/** Attempts of observe and runMetrics within one tick (backoff 0.5 s, 1 s, 2 s between them). */
const TICK_ATTEMPTS = 4;
/** Heartbeat timeout of the activities that wait (awaitReadiness polls and heartbeats at least every 500 ms). */
const READINESS_HEARTBEAT_TIMEOUT = '10s';
/** Readiness waits in a row (no interval between them) before the rollout falls back to the interval. */
const MAX_WAITS_IN_A_ROW = 3;
/** A readiness wait ends this long after the progress deadline, so the tick that follows sees it exceeded. */
const DEADLINE_MARGIN_MS = 1000;
const DEFAULT_MAX_TICKS_PER_RUN = 500;
const DEFAULT_RETRY_WINDOW_MS = 24 * 3600_000;

export async function rollout(input: RolloutInput): Promise<RolloutResult> {
  // First, so a new execution records the baseline in its first workflow task (workflows/patches.ts).
  const patches = executionPatches();
  const state = input.carried ?? initialState(input.canary, input.revision, input.cause);
  state.ticksThisRun = 0;
  // Outcomes of controls decided by a tick from an earlier run have no waiting update any more.
  state.controlOutcomes = undefined;
  const wake = { arrived: false };
  const interrupts = new Interrupts();
  const answers: Answers = new Map();
  installHandlers(state, wake, interrupts, answers);
  const acts = activityGroups(input.options);
  const env = tickEnv(acts, interrupts, patches);
  env.checkDelivery = (i) => checkDelivery(acts, i);
  const visibility = new Visibility(patches);
  visibility.update(state);
  const projected: Projected = { lastStatus: '' };
  const pace: Pace = { waits: 0 };

  while (!state.deleted && !state.deleting) {
    wake.arrived = false;
    pace.tickStartedAt = tickAnchor(pace, Date.now());
    const outcome = await interruptibleTick(state, env, interrupts);
    state.ticksThisRun++;
    const ends = outcome === 'final' || state.deleted || Boolean(state.deleting);
    if (ends) settlePending(state);
    await projectFully(state, env.spec, projected, acts, patches, ends);
    answer(state, answers);
    // A phase the next tick leaves at once (Finalising) is not worth a search-attribute upsert.
    visibility.update(state, state.followUp === 'now' && !ends);
    if (ends) {
      state.final = true;
      break;
    }
    // A control accepted but not yet acted on is acted on by this run (its update waits for the answer).
    if (runIsLong(state, input) && !state.abortRequested && !state.promoteRequested) return carryOn(input, state);
    // A delivery window or freeze holds the rollout: one timer until it opens (workflows/delivery.ts).
    if (!wake.arrived) {
      if (holdWaitMs(state, Date.now()) !== undefined) await holdUntilOpen(state, wake);
      else await untilNextTick(state, acts, wake, pace);
    }
  }
  settlePending(state);
  answer(state, answers);
  return afterFinal(input, state, visibility);
}

/**
 * Wait while a delivery window or freeze holds the rollout, until it opens (one durable timer) or a signal
 * arrives. Workflow time is the start of this task, which ran the tick and its projection: a 1 ms timer
 * refreshes it first, so the hold's timer ends at the opening, not that long after it.
 */
async function holdUntilOpen(state: RolloutState, wake: { arrived: boolean }): Promise<void> {
  await sleep(1, { summary: 'read the clock before waiting for the delivery window or freeze' });
  const waitMs = holdWaitMs(state, Date.now()) ?? state.intervalMs;
  if (!wake.arrived)
    await condition(() => wake.arrived || state.deleted, waitMs, { summary: waitSummary(waitMs, state.waitingFor) });
}

/**
 * Between two ticks: what the last tick asked for (state.followUp, event-driven-phases): nothing (the next phase
 * follows at once), a workload to be ready (awaitReady), else one analysis interval. Any control, new revision or
 * deletion cuts the wait short.
 */
async function untilNextTick(
  state: RolloutState,
  acts: ActivityGroups,
  wake: { arrived: boolean },
  pace: Pace,
): Promise<void> {
  const follow = state.followUp;
  if (follow === 'now') return;
  // A workload that flaps (ready for the wait, not for the tick) falls back to the interval after a few rounds.
  const waiting = (follow === 'primary' || follow === 'canary') && pace.waits < MAX_WAITS_IN_A_ROW;
  pace.waits = waiting ? pace.waits + 1 : 0;
  if (waiting && (await awaitReady(state, follow, acts, wake))) return;
  pace.waits = 0;
  const waitMs = intervalWait(pace, state.intervalMs, Date.now());
  await condition(() => wake.arrived || state.deleted, waitMs, {
    summary: waitSummary(waitMs, state.waitingFor),
  });
}

/**
 * Wait on the cluster until `which` is ready (the awaitReadiness activity), for at most what is left of the
 * progress deadline (counted from now if the workload was not seen unready before), then a little more so the
 * tick that follows sees the deadline exceeded. A control, a new revision or the Canary's deletion cancels the
 * wait. Returns false when the wait failed (e.g. the target is gone) or the deadline has already passed: the
 * caller then waits an interval, so a failing read or a deadline nobody acts on never spins.
 */
async function awaitReady(
  state: RolloutState,
  which: 'primary' | 'canary',
  { waits }: ActivityGroups,
  wake: { arrived: boolean },
): Promise<boolean> {
  const spec = state.lastSpec;
  if (!spec) return false;
  const now = Date.now();
  const since = (state.notReadySince[which] ??= now);
  const timeoutMs = spec.progressDeadlineSeconds * 1000 - (now - since) + DEADLINE_MARGIN_MS;
  // The deadline has passed and the last tick did not act on it (initialization has none): back to the interval.
  if (timeoutMs <= 0) return false;
  const target = targetOf(state.canary, spec);
  const workload = which === 'primary' ? `${target}-primary` : target;
  let settled: 'ready' | 'failed' | undefined;
  const scope = new CancellationScope();
  const waiting = scope
    .run(() =>
      waits.awaitReadiness.executeWithOptions(
        {
          summary: `wait until ${workload} is ready (at most ${humanDuration(timeoutMs)})`,
          startToCloseTimeout: timeoutMs + 30_000,
          scheduleToCloseTimeout: timeoutMs + 60_000,
        },
        [{ canary: state.canary, revision: state.revision, which, timeoutMs }],
      ),
    )
    .then(
      () => (settled = 'ready'),
      (err: unknown) => {
        settled = 'failed';
        if (!isCancellation(err)) log.warn('readiness wait failed', { which, error: String(err) });
      },
    );
  await condition(() => settled !== undefined || wake.arrived || state.deleted || Boolean(state.deleting));
  if (settled === undefined) {
    scope.cancel();
    await waiting;
    return true;
  }
  return settled === 'ready';
}

/**
 * The tick's infrastructure reads and analysis checks (observe, metrics, webhooks) in flight, so that an abort
 * (or the Canary's deletion) can cancel them: a tick stuck on a route no gateway accepts or on a metrics server
 * that is down must not hold a control. Actions (routes, scaling, promotion) are never cancelled: a tick
 * interrupted mid-way has only read, and the rollback that follows runs to its end (see interruptibleTick).
 */
class Interrupts {
  private readonly scopes = new Set<CancellationScope>();
  private requested = false;
  private enabled = true;
  private ticking = false;

  /** Runs an interruptible call; throws a cancellation at once when an interrupt is pending. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.requested) throw new CancelledFailure('tick interrupted by a control');
    const scope = new CancellationScope();
    this.scopes.add(scope);
    try {
      return await scope.run(fn);
    } finally {
      this.scopes.delete(scope);
    }
  }

  /** Cancels the interruptible calls of the tick in flight (no-op between ticks and during the follow-up tick). */
  interrupt(): void {
    // Between ticks there is nothing to interrupt: the wait is cut short and the next tick acts on the control.
    if (!this.enabled || !this.ticking) return;
    this.requested = true;
    for (const scope of this.scopes) scope.cancel();
  }

  /** Marks the span of a tick (interrupts outside it are no-ops). */
  during(ticking: boolean): void {
    this.ticking = ticking;
    this.requested = false;
  }

  /** Whether the tick that just threw was interrupted; clears the request. */
  take(): boolean {
    const was = this.requested;
    this.requested = false;
    return was;
  }

  /** Runs `fn` with interrupts off (the tick that acts on the interrupting control). */
  async shielded<T>(fn: () => Promise<T>): Promise<T> {
    this.enabled = false;
    try {
      return await fn();
    } finally {
      this.enabled = true;
    }
  }
}

/**
 * One tick that an abort or the Canary's deletion can interrupt; the tick that then acts on it (the rollback)
 * runs in a scope nothing cancels but the workflow's own cancellation.
 */
async function interruptibleTick(state: RolloutState, env: TickEnv, interrupts: Interrupts): Promise<TickOutcome> {
  interrupts.during(true);
  try {
    return await tickOrHalt(state, env);
  } catch (err) {
    if (!interrupts.take() || !isCancellation(err)) throw err;
    recordStep(state, 'tick', 'tick interrupted by a control', Date.now());
    if (state.deleted || state.deleting) return 'final';
    return interrupts.shielded(() => CancellationScope.nonCancellable(() => tickOrHalt(state, env)));
  } finally {
    interrupts.during(false);
  }
}

/** Updates of promote/abort waiting for their outcome, by request id (undefined until the tick decided). */
type Answers = Map<number, ControlOutcome | undefined>;

/** The rollout ended (or its Canary is gone) with a promote/abort still pending: it will never act, say so. */
function settlePending(state: RolloutState): void {
  const end = state.deleted || state.deleting ? 'the canary was deleted' : `the rollout ended ${state.phase}`;
  for (const control of ['abort', 'promote'] as const) {
    const req = control === 'abort' ? state.abortRequested : state.promoteRequested;
    if (!req) continue;
    if (control === 'abort') state.abortRequested = undefined;
    else state.promoteRequested = undefined;
    settleControl(state, control, req, false, `${end} before ${control} could act`);
    recordStep(state, 'control', `${control} by ${req.by} not applied: ${end} before it could act`, Date.now());
  }
}

/** Hand the outcomes decided by the tick to the updates waiting for them (after the tick and its projection). */
function answer(state: RolloutState, answers: Answers): void {
  for (const outcome of state.controlOutcomes ?? []) if (answers.has(outcome.id)) answers.set(outcome.id, outcome);
  state.controlOutcomes = undefined;
}

/**
 * One tick; a non-retryable activity error (target not found, invalid object) halts this tick with a warning
 * event instead of failing the workflow, like Flagger, which records the error and tries again next interval.
 */
async function tickOrHalt(state: RolloutState, env: TickEnv): Promise<TickOutcome> {
  try {
    const outcome = await runTick(state, env);
    if (state.message.startsWith('halted: ')) state.message = '';
    return outcome;
  } catch (err) {
    const failure = activityFailure(err);
    if (!(failure instanceof ApplicationFailure) || !failure.nonRetryable) throw err;
    state.message = `halted: ${failure.message}`;
    state.waitingFor = 'next interval (last tick halted)';
    emit(state, 'Warning', failure.message);
    return 'continue';
  }
}

/** After the final phase: start the pending revision, or keep a Failed rollout open for retry. */
async function afterFinal(input: RolloutInput, state: RolloutState, visibility: Visibility): Promise<RolloutResult> {
  if (!state.deleted && !state.deleting && state.phase === 'Failed' && !state.pendingRevision) {
    state.waitingFor = 'retry or a new revision';
    visibility.update(state);
    const window = input.options?.retryWindowMs ?? DEFAULT_RETRY_WINDOW_MS;
    await condition(
      () => Boolean(state.retryRequested || state.pendingRevision || state.deleted || state.deleting),
      window,
      { summary: `keep the failed rollout open ${humanDuration(window)} for retry or a new revision` },
    );
  }
  if (state.deleting && !state.deleted) return finalizeDeleted(input, state, visibility);
  if (!state.deleted && state.pendingRevision) return startNext(input, state.pendingRevision, 'new-revision');
  if (!state.deleted && state.retryRequested) return startNext(input, state.revision, 'retry');
  await condition(allHandlersFinished);
  // A deletion signalled while the handlers finished: still this run's job (the watcher re-signals one that lands
  // after the run returned, when a new run does it).
  if (state.deleting && !state.deleted) return finalizeDeleted(input, state, visibility);
  return { phase: state.phase, revision: state.revision, routes: state.routes, deleted: state.deleted };
}

/**
 * The Canary is being deleted: fledge's last write. The tick in flight was interrupted or has finished (the main
 * loop awaits it), so nothing of this workflow writes routes, scaling or status after this: revertOnDeletion
 * (finalizeCanary: Terminating, target restored, apex Service and routes back on it, finalizer released), retried
 * until it succeeds (a target not ready yet is retryable), then the execution ends. Before, the watcher finalized
 * while a tick could still re-apply routes after the restore.
 */
async function finalizeDeleted(
  input: RolloutInput,
  state: RolloutState,
  visibility: Visibility,
): Promise<RolloutResult> {
  state.waitingFor = 'finalizing: the canary is being deleted';
  visibility.update(state);
  const { finalizeCanary } = proxyActivities<FinalizePort>({
    // finalizeCanary waits up to a minute for the restored target to be ready, then fails retryably.
    startToCloseTimeout: input.options?.activityTimeout ?? '2m',
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '60s', nonRetryableErrorTypes },
  });
  try {
    await finalizeCanary.executeWithOptions(
      { summary: `finalize ${state.canary.namespace}/${state.canary.name}: restore the target, release the finalizer` },
      [{ canary: state.canary }],
    );
    recordStep(state, 'tick', 'canary finalized', Date.now());
  } catch (err) {
    if (!(err instanceof ActivityFailure) || isCancellation(err)) throw err;
    // E.g. an adopted apex Service that cannot select the target again: the finalizer stays for a person to act.
    log.warn('canary not finalized', { error: err.cause?.message ?? err.message });
    recordStep(state, 'tick', `canary not finalized: ${err.cause?.message ?? err.message}`, Date.now());
  }
  state.deleted = true;
  await condition(allHandlersFinished);
  return { phase: state.phase, revision: state.revision, routes: state.routes, deleted: true };
}

async function startNext(input: RolloutInput, revision: Revision, cause: string): Promise<never> {
  await condition(allHandlersFinished);
  return continueAsNew<typeof rollout>({ canary: input.canary, revision, cause, options: input.options });
}

function runIsLong(state: RolloutState, input: RolloutInput): boolean {
  const max = input.options?.maxTicksPerRun ?? DEFAULT_MAX_TICKS_PER_RUN;
  return workflowInfo().continueAsNewSuggested || state.ticksThisRun >= max;
}

async function carryOn(input: RolloutInput, state: RolloutState): Promise<never> {
  await condition(allHandlersFinished);
  recordStep(state, 'tick', `continued as new after ${state.ticksThisRun} ticks`, Date.now());
  return continueAsNew<typeof rollout>({ ...input, carried: state });
}

/**
 * The DeliveryPolicy verdict (workflows/delivery.ts). A check that fails through its attempts (apiserver down,
 * RBAC missing) holds nothing: it is logged and the rollout goes on as if no policy applied.
 */
async function checkDelivery(
  { delivery }: ActivityGroups,
  input: Parameters<DeliveryPort['checkDelivery']>[0],
): Promise<Awaited<ReturnType<DeliveryPort['checkDelivery']>> | undefined> {
  try {
    return await delivery.checkDelivery.executeWithOptions(
      { summary: `check delivery windows and freezes of ${input.canary.namespace}/${input.canary.name}` },
      [input],
    );
  } catch (err) {
    const failure = activityFailure(err);
    if (!failure) throw err;
    log.warn('delivery policies not read; the rollout is not held', { error: failure.message });
    return undefined;
  }
}

/**
 * A read whose attempts for this tick ran out (retryable failure, timeout) is the tick's InfrastructureError;
 * non-retryable failures (target not found, invalid spec) and cancellations pass through.
 */
function asInfrastructureError(source: 'observe' | 'metrics', err: unknown): unknown {
  const failure = activityFailure(err);
  if (!failure || (failure instanceof ApplicationFailure && failure.nonRetryable)) return err;
  return new InfrastructureError(source, failure.message);
}

/**
 * What an activity's failure says, once its attempts are over: an ActivityFailure's cause, or for a local
 * activity the failure itself (the SDK hands local activity failures over unwrapped). Undefined for a
 * cancellation and for anything that is not an activity's failure.
 */
function activityFailure(err: unknown): TemporalFailure | undefined {
  if (isCancellation(err)) return undefined;
  if (err instanceof ActivityFailure) return err.cause instanceof TemporalFailure ? err.cause : err;
  return err instanceof ApplicationFailure || err instanceof TimeoutFailure ? err : undefined;
}

/**
 * The tick's ports over the activity proxies, each call with a one-line summary for the UI (see story.ts: names,
 * weights and thresholds, never URLs or Secret values).
 */
function tickEnv(
  { reads, actions, checks, webhooks, localChecks }: ActivityGroups,
  interrupts: Interrupts,
  patches: Patched,
): TickEnv & { spec?: RolloutSpec } {
  const target = (canary: CanaryRef) => targetOf(canary, env.spec);
  // Histories recorded before event-driven-phases scheduled the metrics as a (non-local) activity.
  const local = () => patches(EVENT_DRIVEN_PHASES);
  const ports: TickPorts = {
    observe: async (i) => {
      try {
        const obs = await interrupts.run(() =>
          reads.observe.executeWithOptions({ summary: `observe ${i.canary.namespace}/${i.canary.name}` }, [i]),
        );
        if (obs.spec.ok) env.spec = obs.spec.spec;
        return obs;
      } catch (err) {
        throw asInfrastructureError('observe', err);
      }
    },
    checkReadiness: (i) =>
      actions.checkReadiness.executeWithOptions(
        { summary: `check readiness of ${target(i.canary)}-primary and ${target(i.canary)}` },
        [i],
      ),
    initializePrimary: (i) =>
      actions.initializePrimary.executeWithOptions(
        { summary: `initialize ${target(i.canary)}-primary and the services` },
        [i],
      ),
    scaleCanary: (i) =>
      actions.scaleCanary.executeWithOptions(
        { summary: `scale ${target(i.canary)} ${i.direction === 'up' ? 'up' : 'to zero'}` },
        [i],
      ),
    promotePrimary: (i) =>
      actions.promotePrimary.executeWithOptions(
        { summary: `promote ${target(i.canary)}-primary to revision ${i.revision.hash}` },
        [i],
      ),
    reconcileRoutes: (i) =>
      actions.reconcileRoutes.executeWithOptions({ summary: 'reconcile services and routes, keeping the weights' }, [
        i,
      ]),
    setRoutes: (i) => actions.setRoutes.executeWithOptions({ summary: setRoutesSummary(i.routes) }, [i]),
    runMetrics: async (i) => {
      try {
        return await interrupts.run(() =>
          (local() ? localChecks : checks).runMetrics.executeWithOptions({ summary: analysisSummary(i.metrics) }, [i]),
        );
      } catch (err) {
        throw asInfrastructureError('metrics', err);
      }
    },
    callWebhook: async (i) => {
      try {
        return await interrupts.run(() =>
          webhooks.callWebhook.executeWithOptions({ summary: webhookSummary(i.hook) }, [i]),
        );
      } catch (err) {
        // Flagger: a webhook that cannot be called is a failed check. Attempts exhausted (or timed out with their
        // worker) are exactly that, once per call; a cancelled workflow stays cancelled.
        if (!(err instanceof ActivityFailure) || isCancellation(err)) throw err;
        return { ok: false, message: `webhook ${i.hook.name} failed: ${err.cause?.message ?? err.message}` };
      }
    },
  };
  const env: TickEnv & { spec?: RolloutSpec } = {
    ports,
    now: () => Date.now(),
    patched: patches,
    group: groupGatePorts(),
  };
  return env;
}

// ---------------------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------------------

function installHandlers(
  state: RolloutState,
  wake: { arrived: boolean },
  interrupts: Interrupts,
  answers: Answers,
): void {
  for (const control of CONTROL_NAMES) {
    setHandler(
      controlUpdates[control],
      async (input) => {
        const result = accept(control, state, wake, input, interrupts);
        if (control !== 'abort' && control !== 'promote') return result;
        // promote/abort: answer once the tick that acts on them is over, with what it did.
        const id = (control === 'abort' ? state.abortRequested : state.promoteRequested)?.id;
        if (id === undefined) return result;
        answers.set(id, undefined);
        await condition(() => answers.get(id) !== undefined);
        const outcome = answers.get(id)!;
        answers.delete(id);
        if (!outcome.applied) throw ApplicationFailure.nonRetryable(outcome.message, 'ControlRejected');
        return { ...result, phase: state.phase, message: `${result.message}: ${outcome.message}` };
      },
      {
        validator: (input) => {
          const why = rejectControl(control, state, input);
          if (why) throw ApplicationFailure.nonRetryable(why, 'ControlRejected');
        },
      },
    );
    setHandler(controlSignals[control], (input) => {
      const why = rejectControl(control, state, input);
      if (why) recordStep(state, 'signal', `${control} signal ignored: ${why}`, Date.now());
      else accept(control, state, wake, input, interrupts);
    });
  }
  setHandler(newRevisionSignal, (revision) => {
    if (revision.hash === state.revision.hash || revision.hash === state.pendingRevision?.hash) return;
    state.pendingRevision = revision;
    recordStep(state, 'signal', `new revision ${revision.hash} (generation ${revision.generation})`, Date.now());
    wake.arrived = true;
  });
  setHandler(canaryDeletedSignal, () => {
    state.deleted = true;
    recordStep(state, 'signal', 'canary deleted', Date.now());
    wake.arrived = true;
    interrupts.interrupt();
  });
  setHandler(canaryDeletingSignal, () => {
    if (state.deleting || state.deleted) return;
    state.deleting = true;
    recordStep(state, 'signal', 'canary deleting', Date.now());
    wake.arrived = true;
    // The tick in flight stops at its next read or check, as for an abort; finalize runs once it is over.
    interrupts.interrupt();
  });
  setHandler(statusQuery, () => statusView(state));
  setHandler(deliveryPolicyChangedSignal, () => {
    if (state.deliveryHold) wake.arrived = true;
  });
  installGroupGate(state, wake);
}

function accept(
  control: ControlName,
  state: RolloutState,
  wake: { arrived: boolean },
  input: { by: string; reason?: string },
  interrupts: Interrupts,
): ControlResult {
  const note = applyControl(control, state, input);
  recordStep(state, 'control', note, Date.now());
  wake.arrived = true;
  // An abort does not wait for the tick in flight to finish its reads (they may never finish).
  if (control === 'abort') interrupts.interrupt();
  return { accepted: true, applied: true, control, phase: state.phase, message: note };
}

// ---------------------------------------------------------------------------------------------------------
// Projection: status, events, alerts, search attributes, current details
// ---------------------------------------------------------------------------------------------------------

/** Last status written by this run (per execution; module state would leak between workflows in a shared V8 context). */
interface Projected {
  lastStatus: string;
}

/**
 * Project the tick; the projection of the rollout's last tick is retried (one interval apart) until it is
 * written, so the Canary's status never stays behind on the final phase.
 */
async function projectFully(
  state: RolloutState,
  spec: RolloutSpec | undefined,
  done: Projected,
  acts: ActivityGroups,
  patches: Patched,
  last: boolean,
): Promise<void> {
  while (!(await project(state, spec, done, acts, patches)) && last && !state.deleted)
    await sleep(state.intervalMs, {
      summary: `wait ${humanDuration(state.intervalMs)}, then write the final status again`,
    });
}

/** A projection activity failed through its attempts (apiserver down): not a reason to fail the execution. */
function projectionFailed(err: unknown, what: string): void {
  const failure = activityFailure(err);
  if (!failure) throw err;
  log.warn(`${what} not written; retried at the next tick`, { error: failure.message });
}

/**
 * Before the first valid observation there is no phase, so nothing was written and the problem was only a Warning
 * event; `kubectl get canary` and `kubectl wait` showed nothing. Now its status says Initializing with the Promoted
 * condition's reason InvalidSpec and the errors (activities/kubernetes/status.ts). Asks `patches` only in that case.
 */
function invalidFromTheStart(state: RolloutState, patches: Patched): boolean {
  return state.message.startsWith('invalid spec: ') && patches(INVALID_NEW_CANARY_STATUS);
}

/**
 * Status, events and alerts of the tick. Idempotent: a status not written is written by the next projection (it
 * differs from the last one written), events not recorded go back to the outbox with the same sequence numbers
 * (the same event names). Returns false when something could not be written.
 */
async function project(
  state: RolloutState,
  spec: RolloutSpec | undefined,
  done: Projected,
  { projection, notify }: ActivityGroups,
  patches: Patched,
): Promise<boolean> {
  let complete = true;
  const { events, alerts } = state.outbox;
  state.outbox = { events: [], alerts: [] };
  if (events.length > 0) recordStep(state, 'tick', events.map((e) => e.message).join('; '), Date.now());
  // Before the first observation there is no phase to write; events (e.g. an invalid spec) still go out.
  const phase: CanaryPhase = state.phase === 'Pending' ? 'Initializing' : state.phase;
  const status = statusProjection(state, phase);
  const key = JSON.stringify(status);
  const eventHooks = spec?.analysis.webhooks.filter((h) => h.type === 'event') ?? [];
  const to = eventHooks.length > 0 ? ` and event hooks ${eventHooks.map((h) => h.name).join(', ')}` : '';
  const record = {
    runId: workflowInfo().runId,
    firstSequence: state.eventSequence,
    events,
    eventHooks,
    revision: state.revision,
    phase,
  };
  const writeStatus = (state.phase !== 'Pending' || invalidFromTheStart(state, patches)) && key !== done.lastStatus;
  // event-driven-phases: events and alerts ride along the status write (one marker instead of three).
  const ride = writeStatus && (events.length > 0 || alerts.length > 0) && patches(EVENT_DRIVEN_PHASES);
  const together = ride && events.length > 0;
  const riding = ride ? alerts.map((a) => ({ ...a, alerts: spec?.analysis.alerts ?? [] })) : [];
  if (writeStatus) {
    try {
      const withEvents = together ? ` and record ${events.length} event(s)${to}` : '';
      const withAlerts = riding.length > 0 ? `, ${riding.length} alert(s)` : '';
      await projection.writeStatus.executeWithOptions(
        {
          summary: `write status: ${status.phase}, weight ${status.canaryWeight} %, failed checks ${status.failedChecks}${withEvents}${withAlerts}`,
        },
        [
          {
            canary: state.canary,
            status,
            ...(together ? { events: record } : {}),
            ...(riding.length > 0 ? { alerts: riding } : {}),
          },
        ],
      );
      done.lastStatus = key;
      if (together) state.eventSequence += events.length;
    } catch (err) {
      projectionFailed(err, 'status');
      if (together) state.outbox.events.unshift(...events);
      // Sent after the status and events, so not sent yet: they go with the next projection.
      if (riding.length > 0) state.outbox.alerts.unshift(...alerts);
      complete = false;
    }
  }
  if (events.length > 0 && !together) {
    try {
      await projection.recordEvents.executeWithOptions({ summary: `record ${events.length} event(s)${to}` }, [
        { canary: state.canary, ...record },
      ]);
      state.eventSequence += events.length;
    } catch (err) {
      projectionFailed(err, 'events');
      state.outbox.events.unshift(...events);
      complete = false;
    }
  }
  for (const a of riding.length > 0 ? [] : alerts) {
    try {
      const providers = spec?.analysis.alerts.map((al) => al.name).join(', ') || 'the default provider';
      await notify.sendAlert.executeWithOptions({ summary: `alert (${a.severity}) to ${providers}` }, [
        { canary: state.canary, ...a, alerts: spec?.analysis.alerts ?? [] },
      ]);
    } catch (err) {
      // Alerts are best effort, as in Flagger: a broken notifier never blocks a rollout.
      log.warn('alert not sent', { error: String(err) });
    }
  }
  return complete;
}

function statusProjection(state: RolloutState, phase: CanaryPhase): StatusProjection {
  const info = workflowInfo();
  return {
    phase,
    canaryWeight: state.routes.canary,
    failedChecks: state.failedChecks,
    iterations: state.iterations,
    step: state.step,
    revision: state.revision.hash,
    lastPromotedRevision: state.lastPromotedRevision,
    metrics: state.metrics,
    message: state.message || state.waitingFor,
    workflowId: info.workflowId,
    runId: info.runId,
  };
}

/** Whether the execution's search attributes already hold every one of `pairs` (set at its start). */
function alreadySet(pairs: RolloutSearchAttribute[]): boolean {
  const current = workflowInfo().typedSearchAttributes;
  return pairs.every((p) => current.get(p.key) === p.value);
}

/** Search attributes (only on change: each upsert is a history event) and the UI's current details (story.ts). */
class Visibility {
  private last = '';
  private readonly patches: Patched;
  constructor(patches: Patched) {
    this.patches = patches;
  }

  /** `transient`: a phase the rollout leaves at once; only the current details change. */
  update(state: RolloutState, transient = false): void {
    setCurrentDetails(currentDetails(state));
    if (transient) return;
    const key = `${state.phase}|${state.revision.hash}`;
    if (key === this.last) return;
    const provider = state.lastSpec ? (state.lastSpec.provider ?? 'default') : undefined;
    // The provider is known once a tick has read the spec; rides along the phase's upsert (no new command).
    const withProvider = provider && this.patches(PROVIDER_ATTRIBUTE) ? provider : undefined;
    const pairs = rolloutSearchAttributes(state.canary, state.phase, state.revision.hash, withProvider);
    // The execution may have been started with exactly these (the watcher does, worker/watcher.ts): no upsert.
    const first = this.last === '';
    this.last = key;
    if (first && alreadySet(pairs) && this.patches(START_SEARCH_ATTRIBUTES)) return;
    upsertSearchAttributes(pairs);
  }
}
