// Pure SMI TrafficSplit builders, compared with what Flagger's smi routers write (pkg/router/smi*_test.go), and
// the provider → version mapping of Flagger's router factory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCanary } from '../../api/validate.ts';
import type { Canary } from '../../api/canary.ts';
import { buildTrafficSplit, quantityInt, readSplit, splitMatches } from '../../activities/routers/trafficsplit.ts';
import type { TrafficSplit } from '../../activities/routers/trafficsplit.ts';
import { deriveStrategy } from '../../api/validate.ts';
import { canonicalProvider } from '../../api/canary.ts';

function canary(spec: Record<string, unknown> = {}, analysis: Record<string, unknown> = {}): Canary {
  const parsed = parseCanary({
    apiVersion: 'flagger.app/v1beta1',
    kind: 'Canary',
    metadata: { name: 'podinfo', namespace: 'test', uid: 'uid-1' },
    spec: {
      provider: 'linkerd',
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' },
      service: { port: 9898 },
      analysis: { interval: '1m', threshold: 5, stepWeight: 10, maxWeight: 50, ...analysis },
      ...spec,
    },
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.canary;
}

test('a mesh suffix (smi:<version>:<mesh>, valid only on the default-provider flag) is dropped, junk kept', () => {
  assert.equal(canonicalProvider('smi:v1alpha3:linkerd'), 'smi:v1alpha3');
  for (const junk of ['smi', 'smi:v1alpha4:linkerd', 'smi:v1alpha3:', 'smi:v1alpha3:Bad_Mesh', 'istio'])
    assert.equal(canonicalProvider(junk), junk, junk);
});

test('v1alpha1 (linkerd): apex name and service, canary then primary, weights as quantity strings', () => {
  const split = buildTrafficSplit({ canary: canary(), version: 'v1alpha1', routes: { primary: 100, canary: 0 } });
  assert.deepEqual(split, {
    apiVersion: 'split.smi-spec.io/v1alpha1',
    kind: 'TrafficSplit',
    metadata: { name: 'podinfo', namespace: 'test' },
    spec: {
      service: 'podinfo',
      backends: [
        { service: 'podinfo-canary', weight: '0' },
        { service: 'podinfo-primary', weight: '100' },
      ],
    },
  });
  // Flagger's SetRoutes test: 50/50 reads back as 50/50, never mirrored.
  const half = buildTrafficSplit({ canary: canary(), version: 'v1alpha1', routes: { primary: 50, canary: 50 } });
  assert.deepEqual(readSplit(half, canary()), { primary: 50, canary: 50, mirrored: false });
});

test('v1alpha2 and v1alpha3: integer weights, no matches; service.name renames the split and its service', () => {
  const owner = { apiVersion: 'flagger.app/v1beta1', kind: 'Canary', name: 'podinfo', uid: 'uid-1', controller: true };
  for (const version of ['v1alpha2', 'v1alpha3'] as const) {
    const c = canary({ service: { port: 9898, name: 'test' } });
    const split = buildTrafficSplit({ canary: c, version, routes: { primary: 70, canary: 30 }, owner });
    assert.equal(split.apiVersion, `split.smi-spec.io/${version}`);
    assert.deepEqual(split.metadata, { name: 'test', namespace: 'test', ownerReferences: [owner] });
    assert.deepEqual(split.spec, {
      service: 'test',
      backends: [
        { service: 'test-canary', weight: 30 },
        { service: 'test-primary', weight: 70 },
      ],
    });
  }
});

test('service.hosts[0] becomes the split service (Flagger: host = hosts[0] else the apex name)', () => {
  const c = canary({ service: { port: 9898, hosts: ['podinfo.test.svc.cluster.local', 'other'] } });
  const split = buildTrafficSplit({ canary: c, version: 'v1alpha2', routes: { primary: 100, canary: 0 } });
  assert.equal(split.spec.service, 'podinfo.test.svc.cluster.local');
});

test('reading weights back: quantities as Flagger AsInt64 reads them, and an empty split has no routes', () => {
  assert.deepEqual(
    [quantityInt('100'), quantityInt(40), quantityInt('1k'), quantityInt('2000m'), quantityInt('500m')],
    [100, 40, 1000, 2, 0],
  );
  assert.equal(quantityInt('ten'), 0);
  const empty: TrafficSplit = {
    apiVersion: 'split.smi-spec.io/v1alpha2',
    kind: 'TrafficSplit',
    metadata: { name: 'podinfo', namespace: 'test' },
    spec: { service: 'podinfo', backends: [{ service: 'other', weight: 100 }] },
  };
  assert.equal(readSplit(empty, canary()), undefined);
});

test('reconcile keeps the weights of a split that routes the canary and primary Services, resets any other', () => {
  const c = canary();
  const split = buildTrafficSplit({ canary: c, version: 'v1alpha3', routes: { primary: 60, canary: 40 } });
  assert.ok(splitMatches(split, c));
  assert.ok(splitMatches({ ...split, spec: { ...split.spec, service: 'podinfo.test.svc' } }, c), 'a hosts edit');
  assert.ok(splitMatches({ ...split, spec: { ...split.spec, backends: [...split.spec.backends].reverse() } }, c));
  const foreign = [{ service: 'podinfo-v1', weight: 100 }];
  assert.ok(!splitMatches({ ...split, spec: { ...split.spec, backends: foreign } }, c));
  assert.ok(!splitMatches({ ...split, spec: { ...split.spec, backends: [...split.spec.backends, ...foreign] } }, c));
});

test('SMI cannot mirror, and A/B testing match conditions are ignored with a warning', () => {
  const mirrored = deriveStrategy(canary({}, { mirror: true }).spec);
  assert.equal(mirrored.mirrored, false);
  assert.deepEqual(mirrored.warnings, ['analysis.mirror is ignored for the linkerd provider']);
  const ab = deriveStrategy(
    canary(
      { provider: 'smi:v1alpha3' },
      { stepWeight: undefined, maxWeight: undefined, iterations: 3, match: [{ headers: { x: { exact: '1' } } }] },
    ).spec,
  );
  assert.equal(ab.strategy, 'ab-testing');
  assert.match(ab.warnings.join(), /match conditions are ignored by the smi:v1alpha3 provider/);
});

test('the worker default provider may carry a mesh suffix (Flagger -mesh-provider smi:v1alpha2:linkerd)', () => {
  const raw = {
    apiVersion: 'flagger.app/v1beta1',
    kind: 'Canary',
    metadata: { name: 'podinfo', namespace: 'test' },
    spec: {
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' },
      service: { port: 9898 },
      analysis: { interval: '1m', threshold: 5, stepWeight: 10 },
    },
  };
  const r = parseCanary(raw, { defaultProvider: 'smi:v1alpha2:linkerd' as never });
  assert.ok(r.ok);
  assert.equal(r.canary.spec.provider, 'smi:v1alpha2');
  const inSpec = parseCanary({ ...raw, spec: { ...raw.spec, provider: 'smi:v1alpha2:linkerd' } });
  assert.ok(!inSpec.ok, "Flagger's Canary CRD enum has no suffixed names");
});
