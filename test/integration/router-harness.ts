// What the router integration tests share: a real kube-apiserver with a provider's CRDs, a Temporal dev server
// with the bundled rollout workflow, and an in-process worker whose activities are scripted except for the
// routes, which the real router writes. After every setRoutes the harness records a short description of what
// the apiserver stores (a describer per Canary), so each test can assert the whole trail of weights.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import type { CanaryRef, FinalizePort, RolloutActivities } from '../../api/ports.ts';
import { parseCanary } from '../../api/validate.ts';
import type { Provider } from '../../api/canary.ts';
import { toRolloutSpec } from '../../workflows/spec-from-canary.ts';
import { createRoutesActivities, type RoutesActivities } from '../../activities/routers/index.ts';
import { startCluster, type Cluster } from '../../dev/cluster.ts';
import { readFixture } from '../../dev/fixtures.ts';
import { createScriptedActivities } from '../scripted/activities.ts';
import type { HTTPRoute } from '../../activities/routers/httproute.ts';
import type { Ingress } from '../../activities/routers/ingress.ts';
import type { WorldCanary } from '../scripted/world.ts';
import {
  NAMESPACE,
  canaryRaw,
  metric,
  runToEnd,
  seedInitialized,
  setupEnv,
  startBundledWorker,
  startRollout,
  waitUntil,
  type TestEnv,
} from '../workflow/env.ts';

type RoutesDeps = Parameters<typeof createRoutesActivities>[0];

export interface RouterHarnessOptions {
  /** The CRD files to install into the apiserver, made at start (e.g. `() => flaggerApiCrdFiles('apisix')`). */
  crds?: () => string[];
  /** Install the Gateway API CRDs too (dev/cluster.ts default: yes). */
  gatewayApi?: boolean;
  /** Router options as the worker's flags give them (`defaultProvider`, `ingressClass`, ...). */
  routes?: Omit<RoutesDeps, 'kube'>;
  /**
   * More routers, per key, with these options (e.g. per worker default provider, Flagger's `-mesh-provider`): a
   * Canary whose name `routerOf` maps to a key runs on that key's routers, any other on the `routes` ones.
   */
  routers?: Record<string, Omit<RoutesDeps, 'kube'>>;
  /** What `routerOf`, `describers` and `stored` are keyed by (default: the Canary's name). */
  keyOf?: (ref: CanaryRef) => string;
  /**
   * observe parses the Canary with its routers' default provider, as activities/index.ts does with
   * `--mesh-provider` (default: the scripted spec).
   */
  observeParses?: boolean;
}

/** One test file's servers and what its routers stored; `start()` in `before`, `stop()` in `after`. */
export interface RouterHarness {
  readonly cluster: Cluster;
  readonly custom: k8s.CustomObjectsApi;
  readonly net: k8s.NetworkingV1Api;
  readonly env: TestEnv;
  readonly routes: RoutesActivities;
  /** Per Canary key (see keyOf): the key of the `routers` option it runs on (none: the default routers). */
  readonly routerOf: Map<string, string>;
  /** The routers the Canary runs on (see `routerOf`). */
  routesOf(ref: CanaryRef): RoutesActivities;
  /** The router options the Canary runs with (see `routerOf`). */
  routerOptions(ref: CanaryRef): Omit<RoutesDeps, 'kube'>;
  /** Per Canary key (see keyOf): the describer's output after every setRoutes, in order. */
  readonly stored: Map<string, string[]>;
  /** Per Canary key (see keyOf): how to describe what its router stored (no describer: nothing recorded). */
  readonly describers: Map<string, () => Promise<string>>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Stores the Canary (name, annotations and spec of `raw`) in the test namespace. */
  createCanary(raw: Record<string, unknown>): Promise<void>;
  /**
   * Starts the rollout, signals canaryDeleting after the first recorded traffic step (revertOnDeletion);
   * `atFirstStep` runs (e.g. asserts what is stored) between that step and the signal.
   */
  deleteMidRollout(name: string, atFirstStep?: () => Promise<void>): Promise<{ deleted: boolean }>;
  /** The Ingress `name` of the test namespace, as plain JSON. */
  readIngress(name: string): Promise<Ingress>;
  /** Stores the Ingress in the test namespace; its resourceVersion. */
  createIngress(ingress: Ingress): Promise<string | undefined>;
  /**
   * A `provider` Canary (service port 80 → 9898, `spec` merged over) whose ingressRef is the user Ingress
   * `user`, created first; the Canary stored and seeded as initialized with error-rate 0.
   */
  ingressCanary(
    provider: string,
    user: Ingress,
    name: string,
    analysis: Record<string, unknown>,
    spec?: Record<string, unknown>,
  ): Promise<{ raw: Record<string, unknown>; world: WorldCanary; userVersion: string | undefined }>;
  /**
   * Stores the tutorial Canary `raw` (see fastTutorial), seeds it initialized with the tutorials' metrics healthy
   * (request-success-rate and request-duration 100) and runs it to the end. `provider`: the worker's default
   * provider, for a Canary that names none (the scripted observe parses without a default provider: it is given
   * the spec the worker's parse yields).
   */
  runTutorial(raw: Record<string, unknown>, provider?: string): ReturnType<typeof runToEnd>;
  /**
   * The test `title`: Canaries `bg` (blue/green: 2 iterations) and `rb` (see rollbackCanary) made by `make` run
   * side by side; `bg` ends Succeeded having stored `bgTrail`, `rb` Failed having stored `rbTrail`.
   */
  itBlueGreenAndRollback(
    title: string,
    make: (name: string, analysis: Record<string, unknown>) => Promise<{ world: WorldCanary }>,
    c: { bg: string; rb: string; stepWeight: number; bgTrail: string[]; rbTrail: string[] },
  ): void;
  /** The test `title`: the Canary `name` (see rollbackCanary) made by `make` ends Failed having stored `trail`. */
  itRollback(
    title: string,
    make: (name: string, analysis: Record<string, unknown>) => Promise<{ world: WorldCanary }>,
    c: { name: string; stepWeight: number; trail: string[] },
  ): void;
}

/**
 * The harness for test file `label`: nothing runs until `start()`. The worker's activities are the scripted
 * ones, with observe reporting the routes the apiserver has and reconcileRoutes/setRoutes/getRoutes/finalize
 * going to the real routers, as activities/index.ts wires them.
 */
export function routerHarness(label: string, opts: RouterHarnessOptions = {}): RouterHarness {
  const stored = new Map<string, string[]>();
  const describers = new Map<string, () => Promise<string>>();
  const routerOf = new Map<string, string>();
  const keyOf = opts.keyOf ?? ((ref: CanaryRef) => ref.name);
  let started: {
    cluster: Cluster;
    env: TestEnv;
    routes: RoutesActivities;
    routers: Record<string, RoutesActivities>;
    stopWorker: () => Promise<void>;
  };
  const running = () => {
    assert.ok(started, `${label}: the router harness is not started`);
    return started;
  };
  const harness: RouterHarness = {
    get cluster() {
      return running().cluster;
    },
    get custom() {
      return running().cluster.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
    },
    get net() {
      return running().cluster.kubeConfig.makeApiClient(k8s.NetworkingV1Api);
    },
    get env() {
      return running().env;
    },
    get routes() {
      return running().routes;
    },
    routerOf,
    routerOptions(ref) {
      const key = routerOf.get(keyOf(ref));
      return key === undefined ? (opts.routes ?? {}) : (opts.routers?.[key] ?? assert.fail(`no routers ${key}`));
    },
    routesOf(ref) {
      const key = routerOf.get(keyOf(ref));
      return key === undefined ? running().routes : (running().routers[key] ?? assert.fail(`no routers ${key}`));
    },
    stored,
    describers,
    async start() {
      const cluster = await startCluster({
        ...(opts.crds ? { crds: opts.crds() } : {}),
        ...(opts.gatewayApi === false ? { gatewayApi: false } : {}),
      });
      await cluster.kubeConfig
        .makeApiClient(k8s.CoreV1Api)
        .createNamespace({ body: { metadata: { name: NAMESPACE } } });
      const env = await setupEnv(label, { worker: false });
      const kube = cluster.kubeConfig;
      const routes = createRoutesActivities({ kube, ...opts.routes });
      const routers = Object.fromEntries(
        Object.entries(opts.routers ?? {}).map(([key, o]) => [key, createRoutesActivities({ kube, ...o })]),
      );
      started = { cluster, env, routes, routers, stopWorker: async () => {} };
      const parse = opts.observeParses ? harness.routerOptions : undefined;
      const routed = routedActivities(env, { routesOf: harness.routesOf, keyOf, parse }, stored, describers);
      started.stopWorker = await startBundledWorker(env, routed);
    },
    async stop() {
      if (!started) return;
      await started.stopWorker();
      await started.env.stop();
      await started.cluster.stop();
    },
    async createCanary(raw) {
      const { metadata, ...rest } = raw as { metadata: { name: string; annotations?: Record<string, string> } };
      await harness.custom.createNamespacedCustomObject({
        group: 'flagger.app',
        version: 'v1beta1',
        namespace: NAMESPACE,
        plural: 'canaries',
        body: { ...rest, metadata: { name: metadata.name, annotations: metadata.annotations } },
      });
    },
    async deleteMidRollout(name, atFirstStep) {
      const handle = await startRollout(running().env, name);
      // A loaded machine (other suites, 2 CPUs) can take long for the first step; a pass does not wait longer.
      await waitUntil('the first traffic step', () => (stored.get(name)?.length ?? 0) >= 1, 120_000);
      await atFirstStep?.();
      await handle.signal('canaryDeleting');
      return (await handle.result()) as { deleted: boolean };
    },
    async readIngress(name) {
      const ingress = await harness.net.readNamespacedIngress({ name, namespace: NAMESPACE });
      return JSON.parse(JSON.stringify(ingress)) as Ingress;
    },
    async createIngress(ingress) {
      const created = await harness.net.createNamespacedIngress({
        namespace: NAMESPACE,
        body: ingress as k8s.V1Ingress,
      });
      return created.metadata?.resourceVersion;
    },
    async runTutorial(raw, provider) {
      await harness.createCanary(raw);
      const observed = provider ? { ...raw, spec: { ...(raw.spec as object), provider } } : raw;
      seedInitialized(running().env, {
        raw: observed,
        metrics: { 'request-success-rate': [100], 'request-duration': [100] },
      });
      return runToEnd(running().env, (raw.metadata as { name: string }).name);
    },
    itBlueGreenAndRollback(title, make, { bg, rb, stepWeight, bgTrail, rbTrail }) {
      it(title, async () => {
        await make(bg, { interval: '300ms', iterations: 2 });
        await rollbackCanary(make, rb, stepWeight);
        const [blueGreen, rollback] = await Promise.all([runToEnd(running().env, bg), runRollback(running().env, rb)]);
        assert.equal(blueGreen.result.phase, 'Succeeded');
        assert.deepEqual(stored.get(bg), bgTrail);
        assert.equal(rollback.result.phase, 'Failed');
        assert.deepEqual(stored.get(rb), rbTrail);
      });
    },
    itRollback(title, make, { name, stepWeight, trail }) {
      it(title, async () => {
        await rollbackCanary(make, name, stepWeight);
        const { result } = await runRollback(running().env, name);
        assert.equal(result.phase, 'Failed');
        assert.deepEqual(stored.get(name), trail);
      });
    },
    async ingressCanary(provider, user, name, analysis, spec = {}) {
      const userVersion = await harness.createIngress(user);
      const raw = canaryRaw(name, analysis, {
        provider,
        ingressRef: { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', name: user.metadata.name },
        service: { port: 80, targetPort: 9898 },
        ...spec,
      });
      await harness.createCanary(raw);
      const world = seedInitialized(running().env, { raw, metrics: { 'error-rate': [0] } });
      return { raw, world, userVersion };
    },
  };
  return harness;
}

/** Scripted activities with the real routers in place of the scripted routes, recording after every setRoutes. */
function routedActivities(
  env: TestEnv,
  by: {
    routesOf: (ref: CanaryRef) => RoutesActivities;
    keyOf: (ref: CanaryRef) => string;
    /** Set: observe parses the world's Canary with these routers' default provider. */
    parse: ((ref: CanaryRef) => Omit<RoutesDeps, 'kube'>) | undefined;
  },
  stored: Map<string, string[]>,
  describers: Map<string, () => Promise<string>>,
): RolloutActivities & FinalizePort {
  const { routesOf, keyOf, parse } = by;
  const scripted = createScriptedActivities(env.world.url);
  const specOf = (ref: CanaryRef, scriptedSpec: Awaited<ReturnType<typeof scripted.observe>>['spec']) => {
    if (!parse) return scriptedSpec;
    const raw = env.world.get(`${ref.namespace}/${ref.name}`).raw;
    const parsed = parseCanary(raw, { defaultProvider: parse(ref).defaultProvider as Provider | undefined });
    return parsed.ok ? { ok: true as const, spec: toRolloutSpec(parsed.canary) } : parsed;
  };
  return {
    ...scripted,
    observe: async (input) => {
      const observed = await scripted.observe(input);
      const spec = specOf(input.canary, observed.spec);
      return { ...observed, spec, routes: await routesOf(input.canary).getRoutes(input) };
    },
    reconcileRoutes: async (input) => {
      await scripted.reconcileRoutes(input);
      return routesOf(input.canary).reconcileRoutes(input);
    },
    setRoutes: async (input) => {
      await scripted.setRoutes(input);
      const now = await routesOf(input.canary).setRoutes(input);
      const key = keyOf(input.canary);
      const describe = describers.get(key);
      if (describe) stored.set(key, [...(stored.get(key) ?? []), await describe()]);
      return now;
    },
    getRoutes: (input) => routesOf(input.canary).getRoutes(input),
    finalizeCanary: (input) => routesOf(input.canary).finalizeRoutes(input),
  };
}

/** An apiserver 404 (the object is gone). */
export const isNotFound = (e: unknown): boolean => (e as { code?: number }).code === 404;

/** The Canary of Flagger's tutorial `docs/gitbook/tutorials/<doc>` (pinned Flagger module), as written. */
export function tutorialCanary(doc: string): Record<string, unknown> {
  const text = readFixture('flagger', `docs/gitbook/tutorials/${doc}`);
  for (const block of text.matchAll(/```yaml\n([\s\S]*?)```/g))
    for (const d of parseAllDocuments(block[1] ?? '')) {
      const obj = d.toJS() as { kind?: string } | null;
      if (obj?.kind === 'Canary') return obj as Record<string, unknown>;
    }
  throw new Error(`no Canary in ${doc}`);
}

/**
 * The tutorial Canary, which must parse as written, in the test namespace under `name` with a 300 ms
 * `analysis.interval` (the tutorials' 10 s/30 s steps would take minutes).
 */
export function fastTutorial(doc: string, name: string): Record<string, unknown> {
  const raw = tutorialCanary(doc);
  const parsed = parseCanary(raw);
  assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.errors));
  const spec = raw.spec as { analysis: Record<string, unknown> };
  return {
    ...raw,
    metadata: { name, namespace: NAMESPACE },
    spec: { ...spec, analysis: { ...spec.analysis, interval: '300ms' } },
  };
}

/** A user object fledge only reads keeps the resourceVersion it was created with. */
export async function assertUntouched(
  read: Promise<{ metadata?: unknown }>,
  createdVersion: string | undefined,
): Promise<void> {
  const now = await read;
  assert.equal((now.metadata as { resourceVersion?: string }).resourceVersion, createdVersion);
}

/** `[kind, name]` of each of the object's ownerReferences (`[['Canary', name]]` for a copy the Canary owns). */
export function owners(obj: { metadata?: unknown }): string[][] | undefined {
  const refs = (obj.metadata as { ownerReferences?: { kind: string; name: string }[] }).ownerReferences;
  return refs?.map((o) => [o.kind, o.name]);
}

/**
 * The Canary `name`, made by `make` with an analysis that rolls back: 300 ms steps of `stepWeight`, one failed
 * check allowed (threshold 1), error-rate at most 1; its world reports error-rate 0, then 5 (the second check fails).
 */
export async function rollbackCanary<T extends { world: WorldCanary }>(
  make: (name: string, analysis: Record<string, unknown>) => Promise<T>,
  name: string,
  stepWeight: number,
): Promise<T> {
  const made = await make(name, { interval: '300ms', stepWeight, threshold: 1, metrics: [metric('error-rate', 1)] });
  made.world.metrics = { 'error-rate': [0, 5] };
  return made;
}

/** runToEnd for a Canary whose failed checks end the rollout at once (1 ms retry window). */
export function runRollback(env: TestEnv, name: string): ReturnType<typeof runToEnd> {
  return runToEnd(env, name, { options: { retryWindowMs: 1 } });
}

/**
 * The routes after each step of a canary analysis, `<primary>/<canary>` with the canary at `stepWeight`,
 * 2 × `stepWeight`, ... up to `maxWeight`, then `end` (the routes after promotion).
 */
export function weightTrail(stepWeight: number, maxWeight: number, end = '100/0'): string[] {
  const steps = Array.from({ length: maxWeight / stepWeight }, (_, i) => (i + 1) * stepWeight);
  return [...steps.map((w) => `${100 - w}/${w}`), end];
}

/**
 * A stand-in gateway (or mesh) controller, until `stop()`: every 100 ms, each gateway.networking.k8s.io/v1
 * HTTPRoute of the test namespace whose status has not observed its generation gets, through the status
 * subresource, an Accepted condition per parentRef from `controllerName`, the parentRef reported as
 * `reportRef` gives it (default: as written).
 */
export function acceptHttpRoutes(
  custom: k8s.CustomObjectsApi,
  controllerName: string,
  reportRef: (ref: HTTPRoute['spec']['parentRefs'][number]) => object = (ref) => ref,
): { stop(): Promise<void> } {
  const routes = { group: 'gateway.networking.k8s.io', version: 'v1', namespace: NAMESPACE, plural: 'httproutes' };
  let running = true;
  const loop = (async () => {
    while (running) {
      const list = (await custom.listNamespacedCustomObject(routes)) as { items: HTTPRoute[] };
      for (const route of list.items) {
        const generation = route.metadata.generation ?? 1;
        if (route.status?.parents?.[0]?.conditions?.[0]?.observedGeneration === generation) continue;
        const parents = route.spec.parentRefs.map((ref) => ({
          parentRef: reportRef(ref),
          controllerName,
          conditions: [
            {
              type: 'Accepted',
              status: 'True',
              reason: 'Accepted',
              message: 'Route is accepted',
              observedGeneration: generation,
              lastTransitionTime: new Date().toISOString(),
            },
          ],
        }));
        await custom
          .patchNamespacedCustomObjectStatus({
            ...routes,
            name: route.metadata.name,
            body: [{ op: 'add', path: '/status', value: { parents } }],
          })
          .catch(() => undefined); // a newer generation arrived meanwhile: the next pass accepts it
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop.catch(() => undefined);
    },
  };
}

/** The status Contour writes for an HTTPProxy generation it accepted (valid). */
export function validProxyStatus(observedGeneration: number): object {
  return {
    currentStatus: 'valid',
    description: 'Valid HTTPProxy',
    conditions: [
      {
        type: 'Valid',
        status: 'True',
        reason: 'Valid',
        message: 'Valid HTTPProxy',
        observedGeneration,
        lastTransitionTime: new Date().toISOString(),
      },
    ],
  };
}
