// One tick of a rollout, in Flagger's order (pkg/controller/scheduler.go advanceCanary):
// observe → controls → readiness / progress deadline → skipAnalysis → rollback hooks → promotion → finalising →
// failed-check threshold → analysis (pre-rollout or rollout hooks + metrics) → strategy step (gates, routes).
//
// Two rules run through every step (docs/flagger-differences.md):
// - traffic only moves towards a workload that is ready: initialization switches the apex Service and writes the
//   route once the primary is ready; promotion routes back to the primary once it rolled out; a rollback whose
//   primary is not ready holds the routes until it is;
// - status mirrors the world: the weights come from the router's read (also under an invalid spec), never from
//   what the workflow meant to set; a spec edit (new Canary generation) re-derives Services, routes and the
//   primary's extras at the next tick, keeping the weights in force.
//
// No Temporal import here: the ports are passed in, so unit tests drive a tick with plain fakes and the workflow
// drives it with proxied activities. Events and alerts go to `state.outbox`; the workflow projects them.

import type {
  CanaryPhase,
  Observation,
  Readiness,
  RolloutActivities,
  RolloutSpec,
  Routes,
  WebhookRef,
  WebhookType,
} from '../api/ports.ts';
import { freezeAtStep, heldAtStart, overrideHold, type DeliveryEnv } from './delivery.ts';
import { groupGate, type GroupGatePorts } from './group-gate.ts';
import { formatDuration, hooksOfType, strategyOf } from './spec.ts';
import { alert, emit, phaseRejection, settleControl, type RolloutState } from './state.ts';
import {
  ALL_TO_CANARY,
  ALL_TO_PRIMARY,
  advanceCanary,
  maxWeight,
  nextStepWeight,
  promotionShift,
  sameRoutes,
} from './weights.ts';

export type TickPorts = Pick<
  RolloutActivities,
  | 'observe'
  | 'checkReadiness'
  | 'initializePrimary'
  | 'scaleCanary'
  | 'promotePrimary'
  | 'reconcileRoutes'
  | 'setRoutes'
  | 'runMetrics'
  | 'callWebhook'
>;

export interface TickEnv {
  ports: TickPorts;
  /** Workflow clock, ms. */
  now(): number;
  /**
   * Temporal's `patched(id)`: false while replaying a history recorded before the change `id` (so it replays
   * the old steps), true otherwise. Absent (unit tests): always true.
   */
  patched?(id: string): boolean;
  /** DeliveryPolicy verdicts (workflows/delivery.ts); absent (unit tests): no policies. */
  checkDelivery?: DeliveryEnv['checkDelivery'];
  /** Release groups' start gate (workflows/group-gate.ts); absent (unit tests): no gate. */
  group?: GroupGatePorts;
  /**
   * The last tick's fresh observation in this run and the phase it was read in (runTick keeps it; see
   * FINALISING_REUSES_OBSERVATION).
   */
  lastObservation?: { obs: Observation; phase: RolloutState['phase'] };
}

/** The readiness ordering of initialization, promotion, rollback and restart, and the invalid-spec deadline. */
export const TRAFFIC_AFTER_READINESS = 'traffic-after-readiness';

function ordered(t: { env: TickEnv }): boolean {
  return t.env.patched ? t.env.patched(TRAFFIC_AFTER_READINESS) : true;
}

/**
 * Intervals separate analyses, nothing else: the canary's readiness after scale-up, the primary's rollout after
 * promotion and the final scale-down are waited on the cluster (state.followUp, awaitReadiness), not on the next
 * interval, and a failed check that reaches the threshold rolls back in the same tick.
 */
export const EVENT_DRIVEN_PHASES = 'event-driven-phases';

function eventDriven(t: { env: TickEnv }): boolean {
  return t.env.patched ? t.env.patched(EVENT_DRIVEN_PHASES) : true;
}

/** The next tick follows `what` (at once, or once the workload is ready) instead of one interval later. */
function follow(t: { state: RolloutState; env: TickEnv }, what: NonNullable<RolloutState['followUp']>): void {
  if (eventDriven(t)) t.state.followUp = what;
}

/** App Mesh's routes are reconciled before the primary workload: see routesFirst. */
export const MESH_ROUTES_FIRST = 'appmesh-routes-first';

/**
 * App Mesh only: the VirtualNodes must exist before the primary's pods start, or the App Mesh injector gives them
 * no Envoy sidecar (Flagger pkg/controller/scheduler.go reconciles the App Mesh router before the primary). A pure
 * function of the observed spec; `patched` only for App Mesh specs, so other histories see no marker.
 */
function routesFirst(t: { env: TickEnv; spec: { provider?: string } }): boolean {
  if (!appMesh(t.spec)) return false;
  return t.env.patched ? t.env.patched(MESH_ROUTES_FIRST) : true;
}

function appMesh(spec: { provider?: string }): boolean {
  const provider = spec.provider ?? '';
  return provider === 'appmesh' || provider.startsWith('appmesh:');
}

/** A bootstrap started before its target's revision was known initializes the revision signalled meanwhile. */
export const BOOTSTRAP_ADOPTS_REVISION = 'bootstrap-adopts-revision';

/**
 * A Canary the watcher saw before its target (`kubectl apply` of both at once) starts with the unknown revision
 * (hash ''); the target's first revision then arrives as a newRevision signal. Initialization adopts it before
 * initializePrimary copies the target, so the primary holds that revision (or a newer one, which the watcher
 * signals again). Before, the initialized run continued as new for it and rolled the unchanged template out as a
 * new revision ("New revision detected!", a release group's gate decided before the group existed). `patched`
 * only in that case, so other histories see no marker.
 */
function adoptSignalledRevision(t: Tick): void {
  const { state, env } = t;
  const next = state.pendingRevision;
  if (state.revision.hash !== '' || !next) return;
  if (env.patched && !env.patched(BOOTSTRAP_ADOPTS_REVISION)) return;
  state.revision = next;
  state.pendingRevision = undefined;
}

/**
 * Thrown by the `observe` and `runMetrics` ports when the infrastructure behind them (apiserver, a gateway that
 * has not accepted the route, the metrics server) kept failing through one tick's retries. The tick then holds
 * the rollout (no failed check: Flagger's semantics) and the fault counts toward the progress deadline.
 */
export class InfrastructureError extends Error {
  readonly source: 'observe' | 'metrics';
  constructor(source: 'observe' | 'metrics', message: string) {
    super(message);
    this.name = 'InfrastructureError';
    this.source = source;
  }
}

/** A rollout's first tick syncs the spec (Services, routes, primary extras) after the canary's scale-up. */
export const SYNC_AFTER_SCALE_UP = 'sync-after-scale-up';

/**
 * Whether this tick syncs a changed spec after its decision instead of before it: only before the rollout has
 * started (the first tick of a new revision's execution always syncs once, having no memory of earlier syncs),
 * so `kubectl set image` → canary scaled up costs no sync round trips; the scale-up moves no traffic, and the
 * routes are reconciled before any weight is set. `patched` only when a sync is due, so other ticks record no
 * marker.
 */
function syncAfterStart(t: Tick): boolean {
  const { state, obs } = t;
  if (state.started || obs.generation === undefined || obs.generation === state.syncedGeneration) return false;
  return t.env.patched ? t.env.patched(SYNC_AFTER_SCALE_UP) : true;
}

/**
 * Where this tick's DeliveryPolicy verdict comes from. An observation that carries one (observe was asked with
 * `deliveryAt`, activities/tick-answers.ts withTickAnswers) answers it: no checkDelivery call, and no
 * patched('delivery-policy') either, since only code that knows policies records such an observation. Otherwise
 * (a history recorded before, or the policies could not be read with the observation) the checkDelivery local
 * activity is asked, as before. Deterministic: decided by the recorded observation alone.
 */
function deliveryOf(obs: Observation, env: TickEnv): DeliveryEnv {
  const verdict = obs.delivery;
  return verdict ? { now: () => env.now(), checkDelivery: async () => verdict } : env;
}

/** `continue`: wait an interval and tick again; `final`: this execution's rollout reached its last phase. */
export type TickOutcome = 'continue' | 'final';

interface Tick {
  state: RolloutState;
  spec: RolloutSpec;
  obs: Observation;
  env: TickEnv;
  /** Where startRollout and advance get the DeliveryPolicy verdict: this tick's observation; absent: a call. */
  delivery?: DeliveryEnv;
}

/**
 * Finalising follows the tick that routed all traffic back to the primary at once (followUp 'now'), within the same
 * second: it acts on that tick's observation instead of reading the cluster again (one observe fewer at the end
 * of every rollout). The routes are the ones that tick wrote, not the ones it had read.
 */
export const FINALISING_REUSES_OBSERVATION = 'finalising-reuses-observation';

/** The observation a Finalising tick acts on without reading again, if any (see FINALISING_REUSES_OBSERVATION). */
function reusableObservation(state: RolloutState, env: TickEnv): Observation | undefined {
  const last = env.lastObservation;
  // Only the tick that entered Finalising is followed at once; a later Finalising tick (after a halt) reads again.
  if (state.phase !== 'Finalising' || !last || last.phase === 'Finalising') return undefined;
  if (!last.obs.found || !last.obs.spec.ok) return undefined;
  return !env.patched || env.patched(FINALISING_REUSES_OBSERVATION) ? last.obs : undefined;
}

export async function runTick(state: RolloutState, env: TickEnv): Promise<TickOutcome> {
  state.followUp = undefined;
  const reused = reusableObservation(state, env);
  env.lastObservation = undefined;
  if (reused) return decideOn(state, env, reused, true);
  let obs: Observation;
  // The DeliveryPolicy verdict rides along the observation (one marker per tick, not two); see deliveryOf.
  const askDelivery = Boolean(env.checkDelivery);
  // So does the release group lookup of a revision not started yet (see groupGate).
  const askGroup = Boolean(env.group) && !state.started && state.group?.hash !== state.revision.hash;
  try {
    obs = await env.ports.observe({
      canary: state.canary,
      ...(askDelivery ? { deliveryAt: env.now() } : {}),
      ...(askGroup ? { memberOf: state.revision } : {}),
    });
  } catch (err) {
    if (err instanceof InfrastructureError) return observeFault(state, env, err);
    throw err;
  }
  if (state.fault?.source === 'observe') recovered(state);
  env.lastObservation = { obs, phase: state.phase };
  return decideOn(state, env, obs, false);
}

/** The tick once observed (or, `reused`, on the last tick's observation): spec checks, sync, then decide. */
async function decideOn(state: RolloutState, env: TickEnv, obs: Observation, reused: boolean): Promise<TickOutcome> {
  if (!obs.found) {
    state.deleted = true;
    return 'final';
  }
  // Routes as the router reads them; unknown only when not even the routing view of the spec is valid. A reused
  // observation's routes predate the last tick's own write.
  if (obs.routes && !reused) state.routes = obs.routes;
  if (!obs.spec.ok) return invalidSpec(state, obs, env);
  const t: Tick = { state, spec: obs.spec.spec, obs, env, delivery: deliveryOf(obs, env) };
  state.intervalMs = t.spec.analysis.intervalMs;
  state.threshold = t.spec.analysis.threshold;
  state.lastSpec = t.spec;
  state.invalidSince = undefined;
  if (state.message.startsWith('invalid spec')) state.message = '';

  if (state.phase === 'Pending' && classify(t) === 'final') {
    // Nothing to roll out, but a spec edit still reaches the Services and routes (a watcher start on an edit).
    await syncDerived(t);
    return 'final';
  }
  if (state.phase === 'Initializing') return initialize(t);
  if (syncAfterStart(t)) {
    // The spec is synced after the tick's decision: right after the canary's scale-up when the rollout starts
    // (startRollout), so the Services and routes are reconciled while the canary's pods start.
    const outcome = await decide(t);
    await syncDerived(t);
    return outcome;
  }
  await syncDerived(t);
  return decide(t);
}

/** The tick's decision once the Canary is observed, valid and initialized (Flagger's order). */
async function decide(t: Tick): Promise<TickOutcome> {
  const { state } = t;
  revalidateControls(state);
  if (state.rollingBack) return completeRollback(t);
  if (state.abortRequested) return abort(t);
  if (t.spec.suspend) return wait(t, 'spec.suspend to be false', 'skipping canary run as object is suspended');
  if (state.paused) return wait(t, `resume (paused by ${state.paused.by})`);
  // Restarting analysis routes all traffic to the primary: not before the primary can take it.
  if (state.pendingRevision && state.started && onCanary(state) && !t.obs.primary.ready && ordered(t))
    return (await readyOrDeadline(t, 'primary', t.obs.primary)) as TickOutcome;
  if (state.pendingRevision && acceptNewRevision(t)) return restartAnalysis(t);
  if (state.promoteRequested) return promoteNow(t);
  if (!state.started) return startRollout(t);
  return advance(t);
}

// ---------------------------------------------------------------------------------------------------------
// Start: bootstrap or new revision
// ---------------------------------------------------------------------------------------------------------

/** First tick: bootstrap a new Canary, start a rollout, or find nothing to do. */
function classify(t: Tick): TickOutcome {
  const { state, obs } = t;
  const status = obs.status;
  if (!status.phase || status.phase === 'Initializing') {
    state.phase = 'Initializing';
    return 'continue';
  }
  const known = status.lastAppliedRevision === state.revision.hash;
  if (known && state.cause !== 'retry' && ['Initialized', 'Succeeded', 'Failed'].includes(status.phase)) {
    state.phase = status.phase as CanaryPhase;
    state.waitingFor = 'nothing: revision already handled';
    return 'final';
  }
  // A rollout interrupted mid-way (e.g. the workflow was terminated) starts over, as Flagger does on restart.
  state.phase = ['Initialized', 'Succeeded', 'Failed', 'Waiting'].includes(status.phase)
    ? (status.phase as CanaryPhase)
    : 'Initialized';
  return 'continue';
}

/**
 * Flagger's Initialize + Reconcile, ordered by readiness: the primary workload and the `-primary`/`-canary`
 * Services first (they move no traffic); once the primary is ready (as observed at the start of a tick), the apex
 * Service (taken over from the target's pods) and the route at 100 % primary, then the target scaled to zero.
 * Taking over a live Service therefore never leaves it without a ready endpoint.
 */
async function initialize(t: Tick): Promise<TickOutcome> {
  const { state, env } = t;
  adoptSignalledRevision(t);
  const target = { canary: state.canary, revision: state.revision };
  const first = routesFirst(t);
  if (first) state.routes = await env.ports.reconcileRoutes({ canary: state.canary });
  await env.ports.initializePrimary(target);
  const before = ordered(t);
  // Histories from before the ordering reconciled the routes ahead of the readiness check.
  if (!before && !first) state.routes = await env.ports.reconcileRoutes({ canary: state.canary });
  if (!t.obs.primary.ready) {
    state.waitingFor = `primary ready: ${t.obs.primary.message ?? 'not ready'}`;
    follow(t, 'primary');
    return 'continue';
  }
  if (before && !first) state.routes = await env.ports.reconcileRoutes({ canary: state.canary });
  state.syncedGeneration = t.obs.generation;
  await env.ports.scaleCanary({ ...target, direction: 'down' });
  state.phase = 'Initialized';
  state.lastPromotedRevision = state.revision.hash;
  state.waitingFor = 'nothing: initialized';
  emit(state, 'Normal', `Initialization done! ${name(t)}`);
  alert(state, `New ${t.spec.targetRef.kind} detected, initialization completed.`, 'info', true);
  return 'final';
}

/** Confirm-rollout gate, then scale the canary up and enter Progressing (Flagger's checkCanaryStatus). */
async function startRollout(t: Tick): Promise<TickOutcome> {
  const { state, env } = t;
  if (await heldAtStart(state, t.delivery ?? env, name(t))) return 'continue';
  const primary = t.spec.skipAnalysis ? 'ready' : await readyOrDeadline(t, 'primary', t.obs.primary);
  if (primary !== 'ready') return primary;
  if ((await groupGate(state, env, t.obs.group)) === 'continue') return 'continue';
  // Flagger sends the canary's current phase (Initialized, Succeeded, Failed or Waiting) to confirm-rollout hooks.
  const blocked = await firstFailingHook(t, 'confirm-rollout', state.phase as CanaryPhase);
  if (blocked) {
    if (state.phase !== 'Waiting') {
      state.phase = 'Waiting';
      emit(state, 'Warning', `Halt ${name(t)} advancement waiting for approval ${blocked.name}`);
      gateAlert(state, blocked, 'Canary is waiting for approval.');
    }
    state.waitingFor = `approval from confirm-rollout hook ${blocked.name}`;
    return 'continue';
  }
  for (const hook of hooksOfType(t.spec, 'confirm-rollout'))
    emit(state, 'Normal', `Confirm-rollout check ${hook.name} passed`);
  emit(state, 'Normal', `New revision detected! Scaling up ${targetName(t)}`);
  alert(state, 'New revision detected, progressing canary analysis.', 'info', true);
  const scaleUp = () => env.ports.scaleCanary({ canary: state.canary, revision: state.revision, direction: 'up' });
  if (scaleUpWithSync(t)) await Promise.all([scaleUp(), syncDerived(t)]);
  else {
    await scaleUp();
    await syncDerived(t);
  }
  resetAnalysis(state);
  state.started = true;
  state.phase = 'Progressing';
  state.waitingFor = 'next analysis interval';
  // The first weight follows as soon as the canary is ready (and the pre-rollout hooks pass), not an interval.
  follow(t, 'canary');
  return 'continue';
}

function resetAnalysis(state: RolloutState): void {
  state.iterations = 0;
  state.failedChecks = 0;
  state.step = 0;
  state.metrics = [];
  state.notReadySince = {};
}

/** A newer revision: restart analysis during Progressing/WaitingPromotion, adopt it before start. */
function acceptNewRevision(t: Tick): boolean {
  const { state } = t;
  const next = state.pendingRevision!;
  if (state.phase === 'Promoting' || state.phase === 'Finalising') return false; // after the final phase
  state.pendingRevision = undefined;
  state.revision = next;
  // Not started yet (Waiting for confirm-rollout): just analyse the newer revision when it starts.
  return state.started;
}

// ---------------------------------------------------------------------------------------------------------
// Analysis ticks
// ---------------------------------------------------------------------------------------------------------

async function advance(t: Tick): Promise<TickOutcome> {
  const { state, spec } = t;
  if (state.phase === 'Progressing' || state.phase === 'WaitingPromotion') {
    const frozen = await freezeAtStep(state, t.delivery ?? t.env, name(t));
    if (frozen) return frozen === 'hold' ? 'continue' : rollback(t);
  }
  // Promotion routes traffic back to the primary: it waits for the primary's rollout even with skipAnalysis.
  const promoting = state.phase === 'Promoting' || state.phase === 'Finalising';
  const skip = spec.skipAnalysis && !(promoting && ordered(t));
  const primary = skip ? 'ready' : await readyOrDeadline(t, 'primary', t.obs.primary);
  if (primary !== 'ready') return primary;
  const canaryReady = await readyOrDeadline(t, 'canary', t.obs.canary);
  if (canaryReady !== 'ready') return canaryReady;
  if (spec.skipAnalysis) return skipAnalysis(t);
  if (state.phase === 'Progressing' || state.phase === 'WaitingPromotion') {
    const rolledBack = await rollbackHookFired(t);
    if (rolledBack) return rolledBack;
  }
  if (state.phase === 'Promoting') return promotionStep(t);
  if (state.phase === 'Finalising') return finalise(t);
  if (state.failedChecks >= spec.analysis.threshold) return rollback(t);
  const passed = await analysisPassed(t);
  // A failed check that reaches the threshold rolls back now, not at the next interval.
  if (passed === false && state.failedChecks >= spec.analysis.threshold && eventDriven(t)) return rollback(t);
  if (passed !== true) return passed === false ? 'continue' : passed;
  state.waitingFor = 'next analysis interval';
  switch (strategyOf(spec)) {
    case 'ab':
      return abStep(t);
    case 'blue-green':
      return blueGreenStep(t);
    case 'canary':
      return canaryStep(t);
  }
}

async function restartAnalysis(t: Tick): Promise<TickOutcome> {
  const { state } = t;
  await setRoutes(t, ALL_TO_PRIMARY);
  resetAnalysis(state);
  state.phase = 'Progressing';
  emit(state, 'Normal', `New revision detected! Restarting analysis for ${targetName(t)}`);
  follow(t, 'canary');
  return 'continue';
}

/**
 * Flagger: pre-rollout hooks on the first analysis tick, rollout hooks and metrics afterwards. True when they
 * passed, false on a failed check, or the tick's outcome when a metrics server outage decided it.
 */
async function analysisPassed(t: Tick): Promise<boolean | TickOutcome> {
  const { state, spec } = t;
  const firstTick =
    state.routes.canary === 0 && state.iterations === 0 && !(spec.analysis.mirror && state.routes.mirrored);
  if (firstTick) {
    emit(state, 'Normal', `Starting canary analysis for ${targetName(t)}`);
    for (const hook of hooksOfType(spec, 'pre-rollout')) {
      const r = await callHook(t, hook, 'Progressing');
      if (!r.ok)
        return failedCheck(t, `Halt ${name(t)} advancement pre-rollout check ${hook.name} failed ${r.message}`);
      emit(state, 'Normal', `Pre-rollout check ${hook.name} passed`);
    }
    return true;
  }
  for (const hook of hooksOfType(spec, 'rollout')) {
    const r = await callHook(t, hook, 'Progressing');
    if (!r.ok) return failedCheck(t, `Halt ${name(t)} advancement external check ${hook.name} failed ${r.message}`);
  }
  if (spec.analysis.metrics.length === 0) return true;
  let outcome: Awaited<ReturnType<TickPorts['runMetrics']>>;
  try {
    outcome = await t.env.ports.runMetrics({
      canary: state.canary,
      metrics: spec.analysis.metrics,
      // A metric without its own interval uses the analysis interval as its window (Flagger's rule).
      interval: formatDuration(spec.analysis.intervalMs),
    });
  } catch (err) {
    if (err instanceof InfrastructureError) return metricsFault(t, err);
    throw err;
  }
  if (state.fault?.source === 'metrics') recovered(state);
  state.metrics = outcome.results;
  if (outcome.ok) return true;
  // A metric skipped by its noDataPolicy carries no message: report the first failure that explains itself.
  const failed =
    outcome.results.find((m) => m.verdict !== 'pass' && m.message) ?? outcome.results.find((m) => m.verdict !== 'pass');
  return failedCheck(t, failed?.message ?? `Halt ${name(t)} advancement metric ${failed?.name ?? '?'} failed`);
}

function failedCheck(t: Tick, message: string): false {
  t.state.failedChecks++;
  t.state.waitingFor = 'next analysis interval (last check failed)';
  emit(t.state, 'Warning', message);
  return false;
}

async function canaryStep(t: Tick): Promise<TickOutcome> {
  const { state, spec } = t;
  if (nextStepWeight(spec.analysis, state.routes.canary) <= 0) return 'continue';
  // Flagger runs the traffic-increase gate only while traffic is not mirrored and before promotion.
  if (!state.routes.mirrored && state.phase === 'Progressing') {
    const blocked = await firstFailingHook(t, 'confirm-traffic-increase', 'Progressing');
    if (blocked) {
      emit(state, 'Warning', `Halt ${name(t)} advancement waiting for traffic increase approval ${blocked.name}`);
      gateAlert(state, blocked, 'Canary traffic increase is waiting for approval.');
      state.waitingFor = `approval from confirm-traffic-increase hook ${blocked.name}`;
      return 'continue';
    }
    for (const hook of hooksOfType(spec, 'confirm-traffic-increase'))
      emit(state, 'Normal', `Confirm-traffic-increase check ${hook.name} passed`);
  }
  if (state.routes.canary < maxWeight(spec.analysis)) {
    const next = advanceCanary(spec.analysis, state.routes);
    await setRoutes(t, next);
    state.step++;
    emit(state, 'Normal', `Advance ${name(t)} canary weight ${next.canary}`);
    return 'continue';
  }
  if (!(await promotionApproved(t))) return 'continue';
  return promote(t);
}

/** One analysed iteration of A/B testing or blue/green, with Flagger's event. */
function countIteration(t: Tick, iterations: number): TickOutcome {
  t.state.iterations++;
  t.state.step++;
  emit(t.state, 'Normal', `Advance ${name(t)} canary iteration ${t.state.iterations}/${iterations}`);
  return 'continue';
}

async function abStep(t: Tick): Promise<TickOutcome> {
  const { state, spec } = t;
  const iterations = spec.analysis.iterations ?? 0;
  if (state.iterations < iterations) {
    await setRoutes(t, ALL_TO_CANARY);
    return countIteration(t, iterations);
  }
  if (!(await promotionApproved(t))) return 'continue';
  return promote(t);
}

async function blueGreenStep(t: Tick): Promise<TickOutcome> {
  const { state, spec } = t;
  const iterations = spec.analysis.iterations ?? 0;
  if (state.iterations < iterations) {
    // Mirror for the whole blue/green test when asked.
    if (spec.analysis.mirror && !state.routes.mirrored && routed(t))
      await setRoutes(t, { ...ALL_TO_PRIMARY, mirrored: true });
    return countIteration(t, iterations);
  }
  if (!(await promotionApproved(t))) return 'continue';
  if (state.iterations === iterations) {
    // Switch traffic to the canary before the primary is updated, so users never hit a half-rolled primary.
    const text = spec.analysis.mirror
      ? 'Stop traffic mirroring and route all traffic to canary'
      : 'Routing all traffic to canary';
    if (routed(t)) {
      emit(state, 'Normal', text);
      await setRoutes(t, ALL_TO_CANARY);
    }
    state.iterations++;
    return 'continue';
  }
  return promote(t);
}

/** Confirm-promotion gate: while closed the canary waits in WaitingPromotion and analysis keeps running. */
async function promotionApproved(t: Tick): Promise<boolean> {
  const { state } = t;
  const blocked = await firstFailingHook(t, 'confirm-promotion', 'Progressing');
  if (blocked) {
    if (state.phase !== 'WaitingPromotion') {
      state.phase = 'WaitingPromotion';
      emit(state, 'Warning', `Halt ${name(t)} advancement waiting for promotion approval ${blocked.name}`);
      gateAlert(state, blocked, 'Canary promotion is waiting for approval.');
    }
    state.waitingFor = `approval from confirm-promotion hook ${blocked.name}`;
    return false;
  }
  for (const hook of hooksOfType(t.spec, 'confirm-promotion'))
    emit(state, 'Normal', `Confirm-promotion check ${hook.name} passed`);
  return true;
}

/** Copy the canary template to the primary and enter Promoting. */
async function promote(t: Tick): Promise<TickOutcome> {
  const { state } = t;
  if (!(await copyAnalysedRevision(t))) return 'continue';
  state.phase = 'Promoting';
  state.waitingFor = 'primary rollout';
  follow(t, 'primary');
  return 'continue';
}

/**
 * promotePrimary, fenced by the revision under analysis: the activity copies the target only while it still is
 * that revision. When the target moved on (a `kubectl set image` after the last check), nothing reaches the
 * primary: the newer revision becomes the pending one and the next tick restarts the analysis for it. Returns
 * whether the primary got the analysed template. Histories from before the fence return nothing: promoted.
 */
async function copyAnalysedRevision(t: Tick): Promise<boolean> {
  const { state, env } = t;
  const target = t.spec.targetRef.name;
  const copying = `Copying ${target}.${state.canary.namespace} template spec to ${target}-primary.${state.canary.namespace}`;
  // The event follows the copy; nothing is emitted in between, so older histories replay the same events.
  const result = await env.ports.promotePrimary({ canary: state.canary, revision: state.revision });
  if (!result || result.promoted) {
    emit(state, 'Normal', copying);
    return true;
  }
  const current = result.current;
  emit(
    state,
    'Warning',
    `Halt ${name(t)} promotion: ${targetName(t)} changed since its analysis (revision ${state.revision.hash}, now ${current.hash}); restarting analysis`,
  );
  const pending = state.pendingRevision;
  if (!pending || (pending.hash !== current.hash && pending.generation <= current.generation))
    state.pendingRevision = current;
  // A promotion asked for by hand was for the analysed revision; the newer one is analysed from the start.
  state.started = true;
  state.waitingFor = `analysis of revision ${current.hash}`;
  return false;
}

/** Promoting: route traffic back to the (now updated) primary, at once or by stepWeightPromotion. */
async function promotionStep(t: Tick): Promise<TickOutcome> {
  const { state, spec } = t;
  const swp = spec.analysis.stepWeightPromotion ?? 0;
  if (!routed(t)) {
    // The kubernetes provider has no traffic to shift: the apex Service already selects the primary.
    state.phase = 'Finalising';
    follow(t, 'now');
    return 'continue';
  }
  if (swp <= 0) {
    emit(state, 'Normal', 'Routing all traffic to primary');
    await setRoutes(t, ALL_TO_PRIMARY);
    state.phase = 'Finalising';
    follow(t, 'now');
    return 'continue';
  }
  const next = promotionShift(swp, state.routes);
  await setRoutes(t, next);
  emit(state, 'Normal', `Advance ${name(t)} primary weight ${next.primary}`);
  // Each primary weight step waits an interval (the point of stepWeightPromotion); Finalising follows at once.
  if (next.primary >= 100) {
    state.phase = 'Finalising';
    follow(t, 'now');
  }
  return 'continue';
}

async function finalise(t: Tick): Promise<TickOutcome> {
  const { state, env } = t;
  await env.ports.scaleCanary({ canary: state.canary, revision: state.revision, direction: 'down' });
  state.phase = 'Succeeded';
  state.lastPromotedRevision = state.revision.hash;
  state.waitingFor = 'nothing: promotion finished';
  await postRolloutHooks(t, 'Succeeded');
  emit(state, 'Normal', `Promotion completed! Scaling down ${targetName(t)}`);
  alert(state, 'Canary analysis completed successfully, promotion finished.', 'info');
  return 'final';
}

async function skipAnalysis(t: Tick): Promise<TickOutcome> {
  const { state, env } = t;
  // Skipping the analysis skips checks, not readiness: traffic on the canary moves back once the primary is ready.
  if (onCanary(state) && !t.obs.primary.ready && ordered(t)) {
    follow(t, 'primary');
    return wait(t, `primary ready before routing all traffic to it: ${t.obs.primary.message ?? 'not ready'}`);
  }
  await setRoutes(t, ALL_TO_PRIMARY);
  if (!(await copyAnalysedRevision(t))) return 'continue';
  await env.ports.scaleCanary({ canary: state.canary, revision: state.revision, direction: 'down' });
  state.phase = 'Succeeded';
  state.lastPromotedRevision = state.revision.hash;
  state.waitingFor = 'nothing: promotion finished';
  emit(state, 'Normal', `Promotion completed! Canary analysis was skipped for ${targetName(t)}`);
  alert(state, 'Canary analysis was skipped, promotion finished.', 'info');
  return 'final';
}

// ---------------------------------------------------------------------------------------------------------
// Readiness, deadlines, rollback
// ---------------------------------------------------------------------------------------------------------

/**
 * Readiness of one workload; past the progress deadline it rolls back (or, for the primary after promotion,
 * halts). Returns `ready`, or the tick's outcome: `continue` while waiting (or while a rollback waits for the
 * primary), `final` once rolled back or halted.
 */
async function readyOrDeadline(t: Tick, which: 'primary' | 'canary', r: Readiness): Promise<'ready' | TickOutcome> {
  const { state } = t;
  const now = t.env.now();
  if (r.ready) {
    state.notReadySince[which] = undefined;
    return 'ready';
  }
  const since = (state.notReadySince[which] ??= now);
  const message = r.message ?? `${which} not ready`;
  const exceeded = r.deadlineExceeded || now - since > t.spec.progressDeadlineSeconds * 1000;
  if (!exceeded) {
    state.waitingFor = `${which} ready: ${message}`;
    emit(state, 'Warning', message);
    follow(t, which);
    return 'continue';
  }
  if (which === 'primary' && (state.phase === 'Promoting' || state.phase === 'Finalising')) {
    await haltPromotion(t, message);
    return 'final';
  }
  emit(state, 'Warning', `Rolling back ${name(t)} progress deadline exceeded ${message}`);
  alert(state, `Progress deadline exceeded ${message}`, 'error');
  return rollback(t);
}

/**
 * The primary failed to roll out after promotion: the canary is the only healthy copy of the new revision, so
 * leave routes and the canary alone and mark the rollout Failed (Flagger PR #1931) instead of rolling back.
 */
async function haltPromotion(t: Tick, message: string): Promise<void> {
  const { state } = t;
  emit(
    state,
    'Warning',
    `Halt ${name(t)} promotion: primary not ready, progress deadline exceeded ${message}; traffic stays on the canary`,
  );
  alert(state, `Promotion halted, primary not ready: ${message}`, 'error');
  state.phase = 'Failed';
  state.waitingFor = 'a fix: new revision or retry';
  await postRolloutHooks(t, 'Failed');
}

/** A rollback hook that answers success rolls the canary back: the tick's outcome then, else undefined. */
async function rollbackHookFired(t: Tick): Promise<TickOutcome | undefined> {
  const { state } = t;
  for (const hook of hooksOfType(t.spec, 'rollback')) {
    const r = await callHook(t, hook, state.phase as CanaryPhase);
    if (!r.ok) {
      emit(state, 'Normal', `Rollback hook ${hook.name} not signaling a rollback`);
      continue;
    }
    emit(state, 'Warning', `Rollback check ${hook.name} passed`);
    emit(state, 'Warning', `Rolling back ${name(t)} manual webhook invoked`);
    alert(state, 'Rolling back manual webhook invoked', 'warn');
    return rollback(t);
  }
  return undefined;
}

async function abort(t: Tick): Promise<TickOutcome> {
  const { state } = t;
  const req = state.abortRequested!;
  state.abortRequested = undefined;
  settleControl(state, 'abort', req, true, 'rolling back');
  emit(state, 'Warning', `Rolling back ${name(t)} aborted by ${req.by}${req.reason ? `: ${req.reason}` : ''}`);
  alert(state, `Rollout aborted by ${req.by}`, 'warn');
  return rollback(t);
}

/**
 * Flagger's rollback: all traffic to the primary, canary scaled to zero, Failed, post-rollout hooks. Ordered
 * after the primary's readiness: while traffic still reaches the canary and the primary is not ready, the
 * routes stay and the rollback completes at the first tick that observes the primary ready (`rollingBack`).
 * Returns `final` once rolled back, `continue` while it waits.
 */
export async function rollback(t: Tick): Promise<TickOutcome> {
  const { state } = t;
  if (state.failedChecks >= t.spec.analysis.threshold) {
    emit(state, 'Warning', `Rolling back ${name(t)} failed checks threshold reached ${state.failedChecks}`);
    alert(state, `Failed checks threshold reached ${state.failedChecks}`, 'error');
  }
  state.rollingBack = true;
  return completeRollback(t);
}

async function completeRollback(t: Tick): Promise<TickOutcome> {
  const { state, env } = t;
  if (onCanary(state) && !t.obs.primary.ready && ordered(t)) {
    state.waitingFor = `primary ready before routing traffic back to it: ${t.obs.primary.message ?? 'not ready'}`;
    follow(t, 'primary');
    return 'continue';
  }
  await setRoutes(t, ALL_TO_PRIMARY);
  emit(state, 'Warning', `Canary failed! Scaling down ${name(t)}`);
  await env.ports.scaleCanary({ canary: state.canary, revision: state.revision, direction: 'down' });
  state.rollingBack = undefined;
  state.phase = 'Failed';
  state.waitingFor = 'a fix: new revision or retry';
  await postRolloutHooks(t, 'Failed');
  return 'final';
}

async function promoteNow(t: Tick): Promise<TickOutcome> {
  const { state } = t;
  const req = state.promoteRequested!;
  state.promoteRequested = undefined;
  settleControl(state, 'promote', req, true, 'promoting');
  overrideHold(state, req, name(t), t.env.now());
  emit(state, 'Normal', `Promotion requested by ${req.by}${req.reason ? `: ${req.reason}` : ''}`);
  state.started = true;
  return promote(t);
}

async function postRolloutHooks(t: Tick, phase: CanaryPhase): Promise<void> {
  for (const hook of hooksOfType(t.spec, 'post-rollout')) {
    const r = await callHook(t, hook, phase);
    if (r.ok) emit(t.state, 'Normal', `Post-rollout check ${hook.name} passed`);
    else emit(t.state, 'Warning', `Post-rollout hook ${hook.name} failed ${r.message}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Controls re-validated, infrastructure faults
// ---------------------------------------------------------------------------------------------------------

/**
 * An accepted promote/abort is acted on by a later tick; the phase may have moved on since it was validated
 * (the tick in flight promoted the primary, or rolled back). Re-check it against the phase now: one that no
 * longer applies is rejected (its update fails with the reason, a Warning event records it) instead of acting
 * on a rollout that is past it (an abort after promotion would route all traffic to the new code and call it
 * a rollback).
 */
function revalidateControls(state: RolloutState): void {
  const rollingBack = state.rollingBack ? 'a rollback is already under way' : undefined;
  for (const control of ['abort', 'promote'] as const) {
    const req = control === 'abort' ? state.abortRequested : state.promoteRequested;
    if (!req) continue;
    const why = rollingBack ?? phaseRejection(control, state.phase, state.final);
    if (!why) continue;
    if (control === 'abort') state.abortRequested = undefined;
    else state.promoteRequested = undefined;
    settleControl(state, control, req, false, why);
    emit(state, 'Warning', `${control} by ${req.by} not applied: ${why}`);
  }
}

/** Prefix of the status message while an infrastructure fault holds the rollout (the status' condition reason). */
export const FAULT_PREFIX = 'infrastructure fault: ';

/**
 * Record (or extend) the fault holding this tick: status message, one Warning event per distinct text, what the
 * rollout waits for. Returns true once the fault has lasted longer than the progress deadline.
 */
function holdOnFault(state: RolloutState, spec: RolloutSpec, now: number, err: InfrastructureError): boolean {
  const since = state.fault?.since ?? now;
  state.fault = { source: err.source, message: err.message, since };
  const message = `${FAULT_PREFIX}${err.source}: ${err.message}`;
  if (state.message !== message) emit(state, 'Warning', message);
  state.message = message;
  const deadlineMs = spec.progressDeadlineSeconds * 1000;
  const left = Math.ceil((since + deadlineMs - now) / 1000);
  state.waitingFor = `${err.source === 'observe' ? 'the observation' : 'the metrics server'} to recover (progress deadline in ${Math.max(left, 0)}s)`;
  return now - since > deadlineMs;
}

function recovered(state: RolloutState): void {
  state.fault = undefined;
  if (state.message.startsWith(FAULT_PREFIX)) state.message = '';
}

/**
 * The observation failed (apiserver unreachable, a route no gateway has accepted): the rollout holds where it is.
 * A rollout under way still obeys its controls and deadline: an abort, a rollback decided earlier or a fault
 * past the progress deadline roll back from the last valid spec, the last routes and a readiness read that
 * needs no route (so a route that is never accepted cannot hold a rollback).
 */
async function observeFault(state: RolloutState, env: TickEnv, err: InfrastructureError): Promise<TickOutcome> {
  const spec = state.lastSpec;
  if (!spec) {
    state.message = `${FAULT_PREFIX}observe: ${err.message}`;
    state.waitingFor = 'the observation to recover';
    return 'continue';
  }
  const exceeded = holdOnFault(state, spec, env.now(), err);
  if (!state.started || !UNDER_WAY.includes(state.phase)) return 'continue';
  revalidateControls(state);
  const decided = state.rollingBack || state.abortRequested || exceeded;
  if (!decided) return 'continue';
  const readiness = await env.ports.checkReadiness({ canary: state.canary, revision: state.revision });
  const obs: Observation = {
    found: true,
    spec: { ok: true, spec },
    ...readiness,
    routes: state.routes,
    status: {},
  };
  const t: Tick = { state, spec, obs, env };
  if (state.rollingBack) return completeRollback(t);
  if (state.abortRequested) return abort(t);
  return faultDeadline(t, err);
}

/** The metrics server failed through this tick's retries: no failed check; past the progress deadline, roll back. */
async function metricsFault(t: Tick, err: InfrastructureError): Promise<false | TickOutcome> {
  if (!holdOnFault(t.state, t.spec, t.env.now(), err)) return false;
  return faultDeadline(t, err);
}

async function faultDeadline(t: Tick, err: InfrastructureError): Promise<TickOutcome> {
  const { state } = t;
  const why = `${FAULT_PREFIX}${err.source}: ${err.message} for more than ${t.spec.progressDeadlineSeconds}s`;
  state.fault = undefined;
  if (state.phase === 'Promoting' || state.phase === 'Finalising') {
    await haltPromotion(t, why);
    return 'final';
  }
  emit(state, 'Warning', `Rolling back ${name(t)} progress deadline exceeded ${why}`);
  alert(state, `Progress deadline exceeded ${why}`, 'error');
  return rollback(t);
}

// ---------------------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------------------

function wait(t: Tick, what: string, event?: string): TickOutcome {
  t.state.waitingFor = what;
  if (event) emit(t.state, 'Normal', event);
  return 'continue';
}

/**
 * The Canary's spec is invalid: hold the rollout (no analysis, no route change) with the errors in the status
 * message and one Warning event per distinct text. A rollout under way (started, not yet final) keeps its
 * progress deadline, from the last valid spec: once the spec has been invalid for longer, it rolls back (before
 * promotion) or halts the promotion, as a workload stuck past the deadline would. A rollback decided earlier
 * completes as soon as the primary is ready, invalid spec or not.
 */
async function invalidSpec(state: RolloutState, obs: Observation, env: TickEnv): Promise<TickOutcome> {
  const errors = obs.spec.ok ? [] : obs.spec.errors;
  const message = `invalid spec: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`;
  if (state.message !== message) emit(state, 'Warning', message);
  state.message = message;
  state.waitingFor = 'a valid Canary spec';
  const spec = state.lastSpec;
  if (!spec || !state.started || !UNDER_WAY.includes(state.phase) || !ordered({ env })) return 'continue';
  const t: Tick = { state, spec, obs, env };
  if (state.rollingBack) return completeRollback(t);
  const now = env.now();
  const since = (state.invalidSince ??= now);
  const deadlineMs = spec.progressDeadlineSeconds * 1000;
  if (now - since <= deadlineMs) {
    state.waitingFor = `a valid Canary spec (progress deadline in ${Math.ceil((since + deadlineMs - now) / 1000)}s)`;
    return 'continue';
  }
  const why = `spec invalid for more than ${spec.progressDeadlineSeconds}s`;
  if (state.phase === 'Promoting' || state.phase === 'Finalising') {
    await haltPromotion(t, why);
    return 'final';
  }
  emit(state, 'Warning', `Rolling back ${name(t)} progress deadline exceeded ${why}`);
  alert(state, `Progress deadline exceeded ${why}`, 'error');
  return rollback(t);
}

/** Phases of a started rollout that the progress deadline still guards. */
const UNDER_WAY: readonly string[] = ['Progressing', 'WaitingPromotion', 'Promoting', 'Finalising'];

/** A spec sync writes the primary's extras and the Services and routes at the same time (see syncDerived). */
export const PARALLEL_SPEC_SYNC = 'parallel-spec-sync';

/**
 * Re-derive what fledge builds from the Canary spec after an edit (a new `metadata.generation`): the primary's
 * extras (finalizer, autoscaler; never its pod template) and the Services and route, whose weights and apex
 * selector stay as they are. One reconcile per edit, in whatever phase the rollout is (running, at a gate, paused),
 * except while `spec.suspend` holds everything. The two write different objects, so they run at the same time
 * (PARALLEL_SPEC_SYNC): one round trip instead of two on the way to a rollout's first weight. App Mesh keeps them in
 * order (its VirtualNodes and the pods' sidecars). `patched` only when a sync is due, so other ticks record no
 * marker.
 */
async function syncDerived(t: Tick): Promise<void> {
  const { state, obs, env } = t;
  if (!syncDue(t)) return;
  const target = { canary: state.canary, revision: state.revision };
  if (!appMesh(t.spec) && (env.patched ? env.patched(PARALLEL_SPEC_SYNC) : true)) {
    const [, routes] = await Promise.all([
      env.ports.initializePrimary(target),
      env.ports.reconcileRoutes({ canary: state.canary }),
    ]);
    state.routes = routes;
  } else {
    await env.ports.initializePrimary(target);
    state.routes = await env.ports.reconcileRoutes({ canary: state.canary });
  }
  state.syncedGeneration = obs.generation;
}

/**
 * A spec edit not synced yet (a new generation), unless `spec.suspend` holds everything (Flagger leaves a suspended
 * Canary alone entirely; the edit is applied once it is resumed).
 */
function syncDue(t: Tick): boolean {
  const generation = t.obs.generation;
  return generation !== undefined && generation !== t.state.syncedGeneration && !t.spec.suspend;
}

/** The canary's scale-up and the spec sync at the start of a rollout run at the same time (see scaleUpWithSync). */
export const SCALE_UP_WITH_SYNC = 'scale-up-with-sync';

/**
 * Whether a rollout's start scales the canary up and syncs the spec (syncDerived) at the same time: they write
 * different objects (the target; the primary's extras, the Services and routes, whose weights stay), so one round
 * trip instead of two, one workflow task fewer in every new revision's history. A Service target's scale-up and
 * sync both bring `<name>-canary` in line, with the same server-side apply (idempotent); a Knative target scales
 * nothing. App Mesh keeps its order (see routesFirst). `patched` only when a sync is due, so other starts record no
 * marker.
 */
function scaleUpWithSync(t: Tick): boolean {
  if (appMesh(t.spec) || !syncDue(t)) return false;
  return t.env.patched ? t.env.patched(SCALE_UP_WITH_SYNC) : true;
}

/** Traffic (or a mirror of it) reaches the canary. */
function onCanary(state: RolloutState): boolean {
  return state.routes.canary > 0 || state.routes.mirrored;
}

async function firstFailingHook(t: Tick, type: WebhookType, phase: CanaryPhase): Promise<WebhookRef | undefined> {
  for (const hook of hooksOfType(t.spec, type)) {
    const r = await callHook(t, hook, phase);
    if (!r.ok) return hook;
  }
  return undefined;
}

function callHook(t: Tick, hook: WebhookRef, phase: CanaryPhase) {
  return t.env.ports.callWebhook({ canary: t.state.canary, revision: t.state.revision, hook, phase });
}

/** A gate holds the rollout: warn, unless the hook mutes its alerts. */
function gateAlert(state: RolloutState, hook: WebhookRef, message: string): void {
  if (!hook.muteAlert) alert(state, message, 'warn');
}

/** Set routes unless they already are what we want (saves an activity per tick for A/B and blue/green). */
async function setRoutes(t: Tick, routes: Routes): Promise<void> {
  if (sameRoutes(t.state.routes, routes)) return;
  t.state.routes = await t.env.ports.setRoutes({ canary: t.state.canary, routes });
}

/** False for the kubernetes provider, which cannot split traffic (Flagger skips its route calls). */
function routed(t: Tick): boolean {
  return t.spec.provider !== 'kubernetes';
}

/** `<canary name>.<namespace>`, as Flagger formats most event texts. */
function name(t: Tick): string {
  return `${t.state.canary.name}.${t.state.canary.namespace}`;
}

/** `<target name>.<namespace>`, used by the events about the workload. */
function targetName(t: Tick): string {
  return `${t.spec.targetRef.name}.${t.state.canary.namespace}`;
}
