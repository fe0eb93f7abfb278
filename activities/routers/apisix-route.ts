// Pure builders of the APISIX provider: the user's ApisixRoute (spec.routeRef) plus the weights to put in force →
// the `<route>-<apex>-canary` ApisixRoute fledge applies, and the routes a stored copy puts in force. No I/O here.
//
// Object shapes follow Flagger v1.44 pkg/router/apisix.go: the copy keeps the user route's labels, annotations and
// spec, but its `http` holds only the first HTTP route with a backend naming the apex Service, at priority 10000
// (above the user's route), with two weighted backends: `<apex>-primary` (the apex backend renamed) and
// `<apex>-canary` (same port, resolveGranularity and subset). The user's ApisixRoute is never written.

import type { Canary } from '../../api/canary.ts';
import type { Routes } from '../../api/ports.ts';
import { serviceNames } from '../../api/validate.ts';
import { RouteSpecError } from './httproute.ts';
import type { OwnerReference } from './httproute.ts';
import { MANAGED_ANNOTATION, namespaceOf } from './object-meta.ts';

/** Priority of the copy's HTTP route (Flagger's maxPriority). */
export const CANARY_ROUTE_PRIORITY = 10000;

/** The subset of apisix.apache.org/v2 ApisixRoute fledge reads and writes (other fields are carried as they are). */
export interface ApisixBackend {
  serviceName: string;
  servicePort: number | string;
  resolveGranularity?: string;
  weight?: number;
  subset?: string;
}
export interface ApisixHttpRoute {
  name: string;
  priority?: number;
  backends?: ApisixBackend[];
  [field: string]: unknown;
}
export interface ApisixRoute {
  apiVersion: 'apisix.apache.org/v2';
  kind: 'ApisixRoute';
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
  };
  spec?: { http?: ApisixHttpRoute[]; stream?: unknown[]; [field: string]: unknown };
}

/** spec.routeRef.name; a RouteSpecError (non-retryable InvalidSpec) when the Canary has none. */
export function requireRouteRef(canary: Canary): string {
  const name = canary.spec.routeRef?.name;
  if (!name) throw new RouteSpecError('spec.routeRef is required with provider apisix (the ApisixRoute to clone)');
  return name;
}

/** `<routeRef.name>-<apex>-canary` (Flagger's canaryApisixRouteName). */
export function canaryApisixRouteName(canary: Canary): string {
  return `${requireRouteRef(canary)}-${serviceNames(canary).apex}-canary`;
}

/** Index of the first HTTP route with a backend named `service`; a RouteSpecError when there is none. */
function targetIndex(canary: Canary, route: ApisixRoute, service: string): number {
  const i = (route.spec?.http ?? []).findIndex((h) => (h.backends ?? []).some((b) => b.serviceName === service));
  if (i < 0)
    throw new RouteSpecError(
      `Can not find ${service} backend on apisix route ${route.metadata.name}.${namespaceOf(canary)}`,
    );
  return i;
}

/**
 * The copy's single HTTP route: the user's first route with an apex backend, priority 10000, backends primary
 * (`primaryWeight`) and canary (`canaryWeight`). RouteSpecErrors (Flagger's texts) when the user route has no
 * `spec.http`, no apex backend, or more than one backend on that route.
 */
export function canaryHttpRoute(
  canary: Canary,
  route: ApisixRoute,
  primaryWeight: number,
  canaryWeight: number,
): ApisixHttpRoute {
  const where = `APISIX route ${route.metadata.name}.${namespaceOf(canary)}`;
  if (!route.spec?.http?.length) throw new RouteSpecError(`${where}'s spec.http is empty`);
  const names = serviceNames(canary);
  const target = JSON.parse(JSON.stringify(route.spec.http[targetIndex(canary, route, names.apex)])) as ApisixHttpRoute;
  const backends = target.backends ?? [];
  if (backends.length !== 1)
    throw new RouteSpecError(`${where}'s http route ${target.name} only one http backend is supported`);
  const apex = backends[0]!;
  const canaryBackend: ApisixBackend = {
    serviceName: names.canary,
    servicePort: apex.servicePort,
    ...(apex.resolveGranularity ? { resolveGranularity: apex.resolveGranularity } : {}),
    weight: canaryWeight,
    ...(apex.subset ? { subset: apex.subset } : {}),
  };
  return {
    ...target,
    priority: CANARY_ROUTE_PRIORITY,
    backends: [{ ...apex, serviceName: names.primary, weight: primaryWeight }, canaryBackend],
  };
}

export interface BuildApisixRouteInput {
  canary: Canary;
  /** The user's ApisixRoute (spec.routeRef) as stored. */
  route: ApisixRoute;
  primaryWeight: number;
  canaryWeight: number;
  owner?: OwnerReference;
}

/**
 * The whole `<route>-<apex>-canary` ApisixRoute to server-side apply: the user's labels and annotations (without
 * kubectl's last-applied-configuration) plus `fledge.app/canary`, and the user's spec with `http` replaced by
 * the canary HTTP route. A RouteSpecError when both weights are 0 (Flagger's "no valid weights").
 */
export function buildCanaryApisixRoute(input: BuildApisixRouteInput): ApisixRoute {
  const { canary, route } = input;
  if (input.primaryWeight === 0 && input.canaryWeight === 0)
    throw new RouteSpecError(`RoutingRule ${serviceNames(canary).apex}.${namespaceOf(canary)}: no valid weights`);
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(route.metadata.annotations ?? {}))
    if (k !== 'kubectl.kubernetes.io/last-applied-configuration') annotations[k] = v;
  annotations[MANAGED_ANNOTATION] = canary.metadata.name;
  const spec = JSON.parse(JSON.stringify(route.spec ?? {})) as NonNullable<ApisixRoute['spec']>;
  spec.http = [canaryHttpRoute(canary, route, input.primaryWeight, input.canaryWeight)];
  return {
    apiVersion: 'apisix.apache.org/v2',
    kind: 'ApisixRoute',
    metadata: {
      name: canaryApisixRouteName(canary),
      namespace: namespaceOf(canary),
      ...(route.metadata.labels ? { labels: { ...route.metadata.labels } } : {}),
      annotations,
      ...(input.owner ? { ownerReferences: [input.owner] } : {}),
    },
    spec,
  };
}

/**
 * Routes a stored copy puts in force (Flagger's GetRoutes): the primary backend's weight of the first HTTP route
 * naming `<apex>-primary`, canary = 100 − it; never mirrored. A RouteSpecError when there is no such route or the
 * primary backend has no integer weight.
 */
export function routesOfApisixRoute(canary: Canary, route: ApisixRoute): Routes {
  const primary = serviceNames(canary).primary;
  const http = route.spec!.http![targetIndex(canary, route, primary)]!;
  const weight = http.backends?.find((b) => b.serviceName === primary)?.weight;
  if (typeof weight !== 'number' || !Number.isInteger(weight))
    throw new RouteSpecError(`apisix route ${route.metadata.name}: backend ${primary} has no integer weight`);
  return { primary: weight, canary: 100 - weight, mirrored: false };
}
