// revertOnDeletion (Flagger's finalizer): while the Canary asks for it, it carries `finalizer.flagger.app`; on
// deletion the target gets its replicas back, an adopted apex Service selects the target's pods again, and the
// finalizer is released. Without it, owner references let garbage collection remove what fledge created.
import type { V1DaemonSet, V1Deployment, V1Service } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Provider } from '../../api/canary.ts';
import { parseCanary, serviceNames } from '../../api/validate.ts';
import { CANARIES, GROUP, VERSION, apply, isNotFound, mergePatch, readOptional, type Kube } from './client.ts';
import { canaryId, type RawCanary } from './canary.ts';
import { isOwnedBy } from './services.ts';
import { patchStatus } from './status.ts';
import { readWorkload } from './targets.ts';
import {
  SCALE_TO_ZERO_NODE_SELECTOR,
  isWorkloadKind,
  primaryName,
  readiness,
  replicasFromZero,
  selectorLabel,
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
  /** How long to wait for the restored target to be ready before the apex Service points at it. */
  readyTimeoutMs?: number;
}

/** Flagger's finalize: Terminating → restore target → wait for it → revert the apex Service → Terminated. */
export async function finalizeCanary(kube: Kube, raw: RawCanary, o: FinalizeOptions): Promise<void> {
  if (!raw.metadata.deletionTimestamp || !raw.metadata.finalizers?.includes(FINALIZER)) return;
  const id = canaryId(raw.metadata);
  if (raw.status?.phase !== 'Terminating') await patchStatus(kube, raw, { phase: 'Terminating' });
  const parsed = parseCanary(raw, { defaultProvider: o.defaultProvider as Provider | undefined });
  const ref = raw.spec?.targetRef as { kind?: string; name?: string } | undefined;
  if (ref?.kind && ref.name && isWorkloadKind(ref.kind)) {
    const restored = await restoreTarget(kube, ref.kind, raw.metadata.namespace, ref.name, o);
    if (restored && parsed.ok && parsed.canary.spec.service) {
      const selector = selectorLabel(restored, o.labels);
      const apex = serviceNames(parsed.canary).apex;
      if (selector) await revertApex(kube, raw, apex, selector);
    }
  } else {
    o.log.warn({ canary: id }, 'finalizer: target kind not supported, releasing the Canary');
  }
  await patchStatus(kube, raw, { phase: 'Terminated' }).catch((err: unknown) => {
    if (!isNotFound(err)) throw err;
  });
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
  if (fresh)
    await setFinalizers(
      kube,
      fresh,
      (fresh.metadata.finalizers ?? []).filter((f) => f !== FINALIZER),
    );
  o.log.info({ canary: id }, 'canary finalized');
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
  // Like Flagger, wait (bounded) for the target before traffic goes back to it.
  const deadline = Date.now() + (o.readyTimeoutMs ?? 60_000);
  for (;;) {
    const w = await readWorkload(kube, kind, namespace, name);
    if (!w || readiness(kind, w, 600, 100, o.now()).ready || Date.now() > deadline) return w;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** An apex Service fledge adopted selects the target again (its kubectl-applied selector when there is one). */
async function revertApex(kube: Kube, raw: RawCanary, apex: string, selector: { label: string; value: string }) {
  const svc = await readOptional(() =>
    kube.core.readNamespacedService({ name: apex, namespace: raw.metadata.namespace }),
  );
  if (!svc || isOwnedBy(svc, raw.metadata.uid)) return;
  let wanted: Record<string, string> = { [selector.label]: selector.value };
  const applied = svc.metadata?.annotations?.[LAST_APPLIED];
  if (applied) {
    try {
      wanted = (JSON.parse(applied) as V1Service).spec?.selector ?? wanted;
    } catch {
      // An unreadable annotation: fall back to the target's selector label.
    }
  }
  await apply<V1Service>(kube, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: apex, namespace: raw.metadata.namespace },
    spec: { selector: wanted },
  });
}
