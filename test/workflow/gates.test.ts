// Webhook gates and hooks in Flagger's order: confirm-rollout, confirm-traffic-increase, confirm-promotion
// (with metrics still able to fail it), rollback hook, pre-rollout failures as failed checks, rollout hooks each
// tick, post-rollout after the final phase, event hooks for every event.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  NAMESPACE,
  canaryRaw,
  hook,
  metric,
  routeTrail,
  runToEnd,
  seedInitialized,
  setupEnv,
  type TestEnv,
} from './env.ts';

let env: TestEnv;
before(async () => {
  env = await setupEnv('gates');
});
after(async () => {
  await env?.stop();
});

const failed = { options: { retryWindowMs: 1 } };

describe('webhook gates', { concurrency: true }, () => {
  it('confirm-rollout: Waiting until the hook approves, then the rollout starts', async () => {
    const name = 'confirm-rollout';
    seedInitialized(env, {
      raw: canaryRaw(name, { interval: '500ms', stepWeight: 50, webhooks: [hook('approve', 'confirm-rollout')] }),
      hooks: { approve: [false, false, true] },
    });
    const { result, world } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(world.log.phases, ['Waiting', 'Progressing', 'Promoting', 'Finalising', 'Succeeded']);
    assert.deepEqual(routeTrail(world.log.routes), ['50/50', '0/100', '100/0']);
    const messages = world.log.events.map((e) => e.message);
    assert.equal(messages[0], `Halt ${name}.${NAMESPACE} advancement waiting for approval approve`);
    assert.equal(messages.filter((m) => m.includes('waiting for approval')).length, 1, 'announced once');
    assert.ok(messages.includes('Confirm-rollout check approve passed'));
    assert.deepEqual(world.log.alerts[0], { message: 'Canary is waiting for approval.', severity: 'warn' });
  });

  it('confirm-traffic-increase holds the weight while closed', async () => {
    const name = 'confirm-traffic';
    seedInitialized(env, {
      raw: canaryRaw(name, {
        interval: '500ms',
        stepWeight: 25,
        maxWeight: 50,
        webhooks: [hook('more', 'confirm-traffic-increase')],
      }),
      hooks: { more: [true, false, false, true] },
    });
    const { result, world } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(routeTrail(world.log.routes), ['75/25', '50/50', '100/0']);
    const held = world.log.events.filter((e) => e.message.includes('waiting for traffic increase approval more'));
    assert.equal(held.length, 2);
    assert.deepEqual(world.log.phases, ['Progressing', 'Promoting', 'Finalising', 'Succeeded']);
  });

  it('confirm-promotion: WaitingPromotion until approved', async () => {
    const name = 'confirm-promotion';
    seedInitialized(env, {
      raw: canaryRaw(name, { interval: '500ms', stepWeight: 50, webhooks: [hook('ship', 'confirm-promotion')] }),
      hooks: { ship: [false, false, true] },
    });
    const { result, world } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(world.log.phases, ['Progressing', 'WaitingPromotion', 'Promoting', 'Finalising', 'Succeeded']);
    assert.deepEqual(routeTrail(world.log.routes), ['50/50', '0/100', '100/0']);
    assert.ok(world.log.events.some((e) => e.message === 'Confirm-promotion check ship passed'));
  });

  it('metrics fail while waiting for promotion approval → rollback', async () => {
    const name = 'promotion-wait-fails';
    seedInitialized(env, {
      raw: canaryRaw(name, {
        interval: '500ms',
        stepWeight: 50,
        threshold: 2,
        metrics: [metric('error-rate', 1)],
        webhooks: [hook('ship', 'confirm-promotion')],
      }),
      hooks: { ship: [false] },
      metrics: { 'error-rate': [0, 0, 0, 9] },
    });
    const { result, world } = await runToEnd(env, name, failed);
    assert.equal(result.phase, 'Failed');
    assert.deepEqual(world.log.phases, ['Progressing', 'WaitingPromotion', 'Failed']);
    assert.deepEqual(routeTrail(world.log.routes), ['50/50', '0/100', '100/0']);
    assert.equal(world.canary.scaled, 'down');
  });

  it('rollback hook: rolls back when it returns OK', async () => {
    const name = 'rollback-hook';
    seedInitialized(env, {
      raw: canaryRaw(name, { interval: '500ms', stepWeight: 10, webhooks: [hook('abort-button', 'rollback')] }),
      hooks: { 'abort-button': [false, false, true] },
    });
    const { result, world } = await runToEnd(env, name, failed);
    assert.equal(result.phase, 'Failed');
    assert.deepEqual(routeTrail(world.log.routes), ['90/10', '80/20', '100/0']);
    const messages = world.log.events.map((e) => e.message);
    assert.ok(messages.includes('Rollback check abort-button passed'));
    assert.ok(messages.includes(`Rolling back ${name}.${NAMESPACE} manual webhook invoked`));
  });

  it('pre-rollout failures count as failed checks', async () => {
    const name = 'pre-rollout-fails';
    seedInitialized(env, {
      raw: canaryRaw(name, {
        interval: '500ms',
        stepWeight: 10,
        threshold: 2,
        webhooks: [hook('db-migrate', 'pre-rollout')],
      }),
      hooks: { 'db-migrate': [false] },
    });
    const { result, world } = await runToEnd(env, name, failed);
    assert.equal(result.phase, 'Failed');
    assert.deepEqual(routeTrail(world.log.routes), []);
    assert.equal(world.log.hooks.filter((h) => h.name === 'db-migrate').length, 2);
    assert.ok(
      world.log.events.some((e) =>
        e.message.startsWith(`Halt ${name}.${NAMESPACE} advancement pre-rollout check db-migrate failed`),
      ),
    );
  });

  it('rollout hooks each analysis tick, post-rollout after the final phase, event hooks for every event', async () => {
    const name = 'all-hooks';
    seedInitialized(env, {
      raw: canaryRaw(name, {
        interval: '500ms',
        stepWeight: 50,
        webhooks: [
          hook('smoke', 'pre-rollout'),
          hook('load-test', 'rollout'),
          hook('notify', 'post-rollout'),
          hook('audit', 'event'),
        ],
      }),
    });
    const { result, world } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    const calls = world.log.hooks.map((h) => `${h.name}:${h.phase}`);
    // Tick 1 pre-rollout (→ 50/50); ticks 2 and 3 run the load test (→ 0/100, then promote); post-rollout last.
    assert.deepEqual(calls, [
      'smoke:Progressing',
      'load-test:Progressing',
      'load-test:Progressing',
      'notify:Succeeded',
    ]);
    assert.equal(world.log.eventHookPosts, world.log.events.length);
    assert.ok(world.log.events.length > 5);
  });
});
