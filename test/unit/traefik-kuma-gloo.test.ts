// Pure builders of the traefik, kuma and gloo routers, checked against what Flagger v1.44's pkg/router/
// traefik_test.go, kuma_test.go and gloo_test.go expect of the objects they write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveStrategy } from '../../api/validate.ts';
import { parseTestCanary, validCanary } from './router-canary.ts';
import type { Canary } from '../../api/canary.ts';
import { RouteSpecError } from '../../activities/routers/httproute.ts';
import {
  buildTraefikService,
  routesOfTraefikService,
  type TraefikService,
} from '../../activities/routers/traefikservice.ts';
import {
  buildTrafficRoute,
  meshOf,
  routesOfTrafficRoute,
  type TrafficRoute,
} from '../../activities/routers/trafficroute.ts';
import {
  buildRouteTable,
  buildUpstream,
  matchers,
  routesOfRouteTable,
  type RouteTable,
} from '../../activities/routers/gloo-objects.ts';

type Over = { service?: Record<string, unknown>; analysis?: Record<string, unknown>; spec?: Record<string, unknown> };

function canary(provider: string, over: Over = {}): Canary {
  return validCanary(parseTestCanary(provider, { service: { port: 9898, ...over.service } }, over.analysis, over.spec));
}

const owner = {
  apiVersion: 'flagger.app/v1beta1',
  kind: 'Canary',
  name: 'podinfo',
  uid: 'u-1',
  controller: true,
  blockOwnerDeletion: true,
};

test('traefik: a new TraefikService sends everything to the primary, with apex metadata, Flux opt-outs and owner', () => {
  const c = canary('traefik', { service: { apex: { labels: { a: 'b' }, annotations: { x: 'y' } } } });
  const ts = buildTraefikService({ canary: c, routes: { primary: 100, canary: 0, mirrored: false }, owner });
  assert.deepEqual(ts, {
    apiVersion: 'traefik.io/v1alpha1',
    kind: 'TraefikService',
    metadata: {
      name: 'podinfo',
      namespace: 'default',
      labels: { a: 'b' },
      annotations: {
        x: 'y',
        'kustomize.toolkit.fluxcd.io/reconcile': 'disabled',
        'helm.toolkit.fluxcd.io/driftDetection': 'disabled',
        'fledge.app/canary': 'podinfo',
      },
      ownerReferences: [owner],
    },
    spec: { weighted: { services: [{ name: 'podinfo-primary', namespace: 'default', port: 9898, weight: 100 }] } },
  });
});

test('traefik: weights of both services; a primary at 0 keeps its explicit weight; mirroring is ignored', () => {
  const c = canary('traefik');
  const split = buildTraefikService({ canary: c, routes: { primary: 60, canary: 40, mirrored: true } });
  assert.deepEqual(split.spec.weighted?.services, [
    { name: 'podinfo-primary', namespace: 'default', port: 9898, weight: 60 },
    { name: 'podinfo-canary', namespace: 'default', port: 9898, weight: 40 },
  ]);
  assert.deepEqual(routesOfTraefikService(split, c), { primary: 60, canary: 40, mirrored: false });
  const all = buildTraefikService({ canary: c, routes: { primary: 0, canary: 100, mirrored: false } });
  assert.deepEqual(
    all.spec.weighted?.services?.map((s) => [s.name, s.weight]),
    [
      ['podinfo-primary', 0],
      ['podinfo-canary', 100],
    ],
  );
  assert.deepEqual(routesOfTraefikService(all, c), { primary: 0, canary: 100, mirrored: false });
  assert.throws(
    () => buildTraefikService({ canary: c, routes: { primary: 0, canary: 0, mirrored: false } }),
    (e: unknown) => e instanceof RouteSpecError && e.message.includes('no valid weights'),
  );
});

test('traefik: a TraefikService without the primary routes nothing fledge knows', () => {
  const c = canary('traefik');
  const other: TraefikService = {
    apiVersion: 'traefik.io/v1alpha1',
    kind: 'TraefikService',
    metadata: { name: 'podinfo' },
    spec: { weighted: { services: [{ name: 'legacy', namespace: 'default', port: 80, weight: 1 }] } },
  };
  assert.equal(routesOfTraefikService(other, c), undefined);
});

test('kuma: the TrafficRoute routes every source to the apex Kuma service, split primary/canary, in the annotated mesh', () => {
  const c = canary('kuma', {
    service: { apex: { labels: { a: 'b' }, annotations: { '9898.service.kuma.io/protocol': 'http' } } },
  });
  (c.metadata as { annotations?: Record<string, string> }).annotations = { 'kuma.io/mesh': 'mesh-a' };
  const route = buildTrafficRoute({ canary: c, routes: { primary: 70, canary: 30, mirrored: true } });
  assert.deepEqual(route, {
    apiVersion: 'kuma.io/v1alpha1',
    kind: 'TrafficRoute',
    metadata: {
      name: 'podinfo',
      labels: { a: 'b' },
      annotations: {
        '9898.service.kuma.io/protocol': 'http',
        'kustomize.toolkit.fluxcd.io/reconcile': 'disabled',
        'helm.toolkit.fluxcd.io/driftDetection': 'disabled',
        'fledge.app/canary': 'default/podinfo',
      },
    },
    mesh: 'mesh-a',
    spec: {
      sources: [{ match: { 'kuma.io/service': '*' } }],
      destinations: [{ match: { 'kuma.io/service': 'podinfo_default_svc_9898' } }],
      conf: {
        split: [
          { weight: 70, destination: { 'kuma.io/service': 'podinfo-primary_default_svc_9898' } },
          { weight: 30, destination: { 'kuma.io/service': 'podinfo-canary_default_svc_9898' } },
        ],
      },
    },
  });
  assert.deepEqual(routesOfTrafficRoute(route, c), { primary: 70, canary: 30, mirrored: false });
});

test('kuma: mesh defaults to `default`, a stored mesh is kept, a taken-over route is marked adopted', () => {
  const c = canary('kuma');
  const routes = { primary: 100, canary: 0, mirrored: false };
  assert.equal(meshOf(c), 'default');
  assert.equal(buildTrafficRoute({ canary: c, routes }).mesh, 'default');
  const kept = buildTrafficRoute({ canary: c, routes, mesh: 'mesh-b', adopted: true });
  assert.equal(kept.mesh, 'mesh-b');
  assert.equal(kept.metadata.annotations?.['fledge.app/adopted'], 'true');
  assert.throws(
    () => buildTrafficRoute({ canary: c, routes: { primary: 0, canary: 0, mirrored: false } }),
    (e: unknown) => e instanceof RouteSpecError && e.message.includes('no valid weights'),
  );
  const foreign: TrafficRoute = {
    ...kept,
    spec: { conf: { split: [{ weight: 1, destination: { 'kuma.io/service': 'x_default_svc_80' } }] } },
  };
  assert.equal(routesOfTrafficRoute(foreign, c), undefined);
});

test('gloo: Upstreams on the primary and canary Services, with the upstreamRef settings copied', () => {
  const c = canary('gloo');
  const template = {
    kube: { serviceName: 'other', serviceNamespace: 'x', servicePort: 1 },
    labels: { tier: 'web' },
    sslConfig: { sni: 'podinfo.example.com' },
    loadBalancerConfig: { roundRobin: {} },
    discoveryMetadata: { labels: { ignored: 'yes' } },
  };
  const up = buildUpstream({ canary: c, role: 'canary', selector: { app: 'podinfo' }, template, owner });
  assert.deepEqual(up, {
    apiVersion: 'gloo.solo.io/v1',
    kind: 'Upstream',
    metadata: {
      name: 'default-podinfo-canaryupstream-9898',
      namespace: 'default',
      annotations: { 'fledge.app/canary': 'podinfo' },
      ownerReferences: [owner],
    },
    spec: {
      labels: { tier: 'web' },
      sslConfig: { sni: 'podinfo.example.com' },
      loadBalancerConfig: { roundRobin: {} },
      kube: {
        serviceName: 'podinfo-canary',
        serviceNamespace: 'default',
        servicePort: 9898,
        selector: { app: 'podinfo' },
      },
    },
  });
  assert.deepEqual(buildUpstream({ canary: c, role: 'primary' }).spec, {
    kube: { serviceName: 'podinfo-primary', serviceNamespace: 'default', servicePort: 9898 },
  });
});

test('gloo: the RouteTable weights both Upstreams (0 left out), inherits path matchers, reads back', () => {
  const c = canary('gloo', { service: { apex: { labels: { a: 'b' } } } });
  const table = buildRouteTable({ canary: c, routes: { primary: 100, canary: 0, mirrored: true }, owner });
  assert.deepEqual(table.metadata.labels, { a: 'b' });
  assert.equal(table.metadata.annotations?.['kustomize.toolkit.fluxcd.io/reconcile'], 'disabled');
  assert.deepEqual(table.metadata.ownerReferences, [owner]);
  assert.deepEqual(table.spec, {
    routes: [
      {
        routeAction: {
          multi: {
            destinations: [
              {
                destination: { upstream: { name: 'default-podinfo-primaryupstream-9898', namespace: 'default' } },
                weight: 100,
              },
              { destination: { upstream: { name: 'default-podinfo-canaryupstream-9898', namespace: 'default' } } },
            ],
          },
        },
        inheritablePathMatchers: true,
      },
    ],
  });
  assert.deepEqual(routesOfRouteTable(table, c), { primary: 100, canary: 0, mirrored: false });
  const split = buildRouteTable({ canary: c, routes: { primary: 0, canary: 100, mirrored: false } });
  assert.deepEqual(routesOfRouteTable(split, c), { primary: 0, canary: 100, mirrored: false });
  assert.throws(
    () => buildRouteTable({ canary: c, routes: { primary: 0, canary: 0, mirrored: false } }),
    (e: unknown) => e instanceof RouteSpecError && e.message.includes('no valid weights'),
  );
  const one: RouteTable = { ...split, spec: { routes: [{ routeAction: { multi: { destinations: [] } } }] } };
  assert.equal(routesOfRouteTable(one, c), undefined);
});

test('gloo: A/B matchers from analysis.match headers (exact, regex) and methods, as Flagger writes them', () => {
  const c = canary('gloo', {
    analysis: {
      stepWeight: undefined,
      maxWeight: undefined,
      iterations: 10,
      match: [
        { headers: { 'x-canary': { exact: 'insider' } } },
        { headers: { cookie: { regex: '^(.*?;)?(canary=always)(;.*)?$' } } },
        { method: { exact: 'POST' } },
      ],
    },
  });
  assert.deepEqual(matchers(c), [
    {
      headers: [
        { name: 'x-canary', value: 'insider' },
        { name: 'cookie', value: '^(.*?;)?(canary=always)(;.*)?$', regex: true },
      ],
      methods: ['POST'],
    },
  ]);
  assert.equal(matchers(canary('gloo')), undefined);
});

test('gloo, kuma and traefik ignore analysis.mirror with a warning; only gloo keeps A/B matches', () => {
  for (const provider of ['gloo', 'kuma', 'traefik']) {
    const c = canary(provider, { analysis: { mirror: true } });
    assert.deepEqual(deriveStrategy(c.spec).warnings, [`analysis.mirror is ignored for the ${provider} provider`]);
  }
  const ab = canary('gloo', {
    analysis: { stepWeight: undefined, maxWeight: undefined, iterations: 5, match: [{ method: { exact: 'GET' } }] },
  });
  assert.deepEqual(deriveStrategy(ab.spec).warnings, []);
});
