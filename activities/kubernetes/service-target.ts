// `targetRef: {apiVersion: v1, kind: Service}` (Flagger pkg/canary/service_controller.go): the target is a
// Service, not a workload. `<name>-canary` is a copy of it kept in line with it, `<name>-primary` a copy made once
// and replaced by the target's spec at each promotion. Nothing is scaled, readiness is always true, the generated
// apex/primary/canary Services of `spec.service` are not built (Flagger's kubernetes router is a no-op for it), and
// a mesh router routes between `<name>-primary` and `<name>-canary`. Knative Services (serving.knative.dev) are
// another target kind. Pure builders first, the I/O below them.
import type { V1Service, V1ServiceSpec } from '@kubernetes/client-node';
import type { Canary } from '../../api/canary.ts';
import { shortHash } from './canonical.ts';
import { apply, readOptional, type Kube } from './client.ts';
import { ownerRef, type RawCanary } from './canary.ts';
import { PRIMARY_SUFFIX } from './configs.ts';
import { filterMetadata, includeLabelsByPrefix } from './workload.ts';

export const CANARY_SUFFIX = '-canary';

/** A `kind: Service` targetRef of the core API (`v1`), as opposed to a Knative Service. */
export function isServiceTarget(ref: { apiVersion?: string; kind?: string } | undefined): boolean {
  return ref?.kind === 'Service' && (ref.apiVersion ?? 'v1') === 'v1';
}

/**
 * The spec of a copy of `src`: without the addresses the apiserver allocates (cluster IPs unless headless, node
 * ports), which another Service cannot share. Server-side apply leaves a copy's own allocated addresses alone: fledge
 * never claims those fields.
 */
export function copySpec(src: V1ServiceSpec | undefined): V1ServiceSpec {
  const spec = structuredClone(src ?? {});
  if (spec.clusterIP !== 'None') {
    delete spec.clusterIP;
    delete spec.clusterIPs;
  }
  delete spec.healthCheckNodePort;
  spec.ports = spec.ports?.map(({ nodePort: _allocated, ...p }) => p);
  return spec;
}

/** Identity of a Service target's revision: the hash of its spec, less the allocated addresses (Flagger hashes the spec). */
export function serviceRevisionHash(spec: V1ServiceSpec | undefined): string {
  return shortHash({ service: copySpec(spec) });
}

/**
 * A copy of the target Service named `name` (server-side apply body), owned by the Canary: the target's labels and
 * annotations (less kubectl's last-applied), its spec as copySpec makes it, and `spec.service.trafficDistribution`
 * when set (Flagger's buildService).
 */
export function serviceCopy(raw: RawCanary, canary: Canary, src: V1Service, name: string): V1Service {
  const spec = copySpec(src.spec);
  const distribution = canary.spec.service?.trafficDistribution;
  if (distribution) spec.trafficDistribution = distribution;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace: raw.metadata.namespace,
      labels: src.metadata?.labels ?? {},
      annotations: filterMetadata(src.metadata?.annotations),
      ownerReferences: [ownerRef(raw)],
    },
    spec,
  };
}

/**
 * The primary after a promotion: the target's spec (the primary keeps its cluster IP), labels and annotations
 * only those matching the include-label prefixes (Flagger's ServiceController.Promote).
 */
export function promotedService(raw: RawCanary, src: V1Service, includeLabelPrefix: readonly string[]): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: `${src.metadata?.name}${PRIMARY_SUFFIX}`,
      namespace: raw.metadata.namespace,
      labels: includeLabelsByPrefix(src.metadata?.labels, includeLabelPrefix),
      annotations: includeLabelsByPrefix(filterMetadata(src.metadata?.annotations), includeLabelPrefix),
      ownerReferences: [ownerRef(raw)],
    },
    spec: copySpec(src.spec),
  };
}

// ---------------------------------------------------------------------------------------------------------
// I/O
// ---------------------------------------------------------------------------------------------------------

export function readService(kube: Kube, namespace: string, name: string): Promise<V1Service | undefined> {
  return readOptional(() => kube.core.readNamespacedService({ name, namespace }));
}

/**
 * Flagger's Initialize for a Service target: `<name>-canary` brought in line with the target, `<name>-primary`
 * created from it when missing (an existing primary changes only at promotion). Also what a new revision's
 * "scale up" does: the canary copy follows the target.
 */
export async function initializeServiceTarget(kube: Kube, raw: RawCanary, canary: Canary, target: V1Service) {
  const name = target.metadata!.name!;
  const ns = raw.metadata.namespace;
  const canaryName = `${name}${CANARY_SUFFIX}`;
  await apply(kube, serviceCopy(raw, canary, target, canaryName));
  const primaryName = `${name}${PRIMARY_SUFFIX}`;
  if (!(await readService(kube, ns, primaryName))) await apply(kube, serviceCopy(raw, canary, target, primaryName));
}

/** Flagger's Promote for a Service target: the target's spec copied to `<name>-primary`. */
export async function promoteServiceTarget(
  kube: Kube,
  raw: RawCanary,
  target: V1Service,
  includeLabelPrefix: readonly string[],
): Promise<void> {
  await apply(kube, promotedService(raw, target, includeLabelPrefix));
}
