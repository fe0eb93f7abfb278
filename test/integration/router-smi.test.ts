// The SMI router (linkerd, osm, smi:v1alpha1|2|3) and GAMMA (Gateway API HTTPRoutes with a Service parent) inside
// real rollout workflows: Temporal dev server, bundled workflow, in-process worker, a real kube-apiserver with the
// TrafficSplit CRD generated from the pinned Flagger module's Go types and the Gateway API CRDs. The real routes
// activities read the Canaries from the apiserver; workloads, metrics and status stay scripted. The stored
// TrafficSplit or HTTPRoute is read back after every setRoutes. A stand-in mesh controller accepts HTTPRoutes for
// their Service parents, reporting the parent with the core group as "" (the spec says `core`, as Flagger's
// Linkerd tutorial writes it).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import type { HTTPRoute } from '../../activities/routers/httproute.ts';
import type { TrafficSplit } from '../../activities/routers/trafficsplit.ts';
import { flaggerApiCrdFiles, readFixture } from '../../dev/fixtures.ts';
import { canaryDeletingSignal } from '../../workflows/controls.ts';
import type { RolloutResult } from '../../workflows/rollout.ts';
import { NAMESPACE, runToEnd, seedInitialized, startRollout, waitUntil, type TestEnv } from '../workflow/env.ts';
import { acceptHttpRoutes, isNotFound, routerHarness } from './router-harness.ts';

/** Routers by the worker default provider a canary runs under (Flagger's -mesh-provider); others: none. */
const harness = routerHarness('router-smi', {
  crds: () => flaggerApiCrdFiles('smi'),
  routers: {
    linkerd: { defaultProvider: 'linkerd' },
    'gatewayapi:v1beta1': { defaultProvider: 'gatewayapi:v1beta1' },
  },
});
/** The stored routing object after every setRoutes, per canary: "80/20" (primary/canary). */
const { stored, describers, routesOf } = harness;
let custom: k8s.CustomObjectsApi;
let env: TestEnv;
/** A mesh controller (e.g. Linkerd's policy controller): accepts each generation of every route for its parents. */
let mesh: { stop(): Promise<void> } | undefined;
/** How each canary's routing object is read back: its kind, API version and name. */
const objectOf = new Map<string, { kind: 'TrafficSplit' | 'HTTPRoute'; version: string; name: string }>();

const SPLITS = { group: 'split.smi-spec.io', namespace: NAMESPACE, plural: 'trafficsplits' };
const ROUTES = { group: 'gateway.networking.k8s.io', namespace: NAMESPACE, plural: 'httproutes' };

async function readSplit(name: string, version: string): Promise<TrafficSplit> {
  return (await custom.getNamespacedCustomObject({ ...SPLITS, version, name })) as TrafficSplit;
}
async function readRoute(name: string, version = 'v1'): Promise<HTTPRoute> {
  return (await custom.getNamespacedCustomObject({ ...ROUTES, version, name })) as HTTPRoute;
}

function describeSplit(split: TrafficSplit, apex: string): string {
  const weight = (svc: string) => split.spec.backends.find((b) => b.service === svc)?.weight;
  return `${weight(`${apex}-primary`)}/${weight(`${apex}-canary`)}`;
}
function describeRoute(route: HTTPRoute, apex: string): string {
  const rule = route.spec.rules[0];
  const weight = (svc: string) => rule?.backendRefs.find((b) => b.name === svc)?.weight;
  return `${weight(`${apex}-primary`)}/${weight(`${apex}-canary`)}`;
}

async function describeStored(canary: string): Promise<string> {
  const o = objectOf.get(canary)!;
  return o.kind === 'TrafficSplit'
    ? describeSplit(await readSplit(o.name, o.version), o.name)
    : describeRoute(await readRoute(o.name, o.version), o.name);
}

// Flagger's Linkerd tutorial Canary, with the default mesh provider each run gets (the tutorial names none).
const TUTORIAL = parseAllDocuments(
  /```yaml\n([\s\S]*?kind: Canary[\s\S]*?)```/.exec(
    readFixture('flagger', 'docs/gitbook/tutorials/linkerd-progressive-delivery.md'),
  )![1]!,
)
  .map((d) => d.toJS() as Record<string, unknown>)
  .find((d) => d.kind === 'Canary')!;

before(async () => {
  await harness.start();
  ({ custom, env } = harness);
  mesh = acceptHttpRoutes(custom, 'linkerd.io/gateway-controller', (ref) =>
    ref.kind === 'Service' && ref.group === 'core' ? { ...ref, group: '' } : ref,
  );
});

after(async () => {
  await mesh?.stop();
  await harness.stop();
});

type Spec = Record<string, unknown>;

/** A Canary named `name` targeting Deployment `name`, put in the apiserver and (seeded Initialized) the world. */
async function canary(
  name: string,
  spec: Spec,
  analysis: Spec,
  world: { metrics?: Record<string, number[]> } = {},
): Promise<Record<string, unknown>> {
  const raw = {
    apiVersion: 'flagger.app/v1beta1',
    kind: 'Canary',
    metadata: { name, namespace: NAMESPACE },
    spec: {
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      service: { port: 9898 },
      progressDeadlineSeconds: 60,
      ...spec,
      analysis: { interval: '300ms', threshold: 2, ...analysis },
    },
  };
  await create(raw);
  seedInitialized(env, { raw, ...world });
  return raw;
}

/** Stores the Canary; its routing object (see objectOf) is recorded after every setRoutes. */
async function create(raw: Record<string, unknown>): Promise<void> {
  const { name } = raw.metadata as { name: string };
  describers.set(name, () => describeStored(name));
  await harness.createCanary(raw);
}

async function canaryUid(name: string): Promise<string> {
  const c = (await custom.getNamespacedCustomObject({
    group: 'flagger.app',
    version: 'v1beta1',
    namespace: NAMESPACE,
    plural: 'canaries',
    name,
  })) as { metadata: { uid: string } };
  return c.metadata.uid;
}

/** The TrafficSplit Flagger writes, as read back through `version`. */
function expectedSplit(name: string, version: string, primary: number, canaryWeight: number, uid: string) {
  const w = (n: number) => (version === 'v1alpha1' ? String(n) : n);
  return {
    apiVersion: `split.smi-spec.io/${version}`,
    kind: 'TrafficSplit',
    owner: [
      { apiVersion: 'flagger.app/v1beta1', kind: 'Canary', name, uid, controller: true, blockOwnerDeletion: true },
    ],
    spec: {
      service: name,
      backends: [
        { service: `${name}-canary`, weight: w(canaryWeight) },
        { service: `${name}-primary`, weight: w(primary) },
      ],
    },
  };
}

function shapeOf(split: TrafficSplit) {
  return { apiVersion: split.apiVersion, kind: split.kind, owner: split.metadata.ownerReferences, spec: split.spec };
}

const SMI_VERSIONS = [
  { provider: 'linkerd', version: 'v1alpha1' },
  { provider: 'smi:v1alpha1', version: 'v1alpha1' },
  { provider: 'osm', version: 'v1alpha2' },
  { provider: 'smi:v1alpha2', version: 'v1alpha2' },
  { provider: 'smi:v1alpha3', version: 'v1alpha3' },
] as const;

describe('SMI TrafficSplits and GAMMA HTTPRoutes in real workflow runs', { concurrency: true }, () => {
  for (const { provider, version } of SMI_VERSIONS) {
    const name = `split-${provider.replace(':', '-')}`;

    it(`${provider}: a weighted canary walks the ${version} TrafficSplit to max weight and ends at 100/0`, async () => {
      objectOf.set(name, { kind: 'TrafficSplit', version, name });
      await canary(name, { provider }, { stepWeight: 20, maxWeight: 60 });
      const { result } = await runToEnd(env, name);
      assert.equal(result.phase, 'Succeeded');
      assert.deepEqual(stored.get(name), ['80/20', '60/40', '40/60', '100/0']);
      assert.deepEqual(
        shapeOf(await readSplit(name, version)),
        expectedSplit(name, version, 100, 0, await canaryUid(name)),
      );
    });
  }

  const ONE_PER_VERSION = [
    { provider: 'linkerd', version: 'v1alpha1' },
    { provider: 'osm', version: 'v1alpha2' },
    { provider: 'smi:v1alpha3', version: 'v1alpha3' },
  ] as const;
  for (const { provider, version } of ONE_PER_VERSION) {
    it(`${provider}: failed checks roll the ${version} TrafficSplit back to 100/0 and the rollout ends Failed`, async () => {
      const name = `rollback-${version}`;
      objectOf.set(name, { kind: 'TrafficSplit', version, name });
      await canary(
        name,
        { provider },
        { stepWeight: 20, maxWeight: 60, metrics: [{ name: 'errors', query: 'q', thresholdRange: { max: 1 } }] },
        { metrics: { errors: [0, 5] } },
      );
      const { result } = await runToEnd(env, name, { options: { retryWindowMs: 1 } });
      assert.equal(result.phase, 'Failed');
      assert.deepEqual(stored.get(name), ['80/20', '60/40', '100/0']);
      assert.deepEqual(
        shapeOf(await readSplit(name, version)),
        expectedSplit(name, version, 100, 0, await canaryUid(name)),
      );
    });

    it(`${provider}: deleting the Canary mid-rollout finalizes by deleting the ${version} TrafficSplit fledge created`, async () => {
      const name = `finalize-${version}`;
      objectOf.set(name, { kind: 'TrafficSplit', version, name });
      await canary(name, { provider }, { interval: '500ms', stepWeight: 10, maxWeight: 90 });
      const handle = await startRollout(env, name);
      await waitUntil('the canary getting 20%', () => stored.get(name)?.includes('80/20') ?? false);
      await handle.signal(canaryDeletingSignal);
      const result = (await handle.result()) as RolloutResult;
      assert.equal(result.deleted, true);
      await assert.rejects(readSplit(name, version), isNotFound);
    });
  }

  it('osm: blue/green switches the v1alpha2 TrafficSplit to the canary, then back to the promoted primary', async () => {
    const name = 'split-bluegreen';
    objectOf.set(name, { kind: 'TrafficSplit', version: 'v1alpha2', name });
    await canary(name, { provider: 'osm' }, { iterations: 2 });
    const { result } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(stored.get(name), ['0/100', '100/0']);
  });

  it('smi:v1alpha3: A/B match conditions are ignored: as in Flagger, the iterations route all traffic to the canary', async () => {
    const name = 'split-ab';
    objectOf.set(name, { kind: 'TrafficSplit', version: 'v1alpha3', name });
    await canary(name, { provider: 'smi:v1alpha3' }, { iterations: 2, match: [{ headers: { x: { exact: '1' } } }] });
    const { result } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(stored.get(name), ['0/100', '100/0']);
    assert.equal((await readSplit(name, 'v1alpha3')).spec.matches, undefined, 'no HTTPRouteGroup matches');
  });

  it('linkerd: mirror is ignored (SMI cannot mirror): no mirror step', async () => {
    const name = 'split-mirror';
    objectOf.set(name, { kind: 'TrafficSplit', version: 'v1alpha1', name });
    await canary(name, { provider: 'linkerd' }, { stepWeight: 50, maxWeight: 50, mirror: true });
    const { result } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(stored.get(name), ['50/50', '100/0']);
  });

  it('finalize leaves a TrafficSplit fledge adopted (not owned by the Canary) in place', async () => {
    const name = 'split-adopted';
    await custom.createNamespacedCustomObject({
      ...SPLITS,
      version: 'v1alpha2',
      body: {
        apiVersion: 'split.smi-spec.io/v1alpha2',
        kind: 'TrafficSplit',
        metadata: { name },
        spec: { service: name, backends: [{ service: `${name}-primary`, weight: 100 }] },
      },
    });
    await canary(name, { provider: 'osm' }, { stepWeight: 50 });
    const routes = routesOf({ namespace: NAMESPACE, name });
    const ref = { canary: { namespace: NAMESPACE, name } };
    // A split that routes other backends is reset to all-primary (Flagger's Reconcile), and gets no owner.
    assert.deepEqual(await routes.reconcileRoutes(ref), { primary: 100, canary: 0, mirrored: false });
    await routes.setRoutes({ ...ref, routes: { primary: 50, canary: 50, mirrored: false } });
    await routes.finalizeRoutes(ref);
    const split = await readSplit(name, 'v1alpha2');
    assert.equal(split.metadata.ownerReferences, undefined);
    assert.equal(describeSplit(split, name), '50/50');
  });

  it('GAMMA: a gatewayapi:v1beta1 canary with a Service parent walks its HTTPRoute once the mesh accepts it', async () => {
    const name = 'gamma';
    objectOf.set(name, { kind: 'HTTPRoute', version: 'v1beta1', name });
    const parent = { name, namespace: NAMESPACE, group: 'core', kind: 'Service', port: 9898 };
    await canary(
      name,
      { provider: 'gatewayapi:v1beta1', service: { port: 9898, gatewayRefs: [parent] } },
      { stepWeight: 25, maxWeight: 50 },
    );
    const { result } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(stored.get(name), ['75/25', '50/50', '100/0']);
    const route = await readRoute(name, 'v1beta1');
    assert.deepEqual(route.spec.parentRefs, [parent]);
    assert.equal(route.spec.hostnames, undefined);
    assert.deepEqual(route.status?.parents?.[0]?.parentRef, { ...parent, group: '' });
  });

  it('GAMMA: failed checks roll the HTTPRoute back to 100/0; deleting a Canary mid-rollout deletes its HTTPRoute', async () => {
    const gammaCanary = (name: string, analysis: Spec, world: { metrics?: Record<string, number[]> } = {}) => {
      objectOf.set(name, { kind: 'HTTPRoute', version: 'v1', name });
      const parent = { name, namespace: NAMESPACE, group: 'core', kind: 'Service', port: 9898 };
      return canary(
        name,
        { provider: 'gatewayapi:v1', service: { port: 9898, gatewayRefs: [parent] } },
        analysis,
        world,
      );
    };
    const metrics = [{ name: 'errors', query: 'q', thresholdRange: { max: 1 } }];
    await gammaCanary('gamma-rollback', { stepWeight: 20, maxWeight: 60, metrics }, { metrics: { errors: [0, 5] } });
    await gammaCanary('gamma-delete', { interval: '500ms', stepWeight: 10, maxWeight: 90 });
    const rollback = runToEnd(env, 'gamma-rollback', { options: { retryWindowMs: 1 } });
    const handle = await startRollout(env, 'gamma-delete');
    await waitUntil('the canary getting 20%', () => stored.get('gamma-delete')?.includes('80/20') ?? false);
    await handle.signal(canaryDeletingSignal);
    assert.equal(((await handle.result()) as RolloutResult).deleted, true);
    await assert.rejects(readRoute('gamma-delete'), isNotFound);

    const { result } = await rollback;
    assert.equal(result.phase, 'Failed');
    assert.deepEqual(stored.get('gamma-rollback'), ['80/20', '60/40', '100/0']);
    assert.equal(describeRoute(await readRoute('gamma-rollback'), 'gamma-rollback'), '100/0');
  });

  // The tutorial manifest goes to the apiserver as published, where the real routes activities parse it with the
  // worker's default provider. The workflow's scripted view of it gets that provider and a 300ms interval, so ten
  // 5% steps take seconds; its metrics (MetricTemplates success-rate and latency) report healthy values.
  const tutorials = [
    { name: 'podinfo', provider: 'linkerd', kind: 'TrafficSplit', version: 'v1alpha1' },
    { name: 'podinfo-gamma', provider: 'gatewayapi:v1beta1', kind: 'HTTPRoute', version: 'v1beta1' },
  ] as const;
  for (const t of tutorials) {
    it(`Flagger's Linkerd tutorial Canary reaches Succeeded under ${t.provider}`, async () => {
      harness.routerOf.set(t.name, t.provider);
      // Both target Deployment podinfo: the TrafficSplit and the HTTPRoute are both named podinfo.
      objectOf.set(t.name, { kind: t.kind, version: t.version, name: 'podinfo' });
      const published = TUTORIAL as { metadata: Spec; spec: Spec & { analysis: Spec } };
      const raw = { ...published, metadata: { ...published.metadata, name: t.name } };
      await create(raw);
      const view = {
        ...raw,
        spec: { ...raw.spec, provider: t.provider, analysis: { ...raw.spec.analysis, interval: '300ms' } },
      };
      seedInitialized(env, { raw: view, metrics: { 'success-rate': [100], latency: [20] } });
      const { result } = await runToEnd(env, t.name);
      assert.equal(result.phase, 'Succeeded');
      const steps = [5, 10, 15, 20, 25, 30, 35, 40, 45, 50].map((w) => `${100 - w}/${w}`);
      assert.deepEqual(stored.get(t.name), [...steps, '100/0']);
    });
  }
});
