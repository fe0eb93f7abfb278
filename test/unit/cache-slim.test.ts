import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KUBECTL_LAST_APPLIED, slimForCache } from '../../worker/cache-slim.ts';

test('slimForCache drops managedFields and the last-applied annotation in place and keeps everything else', () => {
  const o = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'podinfo',
      namespace: 'test',
      resourceVersion: '42',
      annotations: { [KUBECTL_LAST_APPLIED]: '{"big":"copy"}', 'fledge.app/observed': 'rev-1' },
      labels: { app: 'podinfo' },
      managedFields: [{ manager: 'kubectl', operation: 'Apply' as const, fieldsV1: { f: {} } }],
    },
    spec: { replicas: 1 },
  };
  const out = slimForCache(o);
  assert.equal(out, o, 'the cached object itself is slimmed');
  assert.deepEqual(o, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'podinfo',
      namespace: 'test',
      resourceVersion: '42',
      annotations: { 'fledge.app/observed': 'rev-1' },
      labels: { app: 'podinfo' },
    },
    spec: { replicas: 1 },
  });
});

test('slimForCache leaves an object without those fields unchanged', () => {
  const o = { metadata: { name: 'a', annotations: { x: 'y' } } };
  assert.deepEqual(slimForCache(structuredClone(o)), o);
  assert.deepEqual(slimForCache({ kind: 'Secret' }), { kind: 'Secret' });
});
