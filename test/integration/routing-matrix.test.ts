// The routing capability matrix of docs/routing.md, measured: every supported provider's router is driven through
// each strategy against a real kube-apiserver with every provider's CRDs, and what the apiserver then stores decides
// each cell. The table in the docs must equal the measured one (FLEDGE_UPDATE_MATRIX=1 rewrites it).
//
// A cell is "yes" when setRoutes succeeds and getRoutes reads the same routes back, and the strategy's distinctive
// part shows in the stored objects: A/B must store something blue/green does not (the match), session affinity
// something a plain canary at the same weights does not (the cookies). "ignored" means the routes were put in
// force but the strategy left no trace; "no" means the router refused (its failure type follows).
// Finalize is "yes" when finalizeRoutes leaves the namespace's routing objects as they were before reconcile.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { SUPPORTED_PROVIDERS } from '../../api/canary.ts';
import type { Routes } from '../../api/ports.ts';
import { createRoutesActivities, type RoutesActivities } from '../../activities/routers/index.ts';
import { startCluster, type Cluster } from '../../dev/cluster.ts';
import {
  contourCrdFiles,
  flaggerApiCrdFiles,
  istioCrdFile,
  knativeCrdFiles,
  traefikCrdFiles,
} from '../../dev/fixtures.ts';
import { resolveTraffic } from '../../dev/knative-standin.ts';
import type { KnativeService } from '../../activities/routers/knative-service.ts';
import { REPO_ROOT } from '../../dev/proc.ts';
import { userIngress } from '../user-ingress.ts';
import { validProxyStatus } from './router-harness.ts';

const DOC = join(REPO_ROOT, 'docs', 'routing.md');
const START = '<!-- capability-matrix:start -->';
const END = '<!-- capability-matrix:end -->';
const NAME = 'podinfo';

type Strategy = 'canary' | 'ab' | 'bluegreen' | 'mirror' | 'affinity' | 'finalize';
const STRATEGIES: { key: Strategy; title: string }[] = [
  { key: 'canary', title: 'canary weights' },
  { key: 'ab', title: 'A/B (header match)' },
  { key: 'bluegreen', title: 'blue/green' },
  { key: 'mirror', title: 'mirroring' },
  { key: 'affinity', title: 'session affinity' },
  { key: 'finalize', title: 'finalize' },
];

/** The analysis and the routes of each strategy, as the rollout workflow would ask for them. */
const PLAN: Record<Exclude<Strategy, 'finalize'>, { analysis: Record<string, unknown>; routes: Routes }> = {
  canary: { analysis: { stepWeight: 10, maxWeight: 50 }, routes: { primary: 70, canary: 30, mirrored: false } },
  ab: {
    analysis: { iterations: 5, match: [{ headers: { 'x-canary': { exact: 'insider' } } }] },
    routes: { primary: 0, canary: 100, mirrored: false },
  },
  bluegreen: { analysis: { iterations: 5 }, routes: { primary: 0, canary: 100, mirrored: false } },
  mirror: { analysis: { iterations: 5, mirror: true }, routes: { primary: 100, canary: 0, mirrored: true } },
  affinity: {
    analysis: { stepWeight: 10, maxWeight: 50, sessionAffinity: { cookieName: 'canary-session' } },
    routes: { primary: 70, canary: 30, mirrored: false },
  },
};

/**
 * What a Canary of a provider needs besides its analysis: service fields and objects that must exist first.
 * A provider missing here gets a plain `service: {port}`.
 */
const PROVIDER_SETUP: Record<
  string,
  (ns: string) => {
    service?: Record<string, unknown>;
    spec?: object;
    objects?: { metadata: object }[];
    /** Plays the provider's controller as far as getRoutes needs: marks what the router wrote as accepted. */
    accept?: (api: Api, ns: string) => Promise<void>;
    /** Plays the provider's controller before the first reconcile (what must be there before fledge routes). */
    ready?: (api: Api, ns: string) => Promise<void>;
  }
> = {
  gatewayapi: () => ({ service: { gatewayRefs: [{ name: 'gateway', namespace: 'gateways' }] } }),
  'gatewayapi:v1': () => ({ service: { gatewayRefs: [{ name: 'gateway', namespace: 'gateways' }] } }),
  'gatewayapi:v1beta1': () => ({ service: { gatewayRefs: [{ name: 'gateway', namespace: 'gateways' }] } }),
  appmesh: () => ({ service: { meshName: 'global' } }),
  // Kuma's TrafficRoute `<apex>` is cluster-scoped: an apex name per namespace keeps the strategies apart (and puts
  // it in the namespace's snapshot).
  kuma: (ns) => ({ service: { name: `${NAME}-${ns}` } }),
  contour: () => ({
    accept: async ({ custom }, ns) => {
      const proxy = (await custom.getNamespacedCustomObject({ ...HTTPPROXIES, namespace: ns, name: NAME })) as {
        metadata: { generation?: number };
      };
      await custom.patchNamespacedCustomObjectStatus({
        ...HTTPPROXIES,
        namespace: ns,
        name: NAME,
        body: [{ op: 'add', path: '/status', value: validProxyStatus(proxy.metadata.generation ?? 1) }],
      });
    },
  }),
  // The target is the Knative Service itself; Knative's controller (not running here) is played by writing the
  // status it would: a first revision, then status.traffic resolved from each spec.traffic fledge writes.
  knative: () => ({
    spec: { targetRef: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: NAME } },
    objects: [
      {
        apiVersion: 'serving.knative.dev/v1',
        kind: 'Service',
        metadata: { name: NAME },
        spec: { template: { spec: { containers: [{ image: 'ghcr.io/stefanprodan/podinfo:6.0.0' }] } } },
      },
    ],
    ready: (api, ns) => knativeStatus(api, ns),
    accept: (api, ns) => knativeStatus(api, ns),
  }),
  nginx: () => ({
    spec: { ingressRef: { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', name: NAME } },
    objects: [userIngress({ name: NAME, ingressClassName: 'nginx', paths: [['/', NAME, 9898]] })],
  }),
  apisix: () => ({
    spec: { routeRef: { apiVersion: 'apisix.apache.org/v2', kind: 'ApisixRoute', name: NAME } },
    objects: [
      {
        apiVersion: 'apisix.apache.org/v2',
        kind: 'ApisixRoute',
        metadata: { name: NAME },
        spec: {
          http: [
            {
              name: 'method',
              match: { hosts: ['app.example.com'], paths: ['/*'] },
              backends: [{ serviceName: NAME, servicePort: 9898 }],
            },
          ],
        },
      },
    ],
  }),
  skipper: () => ({
    spec: { ingressRef: { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', name: NAME } },
    objects: [
      userIngress({
        name: NAME,
        annotations: { 'kubernetes.io/ingress.class': 'skipper' },
        paths: [['/', NAME, 9898]],
      }),
    ],
  }),
};

const HTTPPROXIES = { group: 'projectcontour.io', version: 'v1', plural: 'httpproxies' };
const KNATIVE_SERVICES = { group: 'serving.knative.dev', version: 'v1', plural: 'services' };

/** What Knative's controller writes for the Service's current generation (revision `<name>-00001`). */
async function knativeStatus({ custom }: Api, ns: string): Promise<void> {
  const svc = (await custom.getNamespacedCustomObject({
    ...KNATIVE_SERVICES,
    namespace: ns,
    name: NAME,
  })) as KnativeService;
  const revision = `${NAME}-00001`;
  const status = {
    observedGeneration: svc.metadata.generation ?? 1,
    latestCreatedRevisionName: revision,
    latestReadyRevisionName: revision,
    traffic: resolveTraffic(svc.spec?.traffic, revision),
  };
  await custom.patchNamespacedCustomObjectStatus({
    ...KNATIVE_SERVICES,
    namespace: ns,
    name: NAME,
    body: [{ op: 'add', path: '/status', value: status }],
  });
}

/** One apiserver with a set of CRDs, and the clients the matrix drives it with. */
interface Api {
  cluster: Cluster;
  custom: k8s.CustomObjectsApi;
  objects: k8s.KubernetesObjectApi;
  routes: RoutesActivities;
  /** Namespaced types that can hold routing state: Services, Ingresses and every custom resource but Flagger's. */
  kinds: { apiVersion: string; kind: string }[];
  /** Cluster-scoped custom resources: a namespace's snapshot takes those whose name has the namespace in it. */
  clusterKinds: { apiVersion: string; kind: string }[];
}

/** Starts an apiserver with `crds` (and the Gateway API's) and waits until every custom resource can be listed. */
async function connect(crds: string[]): Promise<Api> {
  const cluster = await startCluster({ crds });
  const objects = k8s.KubernetesObjectApi.makeApiClient(cluster.kubeConfig);
  const list = await cluster.kubeConfig.makeApiClient(k8s.ApiextensionsV1Api).listCustomResourceDefinition();
  const custom = (scope: string) =>
    list.items
      .filter((c) => c.spec.scope === scope && c.spec.group !== 'flagger.app')
      .map((c) => ({
        apiVersion: `${c.spec.group}/${c.spec.versions.find((v) => v.storage)!.name}`,
        kind: c.spec.names.kind,
      }));
  const kinds = [
    { apiVersion: 'v1', kind: 'Service' },
    { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress' },
    ...custom('Namespaced'),
  ];
  const clusterKinds = custom('Cluster');
  // A freshly established CRD answers 429 "storage is (re)initializing" until its watch cache is ready.
  for (const { apiVersion, kind } of [...kinds, ...clusterKinds])
    for (let attempt = 0; ; attempt++) {
      try {
        await objects.list(apiVersion, kind, clusterKinds.some((k) => k.kind === kind) ? undefined : 'default');
        break;
      } catch (err) {
        if ((err as { code?: number }).code !== 429 || attempt > 60) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  return {
    cluster,
    objects,
    kinds,
    clusterKinds,
    custom: cluster.kubeConfig.makeApiClient(k8s.CustomObjectsApi),
    // No gateway or mesh runs here: readiness is not what this matrix measures.
    routes: createRoutesActivities({ kube: cluster.kubeConfig, allowUnreportedParents: true, random: () => 'v' }),
  };
}

let main: Api;
/** The legacy App Mesh controller stores v1beta1 itself: its provider is measured on CRDs of its own. */
let legacyAppMesh: Api;
const apiFor = (provider: string): Api => (provider === 'appmesh' ? legacyAppMesh : main);

before(async () => {
  [main, legacyAppMesh] = await Promise.all([
    connect([
      ...flaggerApiCrdFiles('smi'),
      ...flaggerApiCrdFiles('apisix'),
      ...flaggerApiCrdFiles('appmesh'),
      ...contourCrdFiles(),
      istioCrdFile(),
      ...traefikCrdFiles(),
      ...flaggerApiCrdFiles('kuma'),
      ...flaggerApiCrdFiles('gloo'),
      ...knativeCrdFiles(),
    ]),
    connect(flaggerApiCrdFiles('appmeshLegacy')),
  ]);
});

after(async () => {
  await Promise.all([main?.cluster.stop(), legacyAppMesh?.cluster.stop()]);
});

/** Runs at most `size` calls at once (the apiserver answers 429 past its max-(mutating-)requests-inflight). */
function pool(size: number): <T>(call: () => Promise<T>) => Promise<T> {
  let inFlight = 0;
  const waiting: (() => void)[] = [];
  return async (call) => {
    while (inFlight >= size) await new Promise<void>((r) => waiting.push(r));
    inFlight++;
    try {
      return await call();
    } finally {
      inFlight--;
      waiting.shift()?.();
    }
  };
}
const limited = pool(16);
const cellSlot = pool(6);

/** The namespace's routing state, normalised so two namespaces with the same objects compare equal. */
async function snapshot({ kinds, clusterKinds, objects }: Api, ns: string): Promise<string> {
  // List items carry no kind: take it from the type listed.
  const lists = await Promise.all([
    ...kinds.map(async ({ apiVersion, kind }) =>
      (await limited(() => objects.list(apiVersion, kind, ns))).items.map((o) => ({ ...o, kind })),
    ),
    ...clusterKinds.map(async ({ apiVersion, kind }) =>
      (await limited(() => objects.list(apiVersion, kind))).items
        .filter((o) => o.metadata?.name?.includes(ns))
        .map((o) => ({ ...o, kind })),
    ),
  ]);
  const list = {
    items: lists.flat() as unknown as { kind: string; metadata: Record<string, unknown>; spec?: unknown }[],
  };
  const items = list.items.map((o) => ({
    kind: o.kind,
    name: o.metadata.name,
    labels: o.metadata.labels,
    annotations: Object.fromEntries(
      Object.entries((o.metadata.annotations ?? {}) as Record<string, string>).filter(
        ([k]) => !k.startsWith('kubectl.kubernetes.io/'),
      ),
    ),
    // Addresses the apiserver allocates differ from namespace to namespace and say nothing about routing.
    spec: o.kind === 'Service' ? { ...(o.spec as object), clusterIP: undefined, clusterIPs: undefined } : o.spec,
  }));
  items.sort((a, b) => `${a.kind}/${String(a.name)}`.localeCompare(`${b.kind}/${String(b.name)}`));
  return JSON.stringify(items).replaceAll(ns, '<ns>');
}

/** A namespace with a Canary of `provider` and the Services the Kubernetes activities would have created. */
async function prepare(api: Api, provider: string, strategy: Strategy): Promise<string> {
  const ns = await api.cluster.createNamespace(`m-${strategy}`);
  const setup = PROVIDER_SETUP[provider]?.(ns) ?? {};
  const service = (suffix: string, selector: string) => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `${NAME}${suffix}`, namespace: ns },
    spec: { selector: { app: selector }, ports: [{ name: 'http', port: 9898, targetPort: 9898 }] },
  });
  const plan = PLAN[strategy === 'finalize' ? 'bluegreen' : strategy];
  const canary = {
    apiVersion: 'flagger.app/v1beta1',
    kind: 'Canary',
    metadata: { name: NAME, namespace: ns },
    spec: {
      provider,
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: NAME },
      service: { port: 9898, ...setup.service },
      analysis: { interval: '1m', threshold: 5, ...plan.analysis },
      ...setup.spec,
    },
  };
  // The target: routers that select pods (App Mesh) read its labels. No controller runs, so it never has pods.
  const target = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: NAME, namespace: ns, labels: { app: NAME } },
    spec: {
      selector: { matchLabels: { app: NAME } },
      template: {
        metadata: { labels: { app: NAME } },
        spec: { containers: [{ name: NAME, image: 'ghcr.io/stefanprodan/podinfo:6.0.0' }] },
      },
    },
  };
  const docs = [
    target,
    service('', `${NAME}-primary`),
    service('-primary', `${NAME}-primary`),
    service('-canary', NAME),
  ];
  for (const doc of [...docs, canary, ...(setup.objects ?? [])])
    await api.objects.create({ ...doc, metadata: { ...doc.metadata, namespace: ns } } as k8s.KubernetesObject);
  return ns;
}

type Cell = { value: string; snapshot?: string };

function same(a: Routes, b: Routes): boolean {
  return a.primary === b.primary && a.canary === b.canary && a.mirrored === b.mirrored;
}

function refusal(err: unknown): string {
  if (err instanceof ApplicationFailure && err.nonRetryable) return `no (${err.type ?? 'refused'})`;
  throw err;
}

/** Drives one provider through one strategy; the snapshot lets A/B and affinity be compared with their baselines. */
async function measure(provider: string, strategy: Strategy): Promise<Cell> {
  const api = apiFor(provider);
  const { routes } = api;
  const ns = await prepare(api, provider, strategy);
  await PROVIDER_SETUP[provider]?.(ns).ready?.(api, ns);
  const canary = { namespace: ns, name: NAME };
  const before = await snapshot(api, ns);
  try {
    await routes.reconcileRoutes({ canary });
    const plan = PLAN[strategy === 'finalize' ? 'bluegreen' : strategy];
    const set = await routes.setRoutes({ canary, routes: plan.routes });
    await PROVIDER_SETUP[provider]?.(ns).accept?.(api, ns);
    const read = await routes.getRoutes({ canary });
    if (plan.routes.mirrored && !read.mirrored && same(read, { ...plan.routes, mirrored: false }))
      return { value: 'ignored' };
    if (!same(set, plan.routes) || !same(read, plan.routes))
      return { value: `no (reads back ${read.primary}/${read.canary}${read.mirrored ? ' mirrored' : ''})` };
    if (strategy !== 'finalize') return { value: 'yes', snapshot: await snapshot(api, ns) };
    await routes.finalizeRoutes({ canary });
    return { value: (await snapshot(api, ns)) === before ? 'yes' : 'leaves objects' };
  } catch (err) {
    return { value: refusal(err) };
  }
}

async function measureProvider(provider: string): Promise<Record<Strategy, string>> {
  const cells = Object.fromEntries(
    await Promise.all(STRATEGIES.map(async ({ key }) => [key, await cellSlot(() => measure(provider, key))] as const)),
  ) as Record<Strategy, Cell>;
  const differs = (a: Cell, b: Cell) =>
    a.snapshot !== undefined && b.snapshot !== undefined && a.snapshot !== b.snapshot;
  const row = Object.fromEntries(Object.entries(cells).map(([k, c]) => [k, c.value])) as Record<Strategy, string>;
  if (row.ab === 'yes' && !differs(cells.ab, cells.bluegreen)) row.ab = 'ignored (all traffic to the canary)';
  if (row.affinity === 'yes' && !differs(cells.affinity, cells.canary)) row.affinity = 'ignored';
  return row;
}

function table(rows: [string, Record<Strategy, string>][]): string {
  const head = `| provider | ${STRATEGIES.map((s) => s.title).join(' | ')} |`;
  const rule = `| --- | ${STRATEGIES.map(() => '---').join(' | ')} |`;
  const body = rows.map(([p, r]) => `| \`${p}\` | ${STRATEGIES.map((s) => r[s.key]).join(' | ')} |`);
  return [head, rule, ...body].join('\n');
}

test('the capability matrix in docs/routing.md is what the routers do on a real apiserver', async () => {
  const rows = await Promise.all(
    [...SUPPORTED_PROVIDERS]
      .sort()
      .map(async (p) => [p, await measureProvider(p)] as [string, Record<Strategy, string>]),
  );
  const measured = table(rows);
  const doc = readFileSync(DOC, 'utf8');
  const start = doc.indexOf(START);
  const end = doc.indexOf(END);
  assert.ok(start >= 0 && end > start, `docs/routing.md has no ${START} … ${END} block`);
  const documented = doc.slice(start + START.length, end).trim();
  if (process.env.FLEDGE_UPDATE_MATRIX === '1' && documented !== measured)
    writeFileSync(DOC, `${doc.slice(0, start + START.length)}\n${measured}\n${doc.slice(end)}`);
  else
    assert.equal(
      documented,
      measured,
      'docs/routing.md differs from the measured matrix (FLEDGE_UPDATE_MATRIX=1 node --test <this file> rewrites it)',
    );
});
