// In-process scripted implementations of every rollout port, for the engine benchmark (bench/engine.ts): each
// canary is healthy (targets ready, metrics passing, webhooks answering), so a rollout runs its steps and promotes.
// Nothing leaves the worker process, so what is measured is Temporal and the workflow, not Kubernetes.
//
// The observe activity validates the Canary with the real schema (parseCanary) and maps it with the real
// toRolloutSpec, as production does. Every weight change is timed (`steps`), so the caller can compute step jitter
// (time between two weight steps minus the analysis interval).
import type { CanaryRef, Observation, RolloutActivities, Routes, StatusProjection } from '../api/ports.ts';
import { parseCanary } from '../api/validate.ts';
import { toRolloutSpec } from '../workflows/spec-from-canary.ts';
import type { DeliveryPort } from '../api/delivery-policy.ts';
import { withTickAnswers } from '../activities/tick-answers.ts';
import type { MemberOf, MemberOfInput } from '../workflows/group-messages.ts';

type GroupGateActivity = { memberOf(input: MemberOfInput): Promise<MemberOf> };

export interface ScriptedCanaryOptions {
  /** Analysis interval in seconds. */
  intervalS: number;
  /** Weight steps up to 100 %; must divide 100. */
  steps: number;
}

/**
 * The canary a benchmark rolls first, to load the workflow bundle into the worker: its analysis interval is 1 s
 * whatever the others' is, so the warm-up takes seconds even when they step once a minute.
 */
export const WARM_UP_CANARY = 'warm-up';
const WARM_UP_INTERVAL_S = 1;

/** A Gateway API Canary with one builtin metric, `steps` weight steps of 100/steps up to 100 %. */
export function scriptedCanary(ref: CanaryRef, opts: ScriptedCanaryOptions): Record<string, unknown> {
  return {
    apiVersion: 'flagger.app/v1beta1',
    kind: 'Canary',
    metadata: { name: ref.name, namespace: ref.namespace },
    spec: {
      provider: 'gatewayapi:v1',
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: ref.name },
      service: { port: 80, gatewayRefs: [{ name: 'gateway', namespace: 'gateways' }] },
      progressDeadlineSeconds: 600,
      analysis: {
        interval: `${opts.intervalS}s`,
        threshold: 2,
        stepWeight: 100 / opts.steps,
        maxWeight: 100,
        metrics: [{ name: 'request-success-rate', thresholdRange: { min: 99 }, interval: '1m' }],
      },
    },
  };
}

interface CanaryState {
  raw: Record<string, unknown>;
  routes: Routes;
  phase: string;
  revision: string;
  /** [time (ms, performance.now()), canary weight] of each weight change. */
  weights: [number, number][];
}

export interface ScriptedPorts {
  activities: RolloutActivities & DeliveryPort & GroupGateActivity;
  /** Canaries by `namespace/name`. */
  canaries: Map<string, CanaryState>;
}

/**
 * Scripted ports over an in-memory map of canaries. A canary first seen by `observe` starts as Flagger leaves one
 * after initialization: primary ready at `rev-1`, canary scaled down, phase `Initialized`.
 */
export function createScriptedPorts(opts: ScriptedCanaryOptions): ScriptedPorts {
  const canaries = new Map<string, CanaryState>();
  const get = (ref: CanaryRef): CanaryState => {
    const key = `${ref.namespace}/${ref.name}`;
    let c = canaries.get(key);
    if (!c) {
      c = {
        raw: scriptedCanary(ref, ref.name === WARM_UP_CANARY ? { ...opts, intervalS: WARM_UP_INTERVAL_S } : opts),
        routes: { primary: 100, canary: 0, mirrored: false },
        phase: 'Initialized',
        revision: 'rev-1',
        weights: [],
      };
      canaries.set(key, c);
    }
    return c;
  };
  const ready = { ready: true };
  const activities: RolloutActivities & DeliveryPort & GroupGateActivity = {
    async observe({ canary }) {
      const c = get(canary);
      const parsed = parseCanary(c.raw);
      const spec: Observation['spec'] = parsed.ok
        ? { ok: true, spec: toRolloutSpec(parsed.canary) }
        : { ok: false, errors: parsed.errors };
      return {
        found: true,
        spec,
        primary: ready,
        canary: ready,
        routes: c.routes,
        status: { phase: c.phase as Observation['status']['phase'], lastAppliedRevision: c.revision },
        generation: 1,
      };
    },
    async initializePrimary() {},
    async scaleCanary() {},
    async promotePrimary() {
      return { promoted: true };
    },
    // Always ready: the wait after scale-up and promotion ends at once.
    async awaitReadiness() {
      return ready;
    },
    // No DeliveryPolicy: nothing holds a rollout.
    async checkDelivery() {
      return { policies: [] };
    },
    // No ReleaseGroup: no start gate.
    async memberOf() {
      return {};
    },
    async checkReadiness() {
      return { primary: ready, canary: ready };
    },
    async reconcileRoutes({ canary }) {
      return get(canary).routes;
    },
    async setRoutes({ canary, routes }) {
      const c = get(canary);
      if (routes.canary !== c.routes.canary) c.weights.push([performance.now(), routes.canary]);
      c.routes = { ...routes };
      return c.routes;
    },
    async getRoutes({ canary }) {
      return get(canary).routes;
    },
    async runMetrics({ metrics }) {
      return {
        ok: true,
        results: metrics.map((m) => ({ name: m.name, value: 100, range: m.thresholdRange ?? {}, verdict: 'pass' })),
      };
    },
    async callWebhook() {
      return { ok: true, message: 'ok' };
    },
    async sendAlert() {},
    async writeStatus({ canary, status }: { canary: CanaryRef; status: StatusProjection }) {
      const c = get(canary);
      c.phase = status.phase;
      c.revision = status.revision;
    },
    async recordEvents() {},
  };
  return { activities: withTickAnswers(activities), canaries };
}

/**
 * Step jitter of each canary, in ms: the time between two consecutive rising weight steps minus the interval.
 * The first step is left out (it follows the canary's scale-up, not a step interval).
 */
export function stepJitters(canaries: Iterable<CanaryState>, intervalMs: number): number[] {
  const out: number[] = [];
  for (const c of canaries) {
    for (let i = 1; i < c.weights.length; i++) {
      const [t0, w0] = c.weights[i - 1]!;
      const [t1, w1] = c.weights[i]!;
      if (w0 > 0 && w1 > w0) out.push(t1 - t0 - intervalMs);
    }
  }
  return out;
}
