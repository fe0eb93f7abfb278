// Pure builders of the Kuma provider: a validated Canary plus the routes to put in force → the cluster-scoped
// TrafficRoute `<apex>` (kuma.io/v1alpha1) fledge applies, and the routes a stored TrafficRoute puts in force.
// No I/O here.
//
// Shape follows Flagger v1.44 pkg/router/kuma.go: from every service (`kuma.io/service: '*'`) to the apex Service's
// Kuma service name `<apex>_<namespace>_svc_<port>`, split between the primary's and the canary's Kuma service
// names; the mesh from the Canary's `kuma.io/mesh` annotation (default `default`), kept as stored once created.
// Kuma's TrafficRoute cannot match headers or mirror, and Flagger's router ignores both; so does fledge.

import type { Canary, CanaryService } from '../../api/canary.ts';
import type { Routes } from '../../api/ports.ts';
import { serviceNames } from '../../api/validate.ts';
import { RouteSpecError } from './httproute.ts';
import { FLUX_ANNOTATIONS, MANAGED_ANNOTATION, namespaceOf } from './object-meta.ts';

export const KUMA_API_VERSION = 'kuma.io/v1alpha1';
/** The Canary annotation naming its Kuma mesh (Flagger's). */
export const KUMA_MESH_ANNOTATION = 'kuma.io/mesh';
/** Set on a TrafficRoute fledge took over (it existed before): finalize leaves it in place. */
export const ADOPTED_ANNOTATION = 'fledge.app/adopted';
const SERVICE_TAG = 'kuma.io/service';

/** The subset of Kuma's TrafficRoute fledge writes and reads. */
export interface TrafficRouteSplit {
  weight: number;
  destination: Record<string, string>;
}
export interface TrafficRoute {
  apiVersion: typeof KUMA_API_VERSION;
  kind: 'TrafficRoute';
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  mesh?: string;
  spec: {
    sources?: { match: Record<string, string> }[];
    destinations?: { match: Record<string, string> }[];
    conf?: { split?: TrafficRouteSplit[] };
  };
}

function requireService(canary: Canary): CanaryService {
  const service = canary.spec.service;
  if (!service) throw new RouteSpecError('spec.service is required with provider kuma');
  return service;
}

/** Kuma's name of a Kubernetes Service port: `<service>_<namespace>_svc_<port>`. */
export function kumaServiceName(canary: Canary, service: string): string {
  return `${service}_${namespaceOf(canary)}_svc_${requireService(canary).port}`;
}

/** The mesh of a new TrafficRoute: the Canary's `kuma.io/mesh` annotation, else `default` (Flagger's). */
export function meshOf(canary: Canary): string {
  const annotations = (canary.metadata as { annotations?: Record<string, string> }).annotations;
  return annotations?.[KUMA_MESH_ANNOTATION] ?? 'default';
}

/**
 * Marker of the Canary a TrafficRoute belongs to: `<namespace>/<name>`, since the object is cluster-scoped and
 * two namespaces can hold Canaries of the same name.
 */
export function managedBy(canary: Canary): string {
  return `${namespaceOf(canary)}/${canary.metadata.name}`;
}

export interface BuildTrafficRouteInput {
  canary: Canary;
  routes: Routes;
  /** Mesh of the stored TrafficRoute (Flagger keeps it on updates); default: meshOf(canary). */
  mesh?: string;
  /** The TrafficRoute existed before fledge wrote it. */
  adopted?: boolean;
}

/**
 * The whole TrafficRoute `<apex>` to server-side apply: labels and annotations from `service.apex` plus Flux's
 * opt-outs (Flagger's filterMetadata) and fledge's markers; no owner reference (a cluster-scoped object cannot be
 * owned by a namespaced Canary; Flagger sets none either). `mirrored` is ignored.
 * @throws RouteSpecError when both weights are 0 or spec.service is missing.
 */
export function buildTrafficRoute(input: BuildTrafficRouteInput): TrafficRoute {
  const { canary, routes } = input;
  const names = serviceNames(canary);
  if (routes.primary === 0 && routes.canary === 0)
    throw new RouteSpecError(`TrafficRoute ${names.apex} update failed: no valid weights`);
  const apex = requireService(canary).apex ?? {};
  const annotations: Record<string, string> = {
    ...(apex.annotations ?? {}),
    ...FLUX_ANNOTATIONS,
    [MANAGED_ANNOTATION]: managedBy(canary),
  };
  if (input.adopted) annotations[ADOPTED_ANNOTATION] = 'true';
  return {
    apiVersion: KUMA_API_VERSION,
    kind: 'TrafficRoute',
    metadata: { name: names.apex, labels: { ...(apex.labels ?? {}) }, annotations },
    mesh: input.mesh ?? meshOf(canary),
    spec: {
      sources: [{ match: { [SERVICE_TAG]: '*' } }],
      destinations: [{ match: { [SERVICE_TAG]: kumaServiceName(canary, names.apex) } }],
      conf: {
        split: [
          { weight: routes.primary, destination: { [SERVICE_TAG]: kumaServiceName(canary, names.primary) } },
          { weight: routes.canary, destination: { [SERVICE_TAG]: kumaServiceName(canary, names.canary) } },
        ],
      },
    },
  };
}

/**
 * Routes a stored TrafficRoute puts in force (Flagger's GetRoutes): the weight of the split whose Kuma service name
 * starts with `<primary>_`, the canary the rest; never mirrored. Undefined when no split routes to the primary.
 */
export function routesOfTrafficRoute(route: TrafficRoute, canary: Canary): Routes | undefined {
  const primary = serviceNames(canary).primary;
  const split = route.spec.conf?.split?.find((s) => s.destination[SERVICE_TAG]?.split('_')[0] === primary);
  if (!split) return undefined;
  return { primary: split.weight, canary: 100 - split.weight, mirrored: false };
}
