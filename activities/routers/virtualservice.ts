// Pure Istio builders: a validated Canary plus the routes to put in force → the VirtualService and the two
// DestinationRules fledge applies. No I/O here, so every routing feature is unit-testable.
//
// Shapes follow Flagger v1.44's Istio router (pkg/router/istio.go, networking.istio.io/v1beta1), with these
// deliberate changes: query parameters of an analysis match survive the merge with `service.match` (Flagger only
// carried headers and source labels), `analysis.match[].cookies` become a regex on the `cookie` header, a Go-map
// side effect that wrote the expiring session cookie on every rule is not repeated, a weight-0 session affinity run
// without a previous cookie writes one rule instead of two identical ones, the mirror of a session-affinity route
// is written on every rule (Flagger: the first rule only), and session cookies live in annotations of the
// VirtualService instead of the Canary status.

import type { Canary, CanaryService, HttpMatch } from '../../api/canary.ts';
import type { Routes } from '../../api/ports.ts';
import { parseDuration } from '../../api/canary.ts';
import { serviceNames } from '../../api/validate.ts';
import { ANNOTATIONS, RouteSpecError, cookieHeaderMatch, escapeRegex } from './httproute.ts';
import type { OwnerReference, SessionCookies } from './httproute.ts';

export const ISTIO_API_VERSION = 'networking.istio.io/v1beta1';

/** Where Flagger keeps the spec of a VirtualService it took over (restored on finalize). */
export const ORIGINAL_CONFIGURATION = 'flagger.kubernetes.io/original-configuration';
/** kubectl's copy of what a user applied: Flagger restores from it instead when present. */
export const KUBECTL_LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
/** Flagger's filterMetadata: keeps Flux from reverting objects Flagger manages. */
export const FLUX_ANNOTATIONS: Readonly<Record<string, string>> = {
  'kustomize.toolkit.fluxcd.io/reconcile': 'disabled',
  'helm.toolkit.fluxcd.io/driftDetection': 'disabled',
};

// ---------------------------------------------------------------------------------------------------------
// Istio types (the subset fledge writes and reads)

export interface IstioStringMatch {
  exact?: string;
  prefix?: string;
  regex?: string;
}
export interface IstioMatch {
  name?: string;
  uri?: IstioStringMatch;
  scheme?: IstioStringMatch;
  method?: IstioStringMatch;
  authority?: IstioStringMatch;
  headers?: Record<string, IstioStringMatch>;
  withoutHeaders?: Record<string, IstioStringMatch>;
  queryParams?: Record<string, IstioStringMatch>;
  port?: number;
  sourceLabels?: Record<string, string>;
  sourceNamespace?: string;
  gateways?: string[];
  ignoreUriCase?: boolean;
}
export interface HeaderOperations {
  set?: Record<string, string>;
  add?: Record<string, string>;
  remove?: string[];
}
export interface IstioHeaders {
  request?: HeaderOperations;
  response?: HeaderOperations;
}
export interface RouteDestination {
  destination: { host: string; port?: { number: number } };
  weight: number;
  headers?: IstioHeaders;
}
export interface IstioCorsPolicy {
  allowOrigin?: string[];
  allowOrigins?: IstioStringMatch[];
  allowMethods?: string[];
  allowHeaders?: string[];
  exposeHeaders?: string[];
  maxAge?: string;
  allowCredentials?: boolean;
}
export interface IstioHttpRoute {
  match?: IstioMatch[];
  route: RouteDestination[];
  rewrite?: { uri?: string; authority?: string };
  timeout?: string;
  retries?: { attempts: number; perTryTimeout?: string; retryOn?: string };
  corsPolicy?: IstioCorsPolicy;
  headers?: IstioHeaders;
  mirror?: { host: string };
  mirrorPercentage?: { value: number };
}
export interface IstioTcpRoute {
  match?: { port?: number }[];
  route: RouteDestination[];
}
export interface VirtualServiceSpec {
  hosts: string[];
  gateways?: string[];
  http?: IstioHttpRoute[];
  tcp?: IstioTcpRoute[];
}
export interface IstioMetadata {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  resourceVersion?: string;
}
export interface VirtualService {
  apiVersion: string;
  kind: 'VirtualService';
  metadata: IstioMetadata;
  spec: VirtualServiceSpec;
}
export interface DestinationRule {
  apiVersion: string;
  kind: 'DestinationRule';
  metadata: IstioMetadata;
  spec: { host: string; trafficPolicy?: Record<string, unknown> };
}

// ---------------------------------------------------------------------------------------------------------
// Small helpers

function requireService(canary: Canary): CanaryService {
  const service = canary.spec.service;
  if (!service) throw new RouteSpecError('spec.service is required for Istio routing');
  return service;
}

function namespaceOf(canary: Canary): string {
  return canary.metadata.namespace ?? 'default';
}

/** Flagger's isTcp: `service.appProtocol: tcp` (any case) routes TCP instead of HTTP. */
export function isTcp(canary: Canary): boolean {
  return canary.spec.service?.appProtocol?.toLowerCase() === 'tcp';
}

type StringMatchIn = { exact?: string | undefined; prefix?: string | undefined; suffix?: string | undefined } & {
  regex?: string | undefined;
};

/** Istio has no suffix operator: an anchored regex says the same. */
function stringMatch(m: StringMatchIn): IstioStringMatch {
  if (m.exact !== undefined) return { exact: m.exact };
  if (m.prefix !== undefined) return { prefix: m.prefix };
  if (m.regex !== undefined) return { regex: m.regex };
  if (m.suffix !== undefined) return { regex: `.*${escapeRegex(m.suffix)}$` };
  return {};
}

function stringMatches(m: Record<string, StringMatchIn> | undefined): Record<string, IstioStringMatch> | undefined {
  if (!m || Object.keys(m).length === 0) return undefined;
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, stringMatch(v)]));
}

/** A Canary match (Istio's HTTPMatchRequest plus fledge's `cookies`) as Istio stores it. */
export function istioMatch(m: HttpMatch): IstioMatch {
  const out: IstioMatch = {};
  if (m.name) out.name = m.name;
  for (const key of ['uri', 'scheme', 'method', 'authority'] as const) {
    const v = m[key];
    if (v) out[key] = stringMatch(v);
  }
  const headers = stringMatches(m.headers) ?? {};
  if (m.cookies && Object.keys(m.cookies).length > 0) {
    if (Object.keys(headers).some((h) => h.toLowerCase() === 'cookie'))
      throw new RouteSpecError('a match cannot have both cookies and a cookie header condition');
    // Istio header keys are lowercase; the regex is the one the Gateway API router writes.
    headers['cookie'] = { regex: cookieHeaderMatch(m.cookies).value };
  }
  if (Object.keys(headers).length) out.headers = headers;
  const without = stringMatches(m.withoutHeaders);
  if (without) out.withoutHeaders = without;
  const query = stringMatches(m.queryParams);
  if (query) out.queryParams = query;
  if (m.port !== undefined) out.port = m.port;
  if (m.sourceLabels && Object.keys(m.sourceLabels).length) out.sourceLabels = { ...m.sourceLabels };
  if (m.sourceNamespace) out.sourceNamespace = m.sourceNamespace;
  if (m.gateways?.length) out.gateways = [...m.gateways];
  if (m.ignoreUriCase) out.ignoreUriCase = true;
  return out;
}

/**
 * Flagger's mergeMatchConditions: every analysis match × every service match, the service match carrying the
 * analysis match's headers and source labels (and, in fledge, its query parameters). No service match: the
 * analysis matches as they are.
 */
export function mergeIstioMatches(analysis: IstioMatch[], service: IstioMatch[]): IstioMatch[] {
  if (service.length === 0) return analysis;
  return analysis.flatMap((a) =>
    service.map((s) => ({
      ...structuredClone(s),
      ...(a.headers ? { headers: a.headers } : {}),
      ...(a.sourceLabels ? { sourceLabels: a.sourceLabels } : {}),
      ...(a.queryParams ? { queryParams: a.queryParams } : {}),
    })),
  );
}

function headerOps(ops: { add?: Record<string, string>; set?: Record<string, string>; remove?: string[] }) {
  const out: HeaderOperations = {};
  if (ops.set && Object.keys(ops.set).length) out.set = { ...ops.set };
  if (ops.add && Object.keys(ops.add).length) out.add = { ...ops.add };
  if (ops.remove?.length) out.remove = [...ops.remove];
  return out;
}

function serviceHeaders(service: CanaryService): IstioHeaders | undefined {
  if (!service.headers) return undefined;
  const h: IstioHeaders = {};
  if (service.headers.request) h.request = headerOps(service.headers.request);
  if (service.headers.response) h.response = headerOps(service.headers.response);
  return h;
}

function corsPolicy(cors: NonNullable<CanaryService['corsPolicy']>): IstioCorsPolicy {
  const out: IstioCorsPolicy = {};
  if (cors.allowOrigin?.length) out.allowOrigin = [...cors.allowOrigin];
  if (cors.allowOrigins?.length) out.allowOrigins = cors.allowOrigins.map(stringMatch);
  if (cors.allowMethods?.length) out.allowMethods = [...cors.allowMethods];
  if (cors.allowHeaders?.length) out.allowHeaders = [...cors.allowHeaders];
  if (cors.exposeHeaders?.length) out.exposeHeaders = [...cors.exposeHeaders];
  if (cors.maxAge) out.maxAge = cors.maxAge;
  if (cors.allowCredentials) out.allowCredentials = true;
  return out;
}

/** The fields every HTTP rule repeats (Flagger's weightedRoute without its destinations). */
function ruleBase(service: CanaryService): Omit<IstioHttpRoute, 'route'> {
  const base: Omit<IstioHttpRoute, 'route'> = {};
  const match = (service.match ?? []).map(istioMatch);
  if (match.length) base.match = match;
  if (service.rewrite && (service.rewrite.uri || service.rewrite.authority)) {
    base.rewrite = {};
    if (service.rewrite.uri) base.rewrite.uri = service.rewrite.uri;
    if (service.rewrite.authority) base.rewrite.authority = service.rewrite.authority;
  }
  if (service.timeout) base.timeout = service.timeout;
  if (service.retries) {
    const r = service.retries;
    base.retries = { attempts: r.attempts ?? 0 };
    if (r.perTryTimeout) base.retries.perTryTimeout = r.perTryTimeout;
    if (r.retryOn) base.retries.retryOn = r.retryOn;
  }
  if (service.corsPolicy) base.corsPolicy = corsPolicy(service.corsPolicy);
  const headers = serviceHeaders(service);
  if (headers) base.headers = headers;
  return base;
}

/**
 * Flagger's makeDestination: host and weight; the Service port is named only with port discovery behind an
 * ingress gateway (first gateway not `mesh`) or a delegate VirtualService.
 */
export function destination(canary: Canary, host: string, weight: number): RouteDestination {
  const service = requireService(canary);
  const gateways = service.gateways ?? [];
  const withPort =
    service.portDiscovery && ((gateways.length > 0 && gateways[0] !== 'mesh') || service.delegation === true);
  return { destination: { host, ...(withPort ? { port: { number: service.port } } : {}) }, weight };
}

// ---------------------------------------------------------------------------------------------------------
// Session affinity

/** Flagger's SessionAffinity.BuildCookie: `name=value; Max-Age=N` and the attributes in Flagger's order. */
export function buildCookie(canary: Canary, cookie: string, maxAge: number): string {
  const a = canary.spec.analysis.sessionAffinity;
  let out = `${cookie}; Max-Age=${maxAge}`;
  if (a?.domain) out += `; Domain=${a.domain}`;
  if (a?.httpOnly) out += '; HttpOnly';
  if (a?.partitioned) out += '; Partitioned';
  if (a?.path) out += `; Path=${a.path}`;
  if (a?.sameSite) out += `; SameSite=${a.sameSite}`;
  if (a?.secure) out += '; Secure';
  return out;
}

/** Flagger's sticky match on the `Cookie` header: `.*<name>.*<value>.*`. */
function cookieMatch(cookie: string): IstioMatch {
  const i = cookie.indexOf('=');
  const [name, value] = i < 0 ? [cookie, ''] : [cookie.slice(0, i), cookie.slice(i + 1)];
  return { headers: { Cookie: { regex: `.*${escapeRegex(name)}.*${value}.*` } } };
}

function withResponseHeader(headers: IstioHeaders | undefined, name: string, value: string): IstioHeaders {
  const out = structuredClone(headers ?? {});
  const response = (out.response ??= {});
  response.add = { ...(response.add ?? {}), [name]: value };
  return out;
}

/** Flagger's getSessionAffinityRouteRules, from the cookies in force (see nextSessionCookies). */
function sessionAffinityRules(canary: Canary, weighted: IstioHttpRoute, cookies: SessionCookies): IstioHttpRoute[] {
  const service = requireService(canary);
  const names = serviceNames(canary);
  const affinity = canary.spec.analysis.sessionAffinity!;
  const serviceMatch = (service.match ?? []).map(istioMatch);
  const sticky = (cookie: string, primaryWeight: number): IstioHttpRoute => ({
    ...structuredClone(weighted),
    match: mergeIstioMatches([cookieMatch(cookie)], serviceMatch),
    route: [destination(canary, names.primary, primaryWeight), destination(canary, names.canary, 100 - primaryWeight)],
  });
  const canaryWeight = weighted.route.find((d) => d.destination.host === names.canary)?.weight ?? 0;
  if (canaryWeight > 0 && cookies.canary) {
    const split = structuredClone(weighted);
    const setCookie = (host: string, value: string) => {
      const d = split.route.find((r) => r.destination.host === host)!;
      d.headers = { response: { add: { 'Set-Cookie': value } } };
    };
    setCookie(names.canary, buildCookie(canary, cookies.canary, affinity.maxAge));
    const rules = [sticky(cookies.canary, 0)];
    if (cookies.primary) {
      // Flagger: the primary cookie lives one analysis interval.
      const seconds = Math.floor(parseDuration(canary.spec.analysis.interval) / 1000);
      setCookie(names.primary, buildCookie(canary, cookies.primary, seconds));
      rules.push(sticky(cookies.primary, 100));
    }
    return [...rules, split];
  }
  if (cookies.previous) {
    // After the run: clients still sending the old canary cookie get it expired and follow the weights.
    const expire: IstioHttpRoute = {
      ...structuredClone(weighted),
      match: mergeIstioMatches([cookieMatch(cookies.previous)], serviceMatch),
    };
    expire.headers = withResponseHeader(expire.headers, 'Set-Cookie', `${cookies.previous}; Max-Age=-1`);
    return [expire, weighted];
  }
  return [weighted];
}

// ---------------------------------------------------------------------------------------------------------
// The objects

export interface BuildVirtualServiceInput {
  canary: Canary;
  routes: Routes;
  /** Session cookies in force (see nextSessionCookies); ignored without sessionAffinity. */
  cookies?: SessionCookies;
  /** Set for VirtualServices fledge creates; adopted ones keep their owners. */
  owner?: OwnerReference;
  /** Spec of an adopted VirtualService (JSON), kept in Flagger's original-configuration annotation. */
  originalConfiguration?: string;
}

/** Flagger's hosts: `service.hosts` plus the apex Service name unless it (or `*`) is there; none for a delegate. */
export function virtualServiceHosts(canary: Canary): string[] {
  const service = requireService(canary);
  if (service.delegation) return [];
  const apex = serviceNames(canary).apex;
  const hosts = [...(service.hosts ?? [])];
  if (!hosts.some((h) => h === apex || h === '*')) hosts.push(apex);
  return hosts;
}

/** Flagger's gateways: `service.gateways`, else the `mesh` gateway; none for a delegate. */
export function virtualServiceGateways(canary: Canary): string[] {
  const service = requireService(canary);
  if (service.delegation) return [];
  return service.gateways?.length ? [...service.gateways] : ['mesh'];
}

/** HTTP rules for the routes (Flagger's SetRoutes): A/B, session affinity, or one weighted rule. */
export function buildHttpRules(input: BuildVirtualServiceInput): IstioHttpRoute[] {
  const { canary, routes } = input;
  const service = requireService(canary);
  const names = serviceNames(canary);
  const base = ruleBase(service);
  const split = () => [
    destination(canary, names.primary, routes.primary),
    destination(canary, names.canary, routes.canary),
  ];
  const analysisMatches = (canary.spec.analysis.match ?? []).map(istioMatch);
  if (analysisMatches.length > 0) {
    // A/B testing: matching requests follow the weights (0/100 during the run), all others stay on the primary.
    const merged = mergeIstioMatches(analysisMatches, base.match ?? []);
    return [
      { ...structuredClone(base), match: merged, route: split() },
      { ...structuredClone(base), route: [destination(canary, names.primary, 100)] },
    ];
  }
  const weighted: IstioHttpRoute = { ...base, route: split() };
  const rules = canary.spec.analysis.sessionAffinity
    ? sessionAffinityRules(canary, weighted, input.cookies ?? {})
    : [weighted];
  if (routes.mirrored) {
    const weight = canary.spec.analysis.mirrorWeight;
    for (const r of rules) {
      r.mirror = { host: names.canary };
      if (weight !== undefined && weight > 0) r.mirrorPercentage = { value: weight };
    }
  }
  return rules;
}

/** The TCP rule (`appProtocol: tcp`): `service.match` ports as L4 matches, then the weights. */
export function buildTcpRules(input: BuildVirtualServiceInput): IstioTcpRoute[] {
  const { canary, routes } = input;
  const service = requireService(canary);
  const names = serviceNames(canary);
  const rule: IstioTcpRoute = {
    route: [destination(canary, names.primary, routes.primary), destination(canary, names.canary, routes.canary)],
  };
  if (service.match?.length) rule.match = service.match.map((m) => (m.port !== undefined ? { port: m.port } : {}));
  return [rule];
}

/**
 * The whole VirtualService `<service>` to server-side apply (Flagger's reconcileVirtualService + SetRoutes).
 * @throws RouteSpecError for a delegate with hosts or gateways (Flagger's rule), or a match Istio cannot express.
 */
export function buildVirtualService(input: BuildVirtualServiceInput): VirtualService {
  const { canary } = input;
  const service = requireService(canary);
  const names = serviceNames(canary);
  if (service.delegation && (service.hosts?.length || service.gateways?.length))
    throw new RouteSpecError(
      `VirtualService ${names.apex}.${namespaceOf(canary)} cannot have hosts and gateways when delegation enabled`,
    );
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(service.apex?.annotations ?? {}))
    if (k !== KUBECTL_LAST_APPLIED && !k.startsWith('fledge.app/')) annotations[k] = v;
  Object.assign(annotations, FLUX_ANNOTATIONS);
  annotations[ANNOTATIONS.canary] = canary.metadata.name;
  if (canary.spec.analysis.sessionAffinity) {
    const c = input.cookies ?? {};
    if (c.canary) annotations[ANNOTATIONS.sessionCookie] = c.canary;
    if (c.primary) annotations[ANNOTATIONS.primarySessionCookie] = c.primary;
    if (c.previous) annotations[ANNOTATIONS.previousSessionCookie] = c.previous;
  }
  if (input.originalConfiguration !== undefined) annotations[ORIGINAL_CONFIGURATION] = input.originalConfiguration;

  const metadata: IstioMetadata = { name: names.apex, namespace: namespaceOf(canary), annotations };
  if (service.apex?.labels && Object.keys(service.apex.labels).length) metadata.labels = { ...service.apex.labels };
  if (input.owner) metadata.ownerReferences = [input.owner];

  const spec: VirtualServiceSpec = { hosts: virtualServiceHosts(canary) };
  const gateways = virtualServiceGateways(canary);
  if (gateways.length) spec.gateways = gateways;
  if (isTcp(canary)) spec.tcp = buildTcpRules(input);
  else spec.http = buildHttpRules(input);
  return { apiVersion: ISTIO_API_VERSION, kind: 'VirtualService', metadata, spec };
}

/** DestinationRule `<host>` (`<service>-primary` or `-canary`) with `service.trafficPolicy` verbatim. */
export function buildDestinationRule(canary: Canary, host: string, owner?: OwnerReference): DestinationRule {
  const service = requireService(canary);
  const metadata: IstioMetadata = { name: host, namespace: namespaceOf(canary) };
  if (owner) metadata.ownerReferences = [owner];
  const spec: DestinationRule['spec'] = { host };
  if (service.trafficPolicy) spec.trafficPolicy = structuredClone(service.trafficPolicy);
  return { apiVersion: ISTIO_API_VERSION, kind: 'DestinationRule', metadata, spec };
}

// ---------------------------------------------------------------------------------------------------------
// Reading a VirtualService back

/**
 * Routes as stored (Flagger's GetRoutes): weights of the last rule with a canary destination, or under session
 * affinity of the destinations that set a cookie; mirrored when that rule mirrors. Undefined when neither the
 * primary nor the canary has weight (Flagger's "does not contain routes" error).
 */
export function readVirtualServiceRoutes(vs: Pick<VirtualService, 'spec'>, canary: Canary): Routes | undefined {
  const names = serviceNames(canary);
  const rules: { route?: RouteDestination[]; mirror?: { host?: string } }[] = isTcp(canary)
    ? (vs.spec.tcp ?? [])
    : (vs.spec.http ?? []);
  const hasCanary = (r: { route?: RouteDestination[] }) =>
    (r.route ?? []).some((d) => d.destination.host === names.canary);
  const rule = rules.filter(hasCanary).at(-1);
  let primary = 0;
  let canaryWeight = 0;
  for (const d of rule?.route ?? []) {
    if (d.destination.host === names.primary) primary = d.weight ?? 0;
    if (d.destination.host === names.canary) canaryWeight = d.weight ?? 0;
  }
  if (!isTcp(canary) && canary.spec.analysis.sessionAffinity) {
    for (const r of rules)
      for (const d of r.route ?? []) {
        if (!d.headers) continue;
        if (d.destination.host === names.primary) primary = d.weight ?? 0;
        if (d.destination.host === names.canary) canaryWeight = d.weight ?? 0;
      }
  }
  if (primary === 0 && canaryWeight === 0) return undefined;
  const mirrored = !isTcp(canary) && Boolean(rule?.mirror?.host);
  return { primary, canary: canaryWeight, mirrored };
}
