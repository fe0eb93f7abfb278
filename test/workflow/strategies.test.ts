// Rollout strategies end to end on a real Temporal dev server with a scripted world: bootstrap, canary
// (stepWeight/maxWeight, stepWeights, overflow), A/B, blue/green (± mirror), mirror pre-step, skipAnalysis,
// stepWeightPromotion, failed checks, progress deadline, primary not ready during promotion.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { newWorldCanary } from '../scripted/world.ts';
import { NAMESPACE, canaryRaw, metric, routeTrail, runToEnd, seedInitialized, setupEnv, type TestEnv } from './env.ts';

let env: TestEnv;
before(async () => {
  env = await setupEnv('strategies');
});
after(async () => {
  await env?.stop();
});

describe('rollout strategies', { concurrency: true }, () => {
  it('bootstraps a new Canary: primary created, canary scaled to zero, Initialized', async () => {
    const name = 'bootstrap';
    env.world.put(`${NAMESPACE}/${name}`, newWorldCanary({ raw: canaryRaw(name, { stepWeight: 10, maxWeight: 50 }) }));
    const { result, world } = await runToEnd(env, name, {
      revision: { hash: 'rev-1', generation: 1 },
      cause: 'bootstrap',
    });
    assert.equal(result.phase, 'Initialized');
    assert.deepEqual(world.log.phases, ['Initialized']);
    assert.deepEqual(routeTrail(world.log.routes), []);
    assert.deepEqual(world.log.actions, ['initialize-primary', 'scale-canary down']);
    assert.equal(world.status.lastAppliedRevision, 'rev-1');
    assert.ok(world.log.events.some((e) => e.message === `Initialization done! ${name}.${NAMESPACE}`));
  });

  it('canary stepWeight 10 / maxWeight 50 promotes', async () => {
    const name = 'canary-10-50';
    seedInitialized(env, {
      raw: canaryRaw(name, { stepWeight: 10, maxWeight: 50, metrics: [metric('error-rate', 1)] }),
    });
    const { result, world } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(routeTrail(world.log.routes), ['90/10', '80/20', '70/30', '60/40', '50/50', '100/0']);
    assert.deepEqual(world.log.phases, ['Progressing', 'Promoting', 'Finalising', 'Succeeded']);
    assert.deepEqual(world.log.actions, ['scale-canary up', 'promote rev-2', 'scale-canary down']);
  });
});
