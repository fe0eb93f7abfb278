// The App Mesh router inside the real rollout workflow: Temporal dev server, bundled workflow, in-process worker, a
// real kube-apiserver with the appmesh.k8s.aws CRDs (generated from the pinned Flagger module's copy of the App Mesh
// types: v1beta2 stored, v1beta1 served) and the real routes activities. Workloads, metrics and status stay
// scripted. Flagger's App Mesh routers read spec only (no VirtualNode/VirtualRouter status gate), so the test
// plays no App Mesh controller beyond what its admission webhook would add (meshRef), which fledge must keep.
// After every setRoutes the stored objects are snapshotted: the apex VirtualRouter's first route carries the
// weights, and nothing else is rewritten (Flagger updates only that router).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import type { RolloutActivities } from '../../api/ports.ts';
import { createRoutesActivities } from '../../activities/routers/index.ts';
import { startCluster, type Cluster } from '../../dev/cluster.ts';
import { flaggerApiCrdFiles } from '../../dev/fixtures.ts';
import { canaryDeletingSignal } from '../../workflows/controls.ts';
import { MESH_NAME_REQUIRED } from '../../api/canary.ts';
import type { RolloutResult } from '../../workflows/rollout.ts';
import { createScriptedActivities } from '../scripted/activities.ts';
import { newWorldCanary } from '../scripted/world.ts';
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

let cluster: Cluster;
/** Legacy `appmesh`: its own apiserver, with the App Mesh CRDs serving and storing v1beta1 only. */
let legacyCluster: Cluster;
let custom: k8s.CustomObjectsApi;
let legacy: k8s.CustomObjectsApi;
/** The v1beta2 routes activities, called directly (no workflow). */
let direct: ReturnType<typeof createRoutesActivities>;
let env: TestEnv;
let stopWorker = async () => {};

const V1BETA2 = { group: 'appmesh.k8s.aws', version: 'v1beta2', namespace: NAMESPACE };
type Stored = {
  metadata: { name: string; resourceVersion: string; ownerReferences?: { uid: string; kind: string }[] };
  spec: Record<string, unknown>;
};
type Snapshot = { weights: string; versions: Record<string, string> };

/** Snapshot after every setRoutes, per canary. */
const trails = new Map<string, Snapshot[]>();
/** Per canary: whether both VirtualNodes existed when initializePrimary first ran. */
const nodesBeforePrimary = new Map<string, boolean>();
const finalized = new Set<string>();

async function read(plural: string, name: string): Promise<Stored> {
  return (await custom.getNamespacedCustomObject({ ...V1BETA2, plural, name })) as Stored;
}

async function exists(plural: string, name: string): Promise<boolean> {
  return read(plural, name).then(
    () => true,
    (e: unknown) => {
      if ((e as { code?: number }).code === 404) return false;
      throw e;
    },
  );
}

/** Whether the canary's VirtualNodes are in its cluster (legacy: three, v1beta2: two). */
async function nodesExist(name: string): Promise<boolean> {
  if (!name.startsWith('legacy-'))
    return (await exists('virtualnodes', `${name}-primary`)) && (await exists('virtualnodes', `${name}-canary`));
  const found = await Promise.all(
    [name, `${name}-primary`, `${name}-canary`].map((n) =>
      readLegacy('virtualnodes', n).then(
        () => true,
        () => false,
      ),
    ),
  );
  return found.every(Boolean);
}

const OBJECTS = (name: string) => [
  ['virtualnodes', `${name}-primary`],
  ['virtualnodes', `${name}-canary`],
  ['virtualrouters', `${name}-canary`],
  ['virtualservices', name],
  ['virtualservices', `${name}-canary`],
];

type Target = { virtualNodeRef: { name: string }; weight: number };
type VrRoute = {
  name: string;
  priority?: number;
  httpRoute: { match: Record<string, unknown>; action: { weightedTargets: Target[] } };
};

/** "primary/canary" of the apex router's first route. */
function weightsOf(router: Stored, name: string): string {
  const targets = (router.spec.routes as VrRoute[])[0]!.httpRoute.action.weightedTargets;
  const w = (node: string) => targets.find((t) => t.virtualNodeRef.name === node)?.weight;
  return `${w(`${name}-primary`)}/${w(`${name}-canary`)}`;
}

async function snapshot(name: string): Promise<Snapshot> {
  const versions: Record<string, string> = {};
  for (const [plural, n] of OBJECTS(name))
    versions[`${plural}/${n}`] = (await read(plural!, n!)).metadata.resourceVersion;
  return { weights: weightsOf(await read('virtualrouters', name), name), versions };
}

const V1BETA1 = { group: 'appmesh.k8s.aws', version: 'v1beta1', namespace: NAMESPACE };
type LegacyRoute = {
  name: string;
  priority?: number;
  http: { match: Record<string, unknown>; action: { weightedTargets: { virtualNodeName: string; weight: number }[] } };
};

async function readLegacy(plural: string, name: string): Promise<Stored> {
  return (await legacy.getNamespacedCustomObject({ ...V1BETA1, plural, name })) as Stored;
}

/** "primary/canary" of the first route of a legacy VirtualService. */
function legacyWeights(vs: Stored, name: string): string {
  const targets = (vs.spec.routes as LegacyRoute[])[0]!.http.action.weightedTargets;
  const w = (node: string) => targets.find((t) => t.virtualNodeName === node)?.weight;
  return `${w(`${name}-primary`)}/${w(`${name}-canary`)}`;
}

async function legacySnapshot(name: string): Promise<Snapshot> {
  const versions: Record<string, string> = {};
  for (const n of [name, `${name}-primary`, `${name}-canary`])
    versions[`virtualnodes/${n}`] = (await readLegacy('virtualnodes', n)).metadata.resourceVersion;
  const canaryVs = `${name}-canary.${NAMESPACE}`;
  versions[`virtualservices/${canaryVs}`] = (await readLegacy('virtualservices', canaryVs)).metadata.resourceVersion;
  return { weights: legacyWeights(await readLegacy('virtualservices', `${name}.${NAMESPACE}`), name), versions };
}

before(async () => {
  [cluster, legacyCluster, env] = await Promise.all([
    startCluster({ crds: flaggerApiCrdFiles('appmesh'), gatewayApi: false }),
    startCluster({ crds: flaggerApiCrdFiles('appmeshLegacy'), gatewayApi: false }),
    setupEnv('appmesh', { worker: false }),
  ]);
  custom = cluster.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
  legacy = legacyCluster.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
  for (const c of [cluster, legacyCluster])
    await c.kubeConfig.makeApiClient(k8s.CoreV1Api).createNamespace({ body: { metadata: { name: NAMESPACE } } });
  const scripted = createScriptedActivities(env.world.url);
  const modern = createRoutesActivities({ kube: cluster.kubeConfig });
  direct = modern;
  const old = createRoutesActivities({ kube: legacyCluster.kubeConfig });
  /** Canaries named `legacy-…` live in the legacy cluster. */
  const routesOf = (canary: { name: string }) => (canary.name.startsWith('legacy-') ? old : modern);
  const routes: typeof modern = {
    reconcileRoutes: (i) => routesOf(i.canary).reconcileRoutes(i),
    setRoutes: (i) => routesOf(i.canary).setRoutes(i),
    getRoutes: (i) => routesOf(i.canary).getRoutes(i),
    finalizeRoutes: (i) => routesOf(i.canary).finalizeRoutes(i),
  };
  const activities: RolloutActivities & {
    finalizeCanary(i: { canary: { namespace: string; name: string } }): Promise<void>;
  } = {
    ...scripted,
    observe: async (input) => ({ ...(await scripted.observe(input)), routes: await routes.getRoutes(input) }),
    initializePrimary: async (input) => {
      const name = input.canary.name;
      if (!nodesBeforePrimary.has(name)) nodesBeforePrimary.set(name, await nodesExist(name));
      return scripted.initializePrimary(input);
    },
    reconcileRoutes: async (input) => {
      await scripted.reconcileRoutes(input);
      return routes.reconcileRoutes(input);
    },
    setRoutes: async (input) => {
      await scripted.setRoutes(input);
      const now = await routes.setRoutes(input);
      const name = input.canary.name;
      const taken = name.startsWith('legacy-') ? await legacySnapshot(name) : await snapshot(name);
      trails.set(name, [...(trails.get(name) ?? []), taken]);
      return now;
    },
    getRoutes: routes.getRoutes,
    // What activities/kubernetes finalizeCanary does for routes (the workload part stays scripted).
    finalizeCanary: async ({ canary }) => {
      await routes.finalizeRoutes({ canary });
      finalized.add(canary.name);
    },
  };
  stopWorker = await startBundledWorker(env, activities);
});

after(async () => {
  await stopWorker();
  await env?.stop();
  await Promise.all([cluster?.stop(), legacyCluster?.stop()]);
});

/** The Canary and its target Deployment in the apiserver (the router reads the selector label from the target). */
async function createCanary(raw: Record<string, unknown>, label = 'app'): Promise<string> {
  const { metadata, ...rest } = raw as { metadata: { name: string } };
  const name = metadata.name;
  const target = name.startsWith('legacy-') ? legacyCluster : cluster;
  await target.kubeConfig.makeApiClient(k8s.AppsV1Api).createNamespacedDeployment({
    namespace: NAMESPACE,
    body: {
      metadata: { name },
      spec: {
        selector: { matchLabels: { [label]: name } },
        template: {
          metadata: { labels: { [label]: name } },
          spec: { containers: [{ name: 'app', image: 'podinfo' }] },
        },
      },
    },
  });
  const created = (await target.kubeConfig.makeApiClient(k8s.CustomObjectsApi).createNamespacedCustomObject({
    group: 'flagger.app',
    version: 'v1beta1',
    namespace: NAMESPACE,
    plural: 'canaries',
    body: { ...rest, metadata: { name } },
  })) as { metadata: { uid: string } };
  return created.metadata.uid;
}

/** Creates the Canary (and its Deployment), seeds it initialized with `metrics` and runs it to the end. */
async function runCanary(
  raw: Record<string, unknown>,
  metrics?: Record<string, number[]>,
  opts?: Parameters<typeof runToEnd>[2],
): ReturnType<typeof runToEnd> {
  await createCanary(raw);
  seedInitialized(env, { raw, ...(metrics ? { metrics } : {}) });
  return runToEnd(env, (raw.metadata as { name: string }).name, opts);
}

function meshCanary(name: string, analysis: Record<string, unknown>, service: Record<string, unknown> = {}) {
  return canaryRaw(
    name,
    { interval: '300ms', ...analysis },
    { provider: 'appmesh:v1beta2', service: { port: 9898, timeout: '15s', ...service } },
  );
}

/** Every snapshot but the weights: the other objects are never rewritten by setRoutes. */
function assertOnlyApexWritten(name: string, since: Snapshot): void {
  for (const s of trails.get(name) ?? []) assert.deepEqual(s.versions, since.versions, `${name}: ${s.weights}`);
}

describe('App Mesh (appmesh:v1beta2) routes in a real workflow run', { concurrency: true }, () => {
  it('initializes with the VirtualNodes before the primary, then a canary walks the VirtualRouter to 100/0', async () => {
    const name = 'mesh-canary';
    const raw = meshCanary(name, { stepWeight: 20, maxWeight: 60 }, { backends: ['backend.test'] });
    const uid = await createCanary(raw, 'app.kubernetes.io/name');
    const world = newWorldCanary({ raw, primary: { exists: false, ready: true } });
    env.world.put(`${NAMESPACE}/${name}`, world);

    // Initialization (Flagger's first tick): objects before the primary, all traffic to the primary.
    const init = await runToEnd(env, name, { revision: { hash: 'rev-1', generation: 1 } });
    assert.equal(init.result.phase, 'Initialized');
    assert.equal(nodesBeforePrimary.get(name), true, 'VirtualNodes existed when the primary was created');
    const primaryNode = await read('virtualnodes', `${name}-primary`);
    assert.deepEqual(primaryNode.spec, {
      listeners: [
        {
          portMapping: { port: 9898, protocol: 'http' },
          timeout: { http: { perRequest: { unit: 'ms', value: 15000 } } },
        },
      ],
      serviceDiscovery: { dns: { hostname: `${name}-primary.${NAMESPACE}.svc.cluster.local.` } },
      podSelector: { matchLabels: { 'app.kubernetes.io/name': `${name}-primary` } },
      backends: [{ virtualService: { virtualServiceRef: { name: 'backend.test' } } }],
    });
    assert.equal(primaryNode.metadata.ownerReferences?.[0]?.uid, uid);
    assert.deepEqual((await read('virtualnodes', `${name}-canary`)).spec.podSelector, {
      matchLabels: { 'app.kubernetes.io/name': name },
    });
    assert.deepEqual((await read('virtualservices', name)).spec, {
      provider: { virtualRouter: { virtualRouterRef: { name } } },
    });
    const canaryRouter = await read('virtualrouters', `${name}-canary`);
    assert.equal(weightsOf(canaryRouter, name), '0/100');
    assert.equal(weightsOf(await read('virtualrouters', name), name), '100/0');

    // The App Mesh admission webhook's meshRef: fledge's re-applies leave it alone (Flagger ignores it too).
    const meshRef = { name: 'global', uid: 'mesh-uid' };
    await custom.patchNamespacedCustomObject(
      { ...V1BETA2, plural: 'virtualrouters', name, body: [{ op: 'add', path: '/spec/meshRef', value: meshRef }] },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
    );
    const start = await snapshot(name);

    const { result } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(
      trails.get(name)?.map((s) => s.weights),
      ['80/20', '60/40', '40/60', '100/0'],
    );
    assertOnlyApexWritten(name, start);
    const apex = await read('virtualrouters', name);
    assert.deepEqual(apex.spec.meshRef, meshRef);
    assert.deepEqual(apex.spec.listeners, [{ portMapping: { port: 9898, protocol: 'http' } }]);
    assert.deepEqual(
      (apex.spec.routes as VrRoute[]).map((r) => r.name),
      [name],
    );
  });

  it('A/B testing: the header route carries the weights, the other route keeps everyone on the primary', async () => {
    const name = 'mesh-ab';
    const raw = meshCanary(name, { iterations: 2, match: [{ headers: { 'x-canary': { exact: 'insider' } } }] });
    const { result } = await runCanary(raw);
    assert.equal(result.phase, 'Succeeded');
    // The first tick's reconcile created the objects: the trail starts at the switch to the canary.
    assert.deepEqual(
      trails.get(name)?.map((s) => s.weights),
      ['0/100', '100/0'],
    );
    const routes = (await read('virtualrouters', name)).spec.routes as VrRoute[];
    assert.deepEqual(
      routes.map((r) => [r.name, r.priority, r.httpRoute.match]),
      [
        [`${name}-a`, 10, { prefix: '/', headers: [{ name: 'x-canary', match: { exact: 'insider' } }] }],
        [`${name}-b`, 20, { prefix: '/' }],
      ],
    );
    assert.deepEqual(routes[1]!.httpRoute.action.weightedTargets, [
      { virtualNodeRef: { name: `${name}-primary` }, weight: 100 },
    ]);
  });

  it('blue/green switches all traffic to the canary for the checks, then back to the promoted primary', async () => {
    const name = 'mesh-bg';
    const raw = meshCanary(name, { iterations: 2 });
    const { result } = await runCanary(raw);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(
      trails.get(name)?.map((s) => s.weights),
      ['0/100', '100/0'],
    );
  });

  it('failed checks roll back: all traffic returns to the primary, the canary router is untouched', async () => {
    const name = 'mesh-rollback';
    const raw = meshCanary(name, { stepWeight: 10, maxWeight: 50, threshold: 2, metrics: [metric('error-rate', 1)] });
    const { result } = await runCanary(raw, { 'error-rate': [0, 5] }, { options: { retryWindowMs: 1 } });
    assert.equal(result.phase, 'Failed');
    // Tick 1: 10; tick 2: metric ok → 20; ticks 3-4 fail; tick 5 rolls back.
    assert.deepEqual(
      trails.get(name)?.map((s) => s.weights),
      ['90/10', '80/20', '100/0'],
    );
    assert.equal(weightsOf(await read('virtualrouters', name), name), '100/0');
    assert.equal(weightsOf(await read('virtualrouters', `${name}-canary`), name), '0/100');
  });

  it('reconcile keeps the weights in force, applies spec edits and undoes foreign edits; mirroring is refused', async () => {
    const name = 'mesh-direct';
    const canary = { namespace: NAMESPACE, name };
    await createCanary(meshCanary(name, { stepWeight: 10 }));
    assert.deepEqual(await direct.getRoutes({ canary }), { primary: 100, canary: 0, mirrored: false }, 'nothing yet');
    await direct.reconcileRoutes({ canary });
    await direct.setRoutes({ canary, routes: { primary: 60, canary: 40, mirrored: false } });
    // Flagger's reconcile test: backends added to the Canary, a route prefix changed behind Flagger's back.
    const backends = ['test.example.com', 'arn:aws:appmesh:eu-west-1:12345678910:mesh/my-mesh/virtualService/svc'];
    await custom.patchNamespacedCustomObject(
      {
        group: 'flagger.app',
        version: 'v1beta1',
        namespace: NAMESPACE,
        plural: 'canaries',
        name,
        body: [{ op: 'add', path: '/spec/service/backends', value: backends }],
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
    );
    await custom.patchNamespacedCustomObject(
      {
        ...V1BETA2,
        plural: 'virtualrouters',
        name,
        body: [{ op: 'replace', path: '/spec/routes/0/httpRoute/match/prefix', value: 'api' }],
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
    );
    assert.deepEqual(await direct.reconcileRoutes({ canary }), { primary: 60, canary: 40, mirrored: false });
    const apex = await read('virtualrouters', name);
    assert.equal(weightsOf(apex, name), '60/40');
    assert.deepEqual((apex.spec.routes as VrRoute[])[0]!.httpRoute.match, { prefix: '/' });
    assert.equal(((await read('virtualnodes', `${name}-primary`)).spec.backends as unknown[]).length, 2);
    await assert.rejects(
      direct.setRoutes({ canary, routes: { primary: 100, canary: 0, mirrored: true } }),
      (e: unknown) => (e as { type?: string; nonRetryable?: boolean }).nonRetryable === true,
    );
    assert.deepEqual(await direct.getRoutes({ canary }), { primary: 60, canary: 40, mirrored: false });
  });

  it('deleting the Canary mid-rollout (revertOnDeletion) finalizes without touching the App Mesh objects', async () => {
    const name = 'mesh-delete';
    const raw = meshCanary(name, { stepWeight: 10, maxWeight: 90 });
    (raw.spec as Record<string, unknown>).revertOnDeletion = true;
    await createCanary(raw);
    seedInitialized(env, { raw });
    const handle = await startRollout(env, name);
    await waitUntil('two traffic steps', () => (trails.get(name)?.length ?? 0) >= 2);
    await handle.signal(canaryDeletingSignal);
    const result = (await handle.result()) as RolloutResult;
    assert.equal(result.deleted, true);
    assert.ok(finalized.has(name), 'finalizeCanary ran');
    const last = trails.get(name)!.at(-1)!;
    assert.deepEqual(
      await snapshot(name),
      last,
      'Flagger finalizes nothing on App Mesh: objects as the last step left them',
    );
  });
});

describe('legacy App Mesh (appmesh, v1beta1 API) routes in a real workflow run', { concurrency: true }, () => {
  const legacyCanary = (name: string, analysis: Record<string, unknown>, service: Record<string, unknown>) =>
    canaryRaw(name, { interval: '300ms', ...analysis }, { provider: 'appmesh', service: { port: 9898, ...service } });

  it('initializes three VirtualNodes in the mesh first, then a canary walks <svc>.<ns> to 100/0', async () => {
    const name = 'legacy-canary';
    const raw = legacyCanary(
      name,
      { stepWeight: 25, maxWeight: 50 },
      { meshName: 'global', hosts: ['app.example.com'] },
    );
    await createCanary(raw);
    env.world.put(`${NAMESPACE}/${name}`, newWorldCanary({ raw, primary: { exists: false, ready: true } }));
    const init = await runToEnd(env, name, { revision: { hash: 'rev-1', generation: 1 } });
    assert.equal(init.result.phase, 'Initialized');
    assert.equal(nodesBeforePrimary.get(name), true, 'VirtualNodes existed when the primary was created');
    const apexNode = await readLegacy('virtualnodes', name);
    assert.deepEqual(apexNode.spec, {
      meshName: 'global',
      listeners: [{ portMapping: { port: 9898, protocol: 'http' } }],
      serviceDiscovery: { dns: { hostName: `${name}-primary.${NAMESPACE}` } },
    });
    assert.deepEqual((await readLegacy('virtualnodes', `${name}-canary`)).spec.serviceDiscovery, {
      dns: { hostName: `${name}-canary.${NAMESPACE}` },
    });
    const apex = await readLegacy('virtualservices', `${name}.${NAMESPACE}`);
    assert.deepEqual(apex.spec.virtualRouter, { name, listeners: [{ portMapping: { port: 9898, protocol: 'http' } }] });
    assert.equal(
      (apex as unknown as { metadata: { annotations: Record<string, string> } }).metadata.annotations[
        'gateway.appmesh.k8s.aws/domain'
      ],
      'app.example.com,',
    );
    assert.equal(legacyWeights(apex, name), '100/0');
    const start = await legacySnapshot(name);

    const { result } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(
      trails.get(name)?.map((s) => s.weights),
      ['75/25', '50/50', '100/0'],
    );
    assertOnlyApexWritten(name, start);
    const canaryVs = await readLegacy('virtualservices', `${name}-canary.${NAMESPACE}`);
    assert.equal(legacyWeights(canaryVs, name), '0/100');
  });

  it('A/B testing on the legacy API: the header route carries the weights', async () => {
    const name = 'legacy-ab';
    const raw = legacyCanary(
      name,
      { iterations: 2, match: [{ headers: { 'user-agent': { regex: '.*Chrome.*' } } }] },
      { meshName: 'global' },
    );
    const { result } = await runCanary(raw);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(
      trails.get(name)?.map((s) => s.weights),
      ['0/100', '100/0'],
    );
    const routes = (await readLegacy('virtualservices', `${name}.${NAMESPACE}`)).spec.routes as LegacyRoute[];
    assert.deepEqual(
      routes.map((r) => [r.name, r.priority, r.http.match]),
      [
        [`${name}-a`, 10, { prefix: '/', headers: [{ name: 'user-agent', match: { regex: '.*Chrome.*' } }] }],
        [`${name}-b`, 20, { prefix: '/' }],
      ],
    );
  });

  it("a legacy Canary without service.meshName gets Flagger's text as a Warning event, and no object", async () => {
    const name = 'legacy-nomesh';
    const raw = legacyCanary(name, { stepWeight: 50 }, {});
    await createCanary(raw);
    const world = newWorldCanary({ raw, primary: { exists: false, ready: true } });
    env.world.put(`${NAMESPACE}/${name}`, world);
    const handle = await startRollout(env, name, { revision: { hash: 'rev-1', generation: 1 } });
    await waitUntil('the mesh name event', () =>
      world.log.events.some((e) => e.type === 'Warning' && e.message.includes(MESH_NAME_REQUIRED)),
    );
    await handle.terminate('test done');
    await assert.rejects(readLegacy('virtualnodes', name), (e: unknown) => (e as { code?: number }).code === 404);
  });
});
