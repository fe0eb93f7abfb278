// Pure SMI TrafficSplit builders (split.smi-spec.io): a validated Canary plus the routes to put in force → the
// TrafficSplit fledge applies, and the routes a stored TrafficSplit holds. No I/O here.
//
// Shape follows Flagger v1.44 (pkg/router/smi.go, smi_v1alpha2.go, smi_v1alpha3.go; types in pkg/apis/smi): one
// TrafficSplit named after the apex Service, `spec.service` the first of `service.hosts` (else the apex name),
// backends canary first then primary. v1alpha1 weights are resource quantities (Flagger writes them with
// resource.NewQuantity, serialized as strings such as "100"); v1alpha2 and v1alpha3 weights are integers.
// Flagger never writes v1alpha3 `matches` (no HTTPRouteGroup), and SMI has no mirroring.

import type { Canary } from '../../api/canary.ts';
import type { Routes } from '../../api/ports.ts';
import { serviceNames } from '../../api/validate.ts';
import type { OwnerReference } from './httproute.ts';

export const SMI_GROUP = 'split.smi-spec.io';
export type SmiVersion = 'v1alpha1' | 'v1alpha2' | 'v1alpha3';

export interface TrafficSplitBackend {
  service: string;
  /** Integer in v1alpha2/v1alpha3; a quantity (string like "100", or a number) in v1alpha1. */
  weight: number | string;
}
export interface TrafficSplit {
  apiVersion: string;
  kind: 'TrafficSplit';
  metadata: {
    name: string;
    namespace: string;
    generation?: number;
    resourceVersion?: string;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
  };
  spec: { service: string; backends: TrafficSplitBackend[]; matches?: unknown[] };
}

export interface BuildSplitInput {
  canary: Canary;
  version: SmiVersion;
  routes: Pick<Routes, 'primary' | 'canary'>;
  /** Set on the TrafficSplit fledge creates (Flagger sets it at creation only). */
  owner?: OwnerReference;
}

/** The whole TrafficSplit to server-side apply (Flagger's Reconcile/SetRoutes spec, weights as given). */
export function buildTrafficSplit({ canary, version, routes, owner }: BuildSplitInput): TrafficSplit {
  const names = serviceNames(canary);
  const weight = (w: number): number | string => (version === 'v1alpha1' ? String(w) : w);
  const metadata: TrafficSplit['metadata'] = { name: names.apex, namespace: canary.metadata.namespace ?? 'default' };
  if (owner) metadata.ownerReferences = [owner];
  return {
    apiVersion: `${SMI_GROUP}/${version}`,
    kind: 'TrafficSplit',
    metadata,
    spec: {
      service: canary.spec.service?.hosts?.[0] ?? names.apex,
      backends: [
        { service: names.canary, weight: weight(routes.canary) },
        { service: names.primary, weight: weight(routes.primary) },
      ],
    },
  };
}

/**
 * Whether reconcile keeps a stored TrafficSplit's weights: it routes exactly the Canary's canary and primary
 * Services. A split of other backends (one fledge adopts) is reset to all-primary, as Flagger's Reconcile does.
 * Unlike Flagger, a changed `spec.service` (a `service.hosts` edit) keeps the weights in force, as fledge does for
 * HTTPRoutes.
 */
export function splitMatches(stored: TrafficSplit, canary: Canary): boolean {
  const names = serviceNames(canary);
  const have = (stored.spec?.backends ?? []).map((b) => b.service).sort();
  return have.join(',') === [names.canary, names.primary].sort().join(',');
}

/**
 * Routes a stored TrafficSplit holds (Flagger's GetRoutes): the weights of the backends named after the primary
 * and canary Services, never mirrored. Undefined when both are 0 or missing, which Flagger reports as
 * "TrafficSplit does not contain routes for <primary> and <canary>".
 */
export function readSplit(split: TrafficSplit, canary: Canary): Routes | undefined {
  const names = serviceNames(canary);
  const weightOf = (svc: string) => quantityInt(split.spec?.backends?.find((b) => b.service === svc)?.weight);
  const routes = { primary: weightOf(names.primary), canary: weightOf(names.canary), mirrored: false };
  return routes.primary === 0 && routes.canary === 0 ? undefined : routes;
}

const SUFFIX: Record<string, number> = { '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9 };

/**
 * A weight as an integer, the way Flagger reads it (resource.Quantity.AsInt64): integers and decimal-SI
 * quantities ("100", "1k", "2000m") give their value; non-integral values ("500m") and anything else give 0.
 */
export function quantityInt(w: number | string | undefined): number {
  if (typeof w === 'number') return Number.isInteger(w) ? w : 0;
  const m = /^([0-9]+(?:\.[0-9]+)?)(m|k|M|G)?$/.exec(w ?? '');
  if (!m) return 0;
  const value = Number(m[1]) * SUFFIX[m[2] ?? '']!;
  const rounded = Math.round(value);
  return Math.abs(value - rounded) < 1e-9 ? rounded : 0;
}
