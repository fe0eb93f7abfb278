// Controls racing the tick in flight, and infrastructure faults that would hold a tick forever (issue 20 items 1
// and 2): a control is re-validated when the rollout acts on it and its update answers what actually happened;
// abort interrupts a tick stuck on an infrastructure read; faults show in the status and count toward the
// progress deadline, never as failed checks.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowUpdateFailedError, WorkflowUpdateStage } from '@temporalio/client';
import type { ControlResult } from '../../workflows/controls.ts';
import {
  NAMESPACE,
  canaryRaw,
  metric,
  routeTrail,
  seedInitialized,
  setupEnv,
  startRollout,
  waitUntil,
  type TestEnv,
} from './env.ts';

let env: TestEnv;
before(async () => {
  env = await setupEnv('interruptions');
});
after(async () => {
  await env?.stop();
});

function trail(name: string): string[] {
  return routeTrail(env.world.get(`${NAMESPACE}/${name}`).log.routes);
}

/** A promise the test resolves: holds a world op until released. */
function gate(): { promise: Promise<void>; release: () => void } {
  let release!: () => void;
  const promise = new Promise<void>((r) => (release = r));
  return { promise, release };
}

async function updateFailure(promise: Promise<unknown>): Promise<string> {
  try {
    const value = await promise;
    return `resolved: ${JSON.stringify(value)}`;
  } catch (err) {
    assert.ok(err instanceof WorkflowUpdateFailedError, `expected an update failure, got ${String(err)}`);
    return (err.cause as Error | undefined)?.message ?? '';
  }
}

const FOREVER = 1_000_000;

describe('controls racing the tick, infrastructure faults', { concurrency: true }, () => {
  it('abort accepted while promotePrimary runs is rejected when acted on: the rollout ends Succeeded', async () => {
    const name = 'abort-vs-promotion';
    const world = seedInitialized(env, { raw: canaryRaw(name, { stepWeight: 50, maxWeight: 50 }) });
    const held = gate();
    world.holds = { promotePrimary: held.promise };
    const handle = await startRollout(env, name);
    await waitUntil('promotePrimary in flight', () => world.log.actions.includes('held promotePrimary'));
    const update = await handle.startUpdate('abort', {
      args: [{ by: 'bob' }],
      waitForStage: WorkflowUpdateStage.ACCEPTED,
    });
    held.release();
    const answer = await updateFailure(update.result());
    await waitUntil('a final phase', () => ['Succeeded', 'Failed'].includes(world.status.phase ?? ''));
    await handle.terminate().catch(() => undefined);
    // Never "Failed with the new code in the primary": the primary was promoted, so the rollout completes it.
    assert.equal(world.status.phase, 'Succeeded');
    assert.equal(world.primary.revision, 'rev-2');
    assert.equal(answer, 'too late to abort: canary is Promoting');
    assert.deepEqual(trail(name), ['50/50', '100/0']);
    assert.ok(
      world.log.events.some((e) => e.message === 'abort by bob not applied: too late to abort: canary is Promoting'),
    );
  });

  it('abort answered once applied: the update returns after the rollback was decided', async () => {
    const name = 'abort-applied';
    const world = seedInitialized(env, { raw: canaryRaw(name, { interval: '5s', stepWeight: 25, maxWeight: 50 }) });
    const handle = await startRollout(env, name);
    await waitUntil('75/25', () => trail(name).at(-1) === '75/25');
    const answer = (await handle.executeUpdate('abort', { args: [{ by: 'bob' }] })) as ControlResult;
    assert.equal(answer.applied, true);
    // Applied means the tick acted on it: the routes are already back (no interval waited for).
    assert.deepEqual(trail(name), ['75/25', '100/0']);
    await waitUntil('Failed', () => world.status.phase === 'Failed');
    await handle.terminate();
    assert.equal(world.primary.revision, 'rev-1');
  });

  it('promote accepted while the tick in flight rolls back is explicitly rejected', async () => {
    const name = 'promote-vs-rollback';
    const world = seedInitialized(env, {
      raw: canaryRaw(name, { stepWeight: 50, maxWeight: 50, threshold: 1, metrics: [metric('error-rate', 1)] }),
      metrics: { 'error-rate': [5] },
    });
    const handle = await startRollout(env, name);
    await waitUntil('50/50', () => trail(name).at(-1) === '50/50');
    const held = gate();
    world.holds = { setRoutes: held.promise };
    await waitUntil('rollback setRoutes in flight', () => world.log.actions.includes('held setRoutes'));
    const update = await handle.startUpdate('promote', {
      args: [{ by: 'alice' }],
      waitForStage: WorkflowUpdateStage.ACCEPTED,
    });
    held.release();
    assert.equal(await updateFailure(update.result()), 'the rollout ended Failed before promote could act');
    const status = await handle.query<{ phase: string }>('status');
    assert.equal(status.phase, 'Failed');
    assert.deepEqual(trail(name), ['50/50', '100/0']);
    assert.equal(world.primary.revision, 'rev-1');
    await handle.terminate();
  });

  it('abort during a route the gateway never accepts acts within one interval; the fault is visible', async (t) => {
    const name = 'abort-route-not-accepted';
    const world = seedInitialized(env, {
      raw: canaryRaw(name, { interval: '10s', stepWeight: 25, maxWeight: 50 }, { progressDeadlineSeconds: 600 }),
    });
    const handle = await startRollout(env, name);
    await waitUntil('75/25', () => trail(name).at(-1) === '75/25', 20_000);
    world.faults.observe = FOREVER;
    await waitUntil(
      'the fault in the status',
      () => world.status.projection?.message.startsWith('infrastructure fault: observe') ?? false,
      20_000,
    );
    const sent = Date.now();
    await handle.executeUpdate('abort', { args: [{ by: 'bob' }] });
    await waitUntil('rolled back', () => trail(name).at(-1) === '100/0', 10_000);
    const took = Date.now() - sent;
    assert.ok(took < 10_000, `abort took ${took} ms`);
    t.diagnostic(`abort acted after ${took} ms (interval 10 s)`);
    await waitUntil('Failed', () => world.status.phase === 'Failed', 10_000);
    assert.equal(world.status.projection?.failedChecks, 0);
    assert.equal(world.canary.scaled, 'down');
    await handle.terminate();
  });

  it('abort during a metrics server outage acts within one interval; the outage is no failed check', async (t) => {
    const name = 'abort-metrics-down';
    const world = seedInitialized(env, {
      raw: canaryRaw(name, { interval: '10s', stepWeight: 25, maxWeight: 50, metrics: [metric('error-rate', 1)] }),
      metrics: { 'error-rate': [0.5] },
    });
    world.faults.runMetrics = FOREVER;
    const handle = await startRollout(env, name);
    await waitUntil(
      'the outage in the status',
      () => world.status.projection?.message.startsWith('infrastructure fault: metrics') ?? false,
      40_000,
    );
    assert.equal(world.status.projection?.failedChecks, 0);
    const sent = Date.now();
    await handle.executeUpdate('abort', { args: [{ by: 'bob' }] });
    await waitUntil('Failed', () => world.status.phase === 'Failed', 10_000);
    const took = Date.now() - sent;
    assert.ok(took < 10_000, `abort took ${took} ms`);
    t.diagnostic(`abort acted after ${took} ms (interval 10 s)`);
    assert.equal(world.status.projection?.failedChecks, 0);
    await handle.terminate();
  });

  it('a fault that outlasts the progress deadline rolls back (no failed check counted)', async () => {
    const name = 'fault-deadline';
    const world = seedInitialized(env, {
      raw: canaryRaw(name, { interval: '1s', stepWeight: 25, maxWeight: 50 }, { progressDeadlineSeconds: 5 }),
    });
    const handle = await startRollout(env, name);
    await waitUntil('75/25', () => trail(name).at(-1) === '75/25');
    world.faults.observe = FOREVER;
    await waitUntil('Failed', () => world.status.phase === 'Failed', 30_000);
    await handle.terminate();
    assert.deepEqual(trail(name), ['75/25', '100/0']);
    assert.equal(world.status.projection?.failedChecks, 0);
    assert.ok(
      world.log.events.some((e) => /^Rolling back .* progress deadline exceeded infrastructure fault/.test(e.message)),
      JSON.stringify(world.log.events.map((e) => e.message)),
    );
  });

  it('status writes failing through more than their attempts never fail the workflow: the same run carries on', async () => {
    const name = 'projection-outage';
    const world = seedInitialized(env, { raw: canaryRaw(name, { stepWeight: 25, maxWeight: 50 }) });
    const handle = await startRollout(env, name);
    await waitUntil('75/25', () => trail(name).at(-1) === '75/25');
    const { runId } = await handle.describe();
    // More failures in a row than one projection's attempts (6; it was 10 and then failed the execution).
    world.faults.writeStatus = 11;
    const res = (await handle.result()) as { phase: string };
    assert.equal(res.phase, 'Succeeded');
    assert.equal(world.status.phase, 'Succeeded');
    assert.equal(world.faults.writeStatus, 0);
    const described = await handle.describe();
    assert.equal(described.runId, runId);
    assert.equal(described.status.name, 'COMPLETED');
    assert.deepEqual(trail(name), ['75/25', '50/50', '100/0']);
    assert.equal(world.status.projection?.failedChecks, 0);
    assert.deepEqual(world.log.phases.at(-1), 'Succeeded');
  });
});
