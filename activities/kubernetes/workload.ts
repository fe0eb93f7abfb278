// Pure rules for the target workload and its primary (Flagger's deployment/daemonset controllers): selector
// label, primary object, readiness. The I/O lives in targets.ts.
import type {
  V1DaemonSet,
  V1Deployment,
  V1DeploymentCondition,
  V1OwnerReference,
  V1PodSpec,
  V1PodTemplateSpec,
} from '@kubernetes/client-node';
import type { Readiness } from '../../api/ports.ts';
import { PRIMARY_SUFFIX, withPrimaryConfigs } from './configs.ts';

export type WorkloadKind = 'Deployment' | 'DaemonSet';
export type Workload = V1Deployment | V1DaemonSet;

export const DEFAULT_SELECTOR_LABELS = ['app', 'name', 'app.kubernetes.io/name'];
/** Flagger's DaemonSet scale-to-zero: a nodeSelector no node matches. Not part of the revision. */
export const SCALE_TO_ZERO_NODE_SELECTOR = 'flagger.app/scale-to-zero';
/** Pod annotation that makes the primary roll when only its configs changed (Flagger sets a random uuid). */
export const REVISION_ANNOTATION = 'flagger-id';

/** Annotations never copied from the target (they describe the target object, not the app). */
const IGNORED_ANNOTATIONS = [
  'kubectl.kubernetes.io/last-applied-configuration',
  'deployment.kubernetes.io/revision',
  'deprecated.daemonset.template.generation',
  'kustomize.toolkit.fluxcd.io/checksum',
  'kustomize.toolkit.fluxcd.io/reconcile',
  'helm.toolkit.fluxcd.io/driftDetection',
];

export function isWorkloadKind(kind: string): kind is WorkloadKind {
  return kind === 'Deployment' || kind === 'DaemonSet';
}

export function primaryName(target: string): string {
  return `${target}${PRIMARY_SUFFIX}`;
}

/** First of the configured labels in `spec.selector.matchLabels`, as Flagger's getSelectorLabel. */
export function selectorLabel(
  w: Workload,
  labels: readonly string[] = DEFAULT_SELECTOR_LABELS,
): { label: string; value: string } | undefined {
  const match = w.spec?.selector?.matchLabels ?? {};
  for (const label of labels) {
    const value = match[label];
    if (value !== undefined) return { label, value };
  }
  return undefined;
}

export function missingSelectorMessage(kind: string, w: Workload, labels: readonly string[]): string {
  const m = w.metadata;
  return `${kind.toLowerCase()} ${m?.name}.${m?.namespace} spec.selector.matchLabels must contain one of [${labels.join(' ')}]`;
}

export function filterMetadata(annotations: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(annotations ?? {}).filter(([k]) => !IGNORED_ANNOTATIONS.includes(k)));
}

export function includeLabelsByPrefix(labels: Record<string, string> | undefined, prefixes: readonly string[]) {
  return Object.fromEntries(
    Object.entries(labels ?? {}).filter(([k]) => prefixes.some((p) => p === '*' || k.startsWith(p))),
  );
}

/** The labels with the selector label rewritten to `<value>-primary` (Flagger's makePrimaryLabels). */
export function primaryLabels(labels: Record<string, string> | undefined, label: string, value: string) {
  return { ...(labels ?? {}), [label]: `${value}${PRIMARY_SUFFIX}` };
}

/** The pod spec of a workload without fledge's own scale-to-zero marker. */
export function podSpecOf(template: V1PodTemplateSpec | undefined): V1PodSpec {
  const spec = structuredClone(template?.spec ?? { containers: [] });
  if (spec.nodeSelector?.[SCALE_TO_ZERO_NODE_SELECTOR] !== undefined) {
    delete spec.nodeSelector[SCALE_TO_ZERO_NODE_SELECTOR];
    if (Object.keys(spec.nodeSelector).length === 0) delete spec.nodeSelector;
  }
  return spec;
}

export interface PrimaryInput {
  kind: WorkloadKind;
  target: Workload;
  owner: V1OwnerReference;
  trackedConfigKeys: string[];
  revision: string;
  includeLabelPrefix: readonly string[];
  selector: { label: string; value: string };
}

/**
 * The primary workload as we want it (server-side apply body). Replicas are left out: they are set once at
 * creation and then belong to the HPA or the user, as in Flagger.
 */
export function primaryWorkload(p: PrimaryInput): Workload {
  const t = p.target;
  const { label, value } = p.selector;
  const template = t.spec?.template;
  const spec: Record<string, unknown> = {
    selector: { matchLabels: { [label]: `${value}${PRIMARY_SUFFIX}` } },
    minReadySeconds: t.spec?.minReadySeconds,
    revisionHistoryLimit: t.spec?.revisionHistoryLimit,
    template: {
      metadata: {
        labels: primaryLabels(template?.metadata?.labels, label, value),
        annotations: { ...filterMetadata(template?.metadata?.annotations), [REVISION_ANNOTATION]: p.revision },
      },
      spec: withPrimaryConfigs(podSpecOf(template), p.trackedConfigKeys),
    },
  };
  if (p.kind === 'Deployment') {
    const d = t as V1Deployment;
    spec.progressDeadlineSeconds = d.spec?.progressDeadlineSeconds;
    spec.strategy = d.spec?.strategy;
  } else {
    spec.updateStrategy = (t as V1DaemonSet).spec?.updateStrategy;
  }
  return {
    apiVersion: 'apps/v1',
    kind: p.kind,
    metadata: {
      name: primaryName(t.metadata?.name ?? ''),
      namespace: t.metadata?.namespace,
      labels: primaryLabels(includeLabelsByPrefix(t.metadata?.labels, p.includeLabelPrefix), label, value),
      annotations: filterMetadata(t.metadata?.annotations),
      ownerReferences: [p.owner],
    },
    spec: dropUndefined(spec),
  } as unknown as Workload;
}

function dropUndefined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** Replicas of a new primary and of a target scaled up from zero: its own count, else HPA minReplicas, else 1. */
export function replicasFromZero(current: number | undefined, hpaMinReplicas: number | undefined): number {
  if (current !== undefined && current > 0) return current;
  return hpaMinReplicas && hpaMinReplicas > 0 ? hpaMinReplicas : 1;
}

// ---------------------------------------------------------------------------------------------------------
// Readiness, exactly as Flagger's isDeploymentReady / isDaemonSetReady
// ---------------------------------------------------------------------------------------------------------

function condition(d: V1Deployment, type: string): V1DeploymentCondition | undefined {
  return d.status?.conditions?.find((c) => c.type === type);
}

function toMillis(t: Date | string | undefined): number | undefined {
  if (t === undefined) return undefined;
  const ms = new Date(t).getTime();
  return Number.isNaN(ms) ? undefined : ms;
}

export function deploymentReadiness(d: V1Deployment, deadlineSeconds: number, threshold: number, now: Date): Readiness {
  const generation = d.metadata?.generation ?? 0;
  const observed = d.status?.observedGeneration ?? 0;
  if (generation > observed)
    return notReady('waiting for rollout to finish: observed deployment generation less than desired generation');
  const progress = condition(d, 'Progressing');
  let stuck = false;
  if (progress) {
    // Stuck when pods have been unavailable for longer than the deadline (Available=False, MinimumReplicasUnavailable).
    const available = condition(d, 'Available');
    const since = toMillis(available?.lastUpdateTime);
    if (available?.status === 'False' && available.reason === 'MinimumReplicasUnavailable' && since !== undefined)
      stuck = since + deadlineSeconds * 1000 < now.getTime();
  }
  const s = d.status ?? {};
  const updated = s.updatedReplicas ?? 0;
  const wanted = Math.trunc(updated * (threshold / 100));
  if (progress?.reason === 'ProgressDeadlineExceeded')
    return {
      ready: false,
      deadlineExceeded: true,
      message: `deployment "${d.metadata?.name}" exceeded its progress deadline`,
    };
  const replicas = d.spec?.replicas;
  if (replicas !== undefined && updated < replicas)
    return notReady(
      `waiting for rollout to finish: ${updated} out of ${replicas} new replicas have been updated`,
      stuck,
    );
  if ((s.replicas ?? 0) > updated)
    return notReady(
      `waiting for rollout to finish: ${(s.replicas ?? 0) - updated} old replicas are pending termination`,
      stuck,
    );
  if ((s.availableReplicas ?? 0) < wanted)
    return notReady(
      `waiting for rollout to finish: ${s.availableReplicas ?? 0} of ${wanted} (readyThreshold ${threshold}%) updated replicas are available`,
      stuck,
    );
  return { ready: true };
}

export function daemonSetReadiness(d: V1DaemonSet, threshold: number): Readiness {
  const generation = d.metadata?.generation ?? 0;
  const s = d.status;
  if (!s || generation > (s.observedGeneration ?? 0))
    return notReady('waiting for rollout to finish: observed daemonset generation less than desired generation');
  const desired = s.desiredNumberScheduled ?? 0;
  const updated = s.updatedNumberScheduled ?? 0;
  if (updated < desired)
    return notReady(`waiting for rollout to finish: ${updated} out of ${desired} new pods have been updated`);
  const wanted = Math.trunc(desired * (threshold / 100));
  if ((s.numberReady ?? 0) < wanted)
    return notReady(
      `waiting for rollout to finish: ${s.numberReady ?? 0} of ${wanted} (readyThreshold ${threshold}%) updated pods are ready`,
    );
  return { ready: true };
}

function notReady(message: string, deadlineExceeded = false): Readiness {
  return deadlineExceeded ? { ready: false, message, deadlineExceeded } : { ready: false, message };
}

export function readiness(kind: WorkloadKind, w: Workload, deadlineSeconds: number, threshold: number, now: Date) {
  return kind === 'Deployment'
    ? deploymentReadiness(w as V1Deployment, deadlineSeconds, threshold, now)
    : daemonSetReadiness(w as V1DaemonSet, threshold);
}
