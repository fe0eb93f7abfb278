// Pure Istio builders: a Canary and routes in, the VirtualService / DestinationRules fledge applies out. Expected
// objects are the ones Flagger v1.44's pkg/router/istio.go writes for the same Canary (its istio_test.go fixture).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCanary } from '../../api/validate.ts';
import type { Canary } from '../../api/canary.ts';
import { ANNOTATIONS, RouteSpecError } from '../../activities/routers/httproute.ts';
import {
  FLUX_ANNOTATIONS,
  ISTIO_API_VERSION,
  ORIGINAL_CONFIGURATION,
  buildDestinationRule,
  buildVirtualService,
  readVirtualServiceRoutes,
} from '../../activities/routers/virtualservice.ts';
import type { BuildVirtualServiceInput, IstioHttpRoute } from '../../activities/routers/virtualservice.ts';
import { originalSpec } from '../../activities/routers/istio.ts';

type Over = { service?: Record<string, unknown>; analysis?: Record<string, unknown>; metadata?: object };

/** Flagger's newTestCanary (pkg/router/router_test.go), as a manifest. */
function flaggerTestCanary(over: Over = {}): Canary {
  return parse({
    metadata: { name: 'podinfo', namespace: 'default', uid: 'uid-1', ...over.metadata },
    spec: {
      provider: 'istio',
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' },
      service: {
        port: 9898,
        portDiscovery: true,
        appProtocol: 'http',
        headers: {
          request: { add: { 'x-envoy-upstream-rq-timeout-ms': '15000' }, remove: ['test'] },
          response: { remove: ['token'] },
        },
        corsPolicy: { allowMethods: ['GET', 'POST'] },
        match: [{ name: 'podinfo', uri: { prefix: '/podinfo' }, method: { exact: 'GET' }, ignoreUriCase: true }],
        retries: { attempts: 10, perTryTimeout: '30s', retryOn: 'connect-failure,gateway-error' },
        gateways: ['istio/public-gateway', 'mesh'],
        ...over.service,
      },
      analysis: { interval: '5m', threshold: 10, stepWeight: 10, maxWeight: 50, ...over.analysis },
    },
  });
}

/** A minimal mesh-only Canary. */
function meshCanary(over: Over = {}): Canary {
  return parse({
    metadata: { name: 'podinfo', namespace: 'test', ...over.metadata },
    spec: {
      provider: 'istio',
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' },
      service: { port: 9898, ...over.service },
      analysis: { interval: '1m', threshold: 5, stepWeight: 10, ...over.analysis },
    },
  });
}

function parse(raw: { metadata: object; spec: object }): Canary {
  const parsed = parseCanary({ apiVersion: 'flagger.app/v1beta1', kind: 'Canary', ...raw });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.canary;
}

const ALL_PRIMARY = { primary: 100, canary: 0, mirrored: false };
const dest = (host: string, weight: number, port?: number) => ({
  destination: { host, ...(port ? { port: { number: port } } : {}) },
  weight,
});
const vs = (input: Partial<BuildVirtualServiceInput> & { canary: Canary }) =>
  buildVirtualService({ routes: ALL_PRIMARY, ...input });

test("Flagger's test canary: the VirtualService Flagger creates, field for field", () => {
  const c = flaggerTestCanary();
  const owner = { apiVersion: 'flagger.app/v1beta1', kind: 'Canary', name: 'podinfo', uid: 'uid-1' };
  const ownerRef = { ...owner, controller: true, blockOwnerDeletion: true };
  const out = vs({ canary: c, owner: ownerRef });
  assert.equal(out.apiVersion, 'networking.istio.io/v1beta1');
  assert.deepEqual(out.metadata, {
    name: 'podinfo',
    namespace: 'default',
    annotations: { ...FLUX_ANNOTATIONS, [ANNOTATIONS.canary]: 'podinfo' },
    ownerReferences: [ownerRef],
  });
  assert.deepEqual(out.spec, {
    hosts: ['podinfo'],
    gateways: ['istio/public-gateway', 'mesh'],
    http: [
      {
        match: [{ name: 'podinfo', uri: { prefix: '/podinfo' }, method: { exact: 'GET' }, ignoreUriCase: true }],
        retries: { attempts: 10, perTryTimeout: '30s', retryOn: 'connect-failure,gateway-error' },
        corsPolicy: { allowMethods: ['GET', 'POST'] },
        headers: {
          request: { add: { 'x-envoy-upstream-rq-timeout-ms': '15000' }, remove: ['test'] },
          response: { remove: ['token'] },
        },
        // portDiscovery behind an ingress gateway (first gateway is not mesh): destinations name the port.
        route: [dest('podinfo-primary', 100, 9898), dest('podinfo-canary', 0, 9898)],
      },
    ],
  });
});

test('hosts get the apex name unless it or * is there; gateways default to mesh; labels and annotations from apex', () => {
  const plain = vs({ canary: meshCanary() });
  assert.deepEqual(plain.spec.hosts, ['podinfo']);
  assert.deepEqual(plain.spec.gateways, ['mesh']);
  assert.deepEqual(plain.spec.http?.[0]?.route, [dest('podinfo-primary', 100), dest('podinfo-canary', 0)]);
  assert.equal(plain.spec.http?.[0]?.match, undefined, 'no service match: Istio matches everything');

  const hosted = vs({
    canary: meshCanary({
      service: {
        name: 'app',
        hosts: ['app.example.com'],
        gateways: ['public/gw'],
        apex: {
          labels: { team: 'a' },
          annotations: { note: 'x', 'kubectl.kubernetes.io/last-applied-configuration': '{}' },
        },
      },
    }),
  });
  assert.equal(hosted.metadata.name, 'app');
  assert.deepEqual(hosted.spec.hosts, ['app.example.com', 'app']);
  assert.deepEqual(hosted.spec.gateways, ['public/gw'], 'Flagger adds mesh only when no gateway is given');
  assert.deepEqual(hosted.metadata.labels, { team: 'a' });
  assert.deepEqual(hosted.metadata.annotations, { note: 'x', ...FLUX_ANNOTATIONS, [ANNOTATIONS.canary]: 'podinfo' });
  assert.deepEqual(hosted.spec.http?.[0]?.route, [dest('app-primary', 100), dest('app-canary', 0)]);
  assert.equal(hosted.metadata.ownerReferences, undefined);

  assert.deepEqual(vs({ canary: meshCanary({ service: { hosts: ['*'] } }) }).spec.hosts, ['*']);
});

test('delegation: no hosts, no gateways, the port named with portDiscovery; hosts or gateways are an error', () => {
  const out = vs({ canary: meshCanary({ service: { delegation: true, portDiscovery: true } }) });
  assert.deepEqual(out.spec.hosts, []);
  assert.equal(out.spec.gateways, undefined);
  assert.deepEqual(out.spec.http?.[0]?.route, [dest('podinfo-primary', 100, 9898), dest('podinfo-canary', 0, 9898)]);
  assert.throws(
    () => vs({ canary: meshCanary({ service: { delegation: true, hosts: ['a.example.com'] } }) }),
    (e: unknown) =>
      e instanceof RouteSpecError &&
      e.message === 'VirtualService podinfo.test cannot have hosts and gateways when delegation enabled',
  );
  // portDiscovery on the mesh gateway: no port, as Flagger.
  const mesh = vs({ canary: meshCanary({ service: { portDiscovery: true, gateways: ['mesh', 'public/gw'] } }) });
  assert.deepEqual(mesh.spec.http?.[0]?.route?.[0], dest('podinfo-primary', 100));
});

test('rewrite, timeout, retries without attempts, cors origins, suffix matches as anchored regexes', () => {
  const out = vs({
    canary: meshCanary({
      service: {
        rewrite: { uri: '/', authority: 'backend', type: 'ReplacePrefixMatch' },
        timeout: '5s',
        retries: { retryOn: '5xx' },
        corsPolicy: {
          allowOrigin: ['https://a.example.com'],
          allowOrigins: [{ exact: 'https://b.example.com' }, { suffix: '.example.org' }],
          maxAge: '24h',
          allowCredentials: true,
        },
        match: [{ uri: { suffix: '.json' }, headers: { 'x-a': { exact: '1' } } }],
      },
    }),
  });
  const rule = out.spec.http?.[0];
  assert.deepEqual(rule?.rewrite, { uri: '/', authority: 'backend' }, "Flagger's GetIstioRewrite drops the type");
  assert.equal(rule?.timeout, '5s');
  assert.deepEqual(rule?.retries, { attempts: 0, retryOn: '5xx' });
  assert.deepEqual(rule?.corsPolicy, {
    allowOrigin: ['https://a.example.com'],
    allowOrigins: [{ exact: 'https://b.example.com' }, { regex: '.*\\.example\\.org$' }],
    maxAge: '24h',
    allowCredentials: true,
  });
  assert.deepEqual(rule?.match, [{ uri: { regex: '.*\\.json$' }, headers: { 'x-a': { exact: '1' } } }]);
});

test('weights and the mirror are read back as written; a VirtualService without our hosts has no routes', () => {
  const c = meshCanary();
  for (const w of [0, 10, 50, 100])
    for (const mirrored of [false, true]) {
      const routes = { primary: 100 - w, canary: w, mirrored };
      assert.deepEqual(readVirtualServiceRoutes(vs({ canary: c, routes }), c), routes);
    }
  assert.equal(
    readVirtualServiceRoutes({ spec: { hosts: ['x'], http: [{ route: [dest('other', 100)] }] } }, c),
    undefined,
  );
});

test('mirroring: mirror to the canary host, mirrorPercentage only with a mirrorWeight', () => {
  const routes = { primary: 100, canary: 0, mirrored: true };
  const full = vs({ canary: meshCanary({ analysis: { mirror: true, mirrorWeight: 100 } }), routes });
  assert.deepEqual(full.spec.http?.[0]?.mirror, { host: 'podinfo-canary' });
  assert.deepEqual(full.spec.http?.[0]?.mirrorPercentage, { value: 100 });
  const some = vs({ canary: meshCanary({ analysis: { mirror: true } }), routes });
  assert.deepEqual(some.spec.http?.[0]?.mirror, { host: 'podinfo-canary' });
  assert.equal(some.spec.http?.[0]?.mirrorPercentage, undefined);
  const off = vs({ canary: meshCanary({ analysis: { mirror: true, mirrorWeight: 50 } }), routes: ALL_PRIMARY });
  assert.equal(off.spec.http?.[0]?.mirror, undefined);
});

test('A/B: each analysis match × each service match carries headers, cookies, query and source labels', () => {
  const c = meshCanary({
    service: { match: [{ uri: { prefix: '/api' } }, { uri: { prefix: '/v2' } }], timeout: '10s' },
    analysis: {
      stepWeight: undefined,
      iterations: 10,
      match: [
        { headers: { 'x-canary': { exact: 'insider' } } },
        { cookies: { type: { exact: 'insider' } } },
        { queryParams: { beta: { exact: 'on' } }, sourceLabels: { app: 'tester' } },
      ],
    },
  });
  const out = vs({ canary: c, routes: { primary: 0, canary: 100, mirrored: false } });
  const cookie = { regex: '^(?:.*;\\s*)?type=insider(?:;.*)?$' };
  const matches = [
    { uri: { prefix: '/api' }, headers: { 'x-canary': { exact: 'insider' } } },
    { uri: { prefix: '/v2' }, headers: { 'x-canary': { exact: 'insider' } } },
    { uri: { prefix: '/api' }, headers: { cookie } },
    { uri: { prefix: '/v2' }, headers: { cookie } },
    { uri: { prefix: '/api' }, sourceLabels: { app: 'tester' }, queryParams: { beta: { exact: 'on' } } },
    { uri: { prefix: '/v2' }, sourceLabels: { app: 'tester' }, queryParams: { beta: { exact: 'on' } } },
  ];
  assert.deepEqual(out.spec.http, [
    { match: matches, timeout: '10s', route: [dest('podinfo-primary', 0), dest('podinfo-canary', 100)] },
    {
      match: [{ uri: { prefix: '/api' } }, { uri: { prefix: '/v2' } }],
      timeout: '10s',
      route: [dest('podinfo-primary', 100)],
    },
  ]);
  assert.deepEqual(readVirtualServiceRoutes(out, c), { primary: 0, canary: 100, mirrored: false });

  // Without service matches the analysis matches go in as written (Flagger's mergeMatchConditions).
  const bare = meshCanary({
    analysis: {
      stepWeight: undefined,
      iterations: 2,
      match: [{ headers: { cookie: { regex: '^(.*?;)?(x=1)(;.*)?$' } } }],
    },
  });
  assert.deepEqual(
    vs({ canary: bare }).spec.http?.map((r) => r.match),
    [[{ headers: { cookie: { regex: '^(.*?;)?(x=1)(;.*)?$' } } }], undefined],
  );
  assert.throws(
    () =>
      vs({
        canary: meshCanary({
          analysis: {
            stepWeight: undefined,
            iterations: 2,
            match: [{ headers: { cookie: { exact: 'a' } }, cookies: { b: { exact: 'c' } } }],
          },
        }),
      }),
    RouteSpecError,
  );
});

test('session affinity with canary traffic: sticky canary and primary rules, Set-Cookie on the weighted split', () => {
  const c = flaggerTestCanary({
    service: { match: undefined, gateways: undefined, portDiscovery: false, headers: undefined, retries: undefined },
    analysis: {
      sessionAffinity: {
        cookieName: 'flagger-cookie',
        primaryCookieName: 'primary-cookie',
        maxAge: 300,
        domain: 'flagger.app',
        httpOnly: true,
        partitioned: true,
        path: '/app',
        sameSite: 'Strict',
        secure: true,
      },
    },
  });
  const cookies = { canary: 'flagger-cookie=abc', primary: 'primary-cookie=def' };
  const out = vs({ canary: c, routes: { primary: 90, canary: 10, mirrored: false }, cookies });
  const attrs = 'Domain=flagger.app; HttpOnly; Partitioned; Path=/app; SameSite=Strict; Secure';
  const cors = { allowMethods: ['GET', 'POST'] };
  assert.deepEqual(out.spec.http, [
    {
      match: [{ headers: { Cookie: { regex: '.*flagger-cookie.*abc.*' } } }],
      corsPolicy: cors,
      route: [dest('podinfo-primary', 0), dest('podinfo-canary', 100)],
    },
    {
      match: [{ headers: { Cookie: { regex: '.*primary-cookie.*def.*' } } }],
      corsPolicy: cors,
      route: [dest('podinfo-primary', 100), dest('podinfo-canary', 0)],
    },
    {
      corsPolicy: cors,
      route: [
        // The primary cookie lives one analysis interval (5m).
        {
          ...dest('podinfo-primary', 90),
          headers: { response: { add: { 'Set-Cookie': `primary-cookie=def; Max-Age=300; ${attrs}` } } },
        },
        {
          ...dest('podinfo-canary', 10),
          headers: { response: { add: { 'Set-Cookie': `flagger-cookie=abc; Max-Age=300; ${attrs}` } } },
        },
      ],
    },
  ]);
  assert.deepEqual(readVirtualServiceRoutes(out, c), { primary: 90, canary: 10, mirrored: false });
  assert.equal(out.metadata.annotations?.[ANNOTATIONS.sessionCookie], 'flagger-cookie=abc');
  assert.equal(out.metadata.annotations?.[ANNOTATIONS.primarySessionCookie], 'primary-cookie=def');
});

test('session affinity after the run: the previous canary cookie is expired on its own rule', () => {
  const c = meshCanary({
    service: { match: [{ uri: { prefix: '/' } }], headers: { response: { add: { 'x-a': 'b' } } } },
    analysis: { sessionAffinity: { cookieName: 'flagger-cookie' } },
  });
  const out = vs({ canary: c, cookies: { previous: 'flagger-cookie=abc' } });
  const weighted: IstioHttpRoute = {
    match: [{ uri: { prefix: '/' } }],
    headers: { response: { add: { 'x-a': 'b' } } },
    route: [dest('podinfo-primary', 100), dest('podinfo-canary', 0)],
  };
  assert.deepEqual(out.spec.http, [
    {
      ...weighted,
      match: [{ uri: { prefix: '/' }, headers: { Cookie: { regex: '.*flagger-cookie.*abc.*' } } }],
      headers: { response: { add: { 'x-a': 'b', 'Set-Cookie': 'flagger-cookie=abc; Max-Age=-1' } } },
    },
    weighted,
  ]);
  assert.deepEqual(readVirtualServiceRoutes(out, c), ALL_PRIMARY);
  assert.deepEqual(vs({ canary: c }).spec.http, [weighted], 'no cookie yet: just the weighted rule');
});

test('appProtocol tcp: one TCP rule with the service match ports, no HTTP features, weights read back', () => {
  const c = meshCanary({ service: { appProtocol: 'TCP', match: [{ port: 9898 }, {}] } });
  const routes = { primary: 70, canary: 30, mirrored: false };
  const out = vs({ canary: c, routes });
  assert.deepEqual(out.spec, {
    hosts: ['podinfo'],
    gateways: ['mesh'],
    tcp: [{ match: [{ port: 9898 }, {}], route: [dest('podinfo-primary', 70), dest('podinfo-canary', 30)] }],
  });
  assert.deepEqual(readVirtualServiceRoutes(out, c), routes);
});

test('DestinationRules: host and trafficPolicy verbatim, owner when given', () => {
  const trafficPolicy = { tls: { mode: 'ISTIO_MUTUAL' }, loadBalancer: { simple: 'LEAST_REQUEST' } };
  const c = meshCanary({ service: { trafficPolicy } });
  const owner = { apiVersion: 'flagger.app/v1beta1', kind: 'Canary', name: 'podinfo', uid: 'u', controller: true };
  assert.deepEqual(buildDestinationRule(c, 'podinfo-canary', owner), {
    apiVersion: ISTIO_API_VERSION,
    kind: 'DestinationRule',
    metadata: { name: 'podinfo-canary', namespace: 'test', ownerReferences: [owner] },
    spec: { host: 'podinfo-canary', trafficPolicy },
  });
  assert.deepEqual(buildDestinationRule(meshCanary(), 'podinfo-primary').spec, { host: 'podinfo-primary' });
});

test("takeover: the adopted spec sits in Flagger's annotation; finalize prefers kubectl's last-applied copy", () => {
  const original = { hosts: ['podinfo'], http: [{ route: [dest('podinfo', 100)] }] };
  const out = vs({ canary: meshCanary(), originalConfiguration: JSON.stringify(original) });
  assert.equal(out.metadata.annotations?.[ORIGINAL_CONFIGURATION], JSON.stringify(original));
  assert.deepEqual(originalSpec(out), original);
  const kubectl = { ...out, metadata: { ...out.metadata, annotations: {} } };
  kubectl.metadata.annotations = {
    'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ spec: { hosts: ['k'] } }),
  };
  assert.deepEqual(originalSpec(kubectl), { hosts: ['k'] });
  assert.equal(originalSpec(vs({ canary: meshCanary() })), undefined);
});
