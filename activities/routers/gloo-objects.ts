// Pure builders of the Gloo Edge provider: a validated Canary plus the routes to put in force → the Upstreams
// `<ns>-<apex>-primaryupstream-<port>` / `-canaryupstream-<port>` (gloo.solo.io/v1) and the RouteTable `<apex>`
// (gateway.solo.io/v1) fledge applies, and the routes a stored RouteTable puts in force. No I/O here.
//
// Shape follows Flagger v1.44 pkg/router/gloo.go: each Upstream points at the primary's or the canary's Service
// (kube service, port, selector) and copies the connection settings of the Canary's `upstreamRef` Upstream when it
// has one; the RouteTable has one route inheriting the parent's path matchers, with the A/B header and method
// matchers of `analysis.match`, and a weighted multi-destination over the two Upstreams (a weight of 0 is left out,
// as Go's omitempty did). Gloo cannot mirror through this route and Flagger's router ignores it; so does fledge.

import type { Canary, CanaryService } from '../../api/canary.ts';
import type { Routes } from '../../api/ports.ts';
import { serviceNames } from '../../api/validate.ts';
import { RouteSpecError } from './httproute.ts';
import type { OwnerReference } from './httproute.ts';
import { FLUX_ANNOTATIONS, MANAGED_ANNOTATION, namespaceOf } from './object-meta.ts';

export const GLOO_API_VERSION = 'gloo.solo.io/v1';
export const GLOO_GATEWAY_API_VERSION = 'gateway.solo.io/v1';

/** Fields of an Upstream spec Flagger copies from `upstreamRef` (the rest is Gloo's own or the kube target). */
export const COPIED_UPSTREAM_FIELDS = [
  'labels',
  'sslConfig',
  'circuitBreakers',
  'connectionConfig',
  'loadBalancerConfig',
  'useHttp2',
  'initialStreamWindowSize',
  'initialConnectionWindowSize',
  'httpProxyHostName',
] as const;

/** The subset of Gloo's Upstream fledge writes and reads. */
export interface Upstream {
  apiVersion: typeof GLOO_API_VERSION;
  kind: 'Upstream';
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
  };
  spec: {
    kube?: { serviceName: string; serviceNamespace: string; servicePort: number; selector?: Record<string, string> };
  } & Record<string, unknown>;
}
export interface HeaderMatcher {
  name: string;
  value?: string;
  regex?: boolean;
}
export interface WeightedDestination {
  destination: { upstream: { name: string; namespace: string } };
  weight?: number;
}
export interface GlooRoute {
  matchers?: { headers?: HeaderMatcher[]; methods?: string[] }[];
  routeAction: { multi: { destinations: WeightedDestination[] } };
  inheritablePathMatchers?: boolean;
}
export interface RouteTable {
  apiVersion: typeof GLOO_GATEWAY_API_VERSION;
  kind: 'RouteTable';
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
  };
  spec: { routes?: GlooRoute[] };
}

function requireService(canary: Canary): CanaryService {
  const service = canary.spec.service;
  if (!service) throw new RouteSpecError('spec.service is required with provider gloo');
  return service;
}

/** Names of the two Upstreams fledge writes: `<namespace>-<apex>-primaryupstream-<port>` and `-canaryupstream-`. */
export function upstreamNames(canary: Canary): { primary: string; canary: string } {
  const prefix = `${namespaceOf(canary)}-${serviceNames(canary).apex}`;
  const port = requireService(canary).port;
  return { primary: `${prefix}-primaryupstream-${port}`, canary: `${prefix}-canaryupstream-${port}` };
}

export interface BuildUpstreamInput {
  canary: Canary;
  /** Which of the Canary's Services the Upstream points at. */
  role: 'primary' | 'canary';
  /** spec.selector of that Service, as stored. */
  selector?: Record<string, string>;
  /** The spec of the `upstreamRef` Upstream, when the Canary has one. */
  template?: Record<string, unknown>;
  owner?: OwnerReference;
}

/**
 * An Upstream to server-side apply (Flagger's getGlooUpstreamKubeService): the template's connection settings
 * (COPIED_UPSTREAM_FIELDS) plus `kube` on the role's Service and `service.port`. Metadata labels stay empty
 * (Flagger's router is built without label prefixes to copy).
 */
export function buildUpstream(input: BuildUpstreamInput): Upstream {
  const { canary, role } = input;
  const names = serviceNames(canary);
  const copied = Object.fromEntries(
    COPIED_UPSTREAM_FIELDS.filter((f) => input.template?.[f] !== undefined).map((f) => [f, input.template?.[f]]),
  );
  return {
    apiVersion: GLOO_API_VERSION,
    kind: 'Upstream',
    metadata: {
      name: upstreamNames(canary)[role],
      namespace: namespaceOf(canary),
      annotations: { [MANAGED_ANNOTATION]: canary.metadata.name },
      ...(input.owner ? { ownerReferences: [input.owner] } : {}),
    },
    spec: {
      ...copied,
      kube: {
        serviceName: names[role],
        serviceNamespace: namespaceOf(canary),
        servicePort: requireService(canary).port,
        ...(input.selector ? { selector: input.selector } : {}),
      },
    },
  };
}

/**
 * The A/B matchers (Flagger's getMatchers): one matcher with a header matcher per `analysis.match` header (exact
 * value, or regex with `regex: true`; prefix and suffix match nothing Gloo has, as in Flagger they become an empty
 * value) and the exact methods; none without any.
 */
export function matchers(canary: Canary): GlooRoute['matchers'] {
  const headers: HeaderMatcher[] = [];
  const methods: string[] = [];
  for (const m of canary.spec.analysis.match) {
    for (const [name, sm] of Object.entries(m.headers ?? {}))
      headers.push(
        sm.regex ? { name, value: sm.regex, regex: true } : { name, ...(sm.exact ? { value: sm.exact } : {}) },
      );
    if (m.method) methods.push(m.method.exact ?? '');
  }
  if (!headers.length && !methods.length) return undefined;
  return [{ ...(headers.length ? { headers } : {}), ...(methods.length ? { methods } : {}) }];
}

function destination(canary: Canary, name: string, weight: number): WeightedDestination {
  return { destination: { upstream: { name, namespace: namespaceOf(canary) } }, ...(weight ? { weight } : {}) };
}

export interface BuildRouteTableInput {
  canary: Canary;
  routes: Routes;
  owner?: OwnerReference;
}

/**
 * The whole RouteTable `<apex>` to server-side apply: labels and annotations from `service.apex` plus Flux's
 * opt-outs and fledge's marker; one route with the A/B matchers and both weighted Upstreams. `mirrored` is ignored.
 * @throws RouteSpecError when both weights are 0 or spec.service is missing.
 */
export function buildRouteTable(input: BuildRouteTableInput): RouteTable {
  const { canary, routes } = input;
  const apexName = serviceNames(canary).apex;
  if (routes.primary === 0 && routes.canary === 0)
    throw new RouteSpecError(`RouteTable ${apexName}.${namespaceOf(canary)} update failed: no valid weights`);
  const apex = requireService(canary).apex ?? {};
  const upstreams = upstreamNames(canary);
  const match = matchers(canary);
  return {
    apiVersion: GLOO_GATEWAY_API_VERSION,
    kind: 'RouteTable',
    metadata: {
      name: apexName,
      namespace: namespaceOf(canary),
      labels: { ...(apex.labels ?? {}) },
      annotations: { ...(apex.annotations ?? {}), ...FLUX_ANNOTATIONS, [MANAGED_ANNOTATION]: canary.metadata.name },
      ...(input.owner ? { ownerReferences: [input.owner] } : {}),
    },
    spec: {
      routes: [
        {
          ...(match ? { matchers: match } : {}),
          routeAction: {
            multi: {
              destinations: [
                destination(canary, upstreams.primary, routes.primary),
                destination(canary, upstreams.canary, routes.canary),
              ],
            },
          },
          inheritablePathMatchers: true,
        },
      ],
    },
  };
}

/**
 * Routes a stored RouteTable puts in force (Flagger's GetRoutes): the primary Upstream's weight in the first route,
 * the canary the rest; never mirrored. Undefined when the first route has fewer than two destinations or none
 * to the primary Upstream.
 */
export function routesOfRouteTable(table: RouteTable, canary: Canary): Routes | undefined {
  const destinations = table.spec.routes?.[0]?.routeAction?.multi?.destinations ?? [];
  if (destinations.length < 2) return undefined;
  const primary = destinations.find((d) => d.destination.upstream.name === upstreamNames(canary).primary);
  if (!primary) return undefined;
  const weight = primary.weight ?? 0;
  return { primary: weight, canary: 100 - weight, mirrored: false };
}
