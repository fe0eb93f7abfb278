// Intervals separate analyses, nothing else (event-driven-phases): the first weight follows the canary's
// readiness, Finalising and Succeeded follow the primary's rollout, a failed check at the threshold routes all
// traffic to the primary at once. Measured with the scripted world's timestamps (log.timeline), never by sleeping:
// each bound is far below the interval that the old schedule would have waited.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WorldCanary } from '../scripted/world.ts';
import {
  NAMESPACE,
  canaryRaw,
  hook,
  metric,
  routeTrail,
  runToEnd,
  seedInitialized,
  setupEnv,
  startRollout,
  waitUntil,
  type TestEnv,
} from './env.ts';

let env: TestEnv;
before(async () => {
  env = await setupEnv('event-driven');
});
after(async () => {
  await env?.stop();
});

/** World time of the first timeline entry `what` (after `from`, if given); fails when there is none. */
function at(world: WorldCanary, what: string, from = 0): number {
  const entry = world.log.timeline.find((e) => e.what === what && e.at >= from);
  assert.ok(entry, `no "${what}" in the timeline: ${world.log.timeline.map((e) => e.what).join(', ')}`);
  return entry.at;
}

describe('event-driven mechanical phases', { concurrency: true }, () => {
  it('set image → first weight as soon as the canary is ready and the pre-rollout hook passed, not an interval later', async () => {
    const name = 'first-weight';
    const world = seedInitialized(env, {
      raw: canaryRaw(name, { interval: '10s', stepWeight: 20, webhooks: [hook('pre', 'pre-rollout')] }),
      canary: { scaled: 'down', ready: true, readyDelayMs: 1500 },
    });
    const handle = await startRollout(env, name);
    await waitUntil('the first weight', () => world.log.routes.length > 0, 20_000);
    await handle.terminate('test done');
    const scaledUp = at(world, 'scale up');
    const ready = at(world, 'canary ready');
    const preHook = at(world, 'hook pre');
    const firstWeight = at(world, 'routes 80/20');
    // Waited for the canary (1.5 s of pods starting), then the hook, then the weight.
    assert.ok(ready - scaledUp >= 1500, `canary ready ${ready - scaledUp} ms after the scale-up`);
    assert.ok(preHook >= ready && firstWeight >= preHook, 'order: canary ready, pre-rollout hook, first weight');
    // The old schedule set the first weight one interval (10 s) after the scale-up; now it follows the readiness.
    assert.ok(firstWeight - ready < 2000, `first weight ${firstWeight - ready} ms after the canary was ready`);
    assert.ok(firstWeight - scaledUp < 10_000, `scale-up → first weight took ${firstWeight - scaledUp} ms`);
    // Waited on the cluster, not by ticking: no "canary not ready" warning while the pods started.
    assert.deepEqual(
      world.log.events.filter((e) => e.type === 'Warning'),
      [],
    );
  });

  it('Promoting → Finalising → Succeeded follow the primary rollout directly; one analysis per interval', async () => {
    const name = 'promotion';
    const intervalMs = 4000;
    const world = seedInitialized(env, {
      raw: canaryRaw(name, { interval: '4s', stepWeight: 50, maxWeight: 50, metrics: [metric('error-rate', 1)] }),
      primary: { exists: true, ready: true, revision: 'rev-1', readyDelayMs: 1000 },
    });
    const { result } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(routeTrail(world.log.routes), ['50/50', '100/0']);
    assert.deepEqual(world.log.phases, ['Progressing', 'Promoting', 'Finalising', 'Succeeded']);
    const firstWeight = at(world, 'routes 50/50');
    const analysis = at(world, 'metrics');
    const promoted = at(world, 'promote');
    const primaryReady = at(world, 'primary ready');
    const back = at(world, 'routes 100/0');
    const succeeded = at(world, 'phase Succeeded');
    // The analysis keeps its cadence: one interval after the first weight, and promotion right after it.
    assert.ok(analysis - firstWeight >= intervalMs - 100, `analysis ${analysis - firstWeight} ms after the weight`);
    assert.ok(promoted - analysis < 1000, `promoted ${promoted - analysis} ms after the analysis`);
    // Traffic goes back once the primary has rolled out (1 s), and Succeeded follows without another interval (the
    // old schedule: Finalising one interval after the promotion, Succeeded one more; here a few activities).
    assert.ok(back >= primaryReady, 'all traffic back on the primary only once it is ready');
    assert.ok(
      back - primaryReady < intervalMs / 2,
      `routes back ${back - primaryReady} ms after the primary was ready`,
    );
    assert.ok(
      succeeded - primaryReady < intervalMs,
      `Succeeded ${succeeded - primaryReady} ms after the primary ready`,
    );
    // One interval between the first weight and Succeeded (the analysis); the old schedule had three (analysis,
    // Promoting → Finalising, Finalising → Succeeded).
    const tail = succeeded - firstWeight;
    assert.ok(tail < 2 * intervalMs, `first weight → Succeeded took ${tail} ms (interval ${intervalMs} ms)`);
    // Finalising acts on the observation of the tick that routed the traffic back (finalising-reuses-observation):
    // nothing is read between that route write and the scale-down, and the status keeps the weight it wrote.
    const scaledDown = at(world, 'scale down', back);
    const between = world.log.timeline.filter((e) => e.at >= back && e.at <= scaledDown).map((e) => e.what);
    assert.ok(!between.includes('observe'), `read again before the scale-down: ${between.join(', ')}`);
    assert.equal(world.status.projection?.canaryWeight, 0);
  });

  it('a failed check that reaches the threshold routes all traffic to the primary within 1 s', async () => {
    const name = 'threshold';
    const intervalMs = 2000;
    const world = seedInitialized(env, {
      raw: canaryRaw(name, { interval: '2s', stepWeight: 20, threshold: 2, metrics: [metric('error-rate', 1)] }),
      metrics: { 'error-rate': [7] },
    });
    const { result } = await runToEnd(env, name, { options: { retryWindowMs: 1 } });
    assert.equal(result.phase, 'Failed');
    assert.deepEqual(routeTrail(world.log.routes), ['80/20', '100/0']);
    const checks = world.log.timeline.filter((e) => e.what === 'metrics').map((e) => e.at);
    assert.equal(checks.length, 2, 'two failed checks, no third analysis');
    assert.ok(checks[1]! - checks[0]! >= intervalMs - 100, `checks ${checks[1]! - checks[0]!} ms apart`);
    const rolledBack = at(world, 'routes 100/0');
    assert.ok(rolledBack - checks[1]! < 1000, `100 % primary ${rolledBack - checks[1]!} ms after the second failure`);
    const messages = world.log.events.map((e) => e.message);
    assert.ok(messages.includes(`Rolling back ${name}.${NAMESPACE} failed checks threshold reached 2`));
    assert.deepEqual(world.log.actions, ['scale-canary up', 'scale-canary down']);
  });
});
