import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { advanceCanary, maxWeight, nextStepWeight, promotionShift } from '../../workflows/weights.ts';
import type { Routes } from '../../api/ports.ts';

function walk(spec: Parameters<typeof advanceCanary>[0]): string[] {
  let r: Routes = { primary: 100, canary: 0, mirrored: false };
  const out: string[] = [];
  for (let i = 0; i < 20 && r.canary < maxWeight(spec); i++) {
    r = advanceCanary(spec, r);
    out.push(`${r.primary}/${r.canary}${r.mirrored ? 'm' : ''}`);
  }
  return out;
}

describe('canary weights', () => {
  it('maxWeight: last stepWeights entry clamped to 100, else maxWeight, else 100', () => {
    assert.equal(maxWeight({ stepWeights: [1, 2, 10, 80] }), 80);
    assert.equal(maxWeight({ stepWeights: [1, 2, 10, 200] }), 100);
    assert.equal(maxWeight({ stepWeight: 10, maxWeight: 50 }), 50);
    assert.equal(maxWeight({ stepWeight: 10 }), 100);
  });

  it('stepWeight 10 / maxWeight 50', () => {
    assert.deepEqual(walk({ stepWeight: 10, maxWeight: 50, mirror: false }), [
      '90/10',
      '80/20',
      '70/30',
      '60/40',
      '50/50',
    ]);
  });

  it('stepWeight overshoot: the last step clamps to maxWeight', () => {
    assert.deepEqual(walk({ stepWeight: 20, maxWeight: 50, mirror: false }), ['80/20', '60/40', '50/50']);
  });

  it('stepWeights [1,2,10,80] and overflow [1,2,10,200]', () => {
    assert.deepEqual(walk({ stepWeights: [1, 2, 10, 80], mirror: false }), ['99/1', '98/2', '90/10', '20/80']);
    assert.deepEqual(walk({ stepWeights: [1, 2, 10, 200], mirror: false }), ['99/1', '98/2', '90/10', '0/100']);
  });

  it('nextStepWeight at 100 is 1 (only promotion is left)', () => {
    assert.equal(nextStepWeight({ stepWeights: [50, 100] }, 100), 1);
    assert.equal(nextStepWeight({ stepWeights: [5, 50] }, 7), 93);
  });

  it('mirror pre-step: mirrored at weight 0, then the first real step', () => {
    assert.deepEqual(walk({ stepWeight: 25, maxWeight: 50, mirror: true }), ['100/0m', '75/25', '50/50']);
  });

  it('promotion shift by stepWeightPromotion, clamped, and all at once without it', () => {
    const at50: Routes = { primary: 50, canary: 50, mirrored: false };
    assert.deepEqual(promotionShift(20, at50), { primary: 70, canary: 30, mirrored: false });
    assert.deepEqual(promotionShift(20, { primary: 90, canary: 10, mirrored: false }), {
      primary: 100,
      canary: 0,
      mirrored: false,
    });
    assert.deepEqual(promotionShift(undefined, at50), { primary: 100, canary: 0, mirrored: false });
  });
});
