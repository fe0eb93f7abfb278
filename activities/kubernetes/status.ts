// Canary `.status` through the status subresource (JSON merge patch), with Flagger's `Promoted` condition, and
// Kubernetes Events on the Canary (reason `Synced`, Flagger's texts) with deterministic names.
import { createHash } from 'node:crypto';
import type { CoreV1Event } from '@kubernetes/client-node';
import type { CanaryEvent, CanaryPhase, StatusProjection } from '../../api/ports.ts';
import type { CanaryCondition, CanaryStatus } from '../../api/status.ts';
import { CANARIES, GROUP, VERSION, isConflict, mergePatch, type Kube } from './client.ts';
import type { RawCanary } from './canary.ts';
import { deliveryHoldReason } from '../delivery/status.ts';

export const PROMOTED = 'Promoted';
export const EVENT_REASON = 'Synced';
/** Flagger's event source: dashboards and `kubectl get events` filters written for Flagger keep working. */
export const EVENT_SOURCE = 'flagger';

type ConditionStatus = 'True' | 'False' | 'Unknown';

/** Flagger's MakeStatusConditions: status and message per phase, reason = phase. */
export function promotedFor(kind: string, phase: CanaryPhase): { status: ConditionStatus; message: string } {
  switch (phase) {
    case 'Initialized':
      return { status: 'True', message: `${kind} initialization completed.` };
    case 'Waiting':
    case 'WaitingPromotion':
      return { status: 'Unknown', message: 'Waiting for approval.' };
    case 'Progressing':
      return { status: 'Unknown', message: 'New revision detected, progressing canary analysis.' };
    case 'Promoting':
      return { status: 'Unknown', message: 'Canary analysis completed, starting primary rolling update.' };
    case 'Finalising':
      return { status: 'Unknown', message: 'Canary analysis completed, routing all traffic to primary.' };
    case 'Succeeded':
      return { status: 'True', message: 'Canary analysis completed successfully, promotion finished.' };
    case 'Failed':
      return { status: 'False', message: `Canary analysis failed, ${kind} scaled to zero.` };
    default:
      return { status: 'Unknown', message: `New ${kind} detected, starting initialization.` };
  }
}

/**
 * The Promoted condition to write, or undefined to leave the current one alone (same status and reason: Flagger
 * keeps it, which is also what makes a repeated write a no-op).
 */
export function nextCondition(
  current: CanaryCondition[] | undefined,
  wanted: { status: ConditionStatus; reason: string; message: string },
  now: Date,
): CanaryCondition[] | undefined {
  const old = current?.find((c) => c.type === PROMOTED);
  if (old && old.status === wanted.status && old.reason === wanted.reason && old.message === wanted.message)
    return undefined;
  const at = now.toISOString();
  const transition = old && old.status === wanted.status ? (old.lastTransitionTime ?? at) : at;
  const others = (current ?? []).filter((c) => c.type !== PROMOTED);
  return [...others, { type: PROMOTED, ...wanted, lastUpdateTime: at, lastTransitionTime: transition }];
}

/** How the workflow's status message starts while it holds a rollout on an invalid spec (workflows/tick.ts). */
export const INVALID_SPEC_PREFIX = 'invalid spec: ';
/** How it starts while an infrastructure fault (observation, metrics server) holds the rollout (workflows/tick.ts). */
export const INFRASTRUCTURE_FAULT_PREFIX = 'infrastructure fault: ';

/** The merge patch for a projection; fields that did not change are left out so a repeat is a no-op. */
export function statusPatch(raw: RawCanary, p: StatusProjection, now: Date): Partial<CanaryStatus> {
  const kind = String((raw.spec?.targetRef as { kind?: string } | undefined)?.kind ?? 'Deployment');
  const cur = raw.status ?? {};
  const patch: Partial<CanaryStatus> = {
    phase: p.phase,
    canaryWeight: p.canaryWeight,
    failedChecks: p.failedChecks,
    iterations: p.iterations,
    lastAppliedSpec: p.revision,
    workflowId: p.workflowId,
    runId: p.runId,
    step: p.step,
    metrics: p.metrics.map((m) => ({
      name: m.name,
      ...(m.value === null ? {} : { value: m.value }),
      passed: m.verdict === 'pass',
      ...(m.message ? { message: m.message } : {}),
    })),
  };
  if (p.lastPromotedRevision) patch.lastPromotedSpec = p.lastPromotedRevision;
  if (cur.phase !== p.phase) patch.lastTransitionTime = now.toISOString();
  // An invalid spec holds the rollout: the Promoted condition says why (reason InvalidSpec, the errors as message),
  // with the status of the phase it holds in. So does an infrastructure fault (reason InfrastructureFault): a route
  // no gateway accepts, a metrics server down.
  const held = p.message.startsWith(INVALID_SPEC_PREFIX)
    ? 'InvalidSpec'
    : p.message.startsWith(INFRASTRUCTURE_FAULT_PREFIX)
      ? 'InfrastructureFault'
      : deliveryHoldReason(p.message);
  const promoted = held
    ? { status: promotedFor(kind, p.phase).status, reason: held, message: p.message }
    : { ...promotedFor(kind, p.phase), reason: p.phase };
  const conditions = nextCondition(cur.conditions, promoted, now);
  if (conditions) patch.conditions = conditions;
  return patch;
}

export async function patchStatus(kube: Kube, raw: RawCanary, status: Record<string, unknown>): Promise<void> {
  await kube.custom.patchNamespacedCustomObjectStatus(
    {
      group: GROUP,
      version: VERSION,
      namespace: raw.metadata.namespace,
      plural: CANARIES,
      name: raw.metadata.name,
      body: { status },
      fieldManager: 'fledge',
    },
    mergePatch,
  );
}

/** `.status.trackedConfigs` replaced by `configs` (merge patch: removed keys are written as null). */
export function trackedConfigsPatch(raw: RawCanary, configs: Record<string, string>): Record<string, string | null> {
  const out: Record<string, string | null> = { ...configs };
  for (const key of Object.keys(raw.status?.trackedConfigs ?? {})) if (!(key in configs)) out[key] = null;
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------------------

/** Event names: `<canary>.<run id>.<sequence>`, so a retried create is a 409, not a second event. */
export function eventName(canary: string, runId: string, sequence: number): string {
  const run = runId.toLowerCase().replace(/[^a-z0-9-]/g, '') || 'run';
  return `${canary}.${run}.${sequence}`;
}

/** For events outside a run (target errors): named after the message and the Canary generation. */
export function problemEventName(raw: RawCanary, message: string): string {
  const digest = createHash('sha256')
    .update(`${raw.metadata.uid}/${raw.metadata.generation ?? 0}/${message}`)
    .digest('hex')
    .slice(0, 16);
  return `${raw.metadata.name}.${digest}`;
}

export function canaryEvent(raw: RawCanary, name: string, e: CanaryEvent, now: Date): CoreV1Event {
  return {
    metadata: { name, namespace: raw.metadata.namespace },
    involvedObject: {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'Canary',
      name: raw.metadata.name,
      namespace: raw.metadata.namespace,
      uid: raw.metadata.uid,
    },
    reason: EVENT_REASON,
    message: e.message,
    type: e.type,
    source: { component: EVENT_SOURCE },
    reportingComponent: 'fledge',
    reportingInstance: 'fledge',
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  };
}

/** Creates the event; returns false when it already exists (a retry). */
export async function createEvent(kube: Kube, event: CoreV1Event): Promise<boolean> {
  try {
    await kube.core.createNamespacedEvent({ namespace: event.metadata.namespace ?? '', body: event });
    return true;
  } catch (err) {
    if (isConflict(err)) return false;
    throw err;
  }
}
