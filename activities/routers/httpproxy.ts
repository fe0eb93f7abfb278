// Pure builders of the Contour provider: a validated Canary plus the routes to put in force → the HTTPProxy
// `<apex>` (projectcontour.io/v1) fledge applies, the routes a stored HTTPProxy puts in force and whether Contour
// has accepted it. No I/O here.
//
// Shape follows Flagger v1.44 pkg/router/contour.go: one route on the service's URI prefix with weighted
// `<apex>-primary`/`<apex>-canary` services (a weight of 0 is left out, as Go's omitempty does), each setting
// Linkerd's `l5d-dst-override` header; an A/B test adds a first route with header conditions. Differences (see
// docs/flagger-differences.md): a regex header match is written as Contour's `regex` (Flagger wrote an empty
// match), retryOn is left out when the Canary has none (Flagger wrote `[""]`), and a mirrored step marks the
// canary service `mirror: true` (Flagger ignored mirroring and stalled at weight 0).

import type { Canary, CanaryService } from '../../api/canary.ts';
import type { Routes } from '../../api/ports.ts';
import { serviceNames } from '../../api/validate.ts';
import { RouteSpecError } from './httproute.ts';
import type { OwnerReference } from './httproute.ts';
import { FLUX_ANNOTATIONS, MANAGED_ANNOTATION } from './object-meta.ts';

export const CONTOUR_API_VERSION = 'projectcontour.io/v1';
/** The HTTPProxy's spec before fledge took it over (JSON), restored on finalize. */
export const ORIGINAL_SPEC_ANNOTATION = 'fledge.app/original-spec';

/** The subset of Contour's HTTPProxy fledge writes and reads. */
export interface HeaderMatchCondition {
  name: string;
  exact?: string;
  contains?: string;
  regex?: string;
}
export interface MatchCondition {
  prefix?: string;
  header?: HeaderMatchCondition;
}
export interface ProxyService {
  name: string;
  port: number;
  weight?: number;
  mirror?: boolean;
  requestHeadersPolicy?: { set?: { name: string; value: string }[] };
}
export interface ProxyRoute {
  conditions?: MatchCondition[];
  timeoutPolicy?: { response?: string; idle?: string };
  retryPolicy?: { count: number; perTryTimeout?: string; retryOn?: string[] };
  services: ProxyService[];
}
export interface HTTPProxySpec {
  ingressClassName?: string;
  virtualhost?: Record<string, unknown>;
  routes?: ProxyRoute[];
  includes?: unknown[];
}
export interface HTTPProxy {
  apiVersion: typeof CONTOUR_API_VERSION;
  kind: 'HTTPProxy';
  metadata: {
    name: string;
    namespace?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
  };
  spec: HTTPProxySpec;
  status?: {
    currentStatus?: string;
    description?: string;
    conditions?: { type: string; status: string; observedGeneration?: number; message?: string }[];
  };
}

function requireService(canary: Canary): CanaryService {
  const service = canary.spec.service;
  if (!service) throw new RouteSpecError('spec.service is required with provider contour');
  return service;
}

/** URI prefix of the routes: `service.match[0].uri.prefix`, else `/` (Flagger's makePrefix). */
export function routePrefix(canary: Canary): string {
  return canary.spec.service?.match?.[0]?.uri?.prefix || '/';
}

/**
 * Conditions of the A/B route: one per header of every `analysis.match` entry, each with the route prefix.
 * exact → exact; prefix and suffix → contains (Flagger's mapping); regex → regex.
 */
export function abConditions(canary: Canary): MatchCondition[] {
  const prefix = routePrefix(canary);
  const list: MatchCondition[] = [];
  for (const m of canary.spec.analysis.match)
    for (const [name, sm] of Object.entries(m.headers ?? {})) {
      let header: HeaderMatchCondition = { name, ...(sm.exact ? { exact: sm.exact } : {}) };
      if (sm.suffix) header = { name, contains: sm.suffix };
      if (sm.prefix) header = { name, contains: sm.prefix };
      if (sm.regex) header = { name, regex: sm.regex };
      list.push({ prefix, header });
    }
  return list.length ? list : [{ prefix }];
}

/** `service.timeout` as Contour's response timeout with a 5m idle timeout; none without it. */
export function timeoutPolicy(service: CanaryService): ProxyRoute['timeoutPolicy'] {
  return service.timeout ? { response: service.timeout, idle: '5m' } : undefined;
}

/** `service.retries` as Contour's retry policy (retryOn split on commas); none without it. */
export function retryPolicy(service: CanaryService): ProxyRoute['retryPolicy'] {
  const r = service.retries;
  if (!r) return undefined;
  const retryOn = (r.retryOn ?? '').split(',').filter(Boolean);
  return {
    count: r.attempts ?? 0,
    ...(r.perTryTimeout ? { perTryTimeout: r.perTryTimeout } : {}),
    ...(retryOn.length ? { retryOn } : {}),
  };
}

/** Linkerd's destination override for a Service: `<svc>.<ns>.svc.cluster.local:<port>`. */
export function l5dHeader(canary: Canary, service: string): { name: string; value: string } {
  const port = requireService(canary).port;
  return {
    name: 'l5d-dst-override',
    value: `${service}.${canary.metadata.namespace ?? 'default'}.svc.cluster.local:${port}`,
  };
}

function weighted(canary: Canary, name: string, weight: number, extra: Partial<ProxyService> = {}): ProxyService {
  return {
    name,
    port: requireService(canary).port,
    ...(weight ? { weight } : {}),
    ...extra,
    requestHeadersPolicy: { set: [l5dHeader(canary, name)] },
  };
}

/** The primary and canary services of a route; mirrored: the canary gets a copy (mirrorWeight % of requests). */
export function routeServices(canary: Canary, routes: Routes): ProxyService[] {
  const names = serviceNames(canary);
  if (routes.mirrored) {
    const mirrorWeight = canary.spec.analysis.mirrorWeight;
    return [
      weighted(canary, names.primary, routes.primary),
      weighted(canary, names.canary, mirrorWeight ?? 0, { mirror: true }),
    ];
  }
  return [weighted(canary, names.primary, routes.primary), weighted(canary, names.canary, routes.canary)];
}

/** The HTTPProxy spec for `routes` (Flagger's Reconcile/SetRoutes spec); `ingressClass`: spec.ingressClassName. */
export function proxySpec(canary: Canary, routes: Routes, ingressClass?: string): HTTPProxySpec {
  const service = requireService(canary);
  if (routes.primary === 0 && routes.canary === 0)
    throw new RouteSpecError(`HTTPProxy ${serviceNames(canary).apex} update failed: no valid weights`);
  const policies = {
    ...(timeoutPolicy(service) ? { timeoutPolicy: timeoutPolicy(service) } : {}),
    ...(retryPolicy(service) ? { retryPolicy: retryPolicy(service) } : {}),
  };
  const main: ProxyRoute = {
    conditions: [{ prefix: routePrefix(canary) }],
    ...policies,
    services: routeServices(canary, routes),
  };
  const spec: HTTPProxySpec = {};
  if (canary.spec.analysis.match.length > 0) {
    const rest = { primary: 100, canary: 0, mirrored: false };
    spec.routes = [
      { conditions: abConditions(canary), ...policies, services: routeServices(canary, routes) },
      { ...main, services: routeServices(canary, rest) },
    ];
  } else spec.routes = [main];
  if (ingressClass) spec.ingressClassName = ingressClass;
  return spec;
}

export interface BuildProxyInput {
  canary: Canary;
  routes: Routes;
  ingressClass?: string;
  owner?: OwnerReference;
  /** Spec of a pre-existing HTTPProxy fledge took over (JSON), kept for finalize. */
  originalSpec?: string;
}

/**
 * The whole HTTPProxy `<apex>` to server-side apply: labels and annotations from `service.apex` plus Flux's
 * opt-outs (Flagger's filterMetadata) and fledge's marker.
 */
export function buildHttpProxy(input: BuildProxyInput): HTTPProxy {
  const { canary } = input;
  const apex = requireService(canary).apex ?? {};
  const annotations: Record<string, string> = { ...(apex.annotations ?? {}), ...FLUX_ANNOTATIONS };
  annotations[MANAGED_ANNOTATION] = canary.metadata.name;
  if (input.originalSpec !== undefined) annotations[ORIGINAL_SPEC_ANNOTATION] = input.originalSpec;
  return {
    apiVersion: CONTOUR_API_VERSION,
    kind: 'HTTPProxy',
    metadata: {
      name: serviceNames(canary).apex,
      namespace: canary.metadata.namespace ?? 'default',
      labels: { ...(apex.labels ?? {}) },
      annotations,
      ...(input.owner ? { ownerReferences: [input.owner] } : {}),
    },
    spec: proxySpec(canary, input.routes, input.ingressClass),
  };
}

/**
 * Routes a stored HTTPProxy puts in force (Flagger's GetRoutes): the primary's weight in the first route, the
 * canary the rest; mirrored when the canary service there is a mirror. A RouteSpecError when the first route
 * has fewer than two services.
 */
export function routesOfHttpProxy(proxy: HTTPProxy, canary: Canary): Routes {
  const services = proxy.spec.routes?.[0]?.services ?? [];
  if (services.length < 2)
    throw new RouteSpecError(`HTTPProxy ${proxy.metadata.name}.${proxy.metadata.namespace} services not found`);
  const names = serviceNames(canary);
  const primary = services.find((s) => s.name === names.primary && !s.mirror)?.weight ?? 0;
  const mirrored = services.some((s) => s.name === names.canary && s.mirror === true);
  return { primary, canary: 100 - primary, mirrored };
}

/**
 * Whether Contour accepted the stored generation: `status.currentStatus` is `valid` and its Valid condition (when
 * it names a generation) is for the current one. With `allowUnreported`, a proxy without any status passes
 * (Flagger never reads the status).
 */
export function proxyAcceptance(proxy: HTTPProxy, allowUnreported = false): { ready: boolean; message: string } {
  const name = `HTTPProxy ${proxy.metadata.namespace}/${proxy.metadata.name}`;
  const status = proxy.status;
  if (!status?.currentStatus) return { ready: allowUnreported, message: `${name} has no status from Contour yet` };
  if (status.currentStatus !== 'valid')
    return { ready: false, message: `${name} is ${status.currentStatus}: ${status.description ?? ''}`.trim() };
  const valid = status.conditions?.find((c) => c.type === 'Valid');
  const generation = proxy.metadata.generation;
  if (valid?.observedGeneration !== undefined && generation !== undefined && valid.observedGeneration < generation)
    return { ready: false, message: `${name} generation ${generation} is not processed by Contour yet` };
  return { ready: true, message: `${name} is valid` };
}
