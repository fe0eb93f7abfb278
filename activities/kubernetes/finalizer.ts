// revertOnDeletion (Flagger's finalizer): while the Canary asks for it, it carries `finalizer.flagger.app`; on
// deletion the target gets its replicas back, an adopted apex Service selects the target's pods again, and the
// finalizer is released. Without it, owner references let garbage collection remove what fledge created.
import type { V1DaemonSet, V1Deployment, V1Service } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import { isKnativeService, type Provider } from '../../api/canary.ts';
import type { CanaryEvent, CanaryRef } from '../../api/ports.ts';
import { parseCanary, serviceNames } from '../../api/validate.ts';
import { CANARIES, GROUP, VERSION, apply, isNotFound, mergePatch, readOptional, type Kube } from './client.ts';
import { canaryId, type RawCanary } from './canary.ts';
import { isOwnedBy } from './services.ts';
import { canaryEvent, createEvent, patchStatus } from './status.ts';
import { readWorkload } from './targets.ts';
import { pauseTargetScaledObject } from './scaledobject.ts';
import { isServiceTarget } from './service-target.ts';
import {
  SCALE_TO_ZERO_NODE_SELECTOR,
  isWorkloadKind,
  missingSelectorMessage,
  primaryName,
  readiness,
  replicasFromZero,
  selectorLabel,
  type Workload,
  type WorkloadKind,
} from './workload.ts';

export const FINALIZER = 'finalizer.flagger.app';
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

async function setFinalizers(kube: Kube, raw: RawCanary, finalizers: string[]): Promise<void> {
  // resourceVersion makes this a compare-and-swap: a concurrent edit is a 409 and the activity retries.
  await kube.custom.patchNamespacedCustomObject(
    {
      group: GROUP,
      version: VERSION,
      namespace: raw.metadata.namespace,
      plural: CANARIES,
      name: raw.metadata.name,
      body: { metadata: { finalizers, resourceVersion: raw.metadata.resourceVersion } },
      fieldManager: 'fledge',
    },
    mergePatch,
  );
}

export async function ensureFinalizer(kube: Kube, raw: RawCanary, wanted: boolean): Promise<void> {
  const current = raw.metadata.finalizers ?? [];
  const has = current.includes(FINALIZER);
  if (raw.metadata.deletionTimestamp || has === wanted) return;
  await setFinalizers(kube, raw, wanted ? [...current, FINALIZER] : current.filter((f) => f !== FINALIZER));
}

export interface FinalizeOptions {
  labels: readonly string[];
  log: Logger;
  now: () => Date;
  defaultProvider?: string;
  /** How long one call waits for the restored target to be ready before the apex Service points at it. */
  readyTimeoutMs?: number;
  /** How often the target's readiness is read while waiting; default 500 ms. */
  readyPollMs?: number;
  /** Called at each readiness poll while waiting (the activity heartbeat). */
  heartbeat?: () => void;
  /**
   * Undo the router's objects (restore an adopted route, delete a created one): the routes activities'
   * finalizeRoutes. Runs after the apex Service selects the target again, before the finalizer goes.
   */
  finalizeRoutes?: (canary: CanaryRef) => Promise<void>;
  /** Posts a lifecycle event to the Canary's `event` webhooks or the global one (Flagger's sendEventToWebhook). */
  postEvent?: (raw: RawCanary, event: CanaryEvent, key: string) => Promise<void>;
}

/** Failure type while the restored target is not ready yet: retrying later can help. */
export const TARGET_NOT_READY = 'TargetNotReady';

/**
 * revertOnDeletion, in Flagger's order (pkg/controller/finalizer.go and controller.go):
 *   1. phase Terminating and the Event `Terminating canary <name>.<namespace>`;
 *   2. a paused target ScaledObject is resumed; the target gets its replicas back (the primary's, or from zero), a
 *      DaemonSet loses the scale-to-zero marker;
 *   3. wait until the target is ready: until then nothing moves traffic, and the apex Service keeps selecting the
 *      primary, which still exists (the finalizer holds garbage collection back). Not ready after `readyTimeoutMs`:
 *      a retryable `TargetNotReady` failure, the finalizer stays, the caller retries;
 *   4. an adopted apex Service selects the target's pods again (its kubectl-applied selector, else
 *      `<selector label>: <value>` found with the controller's `-selector-labels`);
 *   5. the router's objects are finalized (an adopted HTTPRoute gets its original spec back);
 *   6. phase Terminated, the finalizer is released (garbage collection then removes the primary and what fledge
 *      created), and the Event `Terminated canary <name>.<namespace>`.
 * Idempotent: a Canary that is not being deleted or no longer carries the finalizer is left alone, and every step
 * converges when repeated. Failures: retryable ones from the apiserver and step 3; non-retryable `InvalidSpec` when
 * an adopted apex Service cannot be pointed back (no selector label on the target and no kubectl annotation).
 */
export async function finalizeCanary(kube: Kube, raw: RawCanary, o: FinalizeOptions): Promise<void> {
  if (!raw.metadata.deletionTimestamp || !raw.metadata.finalizers?.includes(FINALIZER)) return;
  const id = canaryId(raw.metadata);
  const ref: CanaryRef = { namespace: raw.metadata.namespace, name: raw.metadata.name };
  if (raw.status?.phase !== 'Terminating' && raw.status?.phase !== 'Terminated')
    await patchStatus(kube, raw, { phase: 'Terminating', lastTransitionTime: o.now().toISOString() });
  await lifecycleEvent(kube, raw, 'terminating', `Terminating canary ${id}`, o);
  const parsed = parseCanary(raw, { defaultProvider: o.defaultProvider as Provider | undefined });
  // A paused ScaledObject would hold the restored target at 0 replicas (Flagger resumes the target scaler here).
  if (parsed.ok) await pauseTargetScaledObject(kube, parsed.canary, false);
  const targetRef = raw.spec?.targetRef as { apiVersion?: string; kind?: string; name?: string } | undefined;
  if (targetRef?.kind && targetRef.name && isWorkloadKind(targetRef.kind)) {
    const restored = await restoreTarget(kube, targetRef.kind, raw.metadata.namespace, targetRef.name, o);
    if (restored) o.log.info({ canary: id, kind: targetRef.kind }, 'target reverted and ready');
    if (restored && parsed.ok && parsed.canary.spec.service)
      await revertApex(kube, raw, serviceNames(parsed.canary).apex, restored, o);
  } else if (!isServiceTarget(targetRef) && !isKnativeService(targetRef)) {
    // A Service target has nothing to revert (Flagger's ServiceController.Finalize is a no-op), nor has a Knative
    // Service (KnativeController.Finalize): the knative router's finalize puts its traffic back.
    o.log.warn({ canary: id }, 'finalizer: target kind not supported, nothing to revert');
  }
  if (parsed.ok && o.finalizeRoutes) await finalizeRoutes(ref, o);
  if (raw.status?.phase !== 'Terminated')
    await patchStatus(kube, raw, { phase: 'Terminated', lastTransitionTime: o.now().toISOString() }).catch(
      (err: unknown) => {
        if (!isNotFound(err)) throw err;
      },
    );
  const fresh = await readOptional(
    () =>
      kube.custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: raw.metadata.namespace,
        plural: CANARIES,
        name: raw.metadata.name,
      }) as Promise<RawCanary>,
  );
  if (fresh?.metadata.finalizers?.includes(FINALIZER))
    await setFinalizers(
      kube,
      fresh,
      fresh.metadata.finalizers.filter((f) => f !== FINALIZER),
    );
  await lifecycleEvent(kube, raw, 'terminated', `Terminated canary ${id}`, o);
  o.log.info({ canary: id }, 'canary finalized');
}

/** One Normal event per deletion (named after the Canary's uid and the step, so a retry is a 409), also posted. */
async function lifecycleEvent(kube: Kube, raw: RawCanary, step: string, message: string, o: FinalizeOptions) {
  o.log.info({ canary: canaryId(raw.metadata) }, message);
  const event: CanaryEvent = { type: 'Normal', message };
  const name = `${raw.metadata.name}.${raw.metadata.uid.slice(0, 8)}.${step}`;
  const created = await createEvent(kube, canaryEvent(raw, name, event, o.now()));
  if (!created || !o.postEvent) return;
  await o.postEvent(raw, event, `canary/${raw.metadata.namespace}/${raw.metadata.name}/${raw.metadata.uid}/${step}`);
}

/** The router's finalize; a router fledge cannot build for this Canary (reserved provider) has nothing to undo. */
async function finalizeRoutes(ref: CanaryRef, o: FinalizeOptions): Promise<void> {
  try {
    await o.finalizeRoutes?.(ref);
  } catch (err) {
    if (!(err instanceof ApplicationFailure) || !err.nonRetryable) throw err;
    o.log.warn({ canary: canaryId(ref), error: err.message }, 'finalizer: routes left as they are');
  }
}

/** Target back to the primary's replicas (or from zero when there is no primary); DaemonSets lose the marker. */
async function restoreTarget(kube: Kube, kind: WorkloadKind, namespace: string, name: string, o: FinalizeOptions) {
  const target = await readWorkload(kube, kind, namespace, name);
  if (!target) return undefined;
  if (kind === 'Deployment') {
    const primary = (await readWorkload(kube, kind, namespace, primaryName(name))) as V1Deployment | undefined;
    const wanted = primary?.spec?.replicas ?? replicasFromZero((target as V1Deployment).spec?.replicas, undefined);
    if ((target as V1Deployment).spec?.replicas !== wanted)
      await kube.apps.patchNamespacedDeployment(
        { name, namespace, body: { spec: { replicas: wanted } }, fieldManager: 'fledge' },
        mergePatch,
      );
  } else if ((target as V1DaemonSet).spec?.template?.spec?.nodeSelector?.[SCALE_TO_ZERO_NODE_SELECTOR]) {
    const body = { spec: { template: { spec: { nodeSelector: { [SCALE_TO_ZERO_NODE_SELECTOR]: null } } } } };
    await kube.apps.patchNamespacedDaemonSet({ name, namespace, body, fieldManager: 'fledge' }, mergePatch);
  }
  // Like Flagger, wait (bounded) for the target before traffic goes back to it; not ready: fail, retry later.
  const deadline = Date.now() + (o.readyTimeoutMs ?? 60_000);
  for (;;) {
    const w = await readWorkload(kube, kind, namespace, name);
    if (!w) return undefined;
    const ready = readiness(kind, w, 600, 100, o.now());
    if (ready.ready && hasReadyPods(kind, w)) return w;
    if (Date.now() > deadline)
      throw ApplicationFailure.retryable(
        `${kind.toLowerCase()} ${name}.${namespace} not ready during finalizing: ${ready.message ?? 'no ready replicas'}`,
        TARGET_NOT_READY,
      );
    o.heartbeat?.();
    await new Promise((r) => setTimeout(r, o.readyPollMs ?? 500));
  }
}

/** At least one ready pod when any is wanted: traffic must find something to go to. */
function hasReadyPods(kind: WorkloadKind, w: Workload): boolean {
  if (kind === 'Deployment') {
    const d = w as V1Deployment;
    return (d.spec?.replicas ?? 1) === 0 || (d.status?.readyReplicas ?? 0) > 0;
  }
  const d = w as V1DaemonSet;
  return (d.status?.desiredNumberScheduled ?? 0) === 0 || (d.status?.numberReady ?? 0) > 0;
}

/**
 * An apex Service fledge adopted selects the target's pods again: its kubectl-applied selector when there is one
 * (Flagger does the same), else `<selector label>: <value>` of the target. One fledge created is left to garbage
 * collection, as in Flagger.
 */
async function revertApex(kube: Kube, raw: RawCanary, apex: string, target: Workload, o: FinalizeOptions) {
  const svc = await readOptional(() =>
    kube.core.readNamespacedService({ name: apex, namespace: raw.metadata.namespace }),
  );
  if (!svc || isOwnedBy(svc, raw.metadata.uid)) return;
  let wanted: Record<string, string> | undefined;
  const applied = svc.metadata?.annotations?.[LAST_APPLIED];
  if (applied) {
    try {
      wanted = (JSON.parse(applied) as V1Service).spec?.selector ?? undefined;
    } catch {
      // An unreadable annotation: fall back to the target's selector label.
    }
  }
  if (!wanted) {
    const selector = selectorLabel(target, o.labels);
    if (!selector) {
      const kind = (raw.spec?.targetRef as { kind?: string } | undefined)?.kind ?? 'Deployment';
      throw ApplicationFailure.nonRetryable(
        `apex Service ${apex} cannot select the target again: ${missingSelectorMessage(kind, target, o.labels)}`,
        'InvalidSpec',
      );
    }
    wanted = { [selector.label]: selector.value };
  }
  await apply<V1Service>(kube, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: apex, namespace: raw.metadata.namespace },
    spec: { selector: wanted },
  });
  o.log.info({ canary: canaryId(raw.metadata), service: apex, selector: wanted }, 'apex Service selects the target');
}
