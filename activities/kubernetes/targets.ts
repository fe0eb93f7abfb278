// Reads and writes of the target workload, its primary, their configs and autoscalers.
import type {
  V1ConfigMap,
  V1DaemonSet,
  V1Deployment,
  V1Secret,
  V2HorizontalPodAutoscaler,
} from '@kubernetes/client-node';
import type { Canary } from '../../api/canary.ts';
import { apply, readOptional, type Kube } from './client.ts';
import { ownerRef, type RawCanary } from './canary.ts';
import { PRIMARY_SUFFIX, configKey, trackedConfigs, type ConfigRef, type TrackedConfig } from './configs.ts';
import {
  filterMetadata,
  primaryName,
  primaryWorkload,
  replicasFromZero,
  type Workload,
  type WorkloadKind,
} from './workload.ts';

export async function readWorkload(
  kube: Kube,
  kind: WorkloadKind,
  namespace: string,
  name: string,
): Promise<Workload | undefined> {
  return readOptional<Workload>(() =>
    kind === 'Deployment'
      ? kube.apps.readNamespacedDeployment({ name, namespace })
      : kube.apps.readNamespacedDaemonSet({ name, namespace }),
  );
}

export async function readConfigs(kube: Kube, namespace: string, target: Workload): Promise<TrackedConfig[]> {
  return trackedConfigs(target.spec?.template?.spec, (ref: ConfigRef) =>
    readOptional<V1ConfigMap | V1Secret>(() =>
      ref.kind === 'configmap'
        ? kube.core.readNamespacedConfigMap({ name: ref.name, namespace })
        : kube.core.readNamespacedSecret({ name: ref.name, namespace }),
    ),
  );
}

/** `<name>-primary` copies of the tracked configs, owned by the Canary (Flagger's CreatePrimaryConfigs). */
export async function writePrimaryConfigs(kube: Kube, raw: RawCanary, configs: TrackedConfig[]): Promise<void> {
  for (const c of configs) {
    const metadata = {
      name: `${c.ref.name}${PRIMARY_SUFFIX}`,
      namespace: raw.metadata.namespace,
      labels: c.object.metadata?.labels,
      annotations: filterMetadata(c.object.metadata?.annotations),
      ownerReferences: [ownerRef(raw)],
    };
    if (c.ref.kind === 'configmap') {
      const cm = c.object as V1ConfigMap;
      await apply<V1ConfigMap>(kube, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata,
        data: cm.data ?? {},
        binaryData: cm.binaryData ?? {},
      });
    } else {
      const s = c.object as V1Secret;
      await apply<V1Secret>(kube, { apiVersion: 'v1', kind: 'Secret', metadata, type: s.type, data: s.data ?? {} });
    }
  }
}

export async function readAutoscaler(kube: Kube, canary: Canary): Promise<V2HorizontalPodAutoscaler | undefined> {
  const ref = canary.spec.autoscalerRef;
  if (!ref || ref.kind !== 'HorizontalPodAutoscaler') return undefined;
  return readOptional(() =>
    kube.autoscaling.readNamespacedHorizontalPodAutoscaler({
      name: ref.name,
      namespace: canary.metadata.namespace ?? '',
    }),
  );
}

/** The primary HPA: created at initialization, brought in line with the target's HPA at promotion. */
export async function reconcilePrimaryHpa(
  kube: Kube,
  raw: RawCanary,
  hpa: V2HorizontalPodAutoscaler,
  target: string,
  init: boolean,
): Promise<void> {
  const name = `${hpa.metadata?.name}${PRIMARY_SUFFIX}`;
  const namespace = raw.metadata.namespace;
  if (init && (await readOptional(() => kube.autoscaling.readNamespacedHorizontalPodAutoscaler({ name, namespace }))))
    return;
  const spec = hpa.spec;
  await apply<V2HorizontalPodAutoscaler>(kube, {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name, namespace, labels: filterMetadata(hpa.metadata?.labels), ownerReferences: [ownerRef(raw)] },
    spec: {
      scaleTargetRef: {
        apiVersion: spec?.scaleTargetRef.apiVersion,
        kind: spec?.scaleTargetRef.kind ?? 'Deployment',
        name: primaryName(target),
      },
      minReplicas: spec?.minReplicas,
      maxReplicas: spec?.maxReplicas ?? 1,
      metrics: spec?.metrics,
      behavior: spec?.behavior,
    },
  });
}

export interface PrimaryWrite {
  kind: WorkloadKind;
  raw: RawCanary;
  target: Workload;
  selector: { label: string; value: string };
  configs: TrackedConfig[];
  revision: string;
  includeLabelPrefix: readonly string[];
  hpaMinReplicas?: number;
}

/**
 * Apply the primary workload. Replicas are kept at the primary's current count (the HPA or the user owns them);
 * a new primary starts with the target's count, or the HPA minimum, or 1, as in Flagger.
 */
export async function applyPrimary(kube: Kube, w: PrimaryWrite, existing: Workload | undefined): Promise<void> {
  const desired = primaryWorkload({
    kind: w.kind,
    target: w.target,
    owner: ownerRef(w.raw),
    trackedConfigKeys: w.configs.map((c) => configKey(c.ref)),
    revision: w.revision,
    includeLabelPrefix: w.includeLabelPrefix,
    selector: w.selector,
  });
  if (w.kind === 'Deployment') {
    const replicas = existing
      ? ((existing as V1Deployment).spec?.replicas ?? 1)
      : replicasFromZero((w.target as V1Deployment).spec?.replicas, w.hpaMinReplicas);
    (desired as V1Deployment).spec = { ...(desired as V1Deployment).spec!, replicas };
  }
  await apply(kube, desired as V1Deployment | V1DaemonSet);
}
