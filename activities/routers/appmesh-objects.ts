// Pure App Mesh builders: a validated Canary plus the weights to put in force → the appmesh.k8s.aws objects fledge
// applies. No I/O here, so every object shape is unit-testable and the same object is what the apiserver stores.
//
// Shapes follow Flagger v1.44: pkg/router/appmesh_v1beta2.go (`appmesh:v1beta2`) and pkg/router/appmesh.go (legacy
// `appmesh`, the v1beta1 API). Deliberate changes: header conditions are sorted by name (Go map order), and the
// apex VirtualService's gateway annotations follow spec edits (Flagger set them only when it created the object).
import type { Canary, CanaryService, HttpMatch } from '../../api/canary.ts';
import { parseDuration } from '../../api/canary.ts';
import type { Routes } from '../../api/ports.ts';
import { serviceNames } from '../../api/validate.ts';
import type { OwnerReference } from './httproute.ts';

export const APPMESH_GROUP = 'appmesh.k8s.aws';
export type AppMeshVersion = 'v1beta2' | 'v1beta1';
/** Canary annotation that turns on the Envoy access log of the VirtualNodes (Flagger pkg/apis/appmesh). */
export const ACCESS_LOG_ANNOTATION = 'appmesh.flagger.app/accesslog';
/** Flagger's filterMetadata (pkg/router/util.go): keep Flux from reverting objects the router manages. */
const FLUX_ANNOTATIONS = {
  'kustomize.toolkit.fluxcd.io/reconcile': 'disabled',
  'helm.toolkit.fluxcd.io/driftDetection': 'disabled',
};

export interface AppMeshObject {
  apiVersion: string;
  kind: 'VirtualNode' | 'VirtualRouter' | 'VirtualService';
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
  };
  spec: Record<string, unknown>;
}

/** Weighted target of a v1beta2 route (`virtualNodeRef`) or a v1beta1 one (`virtualNodeName`). */
interface WeightedTarget {
  virtualNodeRef?: { name: string };
  virtualNodeName?: string;
  weight: number;
}

export interface BuildInput {
  canary: Canary;
  /** Weights of the apex route (the first route of the apex VirtualRouter / VirtualService). */
  routes: Pick<Routes, 'primary' | 'canary'>;
  /** Owner of every object (the Canary), as Flagger's setOwnerRefs. */
  owner?: OwnerReference;
  /** v1beta2: the target's selector label (`app`, …): VirtualNode pod selectors use it. */
  selectorLabel?: string;
}

// ---------------------------------------------------------------------------------------------------------
// Shared rules

/** `grpc` when the port name contains it, else `http` (Flagger getProtocol). */
export function protocolOf(service: CanaryService): 'grpc' | 'http' {
  return service.portName.includes('grpc') ? 'grpc' : 'http';
}

/** v1beta2 listener port: a numeric `targetPort`, else `port` (Flagger getContainerPort). */
export function containerPort(service: CanaryService): number {
  return typeof service.targetPort === 'number' && service.targetPort > 0 ? service.targetPort : service.port;
}

/** Whole milliseconds of a Go duration (Flagger's Duration.Milliseconds truncates). */
function millis(d: string): number {
  return Math.trunc(parseDuration(d));
}

/** The route's URI prefix: App Mesh matches prefixes only, taken from `service.match[0].uri.prefix`, else `/`. */
export function routePrefix(service: CanaryService): string {
  return service.match?.[0]?.uri?.prefix || '/';
}

/** `{ exact | prefix | suffix | regex }` of one condition, as App Mesh's HeaderMatchMethod. */
function headerMatch(m: NonNullable<HttpMatch['headers']>[string]): Record<string, string> {
  return Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined && v !== '')) as Record<string, string>;
}

/**
 * Header conditions of the A/B route: every header of every `analysis.match` entry, in one list (App Mesh ANDs
 * them: Flagger's makeHeaders; its docs say App Mesh supports a single condition). Sorted by name per entry.
 */
export function headerConditions(canary: Canary): { name: string; match: Record<string, string> }[] {
  return canary.spec.analysis.match.flatMap((m) =>
    Object.keys(m.headers ?? {})
      .sort()
      .map((name) => ({ name, match: headerMatch(m.headers![name]!) })),
  );
}

/** Annotations of the apex VirtualService for the App Mesh gateway, from `service.hosts` (Flagger). */
export function gatewayAnnotations(service: CanaryService): Record<string, string> {
  const hosts = service.hosts ?? [];
  if (hosts.length === 0) return {};
  const a: Record<string, string> = {
    'gateway.appmesh.k8s.aws/expose': 'true',
    'gateway.appmesh.k8s.aws/domain': hosts.map((h) => `${h},`).join(''),
  };
  if (service.timeout) a['gateway.appmesh.k8s.aws/timeout'] = service.timeout;
  if (service.retries?.attempts) a['gateway.appmesh.k8s.aws/retries'] = String(service.retries.attempts);
  return a;
}

/** Retry settings: per-try timeout (default 250 ms), attempts (default 1), events (default `gateway-error`). */
function retrySettings(service: CanaryService): { ms: number; attempts: number; events: string[] } | undefined {
  const r = service.retries;
  if (!r) return undefined;
  return {
    ms: r.perTryTimeout ? millis(r.perTryTimeout) : 250,
    attempts: r.attempts && r.attempts > 0 ? r.attempts : 1,
    events: r.retryOn ? r.retryOn.split(',') : ['gateway-error'],
  };
}

function accessLog(canary: Canary): Record<string, unknown> | undefined {
  const annotations = (canary.metadata as { annotations?: Record<string, string> }).annotations;
  if (annotations?.[ACCESS_LOG_ANNOTATION] !== 'enabled') return undefined;
  return { accessLog: { file: { path: '/dev/stdout' } } };
}

function service(canary: Canary): CanaryService {
  const s = canary.spec.service;
  if (!s) throw new Error('App Mesh routing needs spec.service');
  return s;
}

function meta(canary: Canary, name: string, owner: OwnerReference | undefined): AppMeshObject['metadata'] {
  const m: AppMeshObject['metadata'] = { name, namespace: canary.metadata.namespace ?? 'default' };
  if (owner) m.ownerReferences = [owner];
  return m;
}

/** VirtualNode metadata: the apex labels and annotations plus Flagger's Flux markers. */
function nodeMeta(canary: Canary, name: string, owner: OwnerReference | undefined): AppMeshObject['metadata'] {
  const apex = service(canary).apex;
  const m = meta(canary, name, owner);
  if (apex?.labels && Object.keys(apex.labels).length > 0) m.labels = { ...apex.labels };
  m.annotations = { ...(apex?.annotations ?? {}), ...FLUX_ANNOTATIONS };
  return m;
}

// ---------------------------------------------------------------------------------------------------------
// appmesh:v1beta2

/** The v1beta2 retry policy (Flagger makeRetryPolicy). */
function retryPolicyV1beta2(s: CanaryService): Record<string, unknown> | undefined {
  const r = retrySettings(s);
  if (!r) return undefined;
  return { perRetryTimeout: { unit: 'ms', value: r.ms }, maxRetries: r.attempts, httpRetryEvents: r.events };
}

function routeTimeout(s: CanaryService): Record<string, unknown> | undefined {
  return s.timeout ? { perRequest: { unit: 'ms', value: millis(s.timeout) } } : undefined;
}

/**
 * VirtualNodes `<apex>-primary` and `<apex>-canary`: one listener on the container port, DNS discovery of the
 * `-primary`/`-canary` Service (`<name>.<ns>.svc.cluster.local.`), pods selected by `<label>: <target>-primary` /
 * `<target>` (Flagger uses the target's name, not the label's value), backends from `service.backends` (`arn:aws…`
 * entries as ARNs, others as VirtualService names).
 */
export function virtualNodesV1beta2(input: BuildInput): AppMeshObject[] {
  const { canary, owner } = input;
  const s = service(canary);
  const names = serviceNames(canary);
  const ns = canary.metadata.namespace ?? 'default';
  const target = canary.spec.targetRef.name;
  const label = input.selectorLabel ?? 'app';
  const timeout = routeTimeout(s);
  const backends = (s.backends ?? []).map((b) => ({
    virtualService: b.startsWith('arn:aws') ? { virtualServiceARN: b } : { virtualServiceRef: { name: b } },
  }));
  const node = (name: string, pods: string): AppMeshObject => {
    const spec: Record<string, unknown> = {
      listeners: [
        {
          portMapping: { port: containerPort(s), protocol: protocolOf(s) },
          ...(timeout ? { timeout: { http: timeout } } : {}),
        },
      ],
      serviceDiscovery: { dns: { hostname: `${name}.${ns}.svc.cluster.local.` } },
      podSelector: { matchLabels: { [label]: pods } },
    };
    if (backends.length > 0) spec.backends = backends;
    const logging = accessLog(canary);
    if (logging) spec.logging = logging;
    return {
      apiVersion: `${APPMESH_GROUP}/v1beta2`,
      kind: 'VirtualNode',
      metadata: nodeMeta(canary, name, owner),
      spec,
    };
  };
  return [node(names.primary, `${target}-primary`), node(names.canary, target)];
}

function targetsV1beta2(canary: Canary, weights: BuildInput['routes']): WeightedTarget[] {
  const names = serviceNames(canary);
  return [
    { virtualNodeRef: { name: names.canary }, weight: weights.canary },
    { virtualNodeRef: { name: names.primary }, weight: weights.primary },
  ];
}

/** Routes of a v1beta2 VirtualRouter: one weighted route, or Flagger's A/B pair on the apex router. */
function routesV1beta2(canary: Canary, name: string, weights: BuildInput['routes'], apex: boolean): unknown[] {
  const s = service(canary);
  const names = serviceNames(canary);
  const timeout = routeTimeout(s);
  const retryPolicy = retryPolicyV1beta2(s);
  const httpRoute = (match: Record<string, unknown>, weightedTargets: WeightedTarget[]) => ({
    match,
    ...(timeout ? { timeout } : {}),
    ...(retryPolicy ? { retryPolicy } : {}),
    action: { weightedTargets },
  });
  const prefix = routePrefix(s);
  const targets = targetsV1beta2(canary, weights);
  if (!apex || canary.spec.analysis.match.length === 0) return [{ name, httpRoute: httpRoute({ prefix }, targets) }];
  return [
    {
      name: `${names.apex}-a`,
      priority: 10,
      httpRoute: httpRoute({ prefix, headers: headerConditions(canary) }, targets),
    },
    {
      name: `${names.apex}-b`,
      priority: 20,
      httpRoute: httpRoute({ prefix }, [{ virtualNodeRef: { name: names.primary }, weight: 100 }]),
    },
  ];
}

/**
 * VirtualRouters `<apex>` (the weights in force; A/B: the header route `<apex>-a` carries them, `<apex>-b` sends
 * the rest to the primary) and `<apex>-canary` (all traffic to the canary node), listening on the container port.
 */
export function virtualRoutersV1beta2(input: BuildInput): AppMeshObject[] {
  const { canary, owner } = input;
  const s = service(canary);
  const names = serviceNames(canary);
  const router = (name: string, weights: BuildInput['routes'], apex: boolean): AppMeshObject => ({
    apiVersion: `${APPMESH_GROUP}/v1beta2`,
    kind: 'VirtualRouter',
    metadata: meta(canary, name, owner),
    spec: {
      listeners: [{ portMapping: { port: containerPort(s), protocol: protocolOf(s) } }],
      routes: routesV1beta2(canary, name, weights, apex),
    },
  });
  return [router(names.apex, input.routes, true), router(names.canary, { primary: 0, canary: 100 }, false)];
}

/** VirtualServices `<apex>` and `<apex>-canary`, each provided by the VirtualRouter of the same name. */
export function virtualServicesV1beta2(input: BuildInput): AppMeshObject[] {
  const { canary, owner } = input;
  const names = serviceNames(canary);
  const vs = (name: string, annotations: Record<string, string>): AppMeshObject => {
    const metadata = meta(canary, name, owner);
    if (Object.keys(annotations).length > 0) metadata.annotations = annotations;
    return {
      apiVersion: `${APPMESH_GROUP}/v1beta2`,
      kind: 'VirtualService',
      metadata,
      spec: { provider: { virtualRouter: { virtualRouterRef: { name } } } },
    };
  };
  return [vs(names.apex, gatewayAnnotations(service(canary))), vs(names.canary, {})];
}

/** Everything `appmesh:v1beta2` writes, in Flagger's order: nodes, then routers, then services. */
export function appMeshObjectsV1beta2(input: BuildInput): AppMeshObject[] {
  return [...virtualNodesV1beta2(input), ...virtualRoutersV1beta2(input), ...virtualServicesV1beta2(input)];
}

// ---------------------------------------------------------------------------------------------------------
// legacy appmesh (v1beta1)

/** The v1beta1 retry policy (Flagger makeRetryPolicy of pkg/router/appmesh.go). */
function retryPolicyV1beta1(s: CanaryService): Record<string, unknown> | undefined {
  const r = retrySettings(s);
  if (!r) return undefined;
  return { perRetryTimeoutMillis: r.ms, maxRetries: r.attempts, httpRetryEvents: r.events };
}

/**
 * Legacy VirtualNodes `<apex>`, `<apex>-primary`, `<apex>-canary` in mesh `service.meshName`, DNS `<svc>.<ns>`
 * (the apex node resolves the primary Service, as Flagger writes it), listening on `service.port`.
 */
export function virtualNodesV1beta1(input: BuildInput): AppMeshObject[] {
  const { canary, owner } = input;
  const s = service(canary);
  const names = serviceNames(canary);
  const ns = canary.metadata.namespace ?? 'default';
  const node = (name: string, host: string): AppMeshObject => {
    const spec: Record<string, unknown> = {
      meshName: s.meshName ?? '',
      listeners: [{ portMapping: { port: s.port, protocol: protocolOf(s) } }],
      serviceDiscovery: { dns: { hostName: `${host}.${ns}` } },
    };
    const logging = accessLog(canary);
    if (logging) spec.logging = logging;
    if (s.backends?.length) spec.backends = s.backends.map((b) => ({ virtualService: { virtualServiceName: b } }));
    return {
      apiVersion: `${APPMESH_GROUP}/v1beta1`,
      kind: 'VirtualNode',
      metadata: nodeMeta(canary, name, owner),
      spec,
    };
  };
  return [node(names.apex, names.primary), node(names.primary, names.primary), node(names.canary, names.canary)];
}

function routesV1beta1(canary: Canary, routerName: string, weights: BuildInput['routes'], apex: boolean): unknown[] {
  const s = service(canary);
  const names = serviceNames(canary);
  const retryPolicy = retryPolicyV1beta1(s);
  const http = (match: Record<string, unknown>, weightedTargets: WeightedTarget[]) => ({
    match,
    ...(retryPolicy ? { retryPolicy } : {}),
    action: { weightedTargets },
  });
  const prefix = routePrefix(s);
  const targets: WeightedTarget[] = [
    { virtualNodeName: names.canary, weight: weights.canary },
    { virtualNodeName: names.primary, weight: weights.primary },
  ];
  if (!apex || canary.spec.analysis.match.length === 0) return [{ name: routerName, http: http({ prefix }, targets) }];
  return [
    { name: `${names.apex}-a`, priority: 10, http: http({ prefix, headers: headerConditions(canary) }, targets) },
    {
      name: `${names.apex}-b`,
      priority: 20,
      http: http({ prefix }, [{ virtualNodeName: names.primary, weight: 100 }]),
    },
  ];
}

/**
 * Legacy VirtualServices `<apex>.<ns>` (router `<apex>`, the weights in force) and `<apex>-canary.<ns>` (router
 * `<apex>-canary`, all to the canary): the virtual router and its routes live inside the VirtualService.
 */
export function virtualServicesV1beta1(input: BuildInput): AppMeshObject[] {
  const { canary, owner } = input;
  const s = service(canary);
  const names = serviceNames(canary);
  const ns = canary.metadata.namespace ?? 'default';
  const vs = (routerName: string, weights: BuildInput['routes'], apex: boolean): AppMeshObject => {
    const metadata = meta(canary, `${routerName}.${ns}`, owner);
    const annotations = apex ? gatewayAnnotations(s) : {};
    if (Object.keys(annotations).length > 0) metadata.annotations = annotations;
    return {
      apiVersion: `${APPMESH_GROUP}/v1beta1`,
      kind: 'VirtualService',
      metadata,
      spec: {
        meshName: s.meshName ?? '',
        virtualRouter: { name: routerName, listeners: [{ portMapping: { port: s.port, protocol: protocolOf(s) } }] },
        routes: routesV1beta1(canary, routerName, weights, apex),
      },
    };
  };
  return [vs(names.apex, input.routes, true), vs(names.canary, { primary: 0, canary: 100 }, false)];
}

/** Everything legacy `appmesh` writes, in Flagger's order: nodes, then services. */
export function appMeshObjectsV1beta1(input: BuildInput): AppMeshObject[] {
  return [...virtualNodesV1beta1(input), ...virtualServicesV1beta1(input)];
}

// ---------------------------------------------------------------------------------------------------------
// Reading back

/** The object holding the weights: the apex VirtualRouter (v1beta2) or apex VirtualService (v1beta1). */
export function weightsObject(canary: Canary, version: AppMeshVersion): { kind: AppMeshObject['kind']; name: string } {
  const apex = serviceNames(canary).apex;
  return version === 'v1beta2'
    ? { kind: 'VirtualRouter', name: apex }
    : { kind: 'VirtualService', name: `${apex}.${canary.metadata.namespace ?? 'default'}` };
}

/**
 * Weights of the first route of a stored apex object (Flagger GetRoutes): undefined when it has no route with
 * two targets naming `<apex>-primary`/`<apex>-canary` with some weight. App Mesh cannot mirror: never mirrored.
 */
export function readWeights(stored: object | undefined, canary: Canary): Routes | undefined {
  const spec = (stored as { spec?: unknown } | undefined)?.spec as
    { routes?: { httpRoute?: unknown; http?: unknown }[] } | undefined;
  const first = spec?.routes?.[0];
  const route = (first?.httpRoute ?? first?.http) as { action?: { weightedTargets?: WeightedTarget[] } } | undefined;
  const targets = route?.action?.weightedTargets ?? [];
  if (targets.length !== 2) return undefined;
  const names = serviceNames(canary);
  let primary = 0;
  let canaryWeight = 0;
  for (const t of targets) {
    const node = t.virtualNodeRef?.name ?? t.virtualNodeName;
    if (node === names.canary) canaryWeight = t.weight;
    if (node === names.primary) primary = t.weight;
  }
  if (primary === 0 && canaryWeight === 0) return undefined;
  return { primary, canary: canaryWeight, mirrored: false };
}
