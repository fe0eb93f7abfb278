// What the watcher's informer caches keep of each object. Every Deployment, DaemonSet, Service, ConfigMap and
// Canary of the watched namespaces stays in memory for the life of the process, and two fields of each are pure
// bookkeeping the watcher never reads: `metadata.managedFields` (one entry per field manager, often larger than
// the spec) and kubectl's `last-applied-configuration` annotation (a second JSON copy of the object). Dropping
// them keeps the controller's idle memory proportional to what it uses (docs/benchmarks.md, "Full-stack memory").
// The watcher writes only merge patches, so an object without them is never written back.
import type { KubernetesObject } from '@kubernetes/client-node';

export const KUBECTL_LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Removes `metadata.managedFields` and the `kubectl.kubernetes.io/last-applied-configuration` annotation from `o`
 * in place (the informer's cache holds this very object) and returns it. Everything else is kept.
 */
export function slimForCache<T extends KubernetesObject>(o: T): T {
  const meta = o.metadata;
  if (!meta) return o;
  delete meta.managedFields;
  if (meta.annotations && KUBECTL_LAST_APPLIED in meta.annotations) {
    const { [KUBECTL_LAST_APPLIED]: _dropped, ...rest } = meta.annotations;
    meta.annotations = rest;
  }
  return o;
}
