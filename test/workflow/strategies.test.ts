// Rollout strategies end to end on a real Temporal dev server with a scripted world: bootstrap, canary
// (stepWeight/maxWeight, stepWeights, overflow), A/B, blue/green (± mirror), mirror pre-step, skipAnalysis,
// stepWeightPromotion, failed checks, progress deadline, primary not ready during promotion.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { newWorldCanary } from '../scripted/world.ts';
import { newRevisionSignal, rolloutWorkflowId } from '../../workflows/controls.ts';
import type { RolloutResult } from '../../workflows/rollout.ts';
import {
  NAMESPACE,
  canaryRaw,
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
    // The first tick finds no primary yet (Initializing); the next finds it ready.
    assert.deepEqual(world.log.phases, ['Initializing', 'Initialized']);
    assert.deepEqual(routeTrail(world.log.routes), []);
    assert.deepEqual(world.log.actions, ['initialize-primary', 'scale-canary down']);
    assert.equal(world.status.lastAppliedRevision, 'rev-1');
    assert.ok(world.log.events.some((e) => e.message === `Initialization done! ${name}.${NAMESPACE}`));
  });

  it('a Canary seen before its target: the signalled revision is initialized, not rolled out as a new one', async () => {
    // The watcher starts the workflow with the unknown revision (hash '') when the Canary reaches it before its
    // Deployment (both applied at once); the Deployment's revision follows as a newRevision signal.
    const name = 'bootstrap-unknown';
    env.world.put(`${NAMESPACE}/${name}`, newWorldCanary({ raw: canaryRaw(name, { stepWeight: 10, maxWeight: 50 }) }));
    const canary = { namespace: NAMESPACE, name };
    const handle = await env.client.workflow.signalWithStart('rollout', {
      taskQueue: env.taskQueue,
      workflowId: rolloutWorkflowId(canary),
      args: [{ canary, revision: { hash: '', generation: 0 }, cause: 'bootstrap' }],
      signal: newRevisionSignal,
      signalArgs: [{ hash: 'rev-1', generation: 1 }],
    });
    const result = (await handle.result()) as RolloutResult;
    const world = env.world.get(`${NAMESPACE}/${name}`);
    assert.equal(result.phase, 'Initialized');
    assert.equal(result.revision.hash, 'rev-1');
    assert.equal(world.status.lastAppliedRevision, 'rev-1');
    assert.deepEqual(world.log.phases, ['Initializing', 'Initialized']);
    assert.deepEqual(world.log.actions, ['initialize-primary', 'scale-canary down']);
    assert.ok(!world.log.events.some((e) => e.message.startsWith('New revision detected')), world.log.events.join());
    // One execution: nothing was queued for a next run (a continue-as-new would make the latest run another).
    assert.equal((await env.client.workflow.getHandle(handle.workflowId).describe()).runId, handle.signaledRunId);
  });

  it('10-step canary stays inside the history budget', async () => {
    const name = 'ten-steps';
    seedInitialized(env, {
      raw: canaryRaw(name, { interval: '500ms', stepWeight: 10, metrics: [metric('error-rate', 1)] }),
    });
    const handle = await startRollout(env, name);
    await handle.result();
    const history = await handle.fetchHistory();
    // A workflow task that timed out or failed on an overloaded machine is retried (its timeout or failure, then
    // scheduled and started again): those three events are the machine's, not the rollout's.
    const retried = (history.events ?? []).filter(
      (e) => e.workflowTaskTimedOutEventAttributes || e.workflowTaskFailedEventAttributes,
    ).length;
    const events = (history.events?.length ?? 0) - 3 * retried;
    console.log(`history events for a 10-step canary: ${events} (+${3 * retried} of retried workflow tasks)`);
    const world = env.world.get(`${NAMESPACE}/${name}`);
    assert.deepEqual(routeTrail(world.log.routes), [
      '90/10',
      '80/20',
      '70/30',
      '60/40',
      '50/50',
      '40/60',
      '30/70',
      '20/80',
      '10/90',
      '0/100',
      '100/0',
    ]);
    // 265 before event-driven-phases (three intervals of mechanical waits, metrics and weights as activities),
    // 197 after it; the delivery-policy check then added a local-activity marker per tick (214). Observe now
    // answers the delivery and release-group questions in its own marker (activities/tick-answers.ts): 197.
    // Finalising then acted on the promotion tick's observation (one observe marker fewer, two events for the
    // patch's marker and version attribute): 198. One baseline patch instead of one marker per patch
    // (workflows/patches.ts): 194. Started with its search attributes, as the watcher starts it, the execution
    // upserts none at its start: 193. Issue 16's budget: 200.
    assert.ok(events <= 200, `history has ${events} events`);
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
  it('stepWeights [1, 2, 10, 80]', async () => {
    const name = 'step-weights';
    seedInitialized(env, { raw: canaryRaw(name, { interval: '500ms', stepWeights: [1, 2, 10, 80] }) });
    const { result, world } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(routeTrail(world.log.routes), ['99/1', '98/2', '90/10', '20/80', '100/0']);
    assert.deepEqual(world.log.phases, ['Progressing', 'Promoting', 'Finalising', 'Succeeded']);
  });

  it('stepWeights overflow [1, 2, 10, 200] clamps to 100', async () => {
    const name = 'step-weights-overflow';
    seedInitialized(env, { raw: canaryRaw(name, { interval: '500ms', stepWeights: [1, 2, 10, 200] }) });
    const { result, world } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(routeTrail(world.log.routes), ['99/1', '98/2', '90/10', '0/100', '100/0']);
  });

  it('metric failures up to the threshold roll back: 100/0, canary scaled to zero, Failed', async () => {
    const name = 'metric-failures';
    seedInitialized(env, {
      raw: canaryRaw(name, { interval: '500ms', stepWeight: 20, threshold: 2, metrics: [metric('error-rate', 1)] }),
      metrics: { 'error-rate': [0, 7] },
    });
    const { result, world } = await runToEnd(env, name, { options: { retryWindowMs: 1 } });
    assert.equal(result.phase, 'Failed');
    // Tick 1: pre-rollout + 20; tick 2: metric ok → 40; ticks 3-4 fail; tick 5 rolls back.
    assert.deepEqual(routeTrail(world.log.routes), ['80/20', '60/40', '100/0']);
    assert.deepEqual(world.log.phases, ['Progressing', 'Failed']);
    assert.deepEqual(world.log.actions, ['scale-canary up', 'scale-canary down']);
    assert.equal(world.status.projection?.failedChecks, 2);
    const messages = world.log.events.map((e) => e.message);
    assert.ok(messages.includes(`Rolling back ${name}.${NAMESPACE} failed checks threshold reached 2`));
    assert.ok(
      world.log.alerts.some((a) => a.severity === 'error' && a.message === 'Failed checks threshold reached 2'),
    );
  });

  it('progress deadline: canary never becomes ready → Failed', async () => {
    const name = 'deadline';
    seedInitialized(env, {
      raw: canaryRaw(name, { interval: '500ms', stepWeight: 10 }, { progressDeadlineSeconds: 2 }),
      canary: { scaled: 'down', ready: true, readyAfterScaleUp: false, message: 'waiting for rollout to finish' },
    });
    const { result, world } = await runToEnd(env, name, { options: { retryWindowMs: 1 } });
    assert.equal(result.phase, 'Failed');
    assert.deepEqual(routeTrail(world.log.routes), []);
    assert.deepEqual(world.log.phases, ['Progressing', 'Failed']);
    assert.ok(
      world.log.events.some(
        (e) =>
          e.message === `Rolling back ${name}.${NAMESPACE} progress deadline exceeded waiting for rollout to finish`,
      ),
    );
  });

  it('primary not ready while Promoting: Failed, canary keeps 100% and stays up', async () => {
    const name = 'primary-not-ready';
    seedInitialized(env, {
      raw: canaryRaw(name, { interval: '500ms', stepWeight: 50 }, { progressDeadlineSeconds: 2 }),
      primary: { exists: true, ready: true, revision: 'rev-1', readyAfterPromote: false },
    });
    const { result, world } = await runToEnd(env, name, { options: { retryWindowMs: 1 } });
    assert.equal(result.phase, 'Failed');
    assert.deepEqual(routeTrail(world.log.routes), ['50/50', '0/100']);
    assert.deepEqual(world.log.phases, ['Progressing', 'Promoting', 'Failed']);
    assert.equal(world.canary.scaled, 'up');
  });

  it('A/B testing, 10 iterations (continues as new every 4 ticks)', async () => {
    const name = 'ab-testing';
    seedInitialized(env, {
      raw: canaryRaw(name, {
        interval: '500ms',
        iterations: 10,
        match: [{ headers: { 'x-canary': { exact: 'insider' } } }],
        metrics: [metric('error-rate', 1)],
      }),
    });
    const handle = await startRollout(env, name, { options: { maxTicksPerRun: 4 } });
    const result = (await handle.result()) as { phase: string };
    const world = env.world.get(`${NAMESPACE}/${name}`);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(routeTrail(world.log.routes), ['0/100', '100/0']);
    assert.deepEqual(world.log.phases, ['Progressing', 'Promoting', 'Finalising', 'Succeeded']);
    const iterations = world.log.events.filter((e) =>
      e.message.startsWith(`Advance ${name}.${NAMESPACE} canary iteration`),
    );
    assert.equal(iterations.length, 10);
    assert.equal(iterations.at(-1)?.message, `Advance ${name}.${NAMESPACE} canary iteration 10/10`);
    // Event names stay unique across runs of the chain (run id + sequence).
    assert.equal(new Set(world.log.eventNames).size, world.log.eventNames.length);
  });

  it('blue/green: all traffic to the canary before the primary is updated', async () => {
    const name = 'blue-green';
    seedInitialized(env, { raw: canaryRaw(name, { interval: '500ms', iterations: 3 }) });
    const { result, world } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(routeTrail(world.log.routes), ['0/100', '100/0']);
    assert.deepEqual(world.log.phases, ['Progressing', 'Promoting', 'Finalising', 'Succeeded']);
    const messages = world.log.events.map((e) => e.message);
    assert.ok(
      messages.indexOf('Routing all traffic to canary') <
        messages.indexOf(`Copying ${name}.${NAMESPACE} template spec to ${name}-primary.${NAMESPACE}`),
    );
  });

  it('blue/green with mirroring: mirrored during the iterations', async () => {
    const name = 'blue-green-mirror';
    seedInitialized(env, { raw: canaryRaw(name, { interval: '500ms', iterations: 3, mirror: true }) });
    const { result, world } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(routeTrail(world.log.routes), ['100/0m', '0/100', '100/0']);
  });

  it('canary with mirroring: a mirror pre-step at weight 0', async () => {
    const name = 'canary-mirror';
    seedInitialized(env, { raw: canaryRaw(name, { interval: '500ms', stepWeight: 25, maxWeight: 50, mirror: true }) });
    const { result, world } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(routeTrail(world.log.routes), ['100/0m', '75/25', '50/50', '100/0']);
  });

  it('skipAnalysis promotes at once', async () => {
    const name = 'skip-analysis';
    seedInitialized(env, { raw: canaryRaw(name, { interval: '500ms', stepWeight: 10 }, { skipAnalysis: true }) });
    const { result, world } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(routeTrail(world.log.routes), []);
    assert.deepEqual(world.log.phases, ['Progressing', 'Succeeded']);
    assert.deepEqual(world.log.actions, ['scale-canary up', 'promote rev-2', 'scale-canary down']);
    assert.ok(
      world.log.events.some(
        (e) => e.message === `Promotion completed! Canary analysis was skipped for ${name}.${NAMESPACE}`,
      ),
    );
  });

  it('stepWeightPromotion shifts the primary back gradually', async () => {
    const name = 'step-weight-promotion';
    seedInitialized(env, {
      raw: canaryRaw(name, { interval: '500ms', stepWeight: 30, maxWeight: 60, stepWeightPromotion: 25 }),
    });
    const { result, world } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(routeTrail(world.log.routes), ['70/30', '40/60', '65/35', '90/10', '100/0']);
    assert.deepEqual(world.log.phases, ['Progressing', 'Promoting', 'Finalising', 'Succeeded']);
  });
  it('infrastructure errors are retried, never counted as failed checks', async () => {
    const name = 'infra-faults';
    seedInitialized(env, {
      raw: canaryRaw(name, { interval: '500ms', stepWeight: 50, threshold: 1, metrics: [metric('error-rate', 1)] }),
      faults: { observe: 1, runMetrics: 2, setRoutes: 1 },
    });
    const { result, world } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(routeTrail(world.log.routes), ['50/50', '0/100', '100/0']);
    assert.equal(world.status.projection?.failedChecks, 0);
  });

  it('a non-retryable error (target not found) halts the tick, not the workflow', async () => {
    const name = 'target-not-found';
    seedInitialized(env, {
      raw: canaryRaw(name, { interval: '500ms', stepWeight: 50 }),
      fatalFaults: { scaleCanary: 1 },
    });
    const { result, world } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(routeTrail(world.log.routes), ['50/50', '0/100', '100/0']);
    assert.ok(world.log.events.some((e) => e.type === 'Warning' && e.message.includes('not found in scaleCanary')));
  });

  it('a new Canary invalid from the start gets a status (Initializing, invalid spec) and initializes once fixed', async () => {
    const name = 'invalid-new';
    const raw = canaryRaw(name, { interval: '500ms', stepWeight: 10, maxWeight: 50 });
    const analysis = (raw.spec as { analysis: Record<string, unknown> }).analysis;
    analysis.iterations = 3; // with stepWeight: two strategies at once
    env.world.put(`${NAMESPACE}/${name}`, newWorldCanary({ raw }));
    const world = env.world.get(`${NAMESPACE}/${name}`);
    const handle = await startRollout(env, name, { revision: { hash: 'rev-1', generation: 1 }, cause: 'bootstrap' });
    await waitUntil('status written for the invalid new Canary', () =>
      Boolean(world.status.projection?.message.startsWith('invalid spec:')),
    );
    assert.equal(world.status.phase, 'Initializing');
    assert.deepEqual(world.log.actions, [], 'nothing built from an invalid spec');
    delete analysis.iterations;
    assert.equal(((await handle.result()) as { phase: string }).phase, 'Initialized');
    assert.ok(!world.status.projection?.message.startsWith('invalid spec'), world.status.projection?.message);
    assert.equal(world.log.events.filter((e) => e.message.startsWith('invalid spec:')).length, 1);
  });

  it('an invalid spec edited mid-rollout holds the rollout with a clear message until fixed', async () => {
    const name = 'invalid-spec';
    const world = seedInitialized(env, { raw: canaryRaw(name, { interval: '500ms', stepWeight: 25, maxWeight: 50 }) });
    const handle = await startRollout(env, name);
    await waitUntil('first step', () => world.log.routes.length >= 1);
    const analysis = (world.raw.spec as { analysis: Record<string, unknown> }).analysis;
    analysis.iterations = 3; // with stepWeight: two strategies at once
    await waitUntil('invalid spec reported', () =>
      Boolean(world.status.projection?.message.startsWith('invalid spec:')),
    );
    assert.deepEqual(routeTrail(world.log.routes), ['75/25']);
    delete analysis.iterations;
    assert.equal(((await handle.result()) as { phase: string }).phase, 'Succeeded');
    assert.deepEqual(routeTrail(world.log.routes), ['75/25', '50/50', '100/0']);
    assert.equal(world.log.events.filter((e) => e.message.startsWith('invalid spec:')).length, 1);
  });
});
