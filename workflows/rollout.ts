// The rollout workflow: one execution per rollout of one Canary (id `canary/<namespace>/<name>`).
// It decides; activities act and observe. Each tick is runTick() (Flagger's order), then a projection of
// status/events/alerts, then a durable wait that any control cuts short.

import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type {
  CanaryPhase,
  CanaryRef,
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
  controlSignals,
  controlUpdates,
  newRevisionSignal,
  rejectControl,
  statusQuery,
  statusView,
  type ControlName,
  type ControlResult,
} from './controls.ts';
import { MAX_WEBHOOK_RETRIES } from '../api/canary.ts';
import { emit, initialState, recordStep, type RolloutState } from './state.ts';
import { runTick, type TickEnv, type TickOutcome, type TickPorts } from './tick.ts';

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
    reads: proxyLocalActivities<Pick<RolloutActivities, 'observe'>>({
      startToCloseTimeout: '30s',
      localRetryThreshold: '10s',
      retry: { ...retry, nonRetryableErrorTypes },
    }),
    // Actions are idempotent (absolute routes, declarative scale and apply), so retrying them is always safe.
    actions: proxyActivities<
      Pick<RolloutActivities, 'initializePrimary' | 'scaleCanary' | 'promotePrimary' | 'reconcileRoutes' | 'setRoutes'>
    >({ startToCloseTimeout: timeout, retry: { ...retry, nonRetryableErrorTypes } }),
    checks: proxyActivities<Pick<RolloutActivities, 'runMetrics'>>({ startToCloseTimeout: timeout, retry }),
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
    projection: proxyLocalActivities<Pick<RolloutActivities, 'writeStatus' | 'recordEvents'>>({
      startToCloseTimeout: '30s',
      retry: { ...retry, maximumAttempts: 10 },
    }),
    notify: proxyLocalActivities<Pick<RolloutActivities, 'sendAlert'>>({
      startToCloseTimeout: '30s',
      retry: { ...retry, maximumAttempts: 3 },
    }),
  };
}
type ActivityGroups = ReturnType<typeof activityGroups>;

const DEFAULT_MAX_TICKS_PER_RUN = 500;
const DEFAULT_RETRY_WINDOW_MS = 24 * 3600_000;

export async function rollout(input: RolloutInput): Promise<RolloutResult> {
  const state = input.carried ?? initialState(input.canary, input.revision, input.cause);
  state.ticksThisRun = 0;
  const wake = { arrived: false };
  installHandlers(state, wake);
  const acts = activityGroups(input.options);
  const env = tickEnv(acts);
  const visibility = new Visibility();
  visibility.update(state);
  const projected: Projected = { lastStatus: '' };

  while (!state.deleted) {
    wake.arrived = false;
    const outcome = await tickOrHalt(state, env);
    state.ticksThisRun++;
    await project(state, env.spec, projected, acts);
    visibility.update(state);
    if (outcome === 'final' || state.deleted) {
      state.final = true;
      break;
    }
    if (runIsLong(state, input)) return carryOn(input, state);
    if (!wake.arrived) await condition(() => wake.arrived || state.deleted, state.intervalMs);
  }
  return afterFinal(input, state, visibility);
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
    if (!(err instanceof ActivityFailure) || !(err.cause instanceof ApplicationFailure) || !err.cause.nonRetryable) {
      throw err;
    }
    state.message = `halted: ${err.cause.message}`;
    state.waitingFor = 'next interval (last tick halted)';
    emit(state, 'Warning', err.cause.message);
    return 'continue';
  }
}

/** After the final phase: start the pending revision, or keep a Failed rollout open for retry. */
async function afterFinal(input: RolloutInput, state: RolloutState, visibility: Visibility): Promise<RolloutResult> {
  if (!state.deleted && state.phase === 'Failed' && !state.pendingRevision) {
    state.waitingFor = 'retry or a new revision';
    visibility.update(state);
    const window = input.options?.retryWindowMs ?? DEFAULT_RETRY_WINDOW_MS;
    await condition(() => Boolean(state.retryRequested || state.pendingRevision || state.deleted), window);
  }
  if (!state.deleted && state.pendingRevision) return startNext(input, state.pendingRevision, 'new-revision');
  if (!state.deleted && state.retryRequested) return startNext(input, state.revision, 'retry');
  return { phase: state.phase, revision: state.revision, routes: state.routes, deleted: state.deleted };
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

function tickEnv({ reads, actions, checks, webhooks }: ActivityGroups): TickEnv & { spec?: RolloutSpec } {
  const ports: TickPorts = {
    observe: async (i) => {
      const obs = await reads.observe(i);
      if (obs.spec.ok) env.spec = obs.spec.spec;
      return obs;
    },
    initializePrimary: actions.initializePrimary,
    scaleCanary: actions.scaleCanary,
    promotePrimary: actions.promotePrimary,
    reconcileRoutes: actions.reconcileRoutes,
    setRoutes: actions.setRoutes,
    runMetrics: checks.runMetrics,
    callWebhook: async (i) => {
      try {
        return await webhooks.callWebhook(i);
      } catch (err) {
        // Flagger: a webhook that cannot be called is a failed check. Attempts exhausted (or timed out with their
        // worker) are exactly that, once per call; a cancelled workflow stays cancelled.
        if (!(err instanceof ActivityFailure) || isCancellation(err)) throw err;
        return { ok: false, message: `webhook ${i.hook.name} failed: ${err.cause?.message ?? err.message}` };
      }
    },
  };
  const env: TickEnv & { spec?: RolloutSpec } = { ports, now: () => Date.now(), patched };
  return env;
}

// ---------------------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------------------

function installHandlers(state: RolloutState, wake: { arrived: boolean }): void {
  for (const control of CONTROL_NAMES) {
    setHandler(controlUpdates[control], (input) => accept(control, state, wake, input), {
      validator: (input) => {
        const why = rejectControl(control, state, input);
        if (why) throw ApplicationFailure.nonRetryable(why, 'ControlRejected');
      },
    });
    setHandler(controlSignals[control], (input) => {
      const why = rejectControl(control, state, input);
      if (why) recordStep(state, 'signal', `${control} signal ignored: ${why}`, Date.now());
      else accept(control, state, wake, input);
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
  });
  setHandler(statusQuery, () => statusView(state));
}

function accept(
  control: ControlName,
  state: RolloutState,
  wake: { arrived: boolean },
  input: { by: string; reason?: string },
): ControlResult {
  const note = applyControl(control, state, input);
  recordStep(state, 'control', note, Date.now());
  wake.arrived = true;
  return { accepted: true, control, phase: state.phase, message: note };
}

// ---------------------------------------------------------------------------------------------------------
// Projection: status, events, alerts, search attributes, current details
// ---------------------------------------------------------------------------------------------------------

/** Last status written by this run (per execution; module state would leak between workflows in a shared V8 context). */
interface Projected {
  lastStatus: string;
}

async function project(
  state: RolloutState,
  spec: RolloutSpec | undefined,
  done: Projected,
  { projection, notify }: ActivityGroups,
): Promise<void> {
  const { events, alerts } = state.outbox;
  state.outbox = { events: [], alerts: [] };
  if (events.length > 0) recordStep(state, 'tick', events.map((e) => e.message).join('; '), Date.now());
  // Before the first observation there is no phase to write; events (e.g. an invalid spec) still go out.
  const phase: CanaryPhase = state.phase === 'Pending' ? 'Initializing' : state.phase;
  const status = statusProjection(state, phase);
  const key = JSON.stringify(status);
  if (state.phase !== 'Pending' && key !== done.lastStatus) {
    await projection.writeStatus({ canary: state.canary, status });
    done.lastStatus = key;
  }
  if (events.length > 0) {
    await projection.recordEvents({
      canary: state.canary,
      runId: workflowInfo().runId,
      firstSequence: state.eventSequence,
      events,
      eventHooks: spec?.analysis.webhooks.filter((h) => h.type === 'event') ?? [],
      revision: state.revision,
      phase,
    });
    state.eventSequence += events.length;
  }
  for (const a of alerts) {
    try {
      await notify.sendAlert({ canary: state.canary, ...a, alerts: spec?.analysis.alerts ?? [] });
    } catch (err) {
      // Alerts are best effort, as in Flagger: a broken notifier never blocks a rollout.
      log.warn('alert not sent', { error: String(err) });
    }
  }
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

/** Search attributes (only on change: each upsert is a history event) and the UI's current-details line. */
class Visibility {
  private last = '';

  update(state: RolloutState): void {
    setCurrentDetails(currentDetails(state));
    const key = `${state.phase}|${state.revision.hash}`;
    if (key === this.last) return;
    this.last = key;
    upsertSearchAttributes([
      { key: { name: 'FledgeCanary', type: 'KEYWORD' }, value: state.canary.name },
      { key: { name: 'FledgeNamespace', type: 'KEYWORD' }, value: state.canary.namespace },
      { key: { name: 'FledgePhase', type: 'KEYWORD' }, value: state.phase },
      { key: { name: 'FledgeRevision', type: 'KEYWORD' }, value: state.revision.hash },
    ]);
  }
}

function currentDetails(state: RolloutState): string {
  const r = state.routes;
  const weights = `primary ${r.primary}% / canary ${r.canary}%${r.mirrored ? ' (mirrored)' : ''}`;
  const checks = `failed checks ${state.failedChecks}/${state.threshold}`;
  const paused = state.paused ? ` · paused by ${state.paused.by}` : '';
  return `**${state.phase}** · ${weights} · step ${state.step} · ${checks}${paused} · waiting for ${state.waitingFor}`;
}
