// Pure builders of the apisix router (the <route>-<svc>-canary ApisixRoute), checked against what Flagger v1.44's
// pkg/router/apisix_test.go expects of the object it writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertMirrorAndMatchIgnored, parseTestCanary, validCanary } from './router-canary.ts';
import type { Canary } from '../../api/canary.ts';
import { RouteSpecError } from '../../activities/routers/httproute.ts';
import {
  buildCanaryApisixRoute,
  routesOfApisixRoute,
  type ApisixRoute,
} from '../../activities/routers/apisix-route.ts';

function canary(analysis: Record<string, unknown> = {}, spec: Record<string, unknown> = {}) {
  const fields = {
    routeRef: { apiVersion: 'apisix.apache.org/v2', kind: 'ApisixRoute', name: 'podinfo' },
    service: { port: 80, targetPort: 9898 },
  };
  return parseTestCanary('apisix', fields, analysis, spec);
}

function parsed(): Canary {
  return validCanary(canary());
}

/** Flagger's newTestApisixRoute (the tutorial's route), behind another HTTP route and with a stream route. */
function userRoute(): ApisixRoute {
  return {
    apiVersion: 'apisix.apache.org/v2',
    kind: 'ApisixRoute',
    metadata: {
      name: 'podinfo',
      namespace: 'default',
      labels: { app: 'podinfo' },
      annotations: { team: 'a', 'kubectl.kubernetes.io/last-applied-configuration': '{}' },
    },
    spec: {
      http: [
        { name: 'other', match: { paths: ['/other'] }, backends: [{ serviceName: 'other', servicePort: 80 }] },
        {
          name: 'method',
          match: { hosts: ['app.example.com'], methods: ['GET'], paths: ['/*'] },
          plugins: [{ name: 'prometheus', enable: true, config: { disable: false, prefer_name: true } }],
          backends: [{ serviceName: 'podinfo', servicePort: 80, resolveGranularity: 'service', subset: 'v1' }],
        },
      ],
      stream: [{ name: 'tcp', protocol: 'TCP', match: { ingressPort: 9100 }, backend: { serviceName: 'x' } }],
    },
  };
}

test('apisix: the copy holds the apex HTTP route at priority 10000 with primary and canary backends', () => {
  const route = buildCanaryApisixRoute({ canary: parsed(), route: userRoute(), primaryWeight: 100, canaryWeight: 0 });
  assert.equal(route.metadata.name, 'podinfo-podinfo-canary');
  assert.deepEqual(route.metadata.labels, { app: 'podinfo' });
  assert.deepEqual(route.metadata.annotations, { team: 'a', 'fledge.app/canary': 'podinfo' });
  assert.deepEqual(route.spec?.http, [
    {
      name: 'method',
      priority: 10000,
      match: { hosts: ['app.example.com'], methods: ['GET'], paths: ['/*'] },
      plugins: [{ name: 'prometheus', enable: true, config: { disable: false, prefer_name: true } }],
      backends: [
        { serviceName: 'podinfo-primary', servicePort: 80, resolveGranularity: 'service', subset: 'v1', weight: 100 },
        { serviceName: 'podinfo-canary', servicePort: 80, resolveGranularity: 'service', subset: 'v1', weight: 0 },
      ],
    },
  ]);
  assert.deepEqual(route.spec?.stream, userRoute().spec?.stream);
  // the user's object is not changed by building its copy
  assert.equal(userRoute().spec?.http?.[1]?.backends?.[0]?.serviceName, 'podinfo');
});

test('apisix: weights round-trip, canary = 100 - primary (Flagger TestApisixRouter_GetSetRoutes)', () => {
  const c = parsed();
  for (const [primary, weight] of [
    [100, 0],
    [50, 50],
    [0, 100],
  ] as const) {
    const route = buildCanaryApisixRoute({
      canary: c,
      route: userRoute(),
      primaryWeight: primary,
      canaryWeight: weight,
    });
    assert.deepEqual(routesOfApisixRoute(c, route), { primary, canary: weight, mirrored: false });
  }
  assert.throws(
    () => buildCanaryApisixRoute({ canary: c, route: userRoute(), primaryWeight: 0, canaryWeight: 0 }),
    /no valid weights/,
  );
});

test('apisix: empty http, no apex backend, two backends, a weightless copy and no routeRef are spec errors', () => {
  const c = parsed();
  const build = (route: ApisixRoute) => () =>
    buildCanaryApisixRoute({ canary: c, route, primaryWeight: 100, canaryWeight: 0 });
  const empty = { ...userRoute(), spec: { http: [] } };
  assert.throws(build(empty), (e: unknown) => e instanceof RouteSpecError && /spec.http is empty/.test(e.message));
  const noApex = userRoute();
  noApex.spec!.http!.splice(1, 1);
  assert.throws(
    build(noApex),
    (e: unknown) => e instanceof RouteSpecError && /Can not find podinfo backend/.test(e.message),
  );
  const two = userRoute();
  two.spec!.http![1]!.backends!.push({ serviceName: 'extra', servicePort: 80 });
  assert.throws(build(two), /http route method only one http backend is supported/);
  const weightless = build(userRoute())();
  delete weightless.spec!.http![0]!.backends![0]!.weight;
  assert.throws(() => routesOfApisixRoute(c, weightless), RouteSpecError);
  const none = canary({}, { routeRef: undefined });
  assert.equal(none.ok, false);
  assert.match(JSON.stringify(!none.ok && none.errors), /routeRef.*is required with provider apisix/);
});

test('apisix: mirroring and A/B match conditions are ignored with a warning', () => {
  assertMirrorAndMatchIgnored('apisix', canary);
});
