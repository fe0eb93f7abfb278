// Controls while a rollout runs: promote, abort, pause/resume, retry as updates (with validator rejections) and
// as signals; the status query; spec.suspend; a new revision mid-run; canary deletion.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { StatusView } from '../../workflows/controls.ts';
import type { RolloutResult } from '../../workflows/rollout.ts';
import {
  NAMESPACE,
  canaryRaw,
  hook,
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
  env = await setupEnv('controls');
});
after(async () => {
  await env?.stop();
});

const by = { by: 'alice', reason: 'release train' };

/** Long enough for a few ticks (interval 1s) to have happened if the rollout were not held. */
function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function trail(name: string): string[] {
  return routeTrail(env.world.get(`${NAMESPACE}/${name}`).log.routes);
}

async function waitForRoutes(name: string, last: string): Promise<void> {
  await waitUntil(`routes ${last} for ${name}`, () => trail(name).at(-1) === last);
}

async function rejected(promise: Promise<unknown>, message: string | RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof WorkflowUpdateFailedError, `expected an update failure, got ${String(err)}`);
    const got = (err.cause as Error | undefined)?.message ?? '';
    if (typeof message === 'string') assert.equal(got, message);
    else assert.match(got, message);
    return true;
  });
}

async function result(handle: WorkflowHandle): Promise<RolloutResult> {
  return (await handle.result()) as RolloutResult;
}

describe('rollout controls', { concurrency: true }, () => {
  it('promote skips the rest of the analysis', async () => {
    const name = 'promote';
    seedInitialized(env, { raw: canaryRaw(name, { stepWeight: 10, maxWeight: 50 }) });
    const handle = await startRollout(env, name);
    await waitForRoutes(name, '90/10');
    const accepted = await handle.executeUpdate('promote', { args: [by] });
    assert.equal((accepted as { accepted: boolean }).accepted, true);
    const res = await result(handle);
    assert.equal(res.phase, 'Succeeded');
    assert.deepEqual(trail(name), ['90/10', '100/0']);
    const world = env.world.get(`${NAMESPACE}/${name}`);
    assert.deepEqual(world.log.phases, ['Progressing', 'Promoting', 'Finalising', 'Succeeded']);
    assert.ok(world.log.events.some((e) => e.message === 'Promotion requested by alice: release train'));
  });

  it('abort rolls back at once; retry re-runs the failed revision; validators reject what does not apply', async () => {
    const name = 'abort-retry';
    seedInitialized(env, { raw: canaryRaw(name, { stepWeight: 25, maxWeight: 50 }) });
    const handle = await startRollout(env, name);
    // Before or after the first tick has classified the Canary (which one depends on the machine's speed).
    await rejected(
      handle.executeUpdate('retry', { args: [by] }),
      /^nothing to retry: canary is (Pending|Initialized)$/,
    );
    await waitForRoutes(name, '75/25');
    await rejected(handle.executeUpdate('resume', { args: [by] }), 'not paused');
    await rejected(
      handle.executeUpdate('abort', { args: [{} as never] }),
      'abort needs { by: string; reason?: string }',
    );
    await handle.executeUpdate('abort', { args: [{ by: 'bob', reason: 'bad dashboards' }] });
    await waitUntil('Failed', () => env.world.get(`${NAMESPACE}/${name}`).status.phase === 'Failed');
    assert.deepEqual(trail(name), ['75/25', '100/0']);
    const status = await handle.query<StatusView>('status');
    assert.equal(status.phase, 'Failed');
    assert.equal(status.waitingFor, 'retry or a new revision');
    assert.ok(status.steps.some((s) => s.kind === 'control' && s.note === 'abort requested by bob (bad dashboards)'));
    await rejected(handle.executeUpdate('promote', { args: [by] }), 'nothing to promote: canary is Failed');
    await rejected(handle.executeUpdate('abort', { args: [by] }), 'nothing to abort: canary is Failed');
    await handle.executeUpdate('retry', { args: [by] });
    const res = await result(handle);
    assert.equal(res.phase, 'Succeeded');
    assert.deepEqual(trail(name), ['75/25', '100/0', '75/25', '50/50', '100/0']);
    assert.deepEqual(env.world.get(`${NAMESPACE}/${name}`).log.phases, [
      'Progressing',
      'Failed',
      'Progressing',
      'Promoting',
      'Finalising',
      'Succeeded',
    ]);
  });

  it('pause holds the rollout, resume continues it; the status query tells what it waits for', async () => {
    const name = 'pause-resume';
    seedInitialized(env, {
      raw: canaryRaw(name, { stepWeight: 25, maxWeight: 50, metrics: [metric('error-rate', 1)] }),
      metrics: { 'error-rate': [0.5] },
    });
    const handle = await startRollout(env, name);
    await waitForRoutes(name, '75/25');
    await handle.executeUpdate('pause', { args: [by] });
    await rejected(handle.executeUpdate('pause', { args: [{ by: 'carol' }] }), 'already paused (by alice)');
    await sleep(2500);
    assert.deepEqual(trail(name), ['75/25']);
    const status = await handle.query<StatusView>('status');
    assert.equal(status.paused, true);
    assert.equal(status.waitingFor, 'resume (paused by alice)');
    assert.deepEqual(status.weights, { primary: 75, canary: 25, mirrored: false });
    assert.equal(status.step, 1);
    await handle.executeUpdate('resume', { args: [by] });
    const res = await result(handle);
    assert.equal(res.phase, 'Succeeded');
    assert.deepEqual(trail(name), ['75/25', '50/50', '100/0']);
  });

  it('the same controls as signals (Temporal UI / CLI), invalid ones ignored and recorded', async () => {
    const name = 'signals';
    seedInitialized(env, { raw: canaryRaw(name, { stepWeight: 25, maxWeight: 50 }) });
    const handle = await startRollout(env, name);
    await waitForRoutes(name, '75/25');
    await handle.signal('pause', { by: 'ui' });
    await handle.signal('pause', { by: 'ui-again' });
    await sleep(1500);
    assert.deepEqual(trail(name), ['75/25']);
    const status = await handle.query<StatusView>('status');
    assert.ok(status.steps.some((s) => s.note === 'pause signal ignored: already paused (by ui)'));
    await handle.signal('resume', { by: 'ui' });
    assert.equal((await result(handle)).phase, 'Succeeded');
    assert.deepEqual(trail(name), ['75/25', '50/50', '100/0']);
  });

  it('status query reports metrics with their ranges and verdicts', async () => {
    const name = 'status-query';
    seedInitialized(env, {
      raw: canaryRaw(name, {
        stepWeight: 25,
        maxWeight: 50,
        metrics: [metric('error-rate', 1), metric('latency', 500)],
      }),
      metrics: { 'error-rate': [0.25], latency: [120] },
    });
    const handle = await startRollout(env, name);
    await waitForRoutes(name, '50/50');
    const status = await handle.query<StatusView>('status');
    assert.deepEqual(
      status.metrics.map((m) => [m.name, m.value, m.range, m.verdict]),
      [
        ['error-rate', 0.25, { max: 1 }, 'pass'],
        ['latency', 120, { max: 500 }, 'pass'],
      ],
    );
    assert.equal(status.failedChecks, 0);
    assert.equal(status.threshold, 2);
    // The Temporal UI's "current details" line and the search attributes.
    const meta = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    assert.match(meta.currentDetails ?? '', /^\*\*Progressing\*\* · weight 50 % \(primary 50 %\) · step 2 of 2/);
    assert.match(meta.currentDetails ?? '', /analysis: error-rate 0\.25 ≤ 1 ✓, latency 120 ≤ 500 ✓/);
    const described = await handle.describe();
    assert.deepEqual(described.searchAttributes.FledgeCanary, [name]);
    assert.deepEqual(described.searchAttributes.FledgePhase, ['Progressing']);
    assert.deepEqual(described.searchAttributes.FledgeRevision, ['rev-2']);
    assert.deepEqual(described.searchAttributes.FledgeProvider, ['gatewayapi:v1']);
    await result(handle);
  });

  it('spec.suspend holds the rollout until cleared', async () => {
    const name = 'suspend';
    const world = seedInitialized(env, { raw: canaryRaw(name, { stepWeight: 25, maxWeight: 50 }) });
    const handle = await startRollout(env, name);
    await waitForRoutes(name, '75/25');
    (world.raw.spec as Record<string, unknown>).suspend = true;
    await sleep(2500);
    assert.deepEqual(trail(name), ['75/25']);
    assert.ok(world.log.events.some((e) => e.message === 'skipping canary run as object is suspended'));
    (world.raw.spec as Record<string, unknown>).suspend = false;
    assert.equal((await result(handle)).phase, 'Succeeded');
    assert.deepEqual(trail(name), ['75/25', '50/50', '100/0']);
  });

  it('a new revision mid-run restarts the analysis (duplicates are no-ops)', async () => {
    const name = 'new-revision';
    const world = seedInitialized(env, { raw: canaryRaw(name, { stepWeight: 25, maxWeight: 50 }) });
    const handle = await startRollout(env, name);
    await waitForRoutes(name, '50/50');
    const rev3 = { hash: 'rev-3', generation: 3 };
    await handle.signal('newRevision', rev3);
    await handle.signal('newRevision', rev3);
    const res = await result(handle);
    assert.equal(res.phase, 'Succeeded');
    assert.equal(res.revision.hash, 'rev-3');
    assert.deepEqual(trail(name), ['75/25', '50/50', '100/0', '75/25', '50/50', '100/0']);
    assert.equal(world.primary.revision, 'rev-3');
    assert.ok(
      world.log.events.some((e) => e.message === `New revision detected! Restarting analysis for ${name}.${NAMESPACE}`),
    );
  });

  it('canaryDeleted stops the workflow without touching routes', async () => {
    const name = 'deleted';
    seedInitialized(env, { raw: canaryRaw(name, { stepWeight: 25, maxWeight: 50 }) });
    const handle = await startRollout(env, name);
    await waitForRoutes(name, '75/25');
    await handle.signal('canaryDeleted');
    const res = await result(handle);
    assert.equal(res.deleted, true);
    assert.deepEqual(trail(name), ['75/25']);
  });
  it('a new revision during promotion waits for it to finish, then rolls out as the next run', async () => {
    const name = 'revision-while-promoting';
    const world = seedInitialized(env, {
      raw: canaryRaw(name, { interval: '500ms', stepWeight: 50, stepWeightPromotion: 25 }),
    });
    const handle = await startRollout(env, name);
    await waitUntil('Promoting', () => world.log.phases.includes('Promoting'));
    await handle.signal('newRevision', { hash: 'rev-3', generation: 3 });
    const res = await result(handle);
    assert.equal(res.revision.hash, 'rev-3');
    assert.equal(res.phase, 'Succeeded');
    assert.deepEqual(trail(name), [
      '50/50',
      '0/100',
      '25/75',
      '50/50',
      '75/25',
      '100/0',
      '50/50',
      '0/100',
      '25/75',
      '50/50',
      '75/25',
      '100/0',
    ]);
    assert.deepEqual(world.log.actions, [
      'scale-canary up',
      'promote rev-2',
      'scale-canary down',
      'scale-canary up',
      'promote rev-3',
      'scale-canary down',
    ]);
  });

  it('a new revision while waiting for confirm-rollout replaces the one to analyse', async () => {
    const name = 'revision-while-waiting';
    const world = seedInitialized(env, {
      raw: canaryRaw(name, { interval: '500ms', stepWeight: 50, webhooks: [hook('approve', 'confirm-rollout')] }),
      hooks: { approve: [false, false, false, true] },
    });
    const handle = await startRollout(env, name);
    await waitUntil('Waiting', () => world.log.phases.includes('Waiting'));
    await handle.signal('newRevision', { hash: 'rev-3', generation: 3 });
    const res = await result(handle);
    assert.equal(res.revision.hash, 'rev-3');
    assert.deepEqual(trail(name), ['50/50', '0/100', '100/0']);
    assert.deepEqual(world.log.actions, ['scale-canary up', 'promote rev-3', 'scale-canary down']);
  });
});
