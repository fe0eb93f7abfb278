// Routes activities against a real kube-apiserver with the Gateway API v1.6.1 standard CRDs: every routing
// feature is applied by server-side apply and asserted on the object the apiserver stores.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { startCluster, type Cluster } from '../../dev/cluster.ts';
import { createRoutesActivities, type RoutesActivities } from '../../activities/routers/index.ts';
import { ANNOTATIONS, type HTTPRoute } from '../../activities/routers/httproute.ts';

let cluster: Cluster;
let custom: k8s.CustomObjectsApi;
let objects: k8s.KubernetesObjectApi;
let core: k8s.CoreV1Api;
let routes: RoutesActivities;
let namespace: string;
let cookieSeq = 0;
const ALL_PRIMARY = { primary: 100, canary: 0, mirrored: false };

before(async () => {
  cluster = await startCluster();
  custom = cluster.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
  core = cluster.kubeConfig.makeApiClient(k8s.CoreV1Api);
  objects = k8s.KubernetesObjectApi.makeApiClient(cluster.kubeConfig);
  routes = createRoutesActivities({ kube: cluster.kubeConfig, random: () => `c${++cookieSeq}` });
  namespace = await cluster.createNamespace('routes');
});

after(async () => {
  await cluster?.stop();
});

type Spec = { provider?: string; service?: Record<string, unknown>; analysis?: Record<string, unknown> };

async function createCanary(name: string, over: Spec = {}): Promise<{ namespace: string; name: string }> {
  await custom.createNamespacedCustomObject({
    group: 'flagger.app',
    version: 'v1beta1',
    namespace,
    plural: 'canaries',
    body: {
      apiVersion: 'flagger.app/v1beta1',
      kind: 'Canary',
      metadata: { name },
      spec: {
        provider: over.provider ?? 'gatewayapi:v1',
        targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
        service: { port: 9898, gatewayRefs: [{ name: 'gateway', namespace: 'gateways' }], ...over.service },
        analysis: { interval: '1m', threshold: 5, stepWeight: 10, maxWeight: 50, ...over.analysis },
      },
    },
  });
  return { namespace, name };
}

async function stored(name: string, version = 'v1'): Promise<HTTPRoute> {
  return (await custom.getNamespacedCustomObject({
    group: 'gateway.networking.k8s.io',
    version,
    namespace,
    plural: 'httproutes',
    name,
  })) as HTTPRoute;
}

/** Writes route status as a gateway controller would, for the route's current generation. */
async function reportParent(name: string, status: 'True' | 'False', generation?: number): Promise<void> {
  const route = await stored(name);
  const observedGeneration = generation ?? route.metadata.generation ?? 1;
  await custom.patchNamespacedCustomObjectStatus({
    group: 'gateway.networking.k8s.io',
    version: 'v1',
    namespace,
    plural: 'httproutes',
    name,
    body: [
      {
        op: 'add',
        path: '/status',
        value: {
          parents: [
            {
              parentRef: {
                group: 'gateway.networking.k8s.io',
                kind: 'Gateway',
                name: 'gateway',
                namespace: 'gateways',
              },
              controllerName: 'example.com/gateway-controller',
              conditions: [
                {
                  type: 'Accepted',
                  status,
                  reason: status === 'True' ? 'Accepted' : 'NotAllowedByListeners',
                  message: status === 'True' ? 'Route is accepted' : 'no listener allows this route',
                  observedGeneration,
                  lastTransitionTime: new Date().toISOString(),
                },
              ],
            },
          ],
        },
      },
    ],
  });
}

function weights(route: HTTPRoute, rule = 0): [string, number][] {
  return (route.spec.rules[rule]?.backendRefs ?? []).map((b) => [b.name, b.weight]);
}

async function rejection(p: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

test('weights 0/10/50/100 are stored, read back, and a re-apply is a no-op', async () => {
  const canary = await createCanary('weights');
  assert.deepEqual(await routes.reconcileRoutes({ canary }), { primary: 100, canary: 0, mirrored: false });
  const created = await stored('weights');
  assert.deepEqual(created.spec.parentRefs, [
    { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gateway', namespace: 'gateways' },
  ]);
  assert.deepEqual(created.spec.rules[0]?.matches, [{ path: { type: 'PathPrefix', value: '/' } }]);
  assert.equal(created.metadata.ownerReferences?.[0]?.kind, 'Canary', 'a created route belongs to the Canary');
  for (const w of [0, 10, 50, 100]) {
    const want = { primary: 100 - w, canary: w, mirrored: false };
    assert.deepEqual(await routes.setRoutes({ canary, routes: want }), want);
    const route = await stored('weights');
    assert.deepEqual(weights(route), [
      ['weights-primary', 100 - w],
      ['weights-canary', w],
    ]);
    assert.equal(route.spec.rules[0]?.backendRefs[0]?.port, 9898);
    await reportParent('weights', 'True');
    assert.deepEqual(await routes.getRoutes({ canary }), want);
  }
  const before = (await stored('weights')).metadata.resourceVersion;
  await routes.setRoutes({ canary, routes: { primary: 0, canary: 100, mirrored: false } });
  await routes.reconcileRoutes({ canary });
  assert.equal(
    (await stored('weights')).metadata.resourceVersion,
    before,
    'identical routes: resourceVersion unchanged',
  );
});

test('getRoutes refuses until the parent accepts the current generation, naming the parent', async () => {
  const canary = await createCanary('gated');
  await routes.reconcileRoutes({ canary });
  const unreported = await rejection(routes.getRoutes({ canary }));
  assert.equal(unreported.nonRetryable, false);
  assert.match(unreported.message, /Gateway gateways\/gateway has not reported status yet/);

  await reportParent('gated', 'False');
  const refused = await rejection(routes.getRoutes({ canary }));
  assert.equal(refused.nonRetryable, false, 'retryable: the gateway may accept it later');
  assert.equal(refused.type, 'RouteNotReady');
  assert.match(
    refused.message,
    /HTTPRoute .*\/gated: parent Gateway gateways\/gateway .*Accepted=False \(NotAllowedByListeners/,
  );

  await reportParent('gated', 'True');
  assert.deepEqual(await routes.getRoutes({ canary }), { primary: 100, canary: 0, mirrored: false });

  // A new generation is not accepted until the gateway has observed it.
  await routes.setRoutes({ canary, routes: { primary: 90, canary: 10, mirrored: false } });
  assert.match((await rejection(routes.getRoutes({ canary }))).message, /has not accepted generation/);
  await reportParent('gated', 'True');
  assert.deepEqual(await routes.getRoutes({ canary }), { primary: 90, canary: 10, mirrored: false });
});

test('A/B testing: regex header and cookie matches to the canary, everything else to the primary', async () => {
  const canary = await createCanary('ab', {
    analysis: {
      stepWeight: undefined,
      maxWeight: undefined,
      iterations: 10,
      match: [
        { headers: { 'x-canary': { regex: '^(insider|beta)$' } } },
        { cookies: { tester: { regex: 'yes|true' } } },
        { queryParams: { canary: { exact: 'on' } } },
      ],
    },
  });
  await routes.reconcileRoutes({ canary });
  await routes.setRoutes({ canary, routes: { primary: 0, canary: 100, mirrored: false } });
  const route = await stored('ab');
  assert.deepEqual(route.spec.rules[0]?.matches, [
    {
      path: { type: 'PathPrefix', value: '/' },
      headers: [{ type: 'RegularExpression', name: 'x-canary', value: '^(insider|beta)$' }],
    },
    {
      path: { type: 'PathPrefix', value: '/' },
      headers: [{ type: 'RegularExpression', name: 'Cookie', value: '^(?:.*;\\s*)?tester=(?:yes|true)(?:;.*)?$' }],
    },
    { path: { type: 'PathPrefix', value: '/' }, queryParams: [{ type: 'Exact', name: 'canary', value: 'on' }] },
  ]);
  assert.deepEqual(weights(route, 0), [
    ['ab-primary', 0],
    ['ab-canary', 100],
  ]);
  assert.deepEqual(weights(route, 1), [['ab-primary', 100]]);
  await reportParent('ab', 'True');
  assert.deepEqual(await routes.getRoutes({ canary }), { primary: 0, canary: 100, mirrored: false });
});

test('mirroring: RequestMirror to the canary during blue/green and the mirrored step of a weighted canary', async () => {
  for (const [name, analysis] of [
    ['mirror-bg', { stepWeight: undefined, maxWeight: undefined, iterations: 5, mirror: true }],
    ['mirror-canary', { mirror: true, mirrorWeight: 25 }],
  ] as const) {
    const canary = await createCanary(name, { analysis });
    await routes.reconcileRoutes({ canary });
    const mirrored = { primary: 100, canary: 0, mirrored: true };
    assert.deepEqual(await routes.setRoutes({ canary, routes: mirrored }), mirrored);
    const route = await stored(name);
    assert.deepEqual(route.spec.rules[0]?.filters, [
      {
        type: 'RequestMirror',
        requestMirror: {
          backendRef: { group: '', kind: 'Service', name: `${name}-canary`, port: 9898 },
          ...(name === 'mirror-canary' ? { percent: 25 } : {}),
        },
      },
    ]);
    await reportParent(name, 'True');
    // Flagger's router loses this for a weighted canary and stalls at weight 0; fledge reads it back.
    assert.deepEqual(await routes.getRoutes({ canary }), mirrored);
    await routes.setRoutes({ canary, routes: { primary: 90, canary: 10, mirrored: false } });
    assert.equal((await stored(name)).spec.rules[0]?.filters, undefined);
  }
});

test('session affinity: sticky rules, Set-Cookie on the backends, previous cookie expired after the run', async () => {
  const canary = await createCanary('sticky', {
    analysis: { sessionAffinity: { cookieName: 'flagger-cookie', primaryCookieName: 'primary-cookie', maxAge: 600 } },
  });
  await routes.reconcileRoutes({ canary });
  await routes.setRoutes({ canary, routes: { primary: 90, canary: 10, mirrored: false } });
  const running = await stored('sticky');
  const canaryCookie = running.metadata.annotations?.[ANNOTATIONS.sessionCookie];
  const primaryCookie = running.metadata.annotations?.[ANNOTATIONS.primarySessionCookie];
  assert.match(canaryCookie ?? '', /^flagger-cookie=c\d+$/);
  assert.match(primaryCookie ?? '', /^primary-cookie=c\d+$/);
  const [stickyCanary, stickyPrimary, weighted] = running.spec.rules;
  const cookieValue = (c: string) => c.split('=')[1];
  assert.deepEqual(stickyCanary?.matches, [
    {
      path: { type: 'PathPrefix', value: '/' },
      headers: [
        { type: 'RegularExpression', name: 'Cookie', value: `.*flagger-cookie.*${cookieValue(canaryCookie!)}.*` },
      ],
    },
  ]);
  assert.deepEqual(weights(running, 0), [
    ['sticky-primary', 0],
    ['sticky-canary', 100],
  ]);
  assert.deepEqual(weights(running, 1), [
    ['sticky-primary', 100],
    ['sticky-canary', 0],
  ]);
  assert.equal(stickyPrimary?.matches[0]?.headers?.[0]?.value, `.*primary-cookie.*${cookieValue(primaryCookie!)}.*`);
  assert.deepEqual(weighted?.backendRefs[1]?.filters, [
    {
      type: 'ResponseHeaderModifier',
      responseHeaderModifier: { add: [{ name: 'Set-Cookie', value: `${canaryCookie}; Max-Age=600` }] },
    },
  ]);
  assert.deepEqual(weighted?.backendRefs[0]?.filters, [
    {
      type: 'ResponseHeaderModifier',
      responseHeaderModifier: { add: [{ name: 'Set-Cookie', value: `${primaryCookie}; Max-Age=60` }] },
    },
  ]);
  await reportParent('sticky', 'True');
  assert.deepEqual(await routes.getRoutes({ canary }), { primary: 90, canary: 10, mirrored: false });

  // A second step keeps the cookie of the run.
  await routes.setRoutes({ canary, routes: { primary: 80, canary: 20, mirrored: false } });
  assert.equal((await stored('sticky')).metadata.annotations?.[ANNOTATIONS.sessionCookie], canaryCookie);

  await routes.setRoutes({ canary, routes: { primary: 100, canary: 0, mirrored: false } });
  const done = await stored('sticky');
  assert.equal(done.metadata.annotations?.[ANNOTATIONS.sessionCookie], undefined);
  assert.equal(done.metadata.annotations?.[ANNOTATIONS.previousSessionCookie], canaryCookie);
  assert.deepEqual(done.spec.rules[0]?.filters, [
    {
      type: 'ResponseHeaderModifier',
      responseHeaderModifier: { add: [{ name: 'Set-Cookie', value: `${canaryCookie}; Max-Age=-1` }] },
    },
  ]);
  assert.deepEqual(weights(done, 1), [
    ['sticky-primary', 100],
    ['sticky-canary', 0],
  ]);
});

test('header modifiers, prefix rewrite, CORS, static mirror, timeouts, hosts and apex metadata', async () => {
  const canary = await createCanary('filters', {
    service: {
      hosts: ['app.example.com'],
      timeout: '30s',
      backendTimeout: '10s',
      headers: {
        request: { add: { 'x-b': 'b', 'x-a': 'a' }, set: { 'x-env': 'prod' }, remove: ['x-debug'] },
        response: { set: { 'x-served-by': 'fledge' } },
      },
      rewrite: { uri: '/v2', type: 'ReplacePrefixMatch', authority: 'backend.internal' },
      corsPolicy: {
        allowOrigin: ['https://app.example.com'],
        allowMethods: ['GET', 'POST'],
        allowHeaders: ['x-token'],
        exposeHeaders: ['x-trace'],
        maxAge: '24h',
        allowCredentials: true,
      },
      mirror: [{ backendRef: { name: 'shadow', port: 8080 }, percent: 10 }],
      apex: { labels: { team: 'payments' }, annotations: { 'example.com/owner': 'payments' } },
    },
  });
  await routes.reconcileRoutes({ canary });
  const route = await stored('filters');
  assert.deepEqual(route.spec.hostnames, ['app.example.com']);
  assert.equal(route.metadata.labels?.team, 'payments');
  assert.equal(route.metadata.annotations?.['example.com/owner'], 'payments');
  const rule = route.spec.rules[0];
  assert.deepEqual(rule?.timeouts, { request: '30s', backendRequest: '10s' });
  assert.deepEqual(rule?.filters, [
    {
      type: 'RequestHeaderModifier',
      requestHeaderModifier: {
        add: [
          { name: 'x-a', value: 'a' },
          { name: 'x-b', value: 'b' },
        ],
        set: [{ name: 'x-env', value: 'prod' }],
        remove: ['x-debug'],
      },
    },
    { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'x-served-by', value: 'fledge' }] } },
    {
      type: 'URLRewrite',
      urlRewrite: { hostname: 'backend.internal', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' } },
    },
    {
      type: 'CORS',
      cors: {
        allowOrigins: ['https://app.example.com'],
        allowMethods: ['GET', 'POST'],
        allowHeaders: ['x-token'],
        exposeHeaders: ['x-trace'],
        maxAge: 86400,
        allowCredentials: true,
      },
    },
    {
      type: 'RequestMirror',
      requestMirror: { backendRef: { group: '', kind: 'Service', name: 'shadow', port: 8080 }, percent: 10 },
    },
  ]);

  const full = await createCanary('fullpath', { service: { rewrite: { uri: '/index.html' } } });
  await routes.reconcileRoutes({ canary: full });
  assert.deepEqual((await stored('fullpath')).spec.rules[0]?.filters, [
    { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplaceFullPath', replaceFullPath: '/index.html' } } },
  ]);
});

test('gatewayapi:v1beta1 writes the v1beta1 version', async () => {
  const canary = await createCanary('beta', { provider: 'gatewayapi:v1beta1' });
  await routes.reconcileRoutes({ canary });
  await routes.setRoutes({ canary, routes: { primary: 50, canary: 50, mirrored: false } });
  const route = await stored('beta', 'v1beta1');
  assert.equal(route.apiVersion, 'gateway.networking.k8s.io/v1beta1');
  assert.deepEqual(weights(route), [
    ['beta-primary', 50],
    ['beta-canary', 50],
  ]);
  const managers = (route.metadata as { managedFields?: { manager: string; apiVersion: string }[] }).managedFields;
  assert.ok(managers?.some((m) => m.manager === 'fledge' && m.apiVersion === 'gateway.networking.k8s.io/v1beta1'));
});

test("another manager's fields survive fledge's applies", async () => {
  const canary = await createCanary('shared');
  await routes.reconcileRoutes({ canary });
  await custom.patchNamespacedCustomObject(
    {
      group: 'gateway.networking.k8s.io',
      version: 'v1',
      namespace,
      plural: 'httproutes',
      name: 'shared',
      body: { metadata: { labels: { 'gitops.example.com/app': 'shop' } } },
      fieldManager: 'gitops',
    },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  await routes.setRoutes({ canary, routes: { primary: 70, canary: 30, mirrored: false } });
  const route = await stored('shared');
  assert.equal(route.metadata.labels?.['gitops.example.com/app'], 'shop');
  assert.deepEqual(weights(route), [
    ['shared-primary', 70],
    ['shared-canary', 30],
  ]);
});

test('an existing HTTPRoute is adopted and restored on finalize; a created one is deleted', async () => {
  const original = {
    parentRefs: [{ name: 'gateway', namespace: 'gateways' }],
    rules: [{ backendRefs: [{ name: 'legacy', port: 80 }] }],
  };
  await objects.create({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'adopted', namespace },
    spec: original,
  } as k8s.KubernetesObject);
  const before = await stored('adopted');
  const canary = await createCanary('adopted');
  assert.deepEqual(await routes.reconcileRoutes({ canary }), { primary: 100, canary: 0, mirrored: false });
  const taken = await stored('adopted');
  assert.deepEqual(JSON.parse(taken.metadata.annotations?.[ANNOTATIONS.originalSpec] ?? '{}'), before.spec);
  assert.equal(taken.metadata.ownerReferences, undefined, 'adopted routes are not garbage-collected with the Canary');
  assert.deepEqual(weights(taken), [
    ['adopted-primary', 100],
    ['adopted-canary', 0],
  ]);
  await routes.setRoutes({ canary, routes: { primary: 60, canary: 40, mirrored: false } });
  assert.ok((await stored('adopted')).metadata.annotations?.[ANNOTATIONS.originalSpec], 'kept across applies');

  await routes.finalizeRoutes({ canary });
  const restored = await stored('adopted');
  assert.deepEqual(restored.spec, before.spec);
  assert.ok(!Object.keys(restored.metadata.annotations ?? {}).some((k) => k.startsWith('fledge.app/')));

  const created = await createCanary('created');
  await routes.reconcileRoutes({ canary: created });
  await routes.finalizeRoutes({ canary: created });
  await assert.rejects(stored('created'), (e: unknown) => (e as { code?: number }).code === 404);
});

test('gatewayapi:v1 without gatewayRefs fails for good with Flagger text; getRoutes leaves it to observe', async () => {
  const canary = await createCanary('norefs', { service: { gatewayRefs: undefined } });
  for (const call of [
    () => routes.reconcileRoutes({ canary }),
    () => routes.setRoutes({ canary, routes: ALL_PRIMARY }),
  ]) {
    const failure = await rejection(call());
    assert.equal(failure.nonRetryable, true);
    assert.equal(failure.message, 'GatewayRefs must be specified when using Gateway API as a provider.');
  }
  // observe reports the invalid spec as a condition and event; reading routes must not fail it first.
  assert.deepEqual(await routes.getRoutes({ canary }), ALL_PRIMARY);
});

test('before the first reconcile there is no route: getRoutes reports all traffic on the primary', async () => {
  const canary = await createCanary('fresh');
  assert.deepEqual(await routes.getRoutes({ canary }), ALL_PRIMARY);
  const k8sCanary = await createCanary('fresh-k8s', { provider: 'kubernetes', service: { gatewayRefs: undefined } });
  assert.deepEqual(await routes.getRoutes({ canary: k8sCanary }), ALL_PRIMARY);
  const gone = await rejection(routes.getRoutes({ canary: { namespace, name: 'missing' } }));
  assert.equal(gone.nonRetryable, true);
  assert.equal(gone.type, 'CanaryNotFound');
});

test('a spec the apiserver rejects fails for good with its reason', async () => {
  // ReplacePrefixMatch needs exactly one PathPrefix match: two service matches are refused by the CRD's rules.
  const canary = await createCanary('invalid', {
    service: {
      match: [{ uri: { prefix: '/a' } }, { uri: { prefix: '/b' } }],
      rewrite: { uri: '/', type: 'ReplacePrefixMatch' },
    },
  });
  const failure = await rejection(routes.reconcileRoutes({ canary }));
  assert.equal(failure.nonRetryable, true);
  assert.match(failure.message, /exactly one PathPrefix match/);
});

test('kubernetes provider: blue/green switches the apex Service selector; weights are refused', async () => {
  await core.createNamespacedService({
    namespace,
    body: {
      metadata: { name: 'bg' },
      spec: { selector: { app: 'bg-primary' }, ports: [{ name: 'http', port: 9898 }] },
    },
  });
  const canary = await createCanary('bg', {
    provider: 'kubernetes',
    service: { gatewayRefs: undefined },
    analysis: { stepWeight: undefined, maxWeight: undefined, iterations: 3 },
  });
  assert.deepEqual(await routes.reconcileRoutes({ canary }), { primary: 100, canary: 0, mirrored: false });
  assert.deepEqual(await routes.setRoutes({ canary, routes: { primary: 0, canary: 100, mirrored: false } }), {
    primary: 0,
    canary: 100,
    mirrored: false,
  });
  assert.deepEqual((await core.readNamespacedService({ name: 'bg', namespace })).spec?.selector, { app: 'bg' });
  assert.deepEqual(await routes.getRoutes({ canary }), { primary: 0, canary: 100, mirrored: false });
  await routes.setRoutes({ canary, routes: { primary: 100, canary: 0, mirrored: false } });
  const back = await core.readNamespacedService({ name: 'bg', namespace });
  assert.deepEqual(back.spec?.selector, { app: 'bg-primary' });
  assert.equal(back.metadata?.annotations?.['fledge.app/primary-selector'], undefined);

  const weighted = await rejection(routes.setRoutes({ canary, routes: { primary: 50, canary: 50, mirrored: false } }));
  assert.equal(weighted.nonRetryable, true);
  assert.match(weighted.message, /Progressive traffic is not supported when using the kubernetes provider/);
});
