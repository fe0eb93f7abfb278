// Activity ports of the rollout workflow: what the workflow may ask of the world, and what it gets back.
//
// The workflow imports these with `import type` and calls them through `proxyActivities`, so this module is
// pure types. Real implementations live in activities/ (`createActivities(deps)`), scripted ones in
// test/scripted/. Every input and output is plain JSON and lands in workflow history: activities never
// return secrets (tokens, webhook URLs read from Secrets stay inside the activity).

import type { CanaryPhase } from './status.ts';
import type { DeliveryVerdict } from './delivery-policy.ts';
import type { MemberOf } from '../workflows/group-messages.ts';

export type { CanaryPhase };

/** Which Canary object a rollout is about. */
export interface CanaryRef {
  namespace: string;
  name: string;
}

/** A pod-template revision of the target, as computed by the watcher (canonical hash, fenced by generation). */
export interface Revision {
  hash: string;
  generation: number;
}

/** Traffic split between primary and canary, absolute weights (0–100), and whether the canary gets a mirror. */
export interface Routes {
  primary: number;
  canary: number;
  mirrored: boolean;
}

// ---------------------------------------------------------------------------------------------------------
// The spec as the workflow needs it
// ---------------------------------------------------------------------------------------------------------

/** Flagger's webhook types; an absent type means `rollout`. */
export type WebhookType =
  | 'confirm-rollout'
  | 'pre-rollout'
  | 'rollout'
  | 'confirm-traffic-increase'
  | 'confirm-promotion'
  | 'post-rollout'
  | 'rollback'
  | 'event';

/**
 * A webhook as the workflow knows it: what it decides on (name, type, muteAlert) and a digest of the URL (so an
 * edited URL is a changed spec), never the URL or the metadata. URLs carry tokens and metadata carries keys, and
 * everything the workflow holds lands in its history (visible in the Temporal UI): the webhook activities read the
 * URL and metadata from the Canary when they call the hook.
 */
export interface WebhookRef {
  name: string;
  type: WebhookType;
  /** First 16 hex digits of the SHA-256 of the URL as written in the Canary. */
  urlDigest: string;
  /** No alert when this gate holds the rollout (Flagger's muteAlert). */
  muteAlert?: boolean;
}

/** A webhook as written in the Canary, read by the webhook activities at call time; never in workflow history. */
export interface WebhookSpec {
  name: string;
  type: WebhookType;
  /** URL as written in the Canary (may carry a token: activities only). */
  url: string;
  timeout?: string;
  metadata?: Record<string, string>;
  /** No alert when this gate holds the rollout (Flagger's muteAlert). */
  muteAlert?: boolean;
  /** Other fields of the webhook (muteAlert, retries, …) passed through untouched. */
  [extra: string]: unknown;
}

export interface ThresholdRange {
  min?: number;
  max?: number;
}

export interface MetricSpec {
  name: string;
  interval?: string;
  thresholdRange?: ThresholdRange;
  /** Legacy single threshold (Flagger's `threshold`). */
  threshold?: number;
  templateRef?: { name: string; namespace?: string };
  query?: string;
  templateVariables?: Record<string, string>;
}

export interface AlertSpec {
  name: string;
  severity: 'info' | 'warn' | 'error';
  providerRef: { name: string; namespace?: string };
}

/**
 * The Canary spec reduced to what drives the rollout, with defaults applied. The observe activity builds it from
 * the validated Canary (see workflows/spec.ts `toRolloutSpec`), so the workflow never re-parses YAML.
 */
export interface RolloutSpec {
  targetRef: { apiVersion?: string; kind: string; name: string };
  provider?: string;
  suspend: boolean;
  skipAnalysis: boolean;
  progressDeadlineSeconds: number;
  analysis: {
    /** Analysis interval in milliseconds (no 10 s floor). */
    intervalMs: number;
    /** Failed checks before rollback. */
    threshold: number;
    maxWeight?: number;
    stepWeight?: number;
    stepWeights?: number[];
    stepWeightPromotion?: number;
    iterations?: number;
    /** True when `analysis.match` has entries (A/B testing). */
    match: boolean;
    mirror: boolean;
    mirrorWeight?: number;
    /** Names, types and URL digests only (see WebhookRef). */
    webhooks: WebhookRef[];
    metrics: MetricSpec[];
    alerts: AlertSpec[];
  };
}

export type SpecResult = { ok: true; spec: RolloutSpec } | { ok: false; errors: { path: string; message: string }[] };

// ---------------------------------------------------------------------------------------------------------
// observe: one read per tick
// ---------------------------------------------------------------------------------------------------------

export interface Readiness {
  ready: boolean;
  /** Why not ready, e.g. "waiting for rollout to finish: 1 of 2 updated replicas are available". */
  message?: string;
  /** The cluster itself reports the progress deadline exceeded (Deployment condition ProgressDeadlineExceeded). */
  deadlineExceeded?: boolean;
}

export interface ObserveInput {
  canary: CanaryRef;
  /**
   * When set (workflow clock, ms since the epoch): the observation also carries the DeliveryPolicy verdict at
   * that instant (`delivery`), so a tick needs no call of its own for it (workflows/tick.ts OBSERVE_DELIVERY).
   */
  deliveryAt?: number;
  /**
   * When set (the revision about to start): the observation also carries the Canary's release group (`group`),
   * so the start gate needs no lookup of its own (workflows/group-gate.ts).
   */
  memberOf?: Revision;
}

export interface Observation {
  /** False when the Canary object is gone (deleted). */
  found: boolean;
  spec: SpecResult;
  primary: Readiness;
  canary: Readiness;
  /**
   * Current routes as the router reports them (Flagger's GetRoutes), read with the routing view of the spec so
   * they are real also when the analysis part is invalid. Absent when not even that view is valid (e.g. a broken
   * `service`): the workflow then keeps the routes it last observed or set.
   */
  routes?: Routes;
  /** What `.status` says now; used to tell a first bootstrap from a new revision. */
  status: { phase?: CanaryPhase | ''; lastAppliedRevision?: string };
  /**
   * `metadata.generation` of the Canary: changes with every spec edit (not with status or annotation writes).
   * The workflow re-derives Services, routes and the primary's extras when it moves. Absent in histories recorded
   * before it existed.
   */
  generation?: number;
  /**
   * The DeliveryPolicy verdict at `deliveryAt` (only when asked). Absent when not asked or when the policies could
   * not be read: the rollout is then not held, as when a checkDelivery call fails through its attempts.
   */
  delivery?: DeliveryVerdict;
  /** The release group lookup for `memberOf` (only when asked; absent when it failed: the gate asks again). */
  group?: MemberOf;
}

export interface ObservePort {
  observe(input: ObserveInput): Promise<Observation>;
}

// ---------------------------------------------------------------------------------------------------------
// targets: primary and canary workloads
// ---------------------------------------------------------------------------------------------------------

export interface TargetInput {
  canary: CanaryRef;
  revision: Revision;
}

export interface ScaleInput extends TargetInput {
  /** `up` restores the canary's replicas (scale from zero), `down` scales it to zero. */
  direction: 'up' | 'down';
}

/** promotePrimary's answer: copied, or not because the target moved on to `current` since the analysis. */
export type PromoteResult = { promoted: true } | { promoted: false; current: Revision };

export interface TargetsPort {
  /**
   * Create the primary workload, its configs and autoscaler, and the `-primary`/`-canary` Services (idempotent;
   * Flagger's Initialize). An existing primary keeps its pod template (only a promotion changes it). Moves no
   * traffic: the apex Service and the routes are reconciled by reconcileRoutes, after the primary is ready.
   */
  initializePrimary(input: TargetInput): Promise<void>;
  scaleCanary(input: ScaleInput): Promise<void>;
  /**
   * Copy the canary's pod template (and tracked configs) to the primary (Flagger's Promote), fenced by the
   * revision: the template is copied only when the target's current revision hash (pod template + tracked config
   * checksums, as the watcher computes it) is `input.revision.hash`, the one that was analysed. Otherwise nothing is
   * written and the target's current revision comes back, so the workflow analyses it instead of promoting it.
   * Histories recorded before the fence hold no result (`undefined`): promoted.
   */
  promotePrimary(input: TargetInput): Promise<PromoteResult | void>;
  /** Readiness of both workloads (observe already reports it; this is for callers outside a tick). */
  checkReadiness(input: TargetInput): Promise<{ primary: Readiness; canary: Readiness }>;
  /**
   * Wait on the cluster until one workload is ready: polls checkReadiness every `pollMs` (default: 50 ms first,
   * then 1.5 times longer each time up to 500 ms), heartbeating each poll, and returns its readiness as soon as it
   * is ready or the cluster reports its progress deadline exceeded, or the last one read after `timeoutMs`. The
   * workflow's wait for the canary after scale-up and for the primary after promotion (instead of an analysis
   * interval). Cancelled through its heartbeats.
   */
  awaitReadiness(input: AwaitReadinessInput): Promise<Readiness>;
}

export interface AwaitReadinessInput extends TargetInput {
  which: 'primary' | 'canary';
  /** Longest wait, ms (the workflow passes what is left of the progress deadline). */
  timeoutMs: number;
  /** Poll period, ms; default: 50 ms, growing by half each poll up to 500 ms. */
  pollMs?: number;
}

// ---------------------------------------------------------------------------------------------------------
// routes
// ---------------------------------------------------------------------------------------------------------

export interface SetRoutesInput {
  canary: CanaryRef;
  routes: Routes;
}

export interface RoutesPort {
  /**
   * Create/adopt the Services and the mesh/ingress objects from the current spec, routing all traffic to the
   * primary when new and keeping the weights (and the apex selector) in force otherwise, so it also carries spec
   * edits to a route mid-rollout.
   */
  reconcileRoutes(input: { canary: CanaryRef }): Promise<Routes>;
  /** Set absolute weights (idempotent). Returns the routes now in force. */
  setRoutes(input: SetRoutesInput): Promise<Routes>;
  getRoutes(input: { canary: CanaryRef }): Promise<Routes>;
}

// ---------------------------------------------------------------------------------------------------------
// metrics
// ---------------------------------------------------------------------------------------------------------

export type MetricVerdict = 'pass' | 'fail' | 'no-data';

export interface MetricResult {
  name: string;
  /** Observed value; null when the query returned no data. */
  value: number | null;
  range: ThresholdRange;
  verdict: MetricVerdict;
  /** Flagger's event text for a failure, e.g. "Halt podinfo.test advancement error-rate 5.00 > 1". */
  message?: string;
}

export interface MetricsInput {
  canary: CanaryRef;
  metrics: MetricSpec[];
  /** Analysis interval, the default window of a metric without its own interval. */
  interval: string;
}

export interface MetricsOutcome {
  /** True when every metric passed. */
  ok: boolean;
  results: MetricResult[];
}

export interface MetricsPort {
  /**
   * Run every metric check. A query that ran and returned a bad value or no data is a failed check (verdict
   * `fail` / `no-data`). An unreachable backend is an infrastructure error: throw, so the retry policy retries it.
   */
  runMetrics(input: MetricsInput): Promise<MetricsOutcome>;
}

// ---------------------------------------------------------------------------------------------------------
// webhooks
// ---------------------------------------------------------------------------------------------------------

export interface WebhookInput {
  canary: CanaryRef;
  revision: Revision;
  /**
   * The hook to call, by name and type; the activity reads its URL and metadata from the Canary. A full
   * WebhookSpec (histories recorded before WebhookRef, tools and tests without a cluster) is called as given.
   */
  hook: WebhookRef | WebhookSpec;
  /** Phase sent in the payload (Flagger sends Progressing for gates, the final phase for post-rollout). */
  phase: CanaryPhase;
}

export interface WebhookOutcome {
  /** Flagger's rule: an HTTP status ≤ 202 is success; anything else (or no answer) is a failure. */
  ok: boolean;
  message: string;
}

export interface WebhooksPort {
  callWebhook(input: WebhookInput): Promise<WebhookOutcome>;
}

// ---------------------------------------------------------------------------------------------------------
// alerts, status and events
// ---------------------------------------------------------------------------------------------------------

export type AlertSeverity = 'info' | 'warn' | 'error';

export interface AlertInput {
  canary: CanaryRef;
  message: string;
  severity: AlertSeverity;
  /** Add Flagger's metadata fields (target, threshold, deadline, routing). */
  metadata: boolean;
  alerts: AlertSpec[];
}

export interface AlertsPort {
  /** Best effort, like Flagger: failures are logged by the activity, never fail the rollout. */
  sendAlert(input: AlertInput): Promise<void>;
}

export interface CanaryEvent {
  type: 'Normal' | 'Warning';
  /** Flagger's message text; the reason is always `Synced`. */
  message: string;
}

export interface StatusProjection {
  phase: CanaryPhase;
  canaryWeight: number;
  failedChecks: number;
  iterations: number;
  step: number;
  /** Revision under analysis (fledge: `.status.lastAppliedSpec` holds the canary's revision hash). */
  revision: string;
  /** Revision the primary runs, set on Initialized and Succeeded. */
  lastPromotedRevision?: string;
  metrics: MetricResult[];
  /** Condition message (Flagger's Promoted condition). */
  message: string;
  workflowId: string;
  runId: string;
}

export interface WriteStatusInput {
  canary: CanaryRef;
  status: StatusProjection;
  /**
   * The tick's events, stored just before the status (so whoever sees the status finds them) and posted to the event
   * webhooks after it: one projection activity per tick instead of two (event-driven-phases). Absent in histories
   * recorded before it.
   */
  events?: Omit<RecordEventsInput, 'canary'>;
  /** The tick's alerts, sent after the status and events; best effort (a failing notifier never fails the write). */
  alerts?: Omit<AlertInput, 'canary'>[];
}

export interface RecordEventsInput {
  canary: CanaryRef;
  /** Deterministic event names are derived from this (run id + sequence), so a retry is a 409, not a duplicate. */
  runId: string;
  firstSequence: number;
  events: CanaryEvent[];
  /**
   * `event` webhooks: each event is also posted to each of them (Flagger's sendEventToWebhook). The activity reads
   * their URLs from the Canary; full specs (tools, tests) are posted to as given.
   */
  eventHooks: (WebhookRef | WebhookSpec)[];
  revision: Revision;
  phase: CanaryPhase;
}

export interface StatusPort {
  writeStatus(input: WriteStatusInput): Promise<void>;
  recordEvents(input: RecordEventsInput): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// finalize: the rollout's last step when its Canary is being deleted
// ---------------------------------------------------------------------------------------------------------

export interface FinalizePort {
  /**
   * revertOnDeletion of a Canary being deleted (activities/kubernetes/finalizer.ts): Terminating, target restored
   * and ready, adopted apex Service and routes back on it, finalizer released. Idempotent; a no-op for a Canary that
   * is gone, not being deleted or without the finalizer. A target not ready yet is a retryable `TargetNotReady`.
   */
  finalizeCanary(input: { canary: CanaryRef }): Promise<void>;
}

/** Every activity the rollout workflow calls. Names are unique across ports so one object can implement all. */
export type RolloutActivities = ObservePort &
  TargetsPort &
  RoutesPort &
  MetricsPort &
  WebhooksPort &
  AlertsPort &
  StatusPort;
