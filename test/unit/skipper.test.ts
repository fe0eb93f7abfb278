// Pure builders of the skipper router (the <ingress>-canary Ingress), checked against what Flagger v1.44's
// pkg/router/skipper_test.go expects of the object it writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertMirrorAndMatchIgnored, parseTestCanary, validCanary } from './router-canary.ts';
import type { Canary } from '../../api/canary.ts';
import type { Ingress } from '../../activities/routers/ingress.ts';
import { RouteSpecError } from '../../activities/routers/httproute.ts';
import { flaggerTestIngress } from '../user-ingress.ts';
import {
  buildSkipperIngress,
  insertPredicate,
  isDisabled,
  routesOfSkipperIngress,
} from '../../activities/routers/skipper-ingress.ts';

function canary(analysis: Record<string, unknown> = {}, spec: Record<string, unknown> = {}) {
  const fields = {
    ingressRef: { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', name: 'podinfo' },
    service: { port: 80, targetPort: 9898 },
  };
  return parseTestCanary('skipper', fields, analysis, spec);
}

function parsed(analysis: Record<string, unknown> = {}): Canary {
  return validCanary(canary(analysis));
}

/** Flagger's newTestIngress: app.example.com → podinfo:9898, with a user predicate and another backend. */
function userIngress(): Ingress {
  return flaggerTestIngress('skipper', { 'zalando.org/skipper-predicate': 'Method("GET") && Weight(100)' });
}

test('skipper: the copy splits the apex path into primary and canary (Flagger TestSkipperRouter_Reconcile)', () => {
  const ing = buildSkipperIngress({
    canary: parsed(),
    ingress: userIngress(),
    primaryWeight: 100,
    canaryWeight: 0,
    disabled: false,
  });
  assert.equal(ing.metadata.name, 'podinfo-canary');
  assert.deepEqual(ing.metadata.labels, { app: 'podinfo' });
  const paths = ing.spec?.rules?.[0]?.http?.paths ?? [];
  assert.deepEqual(
    paths.map((p) => [p.path, p.backend.service?.name, p.backend.service?.port?.number]),
    [
      ['/', 'podinfo-primary', 9898],
      ['/other', 'other', 80],
      ['/', 'podinfo-canary', 9898],
    ],
  );
  assert.deepEqual(ing.metadata.annotations, {
    'kubernetes.io/ingress.class': 'skipper',
    'zalando.org/skipper-predicate': 'Weight(100) && Method("GET")',
    'zalando.org/backend-weights': '{"podinfo-canary":0,"podinfo-primary":100}',
    'kustomize.toolkit.fluxcd.io/reconcile': 'disabled',
    'helm.toolkit.fluxcd.io/driftDetection': 'disabled',
    'fledge.app/canary': 'podinfo',
  });
  assert.equal(isDisabled(ing), false);
  // the user's object is not changed by building its copy
  assert.equal(userIngress().spec?.rules?.[0]?.http?.paths.length, 2);
});

test('skipper: weights round-trip; disabled puts False() first (Flagger TestSkipperRouter_GetSetRoutes)', () => {
  const c = parsed();
  for (const [primary, weight] of [
    [100, 0],
    [90, 10],
    [15, 85],
    [0, 100],
  ] as const) {
    const ing = buildSkipperIngress({
      canary: c,
      ingress: userIngress(),
      primaryWeight: primary,
      canaryWeight: weight,
      disabled: weight === 0,
    });
    assert.deepEqual(routesOfSkipperIngress(c, ing), { primary, canary: weight, mirrored: false });
    assert.equal(
      ing.metadata.annotations?.['zalando.org/skipper-predicate'],
      weight === 0 ? 'False() && Method("GET")' : 'Weight(100) && Method("GET")',
    );
    assert.equal(isDisabled(ing), weight === 0);
  }
});

test('skipper: insertPredicate (Flagger Test_insertPredicate)', () => {
  const host = 'Host(/^my-host-header\\.example\\.org$/) && Method("GET") && Path("/hello")';
  assert.equal(insertPredicate(host, 'Weight(100)'), `Weight(100) && ${host}`);
  assert.equal(insertPredicate('', 'Weight(100)'), 'Weight(100)');
  assert.equal(insertPredicate(undefined, 'False()'), 'False()');
  assert.equal(insertPredicate(`Weight(100) && ${host}`, 'Weight(100)'), `Weight(100) && ${host}`);
  assert.equal(insertPredicate(`Weight(100) && ${host}`, 'False()'), `False() && ${host}`);
  assert.equal(insertPredicate(`False() &&   ${host} && `, 'Weight(100)'), `Weight(100) && ${host}`);
});

test('skipper: a missing apex backend, bad weights and a missing ingressRef are spec errors', () => {
  const c = parsed();
  const ing = userIngress();
  ing.spec!.rules![0]!.http!.paths[0]!.backend.service!.name = 'elsewhere';
  assert.throws(
    () => buildSkipperIngress({ canary: c, ingress: ing, primaryWeight: 100, canaryWeight: 0, disabled: false }),
    (e: unknown) => e instanceof RouteSpecError && /backend podinfo not found in ingress podinfo/.test(e.message),
  );
  const stored = (weights: string | undefined): Ingress => ({
    ...userIngress(),
    metadata: { name: 'podinfo-canary', annotations: weights ? { 'zalando.org/backend-weights': weights } : {} },
  });
  for (const bad of [undefined, 'not json', '{"podinfo-primary":100}', '{"podinfo-primary":99.5,"podinfo-canary":0.5}'])
    assert.throws(() => routesOfSkipperIngress(c, stored(bad)), RouteSpecError, String(bad));
  const none = canary({}, { ingressRef: undefined });
  assert.equal(none.ok, false);
  assert.match(JSON.stringify(!none.ok && none.errors), /ingressRef.*is required with provider skipper/);
});

test('skipper: mirroring and A/B match conditions are ignored with a warning', () => {
  assertMirrorAndMatchIgnored('skipper', canary);
});
