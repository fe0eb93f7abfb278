import type { z } from 'zod';
import { CanarySchema, canonicalProvider, isSmi } from './canary.ts';
import type { Canary, CanarySpec, HttpMatch, Provider } from './canary.ts';
import { MetricTemplateSchema } from './metric-template.ts';
import type { MetricTemplate } from './metric-template.ts';
import { AlertProviderSchema } from './alert-provider.ts';
import type { AlertProvider } from './alert-provider.ts';

export type ValidationError = { path: string; message: string };
export type ParseResult<K extends string, T> =
  ({ ok: true; warnings: string[] } & { [key in K]: T }) | { ok: false; errors: ValidationError[] };

export type ParseCanaryOptions = {
  /** Provider of canaries that name none: the worker's `--provider` flag (Flagger's `-mesh-provider`). */
  defaultProvider?: Provider;
};

/**
 * Reads a Canary as the apiserver hands it over: applies defaults, then Flagger's cross-field rules.
 * Never throws: every problem comes back as a path (`spec.analysis.metrics[0].interval`) and a reason.
 */
export function parseCanary(
  raw: unknown,
  options: ParseCanaryOptions = {},
): { ok: true; canary: Canary; warnings: string[] } | { ok: false; errors: ValidationError[] } {
  return guarded(() => {
    const parsed = safeParse(CanarySchema, withDefaultProvider(raw, options.defaultProvider ?? 'kubernetes'));
    if (!parsed.ok) return parsed;
    return { ok: true, canary: parsed.value, warnings: deriveStrategy(parsed.value.spec).warnings };
  });
}

/** Analysis fields the routing objects and the readiness checks are built from; the rest only drives analysis. */
const ROUTING_ANALYSIS_KEYS = [
  'interval',
  'match',
  'mirror',
  'mirrorWeight',
  'sessionAffinity',
  'primaryReadyThreshold',
  'canaryReadyThreshold',
];

/**
 * The Canary as far as its routes, Services and workloads are concerned, also when the analysis part of the spec
 * is invalid (e.g. `stepWeights: [30, 20]` edited in mid-rollout): the routers must still read and restore the
 * weights in force. Tries the full parse first; then the spec with `analysis` reduced to its routing fields
 * (plus `threshold: 1, iterations: 1`, so the schema's rules are met); then with a bare `interval: 1m`.
 * Returns the errors of the full parse when even the routing view is invalid (e.g. a broken `service`): nothing
 * can be routed then.
 */
export function parseCanaryForRouting(
  raw: unknown,
  options: ParseCanaryOptions = {},
): { ok: true; canary: Canary; lenient: boolean } | { ok: false; errors: ValidationError[] } {
  const full = parseCanary(raw, options);
  if (full.ok) return { ok: true, canary: full.canary, lenient: false };
  if (!isRecord(raw) || !isRecord(raw.spec)) return full;
  const analysis = isRecord(raw.spec.analysis) ? raw.spec.analysis : {};
  const routing = Object.fromEntries(Object.entries(analysis).filter(([k]) => ROUTING_ANALYSIS_KEYS.includes(k)));
  // threshold and iterations only satisfy the schema here: no analysis runs on this view.
  for (const reduced of [
    { ...routing, threshold: 1, iterations: 1 },
    { interval: '1m', threshold: 1, iterations: 1 },
  ]) {
    const parsed = parseCanary({ ...raw, spec: { ...raw.spec, analysis: reduced } }, options);
    if (parsed.ok) return { ok: true, canary: parsed.canary, lenient: true };
  }
  return full;
}

export function parseMetricTemplate(raw: unknown): ParseResult<'metricTemplate', MetricTemplate> {
  const parsed = safeParse(MetricTemplateSchema, raw);
  return parsed.ok ? { ok: true, metricTemplate: parsed.value, warnings: [] } : parsed;
}

export function parseAlertProvider(raw: unknown): ParseResult<'alertProvider', AlertProvider> {
  const parsed = safeParse(AlertProviderSchema, raw);
  return parsed.ok ? { ok: true, alertProvider: parsed.value, warnings: [] } : parsed;
}

/** Fills `spec.provider` without mutating the caller's object, so the parsed canary always names its provider. */
function withDefaultProvider(raw: unknown, provider: Provider): unknown {
  if (!isRecord(raw) || !isRecord(raw.spec)) return raw;
  if (raw.spec.provider !== undefined && raw.spec.provider !== '') return raw;
  return { ...raw, spec: { ...raw.spec, provider: canonicalProvider(provider) } };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---------------------------------------------------------------------------------------------------------------
// Strategy

export type Strategy = 'canary' | 'ab-testing' | 'blue-green';
export type StrategyPlan = {
  strategy: Strategy;
  /** Traffic is mirrored to the canary before it gets any live traffic. */
  mirrored: boolean;
  /** Checks to run for blue/green and A/B testing; 0 for a canary, which ends at its max weight. */
  iterations: number;
  /** Things Flagger would have reported as warning events. */
  warnings: string[];
};

/** The kubernetes provider cannot split traffic: Flagger then runs blue/green with this many iterations. */
export const KUBERNETES_DEFAULT_ITERATIONS = 10;

/**
 * Which rollout a spec asks for, with Flagger's precedence (scheduler.go): A/B testing when there are match
 * conditions and iterations, else blue/green when there are iterations, else canary. The kubernetes provider
 * forces blue/green.
 */
export function deriveStrategy(spec: CanarySpec): StrategyPlan {
  const a = spec.analysis;
  const warnings: string[] = [];
  let iterations = a.iterations ?? 0;
  let match = a.match.length > 0;
  if (spec.provider === 'kubernetes') {
    // Same messages as Flagger's warning events.
    if (match) warnings.push('A/B testing is not supported when using the kubernetes provider');
    match = false;
    if (iterations < 1) {
      warnings.push('Progressive traffic is not supported when using the kubernetes provider');
      warnings.push(`Setting canaryAnalysis.iterations: ${KUBERNETES_DEFAULT_ITERATIONS}`);
      iterations = KUBERNETES_DEFAULT_ITERATIONS;
    }
  }
  const strategy: Strategy = match && iterations > 0 ? 'ab-testing' : iterations > 0 ? 'blue-green' : 'canary';
  // A/B testing routes by request; the kubernetes provider has no router; SMI, ingress-nginx canaries, App Mesh,
  // Skipper's or APISIX's backend weights, Traefik's TraefikService, Kuma's TrafficRoute and Gloo's RouteTable do
  // not copy requests: none of them mirrors (Flagger's routers for them ignored the mirror and stalled at weight 0;
  // Flagger lists mirroring for Istio and Gateway API only).
  const mirrored =
    a.mirror &&
    strategy !== 'ab-testing' &&
    spec.provider !== 'kubernetes' &&
    spec.provider !== 'nginx' &&
    spec.provider !== 'gloo' &&
    !ignoresMatch(spec.provider) &&
    !isAppMesh(spec.provider);
  // Flagger's SMI, Skipper, APISIX, Traefik and Kuma routers ignore match conditions: A/B iterations send all
  // traffic to the canary.
  if (strategy === 'ab-testing' && ignoresMatch(spec.provider))
    warnings.push(
      `A/B testing match conditions are ignored by the ${spec.provider} provider: all traffic goes to the canary`,
    );
  if (a.mirror && !mirrored) warnings.push(`analysis.mirror is ignored for ${describe(strategy, spec.provider)}`);
  if (strategy === 'ab-testing' && spec.provider === 'nginx') warnings.push(...nginxMatchWarnings(a.match));
  const headers = a.match.reduce((n, m) => n + Object.keys(m.headers ?? {}).length, 0);
  if (isAppMesh(spec.provider) && headers > 1)
    warnings.push(`App Mesh supports a single condition: all ${headers} headers of analysis.match must match`);
  return { strategy, mirrored, iterations: strategy === 'canary' ? 0 : iterations, warnings };
}

/**
 * The parts of A/B match entries ingress-nginx's canary annotations cannot express (Flagger pkg/router/ingress.go
 * SetRoutes): a cookie is selected by its name only (`canary-by-cookie` takes a `cookie` header's exact value), so
 * a `cookie` header with any other operator, and fledge's `cookies`, select nothing. The router drops them as
 * Flagger's does; the warning says so instead of leaving it silent.
 */
function nginxMatchWarnings(match: readonly HttpMatch[]): string[] {
  const out: string[] = [];
  match.forEach((m, i) => {
    const cookie = m.headers?.cookie;
    if (cookie && !cookie.exact)
      out.push(
        `analysis.match[${i}].headers.cookie is ignored by the nginx provider: ingress-nginx selects a cookie by name (exact) only`,
      );
    if (m.cookies)
      out.push(
        `analysis.match[${i}].cookies is ignored by the nginx provider: ingress-nginx selects a cookie by name (headers.cookie.exact)`,
      );
  });
  return out;
}

/**
 * Providers whose routers only split by weight (Flagger's SMI, Skipper, APISIX, Traefik, Kuma and Knative routers):
 * no A/B match, no mirror.
 */
function ignoresMatch(provider: string | undefined): boolean {
  return isSmi(provider) || ['skipper', 'apisix', 'traefik', 'kuma', 'knative'].includes(provider ?? '');
}

function isAppMesh(provider: string | undefined): boolean {
  return provider === 'appmesh' || (provider?.startsWith('appmesh:') ?? false);
}

function describe(strategy: Strategy, provider: string | undefined): string {
  return strategy === 'ab-testing' ? 'A/B testing' : `the ${provider} provider`;
}

/** Apex, primary and canary Service names (Flagger's GetServiceNames). */
export function serviceNames(canary: Pick<Canary, 'spec'>): { apex: string; primary: string; canary: string } {
  const apex = canary.spec.service?.name || canary.spec.targetRef.name;
  return { apex, primary: `${apex}-primary`, canary: `${apex}-canary` };
}

// ---------------------------------------------------------------------------------------------------------------
// Errors

type Parsed<T> = { ok: true; value: T } | { ok: false; errors: ValidationError[] };

function safeParse<T>(schema: z.ZodType<T>, raw: unknown): Parsed<T> {
  return guarded(() => {
    const result = schema.safeParse(raw, { error: friendlyMessage });
    if (result.success) return { ok: true, value: result.data };
    return { ok: false, errors: result.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })) };
  });
}

/** Exotic inputs (throwing getters, revoked proxies, cycles) must not take the worker down. */
function guarded<T>(f: () => T): T | { ok: false; errors: ValidationError[] } {
  try {
    return f();
  } catch (err) {
    return { ok: false, errors: [{ path: ROOT, message: `unreadable input: ${String(err)}` }] };
  }
}

const ROOT = '(root)';
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** `['spec', 'analysis', 'metrics', 0, 'interval']` → `spec.analysis.metrics[0].interval`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && IDENTIFIER.test(key)) out += out ? `.${key}` : key;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out || ROOT;
}

/** Zod's defaults say "Invalid input: expected number, received string"; users read YAML, so say it their way. */
function friendlyMessage(iss: z.core.$ZodRawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      return iss.input === undefined ? 'is required' : `expected ${typeName(iss.expected)}, got ${show(iss.input)}`;
    case 'too_small':
      return sizeMessage(iss.origin, 'at least', iss.minimum, iss.inclusive);
    case 'too_big':
      return sizeMessage(iss.origin, 'at most', iss.maximum, iss.inclusive);
    case 'invalid_value':
      return `must be one of ${iss.values.map((v) => JSON.stringify(v)).join(', ')}; got ${show(iss.input)}`;
    default:
      return undefined;
  }
}

function typeName(expected: string): string {
  const names: Record<string, string> = {
    int: 'an integer',
    record: 'an object',
    object: 'an object',
    array: 'a list',
  };
  return names[expected] ?? `a ${expected}`;
}

function sizeMessage(origin: string, bound: string, limit: number | bigint, inclusive = true): string {
  const n = inclusive ? limit : `${bound === 'at least' ? 'more' : 'less'} than ${limit}`;
  if (origin === 'string')
    return Number(limit) === 1 && bound === 'at least' ? 'must not be empty' : `length must be ${bound} ${n}`;
  if (origin === 'array') return `must have ${inclusive ? `${bound} ${n}` : n} item${Number(limit) === 1 ? '' : 's'}`;
  return inclusive ? `must be ${bound} ${n}` : `must be ${n}`;
}

function show(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'an object';
  if (typeof input === 'string') return JSON.stringify(input.length > 40 ? `${input.slice(0, 40)}…` : input);
  return typeof input === 'number' || typeof input === 'boolean' ? String(input) : typeof input;
}
