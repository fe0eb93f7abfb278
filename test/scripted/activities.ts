// Scripted implementations of the rollout ports over the world server (test/scripted/world.ts). The observe
// activity validates the Canary with the real schema (parseCanary) and maps it with the real toRolloutSpec, so
// workflow tests exercise the same spec path as production.

import { ApplicationFailure } from '@temporalio/common';
import type { CanaryRef, Observation, RolloutActivities } from '../../api/ports.ts';
import type { DeliveryPort } from '../../api/delivery-policy.ts';
import { parseCanary } from '../../api/validate.ts';
import { toRolloutSpec } from '../../workflows/spec-from-canary.ts';
import { awaitReadiness } from '../../activities/kubernetes/await-readiness.ts';
import { withTickAnswers } from '../../activities/tick-answers.ts';
import type { MemberOf, MemberOfInput } from '../../workflows/group-messages.ts';

type GroupGateActivity = { memberOf(input: MemberOfInput): Promise<MemberOf> };

export function canaryKey(ref: CanaryRef): string {
  return `${ref.namespace}/${ref.name}`;
}

/**
 * The scripted ports; observe answers the DeliveryPolicy question as the worker's does (withTickAnswers), from
 * the scripted checkDelivery (no policies) unless a test spreads the real one over it and wraps again.
 */
export function createScriptedActivities(worldUrl: string): RolloutActivities & DeliveryPort & GroupGateActivity {
  return withTickAnswers(scriptedPorts(worldUrl));
}

function scriptedPorts(worldUrl: string): RolloutActivities & DeliveryPort & GroupGateActivity {
  async function call<T>(op: string, canary: CanaryRef, args: object = {}): Promise<T> {
    const res = await fetch(`${worldUrl}/rpc`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ op, key: canaryKey(canary), args }),
    });
    const body = (await res.json()) as { result?: T; error?: string };
    if (res.status === 404) throw targetNotFound(body.error ?? `world ${op}: not found`);
    // Any other world error is an infrastructure error: thrown, so the activity retry policy retries it.
    if (!res.ok) throw new Error(body.error ?? `world ${op} failed with ${res.status}`);
    return body.result as T;
  }

  return {
    async observe({ canary }) {
      const w = await call<WorldObservation>('observe', canary);
      if (!w.exists) return notFound();
      return {
        found: true,
        spec: specOf(w),
        primary: w.primary,
        canary: w.canary,
        routes: w.routes,
        status: {
          phase: w.status.phase as Observation['status']['phase'],
          lastAppliedRevision: w.status.lastAppliedRevision,
        },
        ...(w.generation !== undefined ? { generation: w.generation } : {}),
      };
    },
    initializePrimary: (i) => call('initializePrimary', i.canary, i),
    scaleCanary: (i) => call('scaleCanary', i.canary, i),
    promotePrimary: (i) => call('promotePrimary', i.canary, i),
    checkReadiness: (i) => call('checkReadiness', i.canary, i),
    awaitReadiness: (i) =>
      awaitReadiness(
        { check: (c) => call<Awaited<ReturnType<RolloutActivities['checkReadiness']>>>('checkReadiness', c.canary, c) },
        i,
      ),
    reconcileRoutes: (i) => call('reconcileRoutes', i.canary, i),
    setRoutes: (i) => call('setRoutes', i.canary, i),
    async getRoutes(i) {
      return (await this.observe({ canary: i.canary })).routes ?? { primary: 100, canary: 0, mirrored: false };
    },
    runMetrics: (i) => call('runMetrics', i.canary, i),
    callWebhook: (i) =>
      call('callWebhook', i.canary, { hook: { name: i.hook.name, type: i.hook.type }, phase: i.phase }),
    sendAlert: (i) => call('sendAlert', i.canary, { message: i.message, severity: i.severity }),
    writeStatus: (i) => call('writeStatus', i.canary, i),
    recordEvents: (i) => call('recordEvents', i.canary, i),
    // The scripted world has no DeliveryPolicies (test/integration/delivery-policy.test.ts uses the real activity).
    checkDelivery: async () => ({ policies: [] }),
    // The scripted world has no release groups: no Canary is a member (no start gate).
    memberOf: async () => ({}),
  };
}

interface WorldObservation {
  exists: boolean;
  raw: Record<string, unknown>;
  primary: Observation['primary'];
  canary: Observation['canary'];
  routes: Observation['routes'];
  status: { phase?: string; lastAppliedRevision?: string };
  /** The Canary's metadata.generation, when its object has one. */
  generation?: number;
}

function notFound(): Observation {
  const down = { ready: false };
  return {
    found: false,
    spec: { ok: false, errors: [{ path: '', message: 'canary not found' }] },
    primary: down,
    canary: down,
    routes: { primary: 100, canary: 0, mirrored: false },
    status: {},
  };
}

function specOf(w: WorldObservation): Observation['spec'] {
  const parsed = parseCanary(w.raw);
  if (!parsed.ok) return { ok: false, errors: parsed.errors };
  return { ok: true, spec: toRolloutSpec(parsed.canary) };
}

/** Thrown by a port for a target that does not exist: not retried. */
export function targetNotFound(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, 'TargetNotFound');
}
