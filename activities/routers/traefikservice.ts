// Pure builders of the Traefik provider: a validated Canary plus the routes to put in force → the TraefikService
// `<apex>` (traefik.io/v1alpha1) fledge applies, and the routes a stored TraefikService puts in force. No I/O here.
//
// Shape follows Flagger v1.44 pkg/router/traefik.go: a weighted round robin over `<apex>-primary` and, while it has
// traffic, `<apex>-canary`, both in the Canary's namespace on `service.port`. The user's IngressRoute sends traffic
// to the TraefikService (Flagger's tutorial). Traefik cannot match headers or mirror through this object, and
// Flagger's router ignores both; so does fledge (parseCanary warns). Difference (docs/flagger-differences.md): the
// primary's weight is written even when it is 0 (Flagger's omitempty dropped it, and Traefik then weighs the
// primary 1, not 0).

import type { Canary, CanaryService } from '../../api/canary.ts';
import type { Routes } from '../../api/ports.ts';
import { serviceNames } from '../../api/validate.ts';
import { RouteSpecError } from './httproute.ts';
import type { OwnerReference } from './httproute.ts';
import { FLUX_ANNOTATIONS, MANAGED_ANNOTATION, namespaceOf } from './object-meta.ts';

export const TRAEFIK_API_VERSION = 'traefik.io/v1alpha1';

/** The subset of Traefik's TraefikService fledge writes and reads. */
export interface WeightedService {
  name: string;
  namespace: string;
  port: number | string;
  weight?: number;
}
export interface TraefikService {
  apiVersion: typeof TRAEFIK_API_VERSION;
  kind: 'TraefikService';
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
  };
  spec: { weighted?: { services?: WeightedService[] } };
}

function requireService(canary: Canary): CanaryService {
  const service = canary.spec.service;
  if (!service) throw new RouteSpecError('spec.service is required with provider traefik');
  return service;
}

/**
 * The weighted services for `routes`: the primary always (with its weight, 0 included), the canary only while its
 * weight is above 0 (Flagger's SetRoutes). `mirrored` is ignored, as Flagger's router ignores it.
 * @throws RouteSpecError when both weights are 0 (Flagger's "no valid weights") or spec.service is missing.
 */
export function weightedServices(canary: Canary, routes: Routes): WeightedService[] {
  const port = requireService(canary).port;
  const names = serviceNames(canary);
  const namespace = namespaceOf(canary);
  if (routes.primary === 0 && routes.canary === 0)
    throw new RouteSpecError(`TraefikService ${names.apex}.${namespace} update failed: no valid weights`);
  const services: WeightedService[] = [{ name: names.primary, namespace, port, weight: routes.primary }];
  if (routes.canary > 0) services.push({ name: names.canary, namespace, port, weight: routes.canary });
  return services;
}

export interface BuildTraefikServiceInput {
  canary: Canary;
  routes: Routes;
  owner?: OwnerReference;
}

/**
 * The whole TraefikService `<apex>` to server-side apply: labels and annotations from `service.apex` plus Flux's
 * opt-outs (Flagger's filterMetadata) and fledge's marker; the Canary as controller owner when given.
 */
export function buildTraefikService(input: BuildTraefikServiceInput): TraefikService {
  const { canary } = input;
  const apex = requireService(canary).apex ?? {};
  return {
    apiVersion: TRAEFIK_API_VERSION,
    kind: 'TraefikService',
    metadata: {
      name: serviceNames(canary).apex,
      namespace: namespaceOf(canary),
      labels: { ...(apex.labels ?? {}) },
      annotations: { ...(apex.annotations ?? {}), ...FLUX_ANNOTATIONS, [MANAGED_ANNOTATION]: canary.metadata.name },
      ...(input.owner ? { ownerReferences: [input.owner] } : {}),
    },
    spec: { weighted: { services: weightedServices(canary, input.routes) } },
  };
}

/**
 * Routes a stored TraefikService puts in force (Flagger's GetRoutes): the primary's weight, the canary the rest;
 * never mirrored. Undefined when the primary is not among the weighted services (an object fledge has not written).
 */
export function routesOfTraefikService(service: TraefikService, canary: Canary): Routes | undefined {
  const primary = service.spec.weighted?.services?.find((s) => s.name === serviceNames(canary).primary);
  if (!primary) return undefined;
  const weight = primary.weight ?? 0;
  return { primary: weight, canary: 100 - weight, mirrored: false };
}
