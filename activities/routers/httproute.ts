// Pure HTTPRoute builders: a validated Canary plus the routes to put in force → the HTTPRoute object fledge
// applies. No I/O here, so every routing feature is unit-testable and the same object is what the apiserver stores.
//
// Shape follows Flagger v1.44's Gateway API router (pkg/router/gateway_api.go), with these deliberate changes:
// header and query matches are sorted (Go map order made Flagger rewrite routes at random), the mirror filter is
// also written for the mirrored pre-step of a weighted canary (Flagger only did it for blue/green), a
// ResponseHeaderModifier is never repeated in a rule (the apiserver rejects that), and session cookies live in
// annotations of the route instead of the Canary status.

import type { Canary, CanaryService, HttpMatch } from '../../api/canary.ts';
import type { Routes } from '../../api/ports.ts';
import { parseDuration } from '../../api/canary.ts';
import { serviceNames } from '../../api/validate.ts';

export const GATEWAY_GROUP = 'gateway.networking.k8s.io';
export type GatewayApiVersion = 'v1' | 'v1beta1';

/** Annotations fledge keeps on the HTTPRoute: durable router state that survives worker restarts. */
export const ANNOTATIONS = {
  /** Marks a route fledge manages (value: the Canary's name); absent on routes fledge has not taken over. */
  canary: 'fledge.app/canary',
  /** The route's spec before fledge adopted it (JSON), restored on finalize. */
  originalSpec: 'fledge.app/original-spec',
  /** Canary session cookie of the running analysis, `name=value`. */
  sessionCookie: 'fledge.app/session-cookie',
  /** Canary session cookie of the previous run, expired with Max-Age=-1. */
  previousSessionCookie: 'fledge.app/previous-session-cookie',
  /** Primary session cookie of the running analysis, `name=value`. */
  primarySessionCookie: 'fledge.app/primary-session-cookie',
} as const;

// ---------------------------------------------------------------------------------------------------------
// Gateway API types (the subset fledge writes and reads)

export interface ParentReference {
  group?: string;
  kind?: string;
  namespace?: string;
  name: string;
  sectionName?: string;
  port?: number;
}
export interface HTTPHeader {
  name: string;
  value: string;
}
export interface HTTPHeaderFilter {
  add?: HTTPHeader[];
  set?: HTTPHeader[];
  remove?: string[];
}
export interface BackendObjectReference {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
}
export interface HTTPRouteFilter {
  type: 'RequestHeaderModifier' | 'ResponseHeaderModifier' | 'URLRewrite' | 'RequestMirror' | 'CORS';
  requestHeaderModifier?: HTTPHeaderFilter;
  responseHeaderModifier?: HTTPHeaderFilter;
  urlRewrite?: {
    hostname?: string;
    path?: { type: 'ReplaceFullPath' | 'ReplacePrefixMatch'; replaceFullPath?: string; replacePrefixMatch?: string };
  };
  requestMirror?: {
    backendRef: BackendObjectReference;
    percent?: number;
    fraction?: { numerator: number; denominator?: number };
  };
  cors?: {
    allowOrigins?: string[];
    allowMethods?: string[];
    allowHeaders?: string[];
    exposeHeaders?: string[];
    maxAge?: number;
    allowCredentials?: boolean;
  };
}
export interface HTTPHeaderMatch {
  type: 'Exact' | 'RegularExpression';
  name: string;
  value: string;
}
export interface HTTPRouteMatch {
  path?: { type: 'Exact' | 'PathPrefix' | 'RegularExpression'; value: string };
  headers?: HTTPHeaderMatch[];
  queryParams?: HTTPHeaderMatch[];
  method?: string;
}
export interface HTTPBackendRef extends BackendObjectReference {
  weight: number;
  filters?: HTTPRouteFilter[];
}
export interface HTTPRouteRule {
  matches: HTTPRouteMatch[];
  filters?: HTTPRouteFilter[];
  backendRefs: HTTPBackendRef[];
  timeouts?: { request?: string; backendRequest?: string };
}
export interface RouteCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  observedGeneration?: number;
}
export interface RouteParentStatus {
  parentRef: ParentReference;
  controllerName: string;
  conditions: RouteCondition[];
}
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}
export interface HTTPRoute {
  apiVersion: string;
  kind: 'HTTPRoute';
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
    generation?: number;
    resourceVersion?: string;
  };
  spec: { parentRefs: ParentReference[]; hostnames?: string[]; rules: HTTPRouteRule[] };
  status?: { parents?: RouteParentStatus[] };
}

/** A spec Gateway API cannot express; the activity turns it into a non-retryable failure. */
export class RouteSpecError extends Error {
  override name = 'RouteSpecError';
}

// ---------------------------------------------------------------------------------------------------------
// Session cookies

export interface SessionCookies {
  /** `name=value` set on responses of the canary while it gets traffic. */
  canary?: string;
  /** `name=value` set on responses of the primary while the canary gets traffic (primaryCookieName). */
  primary?: string;
  /** The canary cookie of the last run: clients still sending it get it expired. */
  previous?: string;
}

/**
 * Cookies after a weight change (Flagger's getSessionAffinityRouteRules): a run with canary traffic keeps (or
 * draws) its canary cookie; when the canary weight drops to 0 that cookie becomes the previous one.
 */
export function nextSessionCookies(
  canary: Canary,
  canaryWeight: number,
  current: SessionCookies,
  random: () => string,
): SessionCookies {
  const affinity = canary.spec.analysis.sessionAffinity;
  if (!affinity) return {};
  if (canaryWeight > 0) {
    const primaryName = affinity.primaryCookieName;
    return {
      canary: current.canary ?? `${affinity.cookieName}=${random()}`,
      ...(primaryName ? { primary: current.primary ?? `${primaryName}=${random()}` } : {}),
    };
  }
  const previous = current.canary ?? current.previous;
  return previous ? { previous } : {};
}

export function cookiesFromAnnotations(annotations: Record<string, string> | undefined): SessionCookies {
  const a = annotations ?? {};
  const out: SessionCookies = {};
  if (a[ANNOTATIONS.sessionCookie]) out.canary = a[ANNOTATIONS.sessionCookie];
  if (a[ANNOTATIONS.primarySessionCookie]) out.primary = a[ANNOTATIONS.primarySessionCookie];
  if (a[ANNOTATIONS.previousSessionCookie]) out.previous = a[ANNOTATIONS.previousSessionCookie];
  return out;
}

function cookieAnnotations(c: SessionCookies): Record<string, string> {
  const out: Record<string, string> = {};
  if (c.canary) out[ANNOTATIONS.sessionCookie] = c.canary;
  if (c.primary) out[ANNOTATIONS.primarySessionCookie] = c.primary;
  if (c.previous) out[ANNOTATIONS.previousSessionCookie] = c.previous;
  return out;
}

/** `Set-Cookie` value: Flagger's `name=value; Max-Age=N`, then the optional attributes fledge adds. */
export function setCookieValue(canary: Canary, cookie: string, maxAge: number): string {
  const a = canary.spec.analysis.sessionAffinity;
  const parts = [cookie, `Max-Age=${maxAge}`];
  if (a?.domain) parts.push(`Domain=${a.domain}`);
  if (a?.path) parts.push(`Path=${a.path}`);
  if (a?.httpOnly) parts.push('HttpOnly');
  if (a?.secure) parts.push('Secure');
  if (a?.sameSite) parts.push(`SameSite=${a.sameSite}`);
  if (a?.partitioned) parts.push('Partitioned');
  return parts.join('; ');
}

/** Flagger's sticky match on the Cookie header: `.*<name>.*<value>.*`. */
function stickyCookieMatch(cookie: string): HTTPRouteMatch {
  const [name, value] = splitCookie(cookie);
  return { headers: [{ type: 'RegularExpression', name: 'Cookie', value: `.*${escapeRegex(name)}.*${value}.*` }] };
}

function splitCookie(cookie: string): [string, string] {
  const i = cookie.indexOf('=');
  return i < 0 ? [cookie, ''] : [cookie.slice(0, i), cookie.slice(i + 1)];
}

// ---------------------------------------------------------------------------------------------------------
// Matches

/** RE2-safe escaping: cookie names and header prefixes may contain regex metacharacters. */
export function escapeRegex(s: string): string {
  return s.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&');
}

type StringMatch = {
  exact?: string | undefined;
  prefix?: string | undefined;
  suffix?: string | undefined;
  regex?: string | undefined;
};

function stringMatch(name: string, m: StringMatch, what: string): HTTPHeaderMatch {
  if (m.exact !== undefined) return { type: 'Exact', name, value: m.exact };
  if (m.regex !== undefined) return { type: 'RegularExpression', name, value: m.regex };
  // Gateway API has no prefix/suffix header match: an anchored regex says the same.
  if (m.prefix !== undefined) return { type: 'RegularExpression', name, value: `^${escapeRegex(m.prefix)}.*` };
  if (m.suffix !== undefined) return { type: 'RegularExpression', name, value: `.*${escapeRegex(m.suffix)}$` };
  throw new RouteSpecError(`Gateway API doesn't support the specified ${what} matching selector for ${name}`);
}

function pathMatch(uri: StringMatch): HTTPRouteMatch['path'] {
  if (uri.regex !== undefined) return { type: 'RegularExpression', value: uri.regex };
  if (uri.exact !== undefined) return { type: 'Exact', value: uri.exact };
  if (uri.prefix !== undefined) return { type: 'PathPrefix', value: uri.prefix };
  if (uri.suffix !== undefined) return { type: 'RegularExpression', value: `.*${escapeRegex(uri.suffix)}$` };
  throw new RouteSpecError("Gateway API doesn't support the specified path matching selector");
}

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * `cookies: {name: {exact|regex}}` → one RegularExpression match on the Cookie header. Gateway API allows one
 * match per header name and RE2 has no lookahead, so several cookies are matched in every order (at most 3).
 */
export function cookieHeaderMatch(
  cookies: Record<string, { exact?: string | undefined; regex?: string | undefined }>,
): HTTPHeaderMatch {
  const atoms = Object.keys(cookies)
    .sort()
    .map((name) => {
      const m = cookies[name] ?? {};
      const value = m.exact !== undefined ? escapeRegex(m.exact) : `(?:${m.regex ?? ''})`;
      return `${escapeRegex(name)}=${value}`;
    });
  if (atoms.length > 3) throw new RouteSpecError('at most 3 cookies can be matched in one analysis.match entry');
  const orders = permutations(atoms).map((p) => p.join(';(?:.*;)?\\s*'));
  const body = orders.length === 1 ? orders[0]! : `(?:${orders.join('|')})`;
  return { type: 'RegularExpression', name: 'Cookie', value: `^(?:.*;\\s*)?${body}(?:;.*)?$` };
}

function permutations<T>(xs: T[]): T[][] {
  if (xs.length <= 1) return [xs];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest]));
}

/** Istio-style matches → Gateway API matches (Flagger's mapRouteMatches), sorted so output is deterministic. */
export function routeMatches(matches: readonly HttpMatch[] | undefined): HTTPRouteMatch[] {
  const out: HTTPRouteMatch[] = [];
  for (const m of matches ?? []) {
    const match: HTTPRouteMatch = {};
    if (m.uri) match.path = pathMatch(m.uri);
    if (m.method) {
      if (m.method.exact === undefined)
        throw new RouteSpecError("Gateway API doesn't support the specified method matching selector");
      match.method = m.method.exact;
    }
    const headers = Object.entries(m.headers ?? {}).map(([k, v]) => stringMatch(k, v, 'header'));
    if (m.cookies && Object.keys(m.cookies).length > 0) {
      if (headers.some((h) => h.name.toLowerCase() === 'cookie'))
        throw new RouteSpecError('a match cannot have both cookies and a Cookie header condition');
      headers.push(cookieHeaderMatch(m.cookies));
    }
    if (headers.length) match.headers = headers.sort(byName);
    const query = Object.entries(m.queryParams ?? {}).map(([k, v]) => stringMatch(k, v, 'query'));
    if (query.length) match.queryParams = query.sort(byName);
    if (Object.keys(match).length > 0) out.push(match);
  }
  return out;
}

/** Service matches, or Flagger's default `PathPrefix /`. */
function serviceMatches(service: CanaryService): HTTPRouteMatch[] {
  const matches = routeMatches(service.match);
  return matches.length ? matches : [{ path: { type: 'PathPrefix', value: '/' } }];
}

/** Flagger's mergeMatchConditions: every service match × every analysis match, headers/query from the latter. */
export function mergeMatches(analysis: HTTPRouteMatch[], service: HTTPRouteMatch[]): HTTPRouteMatch[] {
  if (analysis.length === 0) return service;
  if (service.length === 0) return analysis;
  return analysis.flatMap((a) =>
    service.map((s) => ({
      ...structuredClone(s),
      ...(a.headers?.length ? { headers: a.headers } : {}),
      ...(a.queryParams?.length ? { queryParams: a.queryParams } : {}),
    })),
  );
}

// ---------------------------------------------------------------------------------------------------------
// Filters

function headerFilter(ops: { add?: Record<string, string>; set?: Record<string, string>; remove?: string[] }) {
  const pairs = (m: Record<string, string> | undefined) =>
    Object.entries(m ?? {})
      .map(([name, value]) => ({ name, value }))
      .sort((a, b) => byName(a, b) || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
  const f: HTTPHeaderFilter = {};
  const add = pairs(ops.add);
  const set = pairs(ops.set);
  if (add.length) f.add = add;
  if (set.length) f.set = set;
  if (ops.remove?.length) f.remove = [...ops.remove];
  return f;
}

function rewriteFilter(rewrite: NonNullable<CanaryService['rewrite']>): HTTPRouteFilter | undefined {
  const urlRewrite: NonNullable<HTTPRouteFilter['urlRewrite']> = {};
  if (rewrite.authority) urlRewrite.hostname = rewrite.authority;
  if (rewrite.uri) {
    // Flagger's GetType: anything but ReplacePrefixMatch means a full path replacement.
    urlRewrite.path =
      rewrite.type === 'ReplacePrefixMatch'
        ? { type: 'ReplacePrefixMatch', replacePrefixMatch: rewrite.uri }
        : { type: 'ReplaceFullPath', replaceFullPath: rewrite.uri };
  }
  return Object.keys(urlRewrite).length ? { type: 'URLRewrite', urlRewrite } : undefined;
}

/** Istio-style corsPolicy → the Gateway API CORS filter (standard channel since v1.5). */
export function corsFilter(cors: NonNullable<CanaryService['corsPolicy']>): HTTPRouteFilter {
  const origins = [...(cors.allowOrigin ?? [])];
  for (const o of cors.allowOrigins ?? []) {
    if (o.exact !== undefined) origins.push(o.exact);
    // Gateway API origins are literal (with an optional `*.` host wildcard): other operators cannot be expressed.
    else throw new RouteSpecError('corsPolicy.allowOrigins supports only exact origins with Gateway API');
  }
  const f: NonNullable<HTTPRouteFilter['cors']> = {};
  if (origins.length) f.allowOrigins = origins;
  if (cors.allowMethods?.length) f.allowMethods = [...cors.allowMethods];
  if (cors.allowHeaders?.length) f.allowHeaders = [...cors.allowHeaders];
  if (cors.exposeHeaders?.length) f.exposeHeaders = [...cors.exposeHeaders];
  if (cors.maxAge) f.maxAge = Math.max(1, Math.round(parseDuration(cors.maxAge) / 1000));
  if (cors.allowCredentials !== undefined) f.allowCredentials = cors.allowCredentials;
  return { type: 'CORS', cors: f };
}

/** Rule filters from `spec.service` (Flagger's makeFilters), CORS for v1 only. */
export function serviceFilters(service: CanaryService, version: GatewayApiVersion): HTTPRouteFilter[] {
  const filters: HTTPRouteFilter[] = [];
  if (service.headers?.request)
    filters.push({ type: 'RequestHeaderModifier', requestHeaderModifier: headerFilter(service.headers.request) });
  if (service.headers?.response)
    filters.push({ type: 'ResponseHeaderModifier', responseHeaderModifier: headerFilter(service.headers.response) });
  const rewrite = service.rewrite && rewriteFilter(service.rewrite);
  if (rewrite) filters.push(rewrite);
  if (service.corsPolicy && version === 'v1') filters.push(corsFilter(service.corsPolicy));
  for (const m of service.mirror ?? []) {
    const mirror: NonNullable<HTTPRouteFilter['requestMirror']> = { backendRef: { ...m.backendRef } };
    if (m.percent !== undefined) mirror.percent = m.percent;
    if (m.fraction) mirror.fraction = { ...m.fraction };
    filters.push({ type: 'RequestMirror', requestMirror: mirror });
  }
  return filters;
}

/** Adds a response header to the rule's (single) ResponseHeaderModifier: the apiserver rejects a second one. */
function addResponseHeader(filters: HTTPRouteFilter[], header: HTTPHeader): HTTPRouteFilter[] {
  const out = structuredClone(filters);
  const existing = out.find((f) => f.type === 'ResponseHeaderModifier');
  if (existing) {
    const mod = (existing.responseHeaderModifier ??= {});
    mod.add = [...(mod.add ?? []), header];
  } else out.push({ type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [header] } });
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// The route

export interface BuildRouteInput {
  canary: Canary;
  version: GatewayApiVersion;
  routes: Routes;
  /** Session cookies in force (see nextSessionCookies); ignored without sessionAffinity. */
  cookies?: SessionCookies;
  /** Set for routes fledge creates; adopted routes keep their owners. */
  owner?: OwnerReference;
  /** Original spec of an adopted route, kept in an annotation so finalize can restore it. */
  originalSpec?: string;
}

function requireService(canary: Canary): CanaryService {
  const service = canary.spec.service;
  if (!service) throw new RouteSpecError('spec.service is required for Gateway API routing');
  return service;
}

function backend(name: string, port: number, weight: number, filters?: HTTPRouteFilter[]): HTTPBackendRef {
  return { group: '', kind: 'Service', name, port, weight, ...(filters?.length ? { filters } : {}) };
}

function timeouts(service: CanaryService): HTTPRouteRule['timeouts'] {
  const t: NonNullable<HTTPRouteRule['timeouts']> = {};
  if (service.timeout) t.request = service.timeout;
  if (service.backendTimeout) t.backendRequest = service.backendTimeout;
  return Object.keys(t).length ? t : undefined;
}

function rule(
  matches: HTTPRouteMatch[],
  filters: HTTPRouteFilter[],
  backends: HTTPBackendRef[],
  service: CanaryService,
) {
  const r: HTTPRouteRule = { matches, backendRefs: backends };
  if (filters.length) r.filters = filters;
  const t = timeouts(service);
  if (t) r.timeouts = t;
  return r;
}

/** The mirror of live traffic to the canary Service (blue/green, and the mirrored step of a weighted canary). */
function canaryMirror(canary: Canary, canaryService: string, port: number): HTTPRouteFilter {
  const mirror: NonNullable<HTTPRouteFilter['requestMirror']> = {
    backendRef: { group: '', kind: 'Service', name: canaryService, port },
  };
  const weight = canary.spec.analysis.mirrorWeight;
  if (weight !== undefined && weight < 100) mirror.percent = weight;
  return { type: 'RequestMirror', requestMirror: mirror };
}

/** Rules of the route for the given routes: sticky session rules, then the weighted (or A/B) rule, then default. */
export function buildRules(input: BuildRouteInput): HTTPRouteRule[] {
  const { canary, version, routes } = input;
  const service = requireService(canary);
  const names = serviceNames(canary);
  const port = service.port;
  const matches = serviceMatches(service);
  const baseFilters = serviceFilters(service, version);
  const weightedFilters = routes.mirrored ? [...baseFilters, canaryMirror(canary, names.canary, port)] : baseFilters;
  const analysisMatches = routeMatches(canary.spec.analysis.match);

  if (analysisMatches.length > 0) {
    // A/B testing: matching requests follow the weights (0/100 during the run), all others stay on the primary.
    return [
      rule(
        mergeMatches(analysisMatches, matches),
        weightedFilters,
        [backend(names.primary, port, routes.primary), backend(names.canary, port, routes.canary)],
        service,
      ),
      rule(matches, baseFilters, [backend(names.primary, port, 100)], service),
    ];
  }

  const affinity = canary.spec.analysis.sessionAffinity;
  const cookies = input.cookies ?? {};
  const weighted = (canaryFilters?: HTTPRouteFilter[], primaryFilters?: HTTPRouteFilter[]) =>
    rule(
      matches,
      weightedFilters,
      [
        backend(names.primary, port, routes.primary, primaryFilters),
        backend(names.canary, port, routes.canary, canaryFilters),
      ],
      service,
    );
  if (!affinity) return [weighted()];

  const setCookie = (cookie: string, maxAge: number): HTTPRouteFilter[] => [
    {
      type: 'ResponseHeaderModifier',
      responseHeaderModifier: { add: [{ name: 'Set-Cookie', value: setCookieValue(canary, cookie, maxAge) }] },
    },
  ];
  const sticky = (cookie: string, primaryWeight: number, filters: HTTPRouteFilter[]) =>
    rule(
      mergeMatches([stickyCookieMatch(cookie)], matches),
      filters,
      [backend(names.primary, port, primaryWeight), backend(names.canary, port, 100 - primaryWeight)],
      service,
    );

  if (routes.canary > 0 && cookies.canary) {
    const rules = [sticky(cookies.canary, 0, weightedFilters)];
    // Flagger: the primary cookie lives one analysis interval, enough to keep a client on the primary per step.
    const intervalSeconds = Math.round(parseDuration(canary.spec.analysis.interval) / 1000);
    if (cookies.primary) rules.push(sticky(cookies.primary, 100, weightedFilters));
    rules.push(
      weighted(
        setCookie(cookies.canary, affinity.maxAge),
        cookies.primary ? setCookie(cookies.primary, intervalSeconds) : undefined,
      ),
    );
    return rules;
  }
  if (cookies.previous) {
    // After the run: clients still holding the old canary cookie get it expired and follow the weights.
    const expire = { name: 'Set-Cookie', value: `${cookies.previous}; Max-Age=-1` };
    const rules = [
      rule(
        mergeMatches([stickyCookieMatch(cookies.previous)], matches),
        addResponseHeader(weightedFilters, expire),
        [backend(names.primary, port, routes.primary), backend(names.canary, port, routes.canary)],
        service,
      ),
    ];
    return [...rules, weighted()];
  }
  return [weighted()];
}

/** Annotations Flagger never copies to generated objects. */
const FILTERED_ANNOTATIONS = ['kubectl.kubernetes.io/last-applied-configuration'];

/** The whole HTTPRoute to server-side apply. */
export function buildHttpRoute(input: BuildRouteInput): HTTPRoute {
  const { canary, version } = input;
  const service = requireService(canary);
  const names = serviceNames(canary);
  const apex = service.apex ?? {};
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(apex.annotations ?? {}))
    if (!FILTERED_ANNOTATIONS.includes(k) && !k.startsWith('fledge.app/')) annotations[k] = v;
  annotations[ANNOTATIONS.canary] = canary.metadata.name;
  Object.assign(annotations, cookieAnnotations(canary.spec.analysis.sessionAffinity ? (input.cookies ?? {}) : {}));
  if (input.originalSpec !== undefined) annotations[ANNOTATIONS.originalSpec] = input.originalSpec;

  const metadata: HTTPRoute['metadata'] = { name: names.apex, namespace: canary.metadata.namespace ?? 'default' };
  if (apex.labels && Object.keys(apex.labels).length) metadata.labels = { ...apex.labels };
  if (Object.keys(annotations).length) metadata.annotations = annotations;
  if (input.owner) metadata.ownerReferences = [input.owner];

  const spec: HTTPRoute['spec'] = {
    parentRefs: (service.gatewayRefs ?? []).map((p) => ({ ...p })),
    rules: buildRules(input),
  };
  if (service.hosts?.length) spec.hostnames = [...service.hosts];
  return { apiVersion: `${GATEWAY_GROUP}/${version}`, kind: 'HTTPRoute', metadata, spec };
}

// ---------------------------------------------------------------------------------------------------------
// Reading a route back

/**
 * Routes as stored (Flagger's GetRoutes): weights of the rule that splits between primary and canary — the one
 * with backend filters under session affinity, else the last two-backend rule that is not a sticky cookie rule —
 * and whether live traffic is mirrored to the canary Service.
 */
export function readRoutes(route: HTTPRoute, canary: Canary): Routes {
  const names = serviceNames(canary);
  const rules = route.spec.rules ?? [];
  const split = rules.filter(
    (r) =>
      r.backendRefs?.length === 2 &&
      r.backendRefs.some((b) => b.name === names.primary) &&
      r.backendRefs.some((b) => b.name === names.canary),
  );
  const weighted =
    split.find((r) => r.backendRefs.some((b) => b.filters?.length)) ??
    split.find((r) => !r.matches?.some(isStickyCookieMatch)) ??
    split[0];
  const weightOf = (name: string) => weighted?.backendRefs.find((b) => b.name === name)?.weight ?? 0;
  const mirrored = rules.some((r) =>
    (r.filters ?? []).some((f) => f.type === 'RequestMirror' && f.requestMirror?.backendRef.name === names.canary),
  );
  if (!weighted) return { primary: 100, canary: 0, mirrored };
  return { primary: weightOf(names.primary), canary: weightOf(names.canary), mirrored };
}

function isStickyCookieMatch(m: HTTPRouteMatch): boolean {
  return (m.headers ?? []).some((h) => h.name === 'Cookie' && h.value.startsWith('.*'));
}

// ---------------------------------------------------------------------------------------------------------
// Parent acceptance (readiness gate)

export type Acceptance = { ready: true } | { ready: false; message: string };

/**
 * A parentRef's API group as the status compares it: unset means the Gateway API group; `core` (what Flagger's
 * Linkerd GAMMA tutorial writes for a Service parent) is the core group "" that mesh controllers report.
 */
function parentGroup(p: ParentReference): string {
  const group = p.group ?? GATEWAY_GROUP;
  return group === 'core' ? '' : group;
}

function sameParent(a: ParentReference, b: ParentReference, routeNamespace: string): boolean {
  return (
    a.name === b.name &&
    parentGroup(a) === parentGroup(b) &&
    (a.kind ?? 'Gateway') === (b.kind ?? 'Gateway') &&
    (a.namespace ?? routeNamespace) === (b.namespace ?? routeNamespace) &&
    (a.sectionName ?? '') === (b.sectionName ?? '') &&
    (a.port ?? 0) === (b.port ?? 0)
  );
}

export function describeParent(p: ParentReference, routeNamespace: string): string {
  const kind = p.kind ?? 'Gateway';
  const where = `${p.namespace ?? routeNamespace}/${p.name}`;
  return `${kind} ${where}${p.sectionName ? ` section ${p.sectionName}` : ''}${p.port ? ` port ${p.port}` : ''}`;
}

/**
 * Every parent must report Accepted=True for the route's current generation before its weights mean anything.
 * With `allowUnreported`, a parent without any status entry passes (Flagger's behaviour; no gateway controller).
 */
export function parentAcceptance(route: HTTPRoute, allowUnreported = false): Acceptance {
  const ns = route.metadata.namespace;
  const generation = route.metadata.generation ?? 0;
  const label = `HTTPRoute ${ns}/${route.metadata.name}`;
  for (const parent of route.spec.parentRefs ?? []) {
    const statuses = (route.status?.parents ?? []).filter((s) => sameParent(s.parentRef, parent, ns));
    const who = describeParent(parent, ns);
    if (statuses.length === 0) {
      if (allowUnreported) continue;
      return { ready: false, message: `${label}: parent ${who} has not reported status yet` };
    }
    for (const s of statuses) {
      const accepted = s.conditions?.find((c) => c.type === 'Accepted');
      if (!accepted)
        return { ready: false, message: `${label}: parent ${who} (${s.controllerName}) has no Accepted condition` };
      if (accepted.status !== 'True')
        return {
          ready: false,
          message:
            `${label}: parent ${who} (${s.controllerName}) is not ready: Accepted=${accepted.status}` +
            `${accepted.reason ? ` (${accepted.reason}${accepted.message ? `: ${accepted.message}` : ''})` : ''}`,
        };
      if ((accepted.observedGeneration ?? 0) < generation)
        return {
          ready: false,
          message:
            `${label}: parent ${who} (${s.controllerName}) has not accepted generation ${generation} yet ` +
            `(observed generation ${accepted.observedGeneration ?? 0})`,
        };
    }
  }
  return { ready: true };
}
