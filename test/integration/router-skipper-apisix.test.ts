// The skipper and apisix routers inside real rollout workflows: Temporal dev server, bundled workflow,
// in-process worker, a real kube-apiserver with the providers' CRDs. Workloads, metrics and status stay scripted.
// The routing objects stored in the apiserver are recorded after every setRoutes and checked at the end and at
// finalize.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import type { ApisixRoute } from '../../activities/routers/apisix-route.ts';
import type { Ingress } from '../../activities/routers/ingress.ts';
import { flaggerApiCrdFiles } from '../../dev/fixtures.ts';
import { userIngress } from '../user-ingress.ts';
import { NAMESPACE, canaryRaw, runToEnd, seedInitialized, type TestEnv } from '../workflow/env.ts';
import { assertUntouched, fastTutorial, isNotFound, owners, routerHarness, weightTrail } from './router-harness.ts';

const harness = routerHarness('router-skipper-apisix', { crds: () => flaggerApiCrdFiles('apisix') });
const { stored, describers, createCanary, deleteMidRollout, readIngress, createIngress } = harness;
let custom: k8s.CustomObjectsApi;
let env: TestEnv;

before(async () => {
  await harness.start();
  ({ custom, env } = harness);
});
after(() => harness.stop());

// ---------------------------------------------------------------------------------------------------------
// Reading the stored objects

/** `90/10` from zalando.org/backend-weights; `!` when the predicate starts with False(). */
async function describeSkipper(ingress: string, svc: string): Promise<string> {
  const a = (await readIngress(`${ingress}-canary`)).metadata.annotations ?? {};
  const w = JSON.parse(a['zalando.org/backend-weights'] ?? '{}') as Record<string, number>;
  const off = a['zalando.org/skipper-predicate']?.startsWith('False()') ? '!' : '';
  return `${w[`${svc}-primary`]}/${w[`${svc}-canary`]}${off}`;
}

const APISIX_ROUTES = { group: 'apisix.apache.org', version: 'v2', namespace: NAMESPACE, plural: 'apisixroutes' };

async function readApisixRoute(name: string): Promise<ApisixRoute> {
  return (await custom.getNamespacedCustomObject({ ...APISIX_ROUTES, name })) as ApisixRoute;
}

/** `90/10`: the weights of the copy's primary and canary backends. */
async function describeApisix(route: string, svc: string): Promise<string> {
  const copy = await readApisixRoute(`${route}-${svc}-canary`);
  const backends = copy.spec?.http?.[0]?.backends ?? [];
  const w = (name: string) => backends.find((b) => b.serviceName === name)?.weight;
  return `${w(`${svc}-primary`)}/${w(`${svc}-canary`)}`;
}

// ---------------------------------------------------------------------------------------------------------
// Setup

// ---------------------------------------------------------------------------------------------------------
// The Flagger tutorials' Canaries, from Flagger's docs

// ---------------------------------------------------------------------------------------------------------
// Skipper

/** The user's Ingress of Flagger's skipper tutorial: app.example.com → the apex Service `svc`. */
function skipperIngress(name: string, svc: string, predicate?: string): Ingress {
  const annotations = {
    'kubernetes.io/ingress.class': 'skipper',
    ...(predicate ? { 'zalando.org/skipper-predicate': predicate } : {}),
  };
  const host = `${svc}.example.com`;
  return userIngress({ name, namespace: NAMESPACE, labels: { app: svc }, annotations, host, paths: [['/', svc, 80]] });
}

/** A skipper Canary and its user Ingress `<name>-ing`, stored in the apiserver and seeded as initialized. */
async function skipperCanary(name: string, analysis: Record<string, unknown>, spec: Record<string, unknown> = {}) {
  const ingress = `${name}-ing`;
  describers.set(name, () => describeSkipper(ingress, name));
  const user = skipperIngress(ingress, name, 'Method("GET")');
  return { ...(await harness.ingressCanary('skipper', user, name, analysis, spec)), ingress };
}

describe('skipper routes in real workflow runs', { concurrency: true }, () => {
  it('canary: backend-weights walk to max weight, then back to 100/0 with False()', async () => {
    const name = 'sk-weights';
    const { ingress, userVersion } = await skipperCanary(name, { interval: '300ms', stepWeight: 25, maxWeight: 50 });
    const { result } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(stored.get(name), ['75/25', '50/50', '100/0!']);
    const copy = await readIngress(`${ingress}-canary`);
    assert.deepEqual(
      copy.spec?.rules?.[0]?.http?.paths.map((p) => p.backend.service?.name),
      [`${name}-primary`, `${name}-canary`],
    );
    assert.equal(copy.metadata.annotations?.['zalando.org/skipper-predicate'], 'False() && Method("GET")');
    assert.equal(copy.metadata.annotations?.['kubernetes.io/ingress.class'], 'skipper');
    assert.equal(copy.metadata.annotations?.['kustomize.toolkit.fluxcd.io/reconcile'], 'disabled');
    assert.deepEqual(copy.metadata.labels, { app: name });
    assert.deepEqual(owners(copy), [['Canary', name]]);
    await assertUntouched(readIngress(ingress), userVersion);
  });

  harness.itBlueGreenAndRollback('blue/green and rollback', skipperCanary, {
    bg: 'sk-bluegreen',
    rb: 'sk-rollback',
    stepWeight: 30,
    bgTrail: ['0/100', '100/0!'],
    rbTrail: ['70/30', '40/60', '100/0!'],
  });

  it('takeover and finalize: a leftover <ingress>-canary is taken over, deleted when the Canary goes', async () => {
    const name = 'sk-final';
    const ingress = `${name}-ing`;
    const leftover = skipperIngress(`${ingress}-canary`, 'elsewhere');
    leftover.metadata.annotations = { 'zalando.org/backend-weights': '{"x":30}' };
    await createIngress(leftover);
    const { userVersion } = await skipperCanary(
      name,
      { interval: '300ms', stepWeight: 10 },
      { revertOnDeletion: true },
    );
    const result = await deleteMidRollout(name, async () => {
      const taken = await readIngress(`${ingress}-canary`);
      assert.equal(taken.spec?.rules?.[0]?.http?.paths[1]?.backend.service?.name, `${name}-canary`);
      assert.equal(taken.metadata.annotations?.['fledge.app/canary'], name);
      assert.equal(stored.get(name)?.[0], '90/10');
    });
    assert.equal(result.deleted, true);
    await assert.rejects(readIngress(`${ingress}-canary`), isNotFound);
    await assertUntouched(readIngress(ingress), userVersion);
  });

  it("Flagger's skipper tutorial Canary (gate, webhooks, ingressRef) reaches Succeeded", async () => {
    const name = 'tut-skipper';
    const raw = fastTutorial('skipper-progressive-delivery.md', name);
    const ingressName = (raw.spec as { ingressRef: { name: string } }).ingressRef.name;
    await createIngress(skipperIngress(ingressName, 'podinfo'));
    // The tutorial's Services are `podinfo`: its copy is named so, whatever this Canary is called.
    describers.set(name, () => describeSkipper(ingressName, 'podinfo'));
    const { result } = await harness.runTutorial(raw);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(stored.get(name), weightTrail(5, 50, '100/0!'));
  });
});

// ---------------------------------------------------------------------------------------------------------
// APISIX

/** The ApisixRoute of Flagger's apisix tutorial: app.example.com GET /* → the apex Service `svc`. */
function apisixRoute(name: string, svc: string): ApisixRoute {
  return {
    apiVersion: 'apisix.apache.org/v2',
    kind: 'ApisixRoute',
    metadata: { name, namespace: NAMESPACE, labels: { app: svc } },
    spec: {
      http: [
        {
          name: 'method',
          match: { hosts: ['app.example.com'], methods: ['GET'], paths: ['/*'] },
          plugins: [{ name: 'prometheus', enable: true, config: { disable: false, prefer_name: true } }],
          backends: [{ serviceName: svc, servicePort: 80 }],
        },
      ],
    },
  };
}

async function createApisixRoute(route: ApisixRoute): Promise<string | undefined> {
  const created = (await custom.createNamespacedCustomObject({ ...APISIX_ROUTES, body: route })) as ApisixRoute;
  return (created.metadata as { resourceVersion?: string }).resourceVersion;
}

/** An apisix Canary and its ApisixRoute `<name>-route`, stored in the apiserver and seeded as initialized. */
async function apisixCanary(name: string, analysis: Record<string, unknown>, spec: Record<string, unknown> = {}) {
  const route = `${name}-route`;
  const userVersion = await createApisixRoute(apisixRoute(route, name));
  const raw = canaryRaw(name, analysis, {
    provider: 'apisix',
    routeRef: { apiVersion: 'apisix.apache.org/v2', kind: 'ApisixRoute', name: route },
    service: { port: 80, targetPort: 9898 },
    ...spec,
  });
  describers.set(name, () => describeApisix(route, name));
  await createCanary(raw);
  const world = seedInitialized(env, { raw, metrics: { 'error-rate': [0] } });
  return { raw, world, route, userVersion };
}

describe('apisix routes in real workflow runs', { concurrency: true }, () => {
  it('canary: backend weights walk to max weight and back, on the <route>-<svc>-canary copy', async () => {
    const name = 'ax-weights';
    const { route, userVersion } = await apisixCanary(name, { interval: '300ms', stepWeight: 25, maxWeight: 50 });
    const { result } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(stored.get(name), ['75/25', '50/50', '100/0']);
    const copy = await readApisixRoute(`${route}-${name}-canary`);
    const http = copy.spec?.http?.[0];
    assert.equal(http?.priority, 10000);
    assert.deepEqual(http?.match, { hosts: ['app.example.com'], methods: ['GET'], paths: ['/*'] });
    // the plugin config is kept as written (the CRD preserves its unknown fields)
    assert.deepEqual(http?.plugins, [
      { name: 'prometheus', enable: true, config: { disable: false, prefer_name: true } },
    ]);
    assert.deepEqual(
      http?.backends?.map((b) => [b.serviceName, b.servicePort]),
      [
        [`${name}-primary`, 80],
        [`${name}-canary`, 80],
      ],
    );
    assert.deepEqual(copy.metadata.labels, { app: name });
    assert.deepEqual(owners(copy), [['Canary', name]]);
    await assertUntouched(readApisixRoute(route), userVersion);
  });

  harness.itBlueGreenAndRollback('blue/green and rollback', apisixCanary, {
    bg: 'ax-bluegreen',
    rb: 'ax-rollback',
    stepWeight: 30,
    bgTrail: ['0/100', '100/0'],
    rbTrail: ['70/30', '40/60', '100/0'],
  });

  it('finalize: the copy is deleted when the Canary goes, the user route stays', async () => {
    const name = 'ax-final';
    const { route, userVersion } = await apisixCanary(
      name,
      { interval: '300ms', stepWeight: 10 },
      { revertOnDeletion: true },
    );
    const result = await deleteMidRollout(name, async () => {
      assert.equal(stored.get(name)?.[0], '90/10');
    });
    assert.equal(result.deleted, true);
    await assert.rejects(readApisixRoute(`${route}-${name}-canary`), isNotFound);
    await assertUntouched(readApisixRoute(route), userVersion);
  });

  it("Flagger's apisix tutorial Canary (routeRef, webhooks) reaches Succeeded", async () => {
    const name = 'tut-apisix';
    const raw = fastTutorial('apisix-progressive-delivery.md', name);
    const routeName = (raw.spec as { routeRef: { name: string } }).routeRef.name;
    await createApisixRoute(apisixRoute(routeName, 'podinfo'));
    // The tutorial's Services are `podinfo`: its copy is named so, whatever this Canary is called.
    describers.set(name, () => describeApisix(routeName, 'podinfo'));
    const { result } = await harness.runTutorial(raw);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(stored.get(name), weightTrail(10, 50));
  });
});
