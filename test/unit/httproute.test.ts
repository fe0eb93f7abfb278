// Pure HTTPRoute builders: a Canary and routes in, the HTTPRoute fledge applies out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { parseCanary } from '../../api/validate.ts';
import type { Canary } from '../../api/canary.ts';
import {
  ANNOTATIONS,
  buildHttpRoute,
  cookieHeaderMatch,
  nextSessionCookies,
  parentAcceptance,
  readRoutes,
  routeMatches,
} from '../../activities/routers/httproute.ts';
import type { HTTPRoute } from '../../activities/routers/httproute.ts';
import { canarySelector, primarySelector, routesOfSelector } from '../../activities/routers/kubernetes.ts';
import { ROUTER_NAMES, routerFor, specErrorMessage } from '../../activities/routers/index.ts';
import { isRouterName } from '../../activities/routers/registry.ts';
import { FLAGGER_PROVIDERS, SUPPORTED_PROVIDERS } from '../../api/canary.ts';
import { KubeConfig } from '@kubernetes/client-node';

type Over = { service?: Record<string, unknown>; analysis?: Record<string, unknown>; provider?: string };

export function canary(over: Over = {}): Canary {
  const parsed = parseCanary({
    apiVersion: 'flagger.app/v1beta1',
    kind: 'Canary',
    metadata: { name: 'podinfo', namespace: 'test' },
    spec: {
      provider: over.provider ?? 'gatewayapi:v1',
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' },
      service: { port: 9898, gatewayRefs: [{ name: 'gateway', namespace: 'istio-ingress' }], ...over.service },
      analysis: { interval: '1m', threshold: 5, stepWeight: 10, maxWeight: 50, ...over.analysis },
    },
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.canary;
}

const ALL_PRIMARY = { primary: 100, canary: 0, mirrored: false };

test('a new route: parents, hosts, default PathPrefix / and primary/canary backends on the service port', () => {
  const route = buildHttpRoute({
    canary: canary({ service: { hosts: ['app.example.com'] } }),
    version: 'v1',
    routes: ALL_PRIMARY,
  });
  assert.equal(route.apiVersion, 'gateway.networking.k8s.io/v1');
  assert.deepEqual(route.metadata.name, 'podinfo');
  assert.deepEqual(route.spec.parentRefs, [{ name: 'gateway', namespace: 'istio-ingress' }]);
  assert.deepEqual(route.spec.hostnames, ['app.example.com']);
  assert.deepEqual(route.spec.rules, [
    {
      matches: [{ path: { type: 'PathPrefix', value: '/' } }],
      backendRefs: [
        { group: '', kind: 'Service', name: 'podinfo-primary', port: 9898, weight: 100 },
        { group: '', kind: 'Service', name: 'podinfo-canary', port: 9898, weight: 0 },
      ],
    },
  ]);
  assert.equal(route.metadata.annotations?.[ANNOTATIONS.canary], 'podinfo');
});

test('weights are read back as written', () => {
  const c = canary();
  for (const w of [0, 10, 50, 100]) {
    const routes = { primary: 100 - w, canary: w, mirrored: false };
    assert.deepEqual(readRoutes(buildHttpRoute({ canary: c, version: 'v1', routes }), c), routes);
  }
});

test('A/B: regex header and cookie matches merged with service matches, default rule to the primary', () => {
  const c = canary({
    service: { match: [{ uri: { prefix: '/api' } }] },
    analysis: {
      stepWeight: undefined,
      maxWeight: undefined,
      iterations: 10,
      match: [
        { headers: { 'x-canary': { regex: '^(insider|beta)$' }, 'a-first': { exact: 'yes' } } },
        { cookies: { canary: { exact: 'always' } } },
      ],
    },
  });
  const route = buildHttpRoute({ canary: c, version: 'v1', routes: { primary: 0, canary: 100, mirrored: false } });
  const [ab, fallback] = route.spec.rules;
  assert.deepEqual(ab?.matches, [
    {
      path: { type: 'PathPrefix', value: '/api' },
      headers: [
        { type: 'Exact', name: 'a-first', value: 'yes' },
        { type: 'RegularExpression', name: 'x-canary', value: '^(insider|beta)$' },
      ],
    },
    {
      path: { type: 'PathPrefix', value: '/api' },
      headers: [{ type: 'RegularExpression', name: 'Cookie', value: '^(?:.*;\\s*)?canary=always(?:;.*)?$' }],
    },
  ]);
  assert.deepEqual(
    ab?.backendRefs.map((b) => [b.name, b.weight]),
    [
      ['podinfo-primary', 0],
      ['podinfo-canary', 100],
    ],
  );
  assert.deepEqual(fallback?.matches, [{ path: { type: 'PathPrefix', value: '/api' } }]);
  assert.deepEqual(
    fallback?.backendRefs.map((b) => [b.name, b.weight]),
    [['podinfo-primary', 100]],
  );
  assert.deepEqual(readRoutes(route, c), { primary: 0, canary: 100, mirrored: false });
});

test('cookie matches find the cookie anywhere in the header, in any order, and nothing else', () => {
  const one = new RegExp(cookieHeaderMatch({ user: { regex: 'beta-.*' } }).value);
  assert.ok(one.test('user=beta-1'));
  assert.ok(one.test('a=b; user=beta-7; c=d'));
  assert.ok(!one.test('a=b; xuser=beta-7'));
  assert.ok(!one.test('user=alpha'));
  const two = new RegExp(cookieHeaderMatch({ b: { exact: '2' }, a: { exact: '1.0' } }).value);
  assert.ok(two.test('a=1.0; b=2'));
  assert.ok(two.test('b=2; x=y; a=1.0'));
  assert.ok(!two.test('a=1x0; b=2'), 'exact values are escaped');
  assert.ok(!two.test('a=1.0'));
  assert.throws(() =>
    cookieHeaderMatch({ a: { exact: '1' }, b: { exact: '1' }, c: { exact: '1' }, d: { exact: '1' } }),
  );
});

test('prefix and suffix header matches become anchored regexes; method and query params are kept', () => {
  assert.deepEqual(
    routeMatches([
      {
        method: { exact: 'GET' },
        headers: { h: { prefix: 'v1.' } },
        queryParams: { q: { suffix: 'x' }, a: { exact: '1' } },
      },
    ]),
    [
      {
        method: 'GET',
        headers: [{ type: 'RegularExpression', name: 'h', value: '^v1\\..*' }],
        queryParams: [
          { type: 'Exact', name: 'a', value: '1' },
          { type: 'RegularExpression', name: 'q', value: '.*x$' },
        ],
      },
    ],
  );
});

test('mirroring adds a RequestMirror to the canary Service (also for a weighted canary) and reads back mirrored', () => {
  const c = canary({ analysis: { mirror: true, mirrorWeight: 50 } });
  const route = buildHttpRoute({ canary: c, version: 'v1', routes: { primary: 100, canary: 0, mirrored: true } });
  assert.deepEqual(route.spec.rules[0]?.filters, [
    {
      type: 'RequestMirror',
      requestMirror: { backendRef: { group: '', kind: 'Service', name: 'podinfo-canary', port: 9898 }, percent: 50 },
    },
  ]);
  assert.deepEqual(readRoutes(route, c), { primary: 100, canary: 0, mirrored: true });
  const next = buildHttpRoute({ canary: c, version: 'v1', routes: { primary: 90, canary: 10, mirrored: false } });
  assert.equal(next.spec.rules[0]?.filters, undefined);
});

test('static mirrors, header modifiers (sorted), rewrite, CORS (v1 only) and timeouts become rule filters', () => {
  const c = canary({
    service: {
      timeout: '30s',
      backendTimeout: '10s',
      headers: {
        request: { set: { 'z-last': '1', 'a-first': '2' }, add: { 'x-b': 'b', 'x-a': 'a' }, remove: ['x-drop'] },
        response: { add: { 'x-served-by': 'fledge' } },
      },
      rewrite: { uri: '/v2', type: 'ReplacePrefixMatch', authority: 'internal.example.com' },
      corsPolicy: {
        allowOrigin: ['https://a.example.com'],
        allowMethods: ['GET'],
        maxAge: '1m',
        allowCredentials: true,
      },
      mirror: [{ backendRef: { name: 'shadow', port: 8080 }, percent: 5 }],
    },
  });
  const rule = buildHttpRoute({ canary: c, version: 'v1', routes: ALL_PRIMARY }).spec.rules[0];
  assert.deepEqual(rule?.timeouts, { request: '30s', backendRequest: '10s' });
  assert.deepEqual(rule?.filters, [
    {
      type: 'RequestHeaderModifier',
      requestHeaderModifier: {
        add: [
          { name: 'x-a', value: 'a' },
          { name: 'x-b', value: 'b' },
        ],
        set: [
          { name: 'a-first', value: '2' },
          { name: 'z-last', value: '1' },
        ],
        remove: ['x-drop'],
      },
    },
    { type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'x-served-by', value: 'fledge' }] } },
    {
      type: 'URLRewrite',
      urlRewrite: { hostname: 'internal.example.com', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' } },
    },
    {
      type: 'CORS',
      cors: { allowOrigins: ['https://a.example.com'], allowMethods: ['GET'], maxAge: 60, allowCredentials: true },
    },
    { type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow', port: 8080 }, percent: 5 } },
  ]);
  const beta = buildHttpRoute({ canary: c, version: 'v1beta1', routes: ALL_PRIMARY }).spec.rules[0];
  assert.ok(!beta?.filters?.some((f) => f.type === 'CORS'), 'no CORS on v1beta1 (Flagger parity)');
  const full = canary({ service: { rewrite: { uri: '/index.html' } } });
  assert.deepEqual(buildHttpRoute({ canary: full, version: 'v1', routes: ALL_PRIMARY }).spec.rules[0]?.filters, [
    { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplaceFullPath', replaceFullPath: '/index.html' } } },
  ]);
});

test('session affinity: sticky canary rule, Set-Cookie on the canary backend, primary cookie, expiry after the run', () => {
  const c = canary({
    service: { headers: { response: { add: { 'x-a': '1' } } } },
    analysis: { sessionAffinity: { cookieName: 'flagger-cookie', primaryCookieName: 'primary-cookie', maxAge: 3600 } },
  });
  let n = 0;
  const random = () => `v${++n}`;
  const cookies = nextSessionCookies(c, 10, {}, random);
  assert.deepEqual(cookies, { canary: 'flagger-cookie=v1', primary: 'primary-cookie=v2' });
  assert.deepEqual(nextSessionCookies(c, 20, cookies, random), cookies, 'the cookie of a run stays the same');
  const route = buildHttpRoute({
    canary: c,
    version: 'v1',
    routes: { primary: 90, canary: 10, mirrored: false },
    cookies,
  });
  const [stickyCanary, stickyPrimary, weighted] = route.spec.rules;
  assert.deepEqual(stickyCanary?.matches[0]?.headers, [
    { type: 'RegularExpression', name: 'Cookie', value: '.*flagger-cookie.*v1.*' },
  ]);
  assert.deepEqual(
    stickyCanary?.backendRefs.map((b) => b.weight),
    [0, 100],
  );
  assert.deepEqual(stickyPrimary?.matches[0]?.headers?.[0]?.value, '.*primary-cookie.*v2.*');
  assert.deepEqual(
    stickyPrimary?.backendRefs.map((b) => b.weight),
    [100, 0],
  );
  assert.deepEqual(weighted?.backendRefs[1]?.filters, [
    {
      type: 'ResponseHeaderModifier',
      responseHeaderModifier: { add: [{ name: 'Set-Cookie', value: 'flagger-cookie=v1; Max-Age=3600' }] },
    },
  ]);
  assert.equal(
    weighted?.backendRefs[0]?.filters?.[0]?.responseHeaderModifier?.add?.[0]?.value,
    'primary-cookie=v2; Max-Age=60',
  );
  assert.deepEqual(readRoutes(route, c), { primary: 90, canary: 10, mirrored: false });
  assert.equal(route.metadata.annotations?.[ANNOTATIONS.sessionCookie], 'flagger-cookie=v1');

  const after = nextSessionCookies(c, 0, cookies, random);
  assert.deepEqual(after, { previous: 'flagger-cookie=v1' });
  const done = buildHttpRoute({ canary: c, version: 'v1', routes: ALL_PRIMARY, cookies: after });
  const expiring = done.spec.rules[0];
  // One ResponseHeaderModifier per rule: the expiry joins the service's response headers.
  assert.deepEqual(expiring?.filters, [
    {
      type: 'ResponseHeaderModifier',
      responseHeaderModifier: {
        add: [
          { name: 'x-a', value: '1' },
          { name: 'Set-Cookie', value: 'flagger-cookie=v1; Max-Age=-1' },
        ],
      },
    },
  ]);
  assert.deepEqual(readRoutes(done, c), ALL_PRIMARY);
});

test('Set-Cookie carries the optional cookie attributes', () => {
  const c = canary({
    analysis: {
      sessionAffinity: {
        cookieName: 'c',
        domain: 'example.com',
        path: '/',
        httpOnly: true,
        secure: true,
        sameSite: 'Lax',
      },
    },
  });
  const route = buildHttpRoute({
    canary: c,
    version: 'v1',
    routes: { primary: 50, canary: 50, mirrored: false },
    cookies: { canary: 'c=x' },
  });
  assert.equal(
    route.spec.rules[1]?.backendRefs[1]?.filters?.[0]?.responseHeaderModifier?.add?.[0]?.value,
    'c=x; Max-Age=86400; Domain=example.com; Path=/; HttpOnly; Secure; SameSite=Lax',
  );
});

test('apex metadata goes on the route; kubectl bookkeeping does not', () => {
  const c = canary({
    service: {
      apex: {
        labels: { team: 'a' },
        annotations: { note: 'x', 'kubectl.kubernetes.io/last-applied-configuration': '{}' },
      },
    },
  });
  const route = buildHttpRoute({ canary: c, version: 'v1', routes: ALL_PRIMARY });
  assert.deepEqual(route.metadata.labels, { team: 'a' });
  assert.deepEqual(route.metadata.annotations, { note: 'x', [ANNOTATIONS.canary]: 'podinfo' });
});

function withStatus(conditions: { status: string; observedGeneration: number; reason?: string }[]): HTTPRoute {
  const route = buildHttpRoute({ canary: canary(), version: 'v1', routes: ALL_PRIMARY });
  route.metadata.generation = 2;
  route.status = {
    parents: [
      {
        parentRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gateway', namespace: 'istio-ingress' },
        controllerName: 'example.com/gateway',
        conditions: conditions.map((c) => ({ type: 'Accepted', ...c })),
      },
    ],
  };
  return route;
}

test('parent acceptance: True for the current generation passes; False, stale or missing names the parent', () => {
  assert.deepEqual(parentAcceptance(withStatus([{ status: 'True', observedGeneration: 2 }])), { ready: true });
  const refused = parentAcceptance(
    withStatus([{ status: 'False', observedGeneration: 2, reason: 'NotAllowedByListeners' }]),
  );
  assert.equal(refused.ready, false);
  assert.match(
    !refused.ready ? refused.message : '',
    /parent Gateway istio-ingress\/gateway .*Accepted=False \(NotAllowedByListeners/,
  );
  const stale = parentAcceptance(withStatus([{ status: 'True', observedGeneration: 1 }]));
  assert.match(!stale.ready ? stale.message : '', /has not accepted generation 2/);
  const bare = buildHttpRoute({ canary: canary(), version: 'v1', routes: ALL_PRIMARY });
  assert.match((parentAcceptance(bare) as { message: string }).message, /has not reported status yet/);
  assert.deepEqual(parentAcceptance(bare, true), { ready: true });
});

test('kubernetes provider: the apex selector says which side gets the traffic', () => {
  assert.deepEqual(routesOfSelector({ app: 'podinfo-primary' }), ALL_PRIMARY);
  assert.deepEqual(routesOfSelector({ app: 'podinfo' }), { primary: 0, canary: 100, mirrored: false });
  assert.deepEqual(canarySelector({ app: 'podinfo-primary' }), { app: 'podinfo' });
  assert.deepEqual(primarySelector({ app: 'podinfo' }), { app: 'podinfo-primary' });
});

test('registry: one router per Flagger v1.44 provider; unknown names a validation error', () => {
  const kube = new KubeConfig();
  kube.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  assert.deepEqual([...ROUTER_NAMES].sort(), [...SUPPORTED_PROVIDERS].sort());
  assert.deepEqual([...SUPPORTED_PROVIDERS].sort(), [...FLAGGER_PROVIDERS].sort());
  for (const name of FLAGGER_PROVIDERS) assert.ok(isRouterName(name) && routerFor(name, { kube }));
  assert.throws(
    () => routerFor('envoy', { kube }),
    (e: unknown) => e instanceof ApplicationFailure && e.nonRetryable && e.type === 'InvalidSpec',
  );
  // reconcileRoutes writes the Services and the router's objects at once, except for the routers that read or write
  // those Services themselves: the kubernetes router (the apex Service) and Gloo (the Services' selectors).
  const servicesFirst = FLAGGER_PROVIDERS.filter((name) => routerFor(name, { kube }).readsServices).sort();
  assert.deepEqual(servicesFirst, ['gloo', 'kubernetes']);
});

test('a gatewayapi canary without gatewayRefs fails with Flagger text', () => {
  const parsed = parseCanary({
    metadata: { name: 'p', namespace: 'n' },
    spec: {
      provider: 'gatewayapi:v1',
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'p' },
      service: { port: 80 },
      analysis: { interval: '1m', threshold: 1, stepWeight: 10 },
    },
  });
  assert.equal(parsed.ok, false);
  if (!parsed.ok)
    assert.equal(
      specErrorMessage(parsed.errors),
      'GatewayRefs must be specified when using Gateway API as a provider.',
    );
});

test('GAMMA: a Service parent (group core in the spec) matches its status reported with group "" or "core"', () => {
  const c = canary({
    service: { gatewayRefs: [{ name: 'podinfo', namespace: 'test', group: 'core', kind: 'Service', port: 9898 }] },
  });
  const route = { ...buildHttpRoute({ canary: c, version: 'v1beta1', routes: ALL_PRIMARY }) };
  route.metadata.generation = 2;
  assert.equal(route.spec.hostnames, undefined, 'no hosts, no hostnames (GEP-1294: meshes ignore them)');
  const status = (group: string, observedGeneration: number) => ({
    parents: [
      {
        parentRef: { group, kind: 'Service', name: 'podinfo', namespace: 'test', port: 9898 },
        controllerName: 'linkerd.io/gateway-controller',
        conditions: [{ type: 'Accepted', status: 'True', observedGeneration }],
      },
    ],
  });
  for (const group of ['', 'core'])
    assert.deepEqual(parentAcceptance({ ...route, status: status(group, 2) }), { ready: true });
  const stale = parentAcceptance({ ...route, status: status('', 1) });
  assert.ok(
    !stale.ready && /Service test\/podinfo port 9898 .* generation 2/.test(stale.message),
    JSON.stringify(stale),
  );
  const gateway = parentAcceptance({ ...route, status: status('gateway.networking.k8s.io', 2) });
  assert.ok(!gateway.ready && gateway.message.includes('has not reported status yet'));
});
