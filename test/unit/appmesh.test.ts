// Pure App Mesh builders: a Canary and weights in, the appmesh.k8s.aws objects fledge applies out, compared with
// what Flagger v1.44's routers write (pkg/router/appmesh_v1beta2.go, appmesh.go and their tests, whose fixture
// newTestCanaryAppMesh the `flaggerFixture` below follows).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveStrategy, parseCanary } from '../../api/validate.ts';
import type { Canary } from '../../api/canary.ts';
import {
  appMeshObjectsV1beta1,
  appMeshObjectsV1beta2,
  containerPort,
  gatewayAnnotations,
  headerConditions,
  protocolOf,
  readWeights,
  virtualNodesV1beta1,
  virtualNodesV1beta2,
  virtualRoutersV1beta2,
  virtualServicesV1beta1,
  virtualServicesV1beta2,
  weightsObject,
} from '../../activities/routers/appmesh-objects.ts';
import type { AppMeshObject } from '../../activities/routers/appmesh-objects.ts';

type Over = {
  service?: Record<string, unknown>;
  analysis?: Record<string, unknown>;
  provider?: string;
  annotations?: Record<string, string>;
};

function canary(over: Over = {}): Canary {
  const parsed = parseCanary({
    apiVersion: 'flagger.app/v1beta1',
    kind: 'Canary',
    metadata: { name: 'appmesh', namespace: 'default', ...(over.annotations ? { annotations: over.annotations } : {}) },
    spec: {
      provider: over.provider ?? 'appmesh:v1beta2',
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' },
      service: { port: 9898, ...over.service },
      analysis: { interval: '1m', threshold: 10, stepWeight: 10, maxWeight: 50, ...over.analysis },
    },
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.canary;
}

/** Flagger's newTestCanaryAppMesh (pkg/router/router_test.go), with a valid perTryTimeout/retryOn pair. */
function flaggerFixture(provider = 'appmesh:v1beta2'): Canary {
  return canary({
    provider,
    annotations: { 'appmesh.flagger.app/accesslog': 'enabled' },
    service: {
      meshName: 'global',
      hosts: ['*'],
      backends: ['backend.default'],
      timeout: '30s',
      retries: { attempts: 5, perTryTimeout: '5s', retryOn: 'gateway-error' },
    },
  });
}

const FLUX = {
  'kustomize.toolkit.fluxcd.io/reconcile': 'disabled',
  'helm.toolkit.fluxcd.io/driftDetection': 'disabled',
};
const OWNER = {
  apiVersion: 'flagger.app/v1beta1',
  kind: 'Canary',
  name: 'appmesh',
  uid: 'uid-1',
  controller: true,
  blockOwnerDeletion: true,
};

function byName(objects: AppMeshObject[], kind: string, name: string): AppMeshObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `${kind} ${name} missing`);
  return o;
}

test('v1beta2: Flagger fixture → VirtualNodes podinfo-primary/-canary with DNS FQDN, timeout, logging, backends', () => {
  const nodes = virtualNodesV1beta2({ canary: flaggerFixture(), routes: { primary: 100, canary: 0 }, owner: OWNER });
  const listener = {
    portMapping: { port: 9898, protocol: 'http' },
    timeout: { http: { perRequest: { unit: 'ms', value: 30000 } } },
  };
  const common = {
    listeners: [listener],
    backends: [{ virtualService: { virtualServiceRef: { name: 'backend.default' } } }],
    logging: { accessLog: { file: { path: '/dev/stdout' } } },
  };
  assert.deepEqual(nodes, [
    {
      apiVersion: 'appmesh.k8s.aws/v1beta2',
      kind: 'VirtualNode',
      metadata: { name: 'podinfo-primary', namespace: 'default', ownerReferences: [OWNER], annotations: FLUX },
      spec: {
        listeners: common.listeners,
        serviceDiscovery: { dns: { hostname: 'podinfo-primary.default.svc.cluster.local.' } },
        podSelector: { matchLabels: { app: 'podinfo-primary' } },
        backends: common.backends,
        logging: common.logging,
      },
    },
    {
      apiVersion: 'appmesh.k8s.aws/v1beta2',
      kind: 'VirtualNode',
      metadata: { name: 'podinfo-canary', namespace: 'default', ownerReferences: [OWNER], annotations: FLUX },
      spec: {
        listeners: common.listeners,
        serviceDiscovery: { dns: { hostname: 'podinfo-canary.default.svc.cluster.local.' } },
        podSelector: { matchLabels: { app: 'podinfo' } },
        backends: common.backends,
        logging: common.logging,
      },
    },
  ]);
});

test('v1beta2: ARN backends, apex metadata, selector label and the target name (not the label value) in pod selectors', () => {
  const c = canary({
    service: {
      name: 'web',
      backends: ['test.example.com', 'arn:aws:appmesh:eu-west-1:12345678910:mesh/my-mesh/virtualService/mytestservice'],
      apex: { labels: { team: 'a' }, annotations: { note: 'x' } },
    },
  });
  const [primary, canaryNode] = virtualNodesV1beta2({
    canary: c,
    routes: { primary: 100, canary: 0 },
    selectorLabel: 'name',
  });
  assert.equal(primary!.metadata.name, 'web-primary');
  assert.deepEqual(primary!.metadata.labels, { team: 'a' });
  assert.deepEqual(primary!.metadata.annotations, { note: 'x', ...FLUX });
  assert.deepEqual(primary!.spec.podSelector, { matchLabels: { name: 'podinfo-primary' } });
  assert.deepEqual(canaryNode!.spec.podSelector, { matchLabels: { name: 'podinfo' } });
  assert.deepEqual(primary!.spec.backends, [
    { virtualService: { virtualServiceRef: { name: 'test.example.com' } } },
    {
      virtualService: {
        virtualServiceARN: 'arn:aws:appmesh:eu-west-1:12345678910:mesh/my-mesh/virtualService/mytestservice',
      },
    },
  ]);
  assert.equal(primary!.spec.logging, undefined, 'no access log without the annotation');
  assert.deepEqual(
    (primary!.spec.listeners as unknown[])[0],
    { portMapping: { port: 9898, protocol: 'http' } },
    'no timeout without service.timeout',
  );
});

test('v1beta2: VirtualRouters podinfo (weights, timeout, retries) and podinfo-canary (all to the canary node)', () => {
  const [apex, canaryRouter] = virtualRoutersV1beta2({
    canary: flaggerFixture(),
    routes: { primary: 60, canary: 40 },
    owner: OWNER,
  });
  const timeout = { perRequest: { unit: 'ms', value: 30000 } };
  const retryPolicy = {
    perRetryTimeout: { unit: 'ms', value: 5000 },
    maxRetries: 5,
    httpRetryEvents: ['gateway-error'],
  };
  const listeners = [{ portMapping: { port: 9898, protocol: 'http' } }];
  assert.deepEqual(apex, {
    apiVersion: 'appmesh.k8s.aws/v1beta2',
    kind: 'VirtualRouter',
    metadata: { name: 'podinfo', namespace: 'default', ownerReferences: [OWNER] },
    spec: {
      listeners,
      routes: [
        {
          name: 'podinfo',
          httpRoute: {
            match: { prefix: '/' },
            timeout,
            retryPolicy,
            action: {
              weightedTargets: [
                { virtualNodeRef: { name: 'podinfo-canary' }, weight: 40 },
                { virtualNodeRef: { name: 'podinfo-primary' }, weight: 60 },
              ],
            },
          },
        },
      ],
    },
  });
  assert.deepEqual(canaryRouter!.metadata.name, 'podinfo-canary');
  assert.deepEqual(canaryRouter!.spec.routes, [
    {
      name: 'podinfo-canary',
      httpRoute: {
        match: { prefix: '/' },
        timeout,
        retryPolicy,
        action: {
          weightedTargets: [
            { virtualNodeRef: { name: 'podinfo-canary' }, weight: 100 },
            { virtualNodeRef: { name: 'podinfo-primary' }, weight: 0 },
          ],
        },
      },
    },
  ]);
});

test('v1beta2: A/B (Flagger abtest) → podinfo-a with the header condition and the weights, podinfo-b all to the primary', () => {
  const c = canary({
    service: { match: [{ uri: { prefix: '/api' } }] },
    analysis: {
      stepWeight: undefined,
      maxWeight: undefined,
      iterations: 10,
      match: [{ headers: { 'x-user-type': { exact: 'test' } } }],
    },
  });
  const [apex, canaryRouter] = virtualRoutersV1beta2({ canary: c, routes: { primary: 100, canary: 0 } });
  assert.deepEqual(apex!.spec.routes, [
    {
      name: 'podinfo-a',
      priority: 10,
      httpRoute: {
        match: { prefix: '/api', headers: [{ name: 'x-user-type', match: { exact: 'test' } }] },
        action: {
          weightedTargets: [
            { virtualNodeRef: { name: 'podinfo-canary' }, weight: 0 },
            { virtualNodeRef: { name: 'podinfo-primary' }, weight: 100 },
          ],
        },
      },
    },
    {
      name: 'podinfo-b',
      priority: 20,
      httpRoute: {
        match: { prefix: '/api' },
        action: { weightedTargets: [{ virtualNodeRef: { name: 'podinfo-primary' }, weight: 100 }] },
      },
    },
  ]);
  // The canary router has no A/B pair (Flagger: only the weight-0 router gets one).
  assert.equal((canaryRouter!.spec.routes as unknown[]).length, 1);
  assert.deepEqual(readWeights(apex, c), { primary: 100, canary: 0, mirrored: false });
});

test('several header conditions are ANDed in one route (Flagger), sorted by name, with a warning', () => {
  const c = canary({
    analysis: {
      stepWeight: undefined,
      maxWeight: undefined,
      iterations: 2,
      match: [
        { headers: { 'x-b': { regex: '.*Chrome.*' }, 'x-a': { prefix: 'p' } } },
        { headers: { cookie: { suffix: 's' } } },
      ],
    },
  });
  assert.deepEqual(headerConditions(c), [
    { name: 'x-a', match: { prefix: 'p' } },
    { name: 'x-b', match: { regex: '.*Chrome.*' } },
    { name: 'cookie', match: { suffix: 's' } },
  ]);
  assert.deepEqual(deriveStrategy(c.spec).warnings, [
    'App Mesh supports a single condition: all 3 headers of analysis.match must match',
  ]);
  const one = canary({
    analysis: {
      stepWeight: undefined,
      maxWeight: undefined,
      iterations: 2,
      match: [{ headers: { 'x-a': { exact: 'v' } } }],
    },
  });
  assert.deepEqual(deriveStrategy(one.spec).warnings, []);
});

test('mirroring is dropped for App Mesh with a warning (Flagger mirrors on Istio and Gateway API only)', () => {
  for (const provider of ['appmesh', 'appmesh:v1beta2']) {
    const c = canary({ provider, service: { meshName: 'global' }, analysis: { mirror: true } });
    const plan = deriveStrategy(c.spec);
    assert.equal(plan.mirrored, false);
    assert.deepEqual(plan.warnings, [`analysis.mirror is ignored for the ${provider} provider`]);
  }
});

test('v1beta2: VirtualServices podinfo (gateway annotations from hosts) and podinfo-canary, each on its router', () => {
  const [apex, canaryVs] = virtualServicesV1beta2({
    canary: flaggerFixture(),
    routes: { primary: 100, canary: 0 },
    owner: OWNER,
  });
  assert.deepEqual(apex, {
    apiVersion: 'appmesh.k8s.aws/v1beta2',
    kind: 'VirtualService',
    metadata: {
      name: 'podinfo',
      namespace: 'default',
      ownerReferences: [OWNER],
      annotations: {
        'gateway.appmesh.k8s.aws/expose': 'true',
        'gateway.appmesh.k8s.aws/domain': '*,',
        'gateway.appmesh.k8s.aws/timeout': '30s',
        'gateway.appmesh.k8s.aws/retries': '5',
      },
    },
    spec: { provider: { virtualRouter: { virtualRouterRef: { name: 'podinfo' } } } },
  });
  assert.deepEqual(canaryVs, {
    apiVersion: 'appmesh.k8s.aws/v1beta2',
    kind: 'VirtualService',
    metadata: { name: 'podinfo-canary', namespace: 'default', ownerReferences: [OWNER] },
    spec: { provider: { virtualRouter: { virtualRouterRef: { name: 'podinfo-canary' } } } },
  });
  assert.deepEqual(gatewayAnnotations(canary().spec.service!), {}, 'no hosts, no gateway annotations');
});

test('ports and protocol: numeric targetPort is the v1beta2 listener port, grpc port names give grpc', () => {
  const c = canary({ service: { port: 80, targetPort: 9898, portName: 'grpc-api' } });
  assert.equal(containerPort(c.spec.service!), 9898);
  assert.equal(containerPort(canary({ service: { port: 80, targetPort: 'http' } }).spec.service!), 80);
  assert.equal(protocolOf(c.spec.service!), 'grpc');
  const objects = appMeshObjectsV1beta2({ canary: c, routes: { primary: 100, canary: 0 } });
  assert.deepEqual(
    objects.map((o) => `${o.kind}/${o.metadata.name}`),
    [
      'VirtualNode/podinfo-primary',
      'VirtualNode/podinfo-canary',
      'VirtualRouter/podinfo',
      'VirtualRouter/podinfo-canary',
      'VirtualService/podinfo',
      'VirtualService/podinfo-canary',
    ],
  );
  for (const o of objects.filter((x) => x.kind !== 'VirtualService'))
    assert.deepEqual((o.spec.listeners as { portMapping: unknown }[])[0]!.portMapping, {
      port: 9898,
      protocol: 'grpc',
    });
});

test('retry defaults: 250ms per try, one attempt, gateway-error; retryOn split on commas as written', () => {
  const [apex] = virtualRoutersV1beta2({
    canary: canary({ service: { retries: {} } }),
    routes: { primary: 100, canary: 0 },
  });
  const route = (apex!.spec.routes as { httpRoute: { retryPolicy: unknown } }[])[0]!;
  assert.deepEqual(route.httpRoute.retryPolicy, {
    perRetryTimeout: { unit: 'ms', value: 250 },
    maxRetries: 1,
    httpRetryEvents: ['gateway-error'],
  });
  const [v1] = virtualServicesV1beta1({
    canary: canary({
      provider: 'appmesh',
      service: { meshName: 'm', retries: { attempts: 3, retryOn: 'server-error,gateway-error' } },
    }),
    routes: { primary: 100, canary: 0 },
  });
  assert.deepEqual((v1!.spec.routes as { http: { retryPolicy: unknown } }[])[0]!.http.retryPolicy, {
    perRetryTimeoutMillis: 250,
    maxRetries: 3,
    httpRetryEvents: ['server-error', 'gateway-error'],
  });
});

test('legacy appmesh: three VirtualNodes in meshName (apex resolves the primary), VirtualServices <svc>.<ns>', () => {
  const c = flaggerFixture('appmesh');
  const all = appMeshObjectsV1beta1({ canary: c, routes: { primary: 90, canary: 10 }, owner: OWNER });
  assert.deepEqual(
    all.map((o) => `${o.kind}/${o.metadata.name}`),
    [
      'VirtualNode/podinfo',
      'VirtualNode/podinfo-primary',
      'VirtualNode/podinfo-canary',
      'VirtualService/podinfo.default',
      'VirtualService/podinfo-canary.default',
    ],
  );
  const nodes = virtualNodesV1beta1({ canary: c, routes: { primary: 90, canary: 10 } });
  assert.deepEqual(
    nodes.map((n) => (n.spec.serviceDiscovery as { dns: { hostName: string } }).dns.hostName),
    ['podinfo-primary.default', 'podinfo-primary.default', 'podinfo-canary.default'],
  );
  assert.deepEqual(nodes[0]!.spec, {
    meshName: 'global',
    listeners: [{ portMapping: { port: 9898, protocol: 'http' } }],
    serviceDiscovery: { dns: { hostName: 'podinfo-primary.default' } },
    logging: { accessLog: { file: { path: '/dev/stdout' } } },
    backends: [{ virtualService: { virtualServiceName: 'backend.default' } }],
  });
  const apex = byName(all, 'VirtualService', 'podinfo.default');
  assert.deepEqual(apex.spec, {
    meshName: 'global',
    virtualRouter: { name: 'podinfo', listeners: [{ portMapping: { port: 9898, protocol: 'http' } }] },
    routes: [
      {
        name: 'podinfo',
        http: {
          match: { prefix: '/' },
          retryPolicy: { perRetryTimeoutMillis: 5000, maxRetries: 5, httpRetryEvents: ['gateway-error'] },
          action: {
            weightedTargets: [
              { virtualNodeName: 'podinfo-canary', weight: 10 },
              { virtualNodeName: 'podinfo-primary', weight: 90 },
            ],
          },
        },
      },
    ],
  });
  assert.equal(apex.metadata.annotations?.['gateway.appmesh.k8s.aws/expose'], 'true');
  const canaryVs = byName(all, 'VirtualService', 'podinfo-canary.default');
  assert.equal(canaryVs.metadata.annotations, undefined);
  assert.deepEqual((canaryVs.spec.virtualRouter as { name: string }).name, 'podinfo-canary');
  assert.deepEqual(readWeights(apex, c), { primary: 90, canary: 10, mirrored: false });
  assert.deepEqual(weightsObject(c, 'v1beta1'), { kind: 'VirtualService', name: 'podinfo.default' });
  assert.deepEqual(weightsObject(c, 'v1beta2'), { kind: 'VirtualRouter', name: 'podinfo' });
});

test('readWeights: Flagger GetRoutes — two targets with some weight, else nothing', () => {
  const c = canary();
  const route = (targets: unknown[]) => ({
    spec: { routes: [{ name: 'podinfo', httpRoute: { action: { weightedTargets: targets } } }] },
  });
  assert.equal(readWeights(undefined, c), undefined);
  assert.equal(readWeights({ spec: { routes: [] } }, c), undefined);
  assert.equal(readWeights(route([{ virtualNodeRef: { name: 'podinfo-primary' }, weight: 100 }]), c), undefined);
  assert.equal(
    readWeights(
      route([
        { virtualNodeRef: { name: 'other-canary' }, weight: 50 },
        { virtualNodeRef: { name: 'other-primary' }, weight: 50 },
      ]),
      c,
    ),
    undefined,
  );
  assert.deepEqual(
    readWeights(
      route([
        { virtualNodeRef: { name: 'podinfo-canary' }, weight: 100 },
        { virtualNodeRef: { name: 'podinfo-primary' }, weight: 0 },
      ]),
      c,
    ),
    { primary: 0, canary: 100, mirrored: false },
  );
});
