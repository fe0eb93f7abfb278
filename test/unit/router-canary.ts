// What the router unit tests share: the Canary of Flagger's router tests (podinfo in `default`), parsed for a
// provider, and the check that a provider ignores mirroring and A/B matches with a warning.
import assert from 'node:assert/strict';
import { deriveStrategy, parseCanary } from '../../api/validate.ts';
import type { Canary } from '../../api/canary.ts';

type Fields = Record<string, unknown>;

/**
 * Parses Flagger's router test Canary (podinfo → Deployment podinfo, analysis every 1m, threshold 5, steps of 10
 * up to 50) for `provider`: `fields` (refs, service) beside the targetRef, `analysis` over the defaults, `spec`
 * over the whole spec (an `undefined` drops a field).
 */
export function parseTestCanary(provider: string, fields: Fields, analysis: Fields = {}, spec: Fields = {}) {
  return parseCanary({
    apiVersion: 'flagger.app/v1beta1',
    kind: 'Canary',
    metadata: { name: 'podinfo', namespace: 'default' },
    spec: {
      provider,
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' },
      ...fields,
      analysis: { interval: '1m', threshold: 5, stepWeight: 10, maxWeight: 50, ...analysis },
      ...spec,
    },
  });
}

/** The Canary of a parse that must succeed; throws the errors otherwise. */
export function validCanary(parsed: ReturnType<typeof parseCanary>): Canary {
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.canary;
}

/**
 * `canary(analysis)` parses with a mirroring analysis to a Canary that does not mirror and warns so, and with an
 * A/B analysis (2 iterations, a header match) to one that warns that all traffic goes to the canary (Flagger's
 * provider ignores both).
 */
export function assertMirrorAndMatchIgnored(
  provider: string,
  canary: (analysis: Fields) => ReturnType<typeof parseCanary>,
): void {
  const mirror = canary({ mirror: true });
  assert.ok(mirror.ok);
  assert.equal(deriveStrategy(mirror.canary.spec).mirrored, false);
  assert.deepEqual(mirror.warnings, [`analysis.mirror is ignored for the ${provider} provider`]);
  const ab = canary({
    stepWeight: undefined,
    maxWeight: undefined,
    iterations: 2,
    match: [{ headers: { x: { exact: 'y' } } }],
  });
  assert.ok(ab.ok);
  assert.deepEqual(ab.warnings, [
    `A/B testing match conditions are ignored by the ${provider} provider: all traffic goes to the canary`,
  ]);
}
