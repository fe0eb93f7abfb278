// Pure rules of release group compensation: which of the target's ReplicaSets holds the pod template of a revision.
import type { V1PodTemplateSpec, V1ReplicaSet } from '@kubernetes/client-node';
import { revisionHash } from '../../worker/revision.ts';

/** The label the Deployment controller adds to each ReplicaSet's template (not part of the Deployment's template). */
export const POD_TEMPLATE_HASH = 'pod-template-hash';

/** A ReplicaSet's pod template as its Deployment's template was: without the `pod-template-hash` label. */
export function deploymentTemplateOf(rs: V1ReplicaSet): V1PodTemplateSpec | undefined {
  const template = rs.spec?.template;
  if (!template) return undefined;
  const copy = structuredClone(template);
  if (copy.metadata?.labels) {
    delete copy.metadata.labels[POD_TEMPLATE_HASH];
    if (Object.keys(copy.metadata.labels).length === 0) delete copy.metadata.labels;
  }
  return copy;
}

/**
 * The pod template of revision `hash` among the ReplicaSets a Deployment (uid `owner`) keeps in its history: the
 * one whose template hashes (worker/revision.ts revisionHash) to `hash` with the tracked configs' checksums as they
 * are now, or with none (config tracking off). Newest first; undefined when the history no longer holds it (the
 * Deployment's revisionHistoryLimit) or when the revision differed only in a config.
 */
export function templateOfRevision(
  replicaSets: readonly V1ReplicaSet[],
  owner: string,
  hash: string,
  configs: Record<string, string>,
): V1PodTemplateSpec | undefined {
  const owned = replicaSets
    .filter((rs) => rs.metadata?.ownerReferences?.some((o) => o.uid === owner))
    .sort((a, b) => revisionOf(b) - revisionOf(a));
  for (const rs of owned) {
    const template = deploymentTemplateOf(rs);
    if (template && (revisionHash(template, configs) === hash || revisionHash(template, {}) === hash)) return template;
  }
  return undefined;
}

function revisionOf(rs: V1ReplicaSet): number {
  return Number(rs.metadata?.annotations?.['deployment.kubernetes.io/revision'] ?? 0);
}
