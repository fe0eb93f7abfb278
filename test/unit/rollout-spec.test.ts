import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseCanary } from '../../api/validate.ts';
import { toRolloutSpec } from '../../workflows/spec-from-canary.ts';
import { hooksOfType, strategyOf } from '../../workflows/spec.ts';

function spec(provider: string | undefined, analysis: Record<string, unknown>) {
  const parsed = parseCanary({
    metadata: { name: 'podinfo', namespace: 'test' },
    spec: {
      ...(provider ? { provider } : {}),
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' },
      service: { port: 80, gatewayRefs: [{ name: 'gw' }] },
      analysis,
    },
  });
  assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.errors));
  return toRolloutSpec(parsed.canary);
}

describe('toRolloutSpec', () => {
  it('canary with defaults: interval in ms without a floor, threshold at least 1, deadline 600 s', () => {
    const s = spec('gatewayapi:v1', { interval: '500ms', threshold: 0, stepWeight: 10 });
    assert.equal(s.analysis.intervalMs, 500);
    assert.equal(s.analysis.threshold, 1);
    assert.equal(s.progressDeadlineSeconds, 600);
    assert.equal(strategyOf(s), 'canary');
  });

  it('A/B testing needs match and iterations; blue/green iterations only', () => {
    const ab = spec('gatewayapi:v1', {
      interval: '1m',
      threshold: 1,
      iterations: 5,
      match: [{ headers: { a: { exact: 'b' } } }],
    });
    assert.equal(strategyOf(ab), 'ab');
    assert.equal(strategyOf(spec('gatewayapi:v1', { interval: '1m', threshold: 1, iterations: 5 })), 'blue-green');
  });

  it('the kubernetes provider forces blue/green with 10 iterations and no mirroring', () => {
    const s = spec('kubernetes', { interval: '1m', threshold: 1, stepWeight: 10, mirror: true });
    assert.equal(strategyOf(s), 'blue-green');
    assert.equal(s.analysis.iterations, 10);
    assert.equal(s.analysis.mirror, false);
  });

  it('webhooks keep their type (an empty type is a rollout hook)', () => {
    const s = spec('gatewayapi:v1', {
      interval: '1m',
      threshold: 1,
      stepWeight: 10,
      webhooks: [
        { name: 'load', url: 'http://load/' },
        { name: 'gate', type: 'confirm-promotion', url: 'http://gate/', muteAlert: true },
      ],
    });
    assert.deepEqual(
      hooksOfType(s, 'rollout').map((h) => h.name),
      ['load'],
    );
    assert.equal(hooksOfType(s, 'confirm-promotion')[0]?.muteAlert, true);
  });

  it('webhooks hold no URL and no metadata (the spec lands in workflow history), only a digest of the URL', () => {
    const hook = (url: string) => ({ name: 'load', url, metadata: { apiKey: 'k-123' } });
    const a = spec('gatewayapi:v1', {
      interval: '1m',
      threshold: 1,
      stepWeight: 10,
      webhooks: [hook('http://x/?t=1')],
    });
    const b = spec('gatewayapi:v1', {
      interval: '1m',
      threshold: 1,
      stepWeight: 10,
      webhooks: [hook('http://x/?t=2')],
    });
    const text = JSON.stringify(a);
    assert.ok(!text.includes('t=1') && !text.includes('k-123') && !text.includes('http://x'), text);
    assert.deepEqual(Object.keys(a.analysis.webhooks[0]!).sort(), ['muteAlert', 'name', 'type', 'urlDigest']);
    assert.match(a.analysis.webhooks[0]!.urlDigest, /^[0-9a-f]{16}$/);
    assert.notEqual(
      a.analysis.webhooks[0]!.urlDigest,
      b.analysis.webhooks[0]!.urlDigest,
      'an edited URL is a new spec',
    );
  });
});
