import { z } from 'zod';
import { CanaryStatusSchema } from './status.ts';

export const API_VERSION = 'flagger.app/v1beta1';

// ---------------------------------------------------------------------------------------------------------------
// Go durations ("500ms", "30s", "1m30s", "1h"): Flagger parses them with time.ParseDuration, so we accept the same
// grammar (minus negative values, which mean nothing for an interval or a timeout).

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3, // U+00B5 micro sign
  μs: 1e-3, // U+03BC greek mu
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};
/** Go's largest time.Duration (int64 nanoseconds), in milliseconds. */
const MAX_DURATION_MS = 9_223_372_036_854.775;
const DURATION_TERM = /([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)/g;
/** The whole-string grammar; also emitted as the CRD `pattern`, so kubectl rejects typos before fledge sees them. */
export const DURATION_REGEX = /^(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$/;
const DURATION_HINT = 'expected a Go duration such as "30s", "1m", "1m30s" or "500ms"';

/** Why `s` is not a usable duration, or undefined when it is one. */
export function durationProblem(s: unknown): string | undefined {
  if (typeof s !== 'string') return `expected a duration string, ${DURATION_HINT}`;
  if (!DURATION_REGEX.test(s)) return `invalid duration ${JSON.stringify(s)}: ${DURATION_HINT}`;
  if (sumDuration(s) > MAX_DURATION_MS) return `duration ${JSON.stringify(s)} is too large`;
  return undefined;
}

function sumDuration(s: string): number {
  let ms = 0;
  for (const [, value, unit] of s.matchAll(DURATION_TERM)) ms += Number(value) * (UNIT_MS[unit ?? ''] ?? NaN);
  return ms;
}

/** Parses a Go duration string into milliseconds; throws a RangeError that says what is wrong. */
export function parseDuration(s: string): number {
  const problem = durationProblem(s);
  if (problem) throw new RangeError(problem);
  return sumDuration(s);
}

const duration = z
  .string()
  // abort: one clear message per bad duration rather than one per failed check.
  .regex(DURATION_REGEX, { error: (iss) => durationProblem(iss.input), abort: true })
  .refine((s) => durationProblem(s) === undefined, { error: (iss) => durationProblem(iss.input), abort: true });
const positiveDuration = duration.refine((s) => sumDuration(s) > 0, 'must be a positive duration');

// ---------------------------------------------------------------------------------------------------------------
// Small building blocks

const nonEmpty = z.string().min(1);
const stringMap = z.record(z.string(), z.string());
const percent = z.int().min(0).max(100);
const weight = z.int().min(1).max(100);
const portNumber = z.int().min(1).max(65535);

const ObjectMetaSchema = z
  .looseObject({ name: nonEmpty, namespace: z.string().optional() })
  .meta({ description: 'Standard Kubernetes object metadata' });

function localRef<const K extends readonly [string, ...string[]]>(kinds: K, description: string) {
  return z.object({ apiVersion: nonEmpty, kind: z.enum(kinds), name: nonEmpty }).meta({ description });
}

const CrossNamespaceRefSchema = z.object({ name: nonEmpty, namespace: z.string().optional() });

const AutoscalerRefSchema = z
  .object({
    apiVersion: nonEmpty,
    kind: z.enum(['HorizontalPodAutoscaler', 'ScaledObject']),
    name: nonEmpty,
    primaryScalerQueries: stringMap.optional(),
    primaryScalerReplicas: z
      .object({ minReplicas: z.int().min(1).optional(), maxReplicas: z.int().min(1).optional() })
      .refine((r) => r.minReplicas === undefined || r.maxReplicas === undefined || r.minReplicas <= r.maxReplicas, {
        message: 'minReplicas must not exceed maxReplicas',
        path: ['minReplicas'],
      })
      .optional(),
  })
  .meta({ description: 'Autoscaler of the target; fledge creates a copy for the primary' });

/** Istio-style string match: exactly one of the operators. */
const StringMatchSchema = z
  .object({
    exact: z.string().optional(),
    prefix: z.string().optional(),
    suffix: z.string().optional(),
    regex: z.string().optional().meta({ description: 'RE2 style regex-based match' }),
  })
  .refine(exactlyOneSet(['exact', 'prefix', 'suffix', 'regex']), 'set exactly one of exact, prefix, suffix, regex');

/** Cookie match (fledge addition: Flagger's CRD prunes `cookies`, so users wrote regexes on the Cookie header). */
const CookieMatchSchema = z
  .object({ exact: z.string().optional(), regex: z.string().optional() })
  .refine(exactlyOneSet(['exact', 'regex']), 'set exactly one of exact, regex');

function exactlyOneSet(keys: readonly string[]) {
  return (o: Record<string, unknown>) => keys.filter((k) => o[k] !== undefined).length === 1;
}

const HttpMatchSchema = z.object({
  name: z.string().optional(),
  uri: StringMatchSchema.optional(),
  scheme: StringMatchSchema.optional(),
  method: StringMatchSchema.optional(),
  authority: StringMatchSchema.optional(),
  headers: z.record(z.string(), StringMatchSchema).optional(),
  withoutHeaders: z.record(z.string(), StringMatchSchema).optional(),
  queryParams: z.record(z.string(), StringMatchSchema).optional(),
  cookies: z.record(z.string(), CookieMatchSchema).optional().meta({ description: 'Cookie match conditions (fledge)' }),
  port: portNumber.optional(),
  sourceLabels: stringMap.optional(),
  sourceNamespace: z.string().optional(),
  gateways: z.array(z.string()).optional(),
  ignoreUriCase: z.boolean().optional(),
});
export type HttpMatch = z.infer<typeof HttpMatchSchema>;

const HeaderOperationsSchema = z.object({
  add: stringMap.optional(),
  set: stringMap.optional(),
  remove: z.array(z.string()).optional(),
});

const CustomMetadataSchema = z.object({ labels: stringMap.optional(), annotations: stringMap.optional() });

/** Gateway API ParentReference. */
const GatewayRefSchema = z.object({
  group: z.string().max(253).optional(),
  kind: z.string().max(63).optional(),
  name: z.string().min(1).max(253),
  namespace: z.string().max(63).optional(),
  sectionName: z.string().max(253).optional(),
  port: portNumber.optional(),
});

const MirrorFilterSchema = z.object({
  backendRef: z.object({
    group: z.string().optional(),
    kind: z.string().optional(),
    name: nonEmpty,
    namespace: z.string().optional(),
    port: portNumber.optional(),
  }),
  percent: percent.optional(),
  fraction: z.object({ numerator: z.int().min(0), denominator: z.int().min(1).optional() }).optional(),
});

// ---------------------------------------------------------------------------------------------------------------
// spec.service

export const CanaryServiceSchema = z
  .object({
    name: z.string().optional().meta({ description: 'Name of the generated Services (default: targetRef.name)' }),
    port: portNumber.meta({ description: 'Port of the generated Services' }),
    portName: z.string().default('http'),
    targetPort: z
      .union([portNumber, nonEmpty], { error: 'must be a port number (1-65535) or a port name' })
      .optional()
      .meta({ description: 'Container port number or name (default: port)' }),
    portDiscovery: z.boolean().default(false),
    appProtocol: z.string().optional(),
    trafficDistribution: z.enum(['PreferClose', 'PreferSameZone', 'PreferSameNode']).optional(),
    headless: z.boolean().optional(),
    timeout: duration.optional(),
    backendTimeout: duration.optional().meta({ description: 'Backend request timeout (Gateway API)' }),
    meshName: z.string().optional(),
    backends: z.array(z.string()).optional(),
    hosts: z.array(z.string()).optional(),
    gateways: z.array(z.string()).optional(),
    gatewayRefs: z.array(GatewayRefSchema).max(32).optional().meta({ description: 'Parent Gateways of the HTTPRoute' }),
    delegation: z.boolean().optional(),
    match: z.array(HttpMatchSchema).optional(),
    rewrite: z
      .object({ uri: z.string().optional(), authority: z.string().optional(), type: z.string().optional() })
      .optional(),
    retries: z
      .object({
        attempts: z.int().min(0).optional(),
        perTryTimeout: duration.optional(),
        retryOn: z.string().optional(),
      })
      .optional(),
    headers: z
      .object({ request: HeaderOperationsSchema.optional(), response: HeaderOperationsSchema.optional() })
      .optional(),
    mirror: z.array(MirrorFilterSchema).optional(),
    corsPolicy: z
      .object({
        allowOrigin: z.array(z.string()).optional(),
        allowOrigins: z.array(StringMatchSchema).optional(),
        allowMethods: z.array(z.string()).optional(),
        allowHeaders: z.array(z.string()).optional(),
        exposeHeaders: z.array(z.string()).optional(),
        maxAge: duration.optional(),
        allowCredentials: z.boolean().optional(),
      })
      .optional(),
    // Istio's DestinationRule traffic policy is large and versioned by Istio: keep it verbatim.
    trafficPolicy: z.looseObject({}).optional().meta({ description: 'Istio traffic policy (kept verbatim)' }),
    apex: CustomMetadataSchema.optional(),
    primary: CustomMetadataSchema.optional(),
    canary: CustomMetadataSchema.optional(),
    unmanagedMetadata: z
      .object({ annotations: z.array(z.string()).optional(), labels: z.array(z.string()).optional() })
      .optional(),
  })
  .meta({ description: 'How the apex, primary and canary Services and routes are generated' });
export type CanaryService = z.infer<typeof CanaryServiceSchema>;

// ---------------------------------------------------------------------------------------------------------------
// spec.analysis

/** Metrics that need no query: Flagger computes them from the mesh or ingress telemetry. */
export const BUILTIN_METRICS = ['request-success-rate', 'request-duration'] as const;

export const CanaryMetricSchema = z
  .object({
    name: nonEmpty,
    interval: positiveDuration.default('1m').meta({ description: 'Window of the query (default 1m)' }),
    threshold: z.number().optional().meta({ description: 'Deprecated: use thresholdRange.max' }),
    thresholdRange: z
      .object({ min: z.number().optional(), max: z.number().optional() })
      .refine((r) => r.min === undefined || r.max === undefined || r.min <= r.max, {
        message: 'min must not exceed max',
        path: ['min'],
      })
      .optional(),
    query: z.string().optional(),
    templateRef: CrossNamespaceRefSchema.optional(),
    templateVariables: stringMap.optional(),
    noDataPolicy: z.enum(['fail', 'skip', 'pass']).default('fail').meta({
      description: 'What an empty query result means: fail the check (default), skip it, or pass it (fledge)',
    }),
  })
  .refine(
    (m) => Boolean(m.query) || m.templateRef !== undefined || (BUILTIN_METRICS as readonly string[]).includes(m.name),
    {
      error: (iss) =>
        `metric ${JSON.stringify((iss.input as { name?: unknown }).name)} needs a query, a templateRef, ` +
        `or a builtin name (${BUILTIN_METRICS.join(', ')})`,
    },
  );
export type CanaryMetric = z.infer<typeof CanaryMetricSchema>;

export const WEBHOOK_TYPES = [
  'confirm-rollout',
  'pre-rollout',
  'rollout',
  'confirm-traffic-increase',
  'confirm-promotion',
  'post-rollout',
  'rollback',
  'event',
] as const;
export type WebhookType = (typeof WEBHOOK_TYPES)[number];

// A pattern rather than URL.parse: this module is also loaded inside Temporal's workflow sandbox.
const HTTP_URL = /^https?:\/\/[^\s/?#]+([/?#]\S*)?$/i;
function isHttpUrl(s: string): boolean {
  return HTTP_URL.test(s);
}

export const CanaryWebhookSchema = z.object({
  name: nonEmpty,
  // Flagger treats an empty type as a rollout hook.
  type: z
    .enum(['', ...WEBHOOK_TYPES])
    .default('rollout')
    .transform((t): WebhookType => (t === '' ? 'rollout' : t)),
  url: z.string().refine(isHttpUrl, 'must be an absolute http(s) URL'),
  timeout: positiveDuration.default('10s'),
  metadata: stringMap.optional(),
  muteAlert: z.boolean().default(false),
  retries: z.int().min(0).optional(),
  disableTLS: z.boolean().default(false),
});
export type CanaryWebhook = z.infer<typeof CanaryWebhookSchema>;

// In a module without zod, so that the workflow bundle (which needs it) stays free of the schemas.
export { MAX_WEBHOOK_RETRIES } from './limits.ts';

export const ALERT_SEVERITIES = ['info', 'warn', 'error'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

export const CanaryAlertSchema = z.object({
  name: nonEmpty,
  severity: z
    .enum(['', ...ALERT_SEVERITIES])
    .default('info')
    .transform((s): AlertSeverity => (s === '' ? 'info' : s)),
  providerRef: CrossNamespaceRefSchema,
});
export type CanaryAlert = z.infer<typeof CanaryAlertSchema>;

export const SessionAffinitySchema = z
  .object({
    cookieName: nonEmpty,
    primaryCookieName: z.string().optional(),
    domain: z.string().optional(),
    path: z.string().optional(),
    maxAge: z.int().min(1).default(86400).meta({ description: 'Cookie lifetime in seconds (default 86400)' }),
    httpOnly: z.boolean().optional(),
    secure: z.boolean().optional(),
    partitioned: z.boolean().optional(),
    sameSite: z.enum(['Strict', 'Lax', 'None']).optional(),
  })
  .refine((a) => a.primaryCookieName === undefined || a.primaryCookieName !== a.cookieName, {
    message: 'primaryCookieName must differ from cookieName, or clients could not tell primary from canary',
    path: ['primaryCookieName'],
  });
export type SessionAffinity = z.infer<typeof SessionAffinitySchema>;

// Flagger accepts step weights above 100 (the rollout clamps them to maxWeight), so only the lower bound holds.
const stepWeights = z
  .array(z.int().min(1))
  .min(1)
  .refine((ws) => ws.every((w, i) => i === 0 || w > (ws[i - 1] ?? 0)), 'stepWeights must be strictly increasing');

export const CanaryAnalysisSchema = z
  .object({
    interval: positiveDuration.meta({ description: 'Schedule interval of the analysis, e.g. 1m' }),
    // Flagger counts a threshold of 0 as 1 (GetAnalysisThreshold).
    threshold: z
      .int()
      .min(0)
      .transform((t) => Math.max(t, 1))
      .meta({ description: 'Failed checks before rollback' }),
    iterations: z.int().min(1).optional().meta({ description: 'Number of checks for A/B testing and blue/green' }),
    maxWeight: weight.optional().meta({ description: 'Max traffic weight routed to the canary (default 100)' }),
    stepWeight: weight.optional().meta({ description: 'Traffic weight increment per step' }),
    stepWeights: stepWeights.optional().meta({ description: 'Explicit traffic weights per step' }),
    stepWeightPromotion: weight.optional().meta({ description: 'Traffic weight increment during promotion' }),
    mirror: z.boolean().default(false),
    mirrorWeight: percent.optional(),
    primaryReadyThreshold: percent.default(100),
    canaryReadyThreshold: percent.default(100),
    match: z.array(HttpMatchSchema).default([]).meta({ description: 'A/B testing match conditions' }),
    metrics: z.array(CanaryMetricSchema).default([]),
    webhooks: z.array(CanaryWebhookSchema).default([]),
    alerts: z.array(CanaryAlertSchema).default([]),
    sessionAffinity: SessionAffinitySchema.optional(),
  })
  .meta({ description: 'How a release is analysed' });
export type CanaryAnalysis = z.infer<typeof CanaryAnalysisSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Providers

/** Every traffic provider name Flagger v1.44 accepts, so the CRD admits any Flagger manifest. */
export const FLAGGER_PROVIDERS = [
  'apisix',
  'appmesh',
  'appmesh:v1beta2',
  'contour',
  'gatewayapi',
  'gatewayapi:v1',
  'gatewayapi:v1beta1',
  'gloo',
  'istio',
  'knative',
  'kubernetes',
  'kuma',
  'linkerd',
  'nginx',
  'osm',
  'skipper',
  'smi:v1alpha1',
  'smi:v1alpha2',
  'smi:v1alpha3',
  'traefik',
] as const;
export type Provider = (typeof FLAGGER_PROVIDERS)[number];
/**
 * The providers fledge routes (one router each in activities/routers/registry.ts; a unit test keeps the two lists
 * equal). One name a line, so adding a provider is a one-line change.
 */
export const SUPPORTED_PROVIDERS = [
  'apisix',
  'appmesh',
  'appmesh:v1beta2',
  'contour',
  'gatewayapi',
  'gatewayapi:v1',
  'gatewayapi:v1beta1',
  'gloo',
  'istio',
  'knative',
  'kubernetes',
  'kuma',
  'linkerd',
  'osm',
  'smi:v1alpha1',
  'smi:v1alpha2',
  'smi:v1alpha3',
  'nginx',
  'skipper',
  'traefik',
] as const satisfies readonly Provider[];
export type SupportedProvider = (typeof SUPPORTED_PROVIDERS)[number];
/**
 * The supported names as error messages list them. `gatewayapi` alone is accepted as an alias but not advertised:
 * Flagger's CRD only lists the versioned names.
 */
export const SUPPORTED_LIST = SUPPORTED_PROVIDERS.filter((p) => p !== 'gatewayapi').join(', ');

export function isGatewayApi(provider: string | undefined): boolean {
  return provider === 'gatewayapi' || (provider?.startsWith('gatewayapi:') ?? false);
}

/** Providers that route with an SMI TrafficSplit (Flagger pkg/router/factory.go): they cannot mirror traffic. */
export function isSmi(provider: string | undefined): boolean {
  return provider === 'linkerd' || provider === 'osm' || (provider?.startsWith('smi:') ?? false);
}

/**
 * A provider name as Flagger's `-mesh-provider` flag takes it, as the Canary schema names it: Flagger's router
 * factory also takes `smi:<version>:<mesh>` there (the mesh only decides an Istio-only annotation), which the
 * Canary CRD's enum does not; fledge routes it as `smi:<version>`. Other names come back unchanged.
 */
export function canonicalProvider(name: string): string {
  const m = /^(smi:v1alpha[123]):[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.exec(name);
  return m ? m[1]! : name;
}

const ProviderSchema = z.enum(FLAGGER_PROVIDERS, {
  error: (iss) => `unknown provider ${JSON.stringify(iss.input)}; fledge supports ${SUPPORTED_LIST}`,
});

// ---------------------------------------------------------------------------------------------------------------
// spec

const CanarySpecObject = z.object({
  provider: ProviderSchema.optional().meta({ description: 'Traffic management provider' }),
  metricsServer: z.string().optional().meta({ description: 'Prometheus URL used by builtin metrics' }),
  targetRef: localRef(['Deployment', 'DaemonSet', 'Service'], 'The workload to roll out'),
  autoscalerRef: AutoscalerRefSchema.optional(),
  ingressRef: localRef(['Ingress'], 'Ingress of the NGINX and Skipper providers').optional(),
  routeRef: localRef(['ApisixRoute'], 'Route of the APISIX provider').optional(),
  upstreamRef: z
    .object({ apiVersion: nonEmpty, kind: z.enum(['Upstream']), name: nonEmpty, namespace: z.string().optional() })
    .optional()
    .meta({ description: 'Upstream of the Gloo provider' }),
  service: CanaryServiceSchema.optional(),
  analysis: CanaryAnalysisSchema,
  progressDeadlineSeconds: z
    .int()
    .min(1)
    .default(600)
    .meta({ description: 'Seconds a rollout may make no progress before it fails (default 600)' }),
  skipAnalysis: z.boolean().default(false).meta({ description: 'Promote without analysis' }),
  revertOnDeletion: z.boolean().default(false).meta({ description: 'Restore the target when the Canary is deleted' }),
  suspend: z.boolean().default(false).meta({ description: 'Pause all rollouts of this Canary' }),
});
type SpecShape = z.infer<typeof CanarySpecObject>;
type Issue = { message: string; path: (string | number)[] };

/** Flagger's error text, kept verbatim so existing alerts and runbooks still match. */
export const GATEWAY_REFS_REQUIRED = 'GatewayRefs must be specified when using Gateway API as a provider.';
/** Flagger's legacy App Mesh router refuses a Canary without `service.meshName` with this text (pkg/router/appmesh.go). */
export const MESH_NAME_REQUIRED = 'mesh name cannot be empty';

/** The apiVersion of a Knative Service target (Flagger's `IsKnativeService`: kind Service of this version). */
export const KNATIVE_SERVICE_API_VERSION = 'serving.knative.dev/v1';

/** A `kind: Service` targetRef of Knative Serving (`serving.knative.dev/v1`), as opposed to a core Service. */
export function isKnativeService(ref: { apiVersion?: string; kind?: string } | undefined): boolean {
  return ref?.kind === 'Service' && ref.apiVersion === KNATIVE_SERVICE_API_VERSION;
}

/**
 * A Knative Service target goes with the knative provider and nothing else, and has no autoscaler (Knative scales
 * its revisions); Flagger's verifyKnativeCanary, with its texts.
 */
function knativeIssues(spec: SpecShape): Issue[] {
  const knativeTarget = isKnativeService(spec.targetRef);
  if (knativeTarget !== (spec.provider === 'knative'))
    return [
      knativeTarget
        ? { path: ['provider'], message: `can't use ${spec.provider} provider with Knative Service as target` }
        : {
            path: ['targetRef'],
            message: `can't use ${spec.targetRef.apiVersion}/${spec.targetRef.kind} as target if provider is set to knative`,
          },
    ];
  if (knativeTarget && spec.autoscalerRef)
    return [{ path: ['autoscalerRef'], message: "can't use autoscaler with Knative Service" }];
  return [];
}

function serviceIssues(spec: SpecShape): Issue[] {
  if (spec.service === undefined) {
    if (spec.targetRef.kind === 'Service') return [];
    return [
      { path: ['service'], message: 'is required: fledge generates the apex, primary and canary Services from it' },
    ];
  }
  if (isGatewayApi(spec.provider) && !spec.service.gatewayRefs?.length)
    return [{ path: ['service', 'gatewayRefs'], message: GATEWAY_REFS_REQUIRED }];
  if (spec.provider === 'appmesh' && !spec.service.meshName)
    return [{ path: ['service', 'meshName'], message: MESH_NAME_REQUIRED }];
  return [];
}

/**
 * The nginx and skipper routers clone spec.ingressRef (Flagger only says "ingress selector is empty" at the first
 * reconcile).
 */
function ingressIssues(spec: SpecShape): Issue[] {
  if ((spec.provider !== 'nginx' && spec.provider !== 'skipper') || spec.ingressRef?.name) return [];
  return [
    {
      path: ['ingressRef'],
      message: `is required with provider ${spec.provider}: the Ingress whose <name>-canary copy routes traffic to the canary`,
    },
  ];
}

/** The apisix router clones spec.routeRef (Flagger only says "apisix route selector is empty" at reconcile). */
function routeRefIssues(spec: SpecShape): Issue[] {
  if (spec.provider !== 'apisix' || spec.routeRef?.name) return [];
  return [
    {
      path: ['routeRef'],
      message: 'is required with provider apisix: the ApisixRoute whose <route>-<service>-canary copy splits traffic',
    },
  ];
}

/** Flagger's CRD admits exactly one of iterations, stepWeight and stepWeights (a oneOf). */
function strategyIssues(spec: SpecShape): Issue[] {
  const a = spec.analysis;
  const set = (['iterations', 'stepWeight', 'stepWeights'] as const).filter((k) => a[k] !== undefined);
  const issues: Issue[] = [];
  if (set.length !== 1)
    issues.push({
      path: set.length === 0 ? ['analysis'] : ['analysis', set[1] ?? ''],
      message:
        set.length === 0
          ? 'set one of iterations (blue/green, A/B testing), stepWeight or stepWeights (canary)'
          : `set only one of ${set.join(', ')}: they select different strategies`,
    });
  if (a.match.length > 0 && a.iterations === undefined && spec.provider !== 'kubernetes')
    issues.push({ path: ['analysis', 'iterations'], message: 'A/B testing (analysis.match) requires iterations' });
  if (a.mirrorWeight !== undefined && !a.mirror)
    issues.push({ path: ['analysis', 'mirrorWeight'], message: 'mirrorWeight requires mirror: true' });
  return issues;
}

export const CanarySpecSchema = CanarySpecObject.superRefine((spec, ctx) => {
  for (const issue of [
    ...knativeIssues(spec),
    ...serviceIssues(spec),
    ...ingressIssues(spec),
    ...routeRefIssues(spec),
    ...strategyIssues(spec),
  ])
    ctx.addIssue({ code: 'custom', input: spec, ...issue });
}).meta({ description: 'CanarySpec defines the desired state of a Canary.' });
export type CanarySpec = z.infer<typeof CanarySpecSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Canary

export const CanarySchema = z
  .object({
    apiVersion: z.literal(API_VERSION).default(API_VERSION),
    kind: z.literal('Canary').default('Canary'),
    metadata: ObjectMetaSchema,
    spec: CanarySpecSchema,
    // Status is ours to write: a malformed one must not block reading the spec.
    status: CanaryStatusSchema.optional().catch(undefined),
  })
  .meta({ description: 'Canary is the Schema for the Canary API.' });
export type Canary = z.infer<typeof CanarySchema>;
/** A Canary as written by users, before defaults. */
export type CanaryInput = z.input<typeof CanarySchema>;

export { ObjectMetaSchema };
