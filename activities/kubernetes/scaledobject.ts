// KEDA ScaledObjects as `autoscalerRef` (Flagger pkg/canary/scaled_object_reconciler.go): a `<name>-primary` copy
// that scales the primary workload, with its triggers' queries pointed at the primary, and the target's own
// ScaledObject paused at zero replicas while no canary runs. Pure builders first, the I/O below them.
import type { V1OwnerReference } from '@kubernetes/client-node';
import type { Canary } from '../../api/canary.ts';
import { apply, mergePatch, readOptional, type Kube } from './client.ts';
import { ownerRef, type RawCanary } from './canary.ts';
import { PRIMARY_SUFFIX } from './configs.ts';
import { filterMetadata, primaryName } from './workload.ts';

export const KEDA_GROUP = 'keda.sh';
export const KEDA_VERSION = 'v1alpha1';
export const SCALED_OBJECTS = 'scaledobjects';
/** KEDA scales a ScaledObject's target to this many replicas and stops scaling it (Flagger pauses with "0"). */
export const PAUSED_REPLICAS_ANNOTATION = 'autoscaling.keda.sh/paused-replicas';
/** KEDA's other pause switch: never copied to the primary (a paused primary would not scale). */
const PAUSED_ANNOTATION = 'autoscaling.keda.sh/paused';

export interface ScaleTrigger {
  type: string;
  name?: string;
  metadata?: Record<string, string>;
  [key: string]: unknown;
}

/** The fields of a `keda.sh/v1alpha1` ScaledObject fledge reads (others are carried as they are). */
export interface ScaledObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: V1OwnerReference[];
  };
  spec?: {
    scaleTargetRef?: { name?: string; kind?: string; apiVersion?: string; envSourceContainerName?: string };
    pollingInterval?: number;
    cooldownPeriod?: number;
    minReplicaCount?: number;
    maxReplicaCount?: number;
    idleReplicaCount?: number;
    advanced?: { horizontalPodAutoscalerConfig?: { name?: string; [key: string]: unknown }; [key: string]: unknown };
    triggers?: ScaleTrigger[];
    fallback?: unknown;
    [key: string]: unknown;
  };
}

type AutoscalerRef = NonNullable<Canary['spec']['autoscalerRef']>;

/**
 * A trigger query pointed at the primary: both `<target>-canary` and `<target>` become `<target>-primary`, never
 * `<target>-primary-primary` (Flagger's setPrimaryScaledObjectQueries, best effort on the query text).
 */
export function primaryQuery(query: string, target: string): string {
  const primary = `${target}${PRIMARY_SUFFIX}`;
  return query
    .split(`${target}-canary`)
    .map((part) => part.split(target).join(primary))
    .join(primary);
}

/**
 * The triggers of the primary ScaledObject. With `primaryScalerQueries` (trigger name → query) only the named
 * triggers' `metadata.query` is replaced; without it every `metadata.query` is rewritten by primaryQuery.
 */
export function primaryTriggers(triggers: ScaleTrigger[] | undefined, ref: AutoscalerRef, target: string) {
  return (triggers ?? []).map((t) => {
    const metadata = { ...t.metadata };
    if (ref.primaryScalerQueries) {
      const query = t.name === undefined ? undefined : ref.primaryScalerQueries[t.name];
      if (query !== undefined) metadata.query = query;
    } else if (metadata.query !== undefined) metadata.query = primaryQuery(metadata.query, target);
    return { ...t, metadata };
  });
}

/**
 * The `<so>-primary` ScaledObject (server-side apply body): the target's spec with `scaleTargetRef.name` =
 * `<target>-primary`, queries rewritten, `advanced.horizontalPodAutoscalerConfig.name` suffixed `-primary` when
 * set, min/max from `primaryScalerReplicas` when given. Only the spec fields Flagger's KEDA types know are copied.
 */
export function primaryScaledObject(
  raw: RawCanary,
  so: ScaledObject,
  ref: AutoscalerRef,
  target: string,
): ScaledObject {
  const s = so.spec ?? {};
  const hpaConfig = { ...s.advanced?.horizontalPodAutoscalerConfig };
  if (hpaConfig.name) hpaConfig.name = `${hpaConfig.name}${PRIMARY_SUFFIX}`;
  const annotations = filterMetadata(so.metadata?.annotations);
  delete annotations[PAUSED_REPLICAS_ANNOTATION];
  delete annotations[PAUSED_ANNOTATION];
  const spec = {
    scaleTargetRef: {
      name: primaryName(target),
      kind: s.scaleTargetRef?.kind,
      apiVersion: s.scaleTargetRef?.apiVersion,
      envSourceContainerName: s.scaleTargetRef?.envSourceContainerName,
    },
    pollingInterval: s.pollingInterval,
    cooldownPeriod: s.cooldownPeriod,
    minReplicaCount: ref.primaryScalerReplicas?.minReplicas ?? s.minReplicaCount,
    maxReplicaCount: ref.primaryScalerReplicas?.maxReplicas ?? s.maxReplicaCount,
    advanced: { ...s.advanced, horizontalPodAutoscalerConfig: hpaConfig },
    triggers: primaryTriggers(s.triggers, ref, target),
    fallback: s.fallback,
    idleReplicaCount: s.idleReplicaCount,
  };
  return {
    apiVersion: `${KEDA_GROUP}/${KEDA_VERSION}`,
    kind: 'ScaledObject',
    metadata: {
      name: `${so.metadata?.name}${PRIMARY_SUFFIX}`,
      namespace: raw.metadata.namespace,
      labels: filterMetadata(so.metadata?.labels),
      annotations,
      ownerReferences: [ownerRef(raw)],
    },
    spec: JSON.parse(JSON.stringify(spec)) as ScaledObject['spec'],
  };
}

// ---------------------------------------------------------------------------------------------------------
// I/O
// ---------------------------------------------------------------------------------------------------------

/** The ScaledObject `autoscalerRef` names, or undefined (no ScaledObject ref, or not found). */
export async function readScaledObject(kube: Kube, canary: Canary): Promise<ScaledObject | undefined> {
  const ref = canary.spec.autoscalerRef;
  if (!ref || ref.kind !== 'ScaledObject') return undefined;
  return readScaledObjectNamed(kube, canary.metadata.namespace ?? '', ref.name);
}

function readScaledObjectNamed(kube: Kube, namespace: string, name: string): Promise<ScaledObject | undefined> {
  return readOptional(
    () =>
      kube.custom.getNamespacedCustomObject({
        group: KEDA_GROUP,
        version: KEDA_VERSION,
        namespace,
        plural: SCALED_OBJECTS,
        name,
      }) as Promise<ScaledObject>,
  );
}

/**
 * The primary ScaledObject: created at initialization (an existing one is left alone then), brought in line with
 * the target's at promotion (Flagger's ReconcilePrimaryScaler with init true/false).
 */
export async function reconcilePrimaryScaledObject(
  kube: Kube,
  raw: RawCanary,
  so: ScaledObject,
  ref: AutoscalerRef,
  target: string,
  init: boolean,
): Promise<void> {
  const desired = primaryScaledObject(raw, so, ref, target);
  const namespace = raw.metadata.namespace;
  if (init && (await readScaledObjectNamed(kube, namespace, desired.metadata!.name!))) return;
  await apply(kube, desired as never);
}

/**
 * Pause (`paused: true`: annotation `autoscaling.keda.sh/paused-replicas: "0"`) or resume (annotation removed) the
 * target's ScaledObject, so KEDA does not scale the canary up while no analysis runs (Flagger's PauseTargetScaler /
 * ResumeTargetScaler). A declarative merge patch; nothing is written when the annotation is already as wanted.
 */
export async function pauseTargetScaledObject(kube: Kube, canary: Canary, paused: boolean): Promise<void> {
  const so = await readScaledObject(kube, canary);
  if (!so?.metadata?.name) return;
  const current = so.metadata.annotations?.[PAUSED_REPLICAS_ANNOTATION];
  if (paused ? current === '0' : current === undefined) return;
  await kube.custom.patchNamespacedCustomObject(
    {
      group: KEDA_GROUP,
      version: KEDA_VERSION,
      namespace: canary.metadata.namespace ?? '',
      plural: SCALED_OBJECTS,
      name: so.metadata.name,
      body: { metadata: { annotations: { [PAUSED_REPLICAS_ANNOTATION]: paused ? '0' : null } } },
      fieldManager: 'fledge',
    },
    mergePatch,
  );
}
