// Pure builders of the nginx (canary Ingress) and contour (HTTPProxy) routers, checked against what Flagger
// v1.44's pkg/router/ingress_test.go and contour_test.go expect of the objects it writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTestCanary, validCanary } from './router-canary.ts';
import type { Canary } from '../../api/canary.ts';
import {
  buildCanaryIngress,
  canaryAnnotations,
  routesOfCanaryIngress,
  type Ingress,
} from '../../activities/routers/ingress.ts';
import {
  buildHttpProxy,
  proxyAcceptance,
  routesOfHttpProxy,
  type HTTPProxy,
} from '../../activities/routers/httpproxy.ts';
import { RouteSpecError } from '../../activities/routers/httproute.ts';
import { flaggerTestIngress } from '../user-ingress.ts';

type Over = { service?: Record<string, unknown>; analysis?: Record<string, unknown>; spec?: Record<string, unknown> };

function canary(provider: 'nginx' | 'contour', over: Over = {}): Canary {
  const fields = {
    ...(provider === 'nginx'
      ? { ingressRef: { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', name: 'podinfo' } }
      : {}),
    service: { port: 9898, ...over.service },
  };
  return validCanary(parseTestCanary(provider, fields, over.analysis, over.spec));
}

/** The user's Ingress of Flagger's router test fixture (newTestIngress), plus a class and annotations. */
function userIngress(): Ingress {
  const ingress = flaggerTestIngress('nginx', {
    'nginx.ingress.kubernetes.io/canary-weight': '33',
    'nginx.ingress.kubernetes.io/proxy-body-size': '8m',
  });
  return { ...ingress, spec: { ingressClassName: 'nginx', ...ingress.spec } };
}

const AB_HEADER = { iterations: 1, stepWeight: undefined, maxWeight: undefined };

test('nginx: the canary Ingress clones the user Ingress, backend to <svc>-canary, canary=true weight 0', () => {
  const ing = buildCanaryIngress({
    canary: canary('nginx'),
    ingress: userIngress(),
    prefix: 'custom.ingress.kubernetes.io',
    canaryWeight: 0,
  });
  assert.equal(ing.metadata.name, 'podinfo-canary');
  assert.deepEqual(ing.metadata.labels, { app: 'podinfo' });
  assert.equal(ing.spec?.ingressClassName, 'nginx');
  const paths = ing.spec?.rules?.[0]?.http?.paths ?? [];
  assert.deepEqual(
    paths.map((p) => p.backend.service?.name),
    ['podinfo-canary', 'other'],
  );
  assert.deepEqual(ing.metadata.annotations, {
    'kubernetes.io/ingress.class': 'nginx',
    // a user canary-* annotation of the default prefix is not one of this prefix: kept
    'nginx.ingress.kubernetes.io/canary-weight': '33',
    'nginx.ingress.kubernetes.io/proxy-body-size': '8m',
    'kustomize.toolkit.fluxcd.io/reconcile': 'disabled',
    'helm.toolkit.fluxcd.io/driftDetection': 'disabled',
    'custom.ingress.kubernetes.io/canary': 'true',
    'custom.ingress.kubernetes.io/canary-weight': '0',
    'fledge.app/canary': 'podinfo',
  });
  // the user's object is not changed by building its copy
  assert.equal(userIngress().spec?.rules?.[0]?.http?.paths[0]?.backend.service?.name, 'podinfo');
});

test('nginx: weights set canary-weight; 0 resets it (Flagger TestIngressRouter_GetSetRoutes)', () => {
  const c = canary('nginx');
  const prefix = 'prefix1.nginx.ingress.kubernetes.io';
  const at50 = canaryAnnotations({}, prefix, 50, c.spec.analysis.match);
  assert.equal(at50[`${prefix}/canary`], 'true');
  assert.equal(at50[`${prefix}/canary-weight`], '50');
  const ing = (w: number) => buildCanaryIngress({ canary: c, ingress: userIngress(), prefix, canaryWeight: w });
  assert.deepEqual(routesOfCanaryIngress(ing(50), prefix, []), { primary: 50, canary: 50, mirrored: false });
  assert.deepEqual(routesOfCanaryIngress(ing(100), prefix, []), { primary: 0, canary: 100, mirrored: false });
  const at0 = canaryAnnotations(at50, prefix, 0, []);
  assert.equal(at0[`${prefix}/canary`], 'true');
  assert.equal(at0[`${prefix}/canary-weight`], '0');
  // the user's own canary annotations of the active prefix are dropped from the copy
  assert.equal(
    canaryAnnotations({ [`${prefix}/canary-by-header`]: 'x' }, prefix, 0, [])[`${prefix}/canary-by-header`],
    undefined,
  );
});

test('nginx: A/B header exact, header regex and cookie (Flagger TestIngressRouter_ABTest)', () => {
  const prefix = 'nginx.ingress.kubernetes.io';
  const cases: [Record<string, unknown>, Record<string, string>][] = [
    [{ 'x-user-type': { exact: 'test' } }, { 'canary-by-header': 'x-user-type', 'canary-by-header-value': 'test' }],
    [{ 'x-user-type': { regex: 'test' } }, { 'canary-by-header': 'x-user-type', 'canary-by-header-pattern': 'test' }],
    [{ cookie: { exact: 'test' } }, { 'canary-by-cookie': 'test' }],
  ];
  for (const [headers, expected] of cases) {
    const c = canary('nginx', { analysis: { ...AB_HEADER, match: [{ headers }] } });
    const at100 = canaryAnnotations({ a: 'b' }, prefix, 100, c.spec.analysis.match);
    const want = Object.fromEntries(Object.entries(expected).map(([k, v]) => [`${prefix}/${k}`, v]));
    assert.deepEqual(at100, {
      a: 'b',
      'kustomize.toolkit.fluxcd.io/reconcile': 'disabled',
      'helm.toolkit.fluxcd.io/driftDetection': 'disabled',
      [`${prefix}/canary`]: 'true',
      [`${prefix}/canary-weight`]: '0',
      ...want,
    });
    const ing = buildCanaryIngress({ canary: c, ingress: userIngress(), prefix, canaryWeight: 100 });
    assert.deepEqual(routesOfCanaryIngress(ing, prefix, c.spec.analysis.match), {
      primary: 0,
      canary: 100,
      mirrored: false,
    });
    // back to the primary: the header/cookie selection goes
    const at0 = buildCanaryIngress({ canary: c, ingress: userIngress(), prefix, canaryWeight: 0 });
    for (const k of Object.keys(want)) assert.equal(at0.metadata.annotations?.[k], undefined, k);
    assert.deepEqual(routesOfCanaryIngress(at0, prefix, c.spec.analysis.match), {
      primary: 100,
      canary: 0,
      mirrored: false,
    });
  }
});

test('nginx: an Ingress without the apex backend, a bad weight and a missing ingressRef are spec errors', () => {
  const ing = userIngress();
  ing.spec!.rules![0]!.http!.paths = [ing.spec!.rules![0]!.http!.paths[1]!];
  assert.throws(
    () => buildCanaryIngress({ canary: canary('nginx'), ingress: ing, prefix: 'p', canaryWeight: 0 }),
    (e: unknown) => e instanceof RouteSpecError && /backend podinfo not found in ingress podinfo/.test(e.message),
  );
  const bad = { ...userIngress(), metadata: { name: 'x', annotations: { 'p/canary-weight': 'ten' } } };
  assert.throws(() => routesOfCanaryIngress(bad, 'p', []), RouteSpecError);
  const parsed = parseTestCanary('nginx', { service: { port: 9898 } });
  assert.equal(parsed.ok, false);
  assert.match(JSON.stringify(!parsed.ok && parsed.errors), /ingressRef.*is required with provider nginx/);
});

test('contour: the HTTPProxy of Flagger TestContourRouter_Reconcile (class, timeout, prefix, retries)', () => {
  const c = canary('contour', {
    service: {
      timeout: '1m',
      match: [{ uri: { prefix: '/podinfo' } }],
      retries: { attempts: 10, perTryTimeout: '5s', retryOn: 'connect-failure,gateway-error' },
      apex: { labels: { team: 'a' }, annotations: { note: 'x' } },
    },
  });
  const proxy = buildHttpProxy({
    canary: c,
    routes: { primary: 100, canary: 0, mirrored: false },
    ingressClass: 'contour',
  });
  assert.deepEqual(proxy, {
    apiVersion: 'projectcontour.io/v1',
    kind: 'HTTPProxy',
    metadata: {
      name: 'podinfo',
      namespace: 'default',
      labels: { team: 'a' },
      annotations: {
        note: 'x',
        'kustomize.toolkit.fluxcd.io/reconcile': 'disabled',
        'helm.toolkit.fluxcd.io/driftDetection': 'disabled',
        'fledge.app/canary': 'podinfo',
      },
    },
    spec: {
      ingressClassName: 'contour',
      routes: [
        {
          conditions: [{ prefix: '/podinfo' }],
          timeoutPolicy: { response: '1m', idle: '5m' },
          retryPolicy: { count: 10, perTryTimeout: '5s', retryOn: ['connect-failure', 'gateway-error'] },
          services: [
            {
              name: 'podinfo-primary',
              port: 9898,
              weight: 100,
              requestHeadersPolicy: {
                set: [{ name: 'l5d-dst-override', value: 'podinfo-primary.default.svc.cluster.local:9898' }],
              },
            },
            {
              name: 'podinfo-canary',
              port: 9898,
              requestHeadersPolicy: {
                set: [{ name: 'l5d-dst-override', value: 'podinfo-canary.default.svc.cluster.local:9898' }],
              },
            },
          ],
        },
      ],
    },
  });
  assert.deepEqual(routesOfHttpProxy(proxy, c), { primary: 100, canary: 0, mirrored: false });
});

test('contour: weights, blue/green 0/100, mirror and no valid weights', () => {
  const c = canary('contour', { analysis: { mirror: true, mirrorWeight: 20 } });
  const at = (primary: number, canaryWeight: number, mirrored = false) =>
    buildHttpProxy({ canary: c, routes: { primary, canary: canaryWeight, mirrored } });
  const weights = (p: HTTPProxy) => p.spec.routes?.[0]?.services.map((s) => [s.name, s.weight, s.mirror]);
  assert.deepEqual(weights(at(60, 40)), [
    ['podinfo-primary', 60, undefined],
    ['podinfo-canary', 40, undefined],
  ]);
  assert.deepEqual(routesOfHttpProxy(at(60, 40), c), { primary: 60, canary: 40, mirrored: false });
  assert.deepEqual(weights(at(0, 100)), [
    ['podinfo-primary', undefined, undefined],
    ['podinfo-canary', 100, undefined],
  ]);
  assert.deepEqual(routesOfHttpProxy(at(0, 100), c), { primary: 0, canary: 100, mirrored: false });
  assert.deepEqual(weights(at(100, 0, true)), [
    ['podinfo-primary', 100, undefined],
    ['podinfo-canary', 20, true],
  ]);
  assert.deepEqual(routesOfHttpProxy(at(100, 0, true), c), { primary: 100, canary: 0, mirrored: true });
  assert.throws(() => at(0, 0), /no valid weights/);
});

test('contour: A/B conditions come first, the default route stays on the primary (Flagger TestContourRouter_ABTest)', () => {
  const c = canary('contour', {
    analysis: {
      ...AB_HEADER,
      match: [
        {
          headers: {
            'x-user-type': { exact: 'test' },
            'x-a': { prefix: 'p' },
            'x-b': { suffix: 's' },
            'x-r': { regex: '^r' },
          },
        },
      ],
    },
  });
  const proxy = buildHttpProxy({ canary: c, routes: { primary: 0, canary: 100, mirrored: false } });
  const [ab, rest] = proxy.spec.routes ?? [];
  assert.deepEqual(ab?.conditions, [
    { prefix: '/', header: { name: 'x-user-type', exact: 'test' } },
    { prefix: '/', header: { name: 'x-a', contains: 'p' } },
    { prefix: '/', header: { name: 'x-b', contains: 's' } },
    { prefix: '/', header: { name: 'x-r', regex: '^r' } },
  ]);
  assert.deepEqual(
    ab?.services.map((s) => s.weight),
    [undefined, 100],
  );
  assert.deepEqual(rest?.conditions, [{ prefix: '/' }]);
  assert.deepEqual(
    rest?.services.map((s) => s.weight),
    [100, undefined],
  );
  assert.deepEqual(routesOfHttpProxy(proxy, c), { primary: 0, canary: 100, mirrored: false });
});

test('contour: acceptance needs currentStatus valid for the current generation', () => {
  const base = buildHttpProxy({ canary: canary('contour'), routes: { primary: 100, canary: 0, mirrored: false } });
  const withStatus = (status: HTTPProxy['status'], generation = 2): HTTPProxy => ({
    ...base,
    metadata: { ...base.metadata, generation },
    ...(status ? { status } : {}),
  });
  assert.equal(proxyAcceptance(withStatus(undefined)).ready, false);
  assert.equal(proxyAcceptance(withStatus(undefined), true).ready, true);
  const invalid = proxyAcceptance(withStatus({ currentStatus: 'invalid', description: 'duplicate conditions' }));
  assert.deepEqual(invalid, { ready: false, message: 'HTTPProxy default/podinfo is invalid: duplicate conditions' });
  assert.equal(proxyAcceptance(withStatus({ currentStatus: 'orphaned' }), true).ready, false);
  const valid = (g: number) => ({
    currentStatus: 'valid',
    conditions: [{ type: 'Valid', status: 'True', observedGeneration: g }],
  });
  assert.equal(proxyAcceptance(withStatus(valid(1))).ready, false);
  assert.equal(proxyAcceptance(withStatus(valid(2))).ready, true);
});
