// The tick logic driven without Temporal: the same scripted world and activities as the workflow tests, a fake
// clock, and a loop standing in for the workflow. Fast checks of Flagger's per-tick semantics.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createScriptedActivities } from '../scripted/activities.ts';
import { newWorldCanary, startWorld, type World, type WorldCanary, type WorldCanaryInit } from '../scripted/world.ts';
import { initialState, type RolloutState } from '../../workflows/state.ts';
import { runTick } from '../../workflows/tick.ts';
import type { RolloutActivities } from '../../api/ports.ts';
import { applyControl, rejectControl } from '../../workflows/controls.ts';

const NS = 'unit';
let world: World;
before(async () => {
  world = await startWorld();
});
after(async () => {
  await world.close();
});

function raw(name: string, analysis: Record<string, unknown>, spec: Record<string, unknown> = {}) {
  return {
    metadata: { name, namespace: NS },
    spec: {
      provider: 'gatewayapi:v1',
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      service: { port: 80, gatewayRefs: [{ name: 'gw' }] },
      ...spec,
      analysis: { interval: '1s', threshold: 2, ...analysis },
    },
  };
}

function seed(name: string, init: WorldCanaryInit): WorldCanary {
  const c = newWorldCanary({
    primary: { exists: true, ready: true, revision: 'rev-1' },
    canary: { scaled: 'down', ready: true },
    status: { phase: 'Initialized', lastAppliedRevision: 'rev-1' },
    ...init,
  });
  world.put(`${NS}/${name}`, c);
  return c;
}

/** Run ticks like the workflow does (tick, project, wait) until final or `maxTicks`; `between` may poke state. */
async function simulate(
  name: string,
  opts: {
    maxTicks?: number;
    between?: (state: RolloutState, tick: number) => void;
    revision?: string;
    wrap?: (ports: RolloutActivities) => RolloutActivities;
  } = {},
) {
  const scripted = createScriptedActivities(world.url);
  const ports = opts.wrap ? opts.wrap(scripted) : scripted;
  let clock = 1_000_000;
  const state = initialState({ namespace: NS, name }, { hash: opts.revision ?? 'rev-2', generation: 2 }, 'test');
  let ticks = 0;
  for (; ticks < (opts.maxTicks ?? 60); ticks++) {
    opts.between?.(state, ticks);
    const outcome = await runTick(state, { ports, now: () => clock });
    const { events } = state.outbox;
    state.outbox = { events: [], alerts: [] };
    if (state.phase !== 'Pending') {
      await ports.writeStatus({
        canary: state.canary,
        status: {
          phase: state.phase,
          canaryWeight: state.routes.canary,
          failedChecks: state.failedChecks,
          iterations: state.iterations,
          step: state.step,
          revision: state.revision.hash,
          metrics: state.metrics,
          message: state.waitingFor,
          workflowId: 'w',
          runId: 'r',
        },
      });
    }
    await ports.recordEvents({
      canary: state.canary,
      runId: 'r',
      firstSequence: state.eventSequence,
      events,
      eventHooks: [],
      revision: state.revision,
      phase: 'Progressing',
    });
    state.eventSequence += events.length;
    if (outcome === 'final') break;
    clock += state.intervalMs;
  }
  const c = world.get(`${NS}/${name}`);
  return { state, ticks, c, routes: c.log.routes.map((r) => `${r.primary}/${r.canary}${r.mirrored ? 'm' : ''}`) };
}

const errorRate = { name: 'error-rate', query: 'q', thresholdRange: { max: 1 } };

describe('rollout tick (Flagger semantics)', () => {
  it('canary 10/50: routes, phases, events in order', async () => {
    seed('c1', { raw: raw('c1', { stepWeight: 10, maxWeight: 50, metrics: [errorRate] }) });
    const { state, routes, c } = await simulate('c1');
    assert.equal(state.phase, 'Succeeded');
    assert.deepEqual(routes, ['90/10', '80/20', '70/30', '60/40', '50/50', '100/0']);
    assert.deepEqual(c.log.phases, ['Progressing', 'Promoting', 'Finalising', 'Succeeded']);
    const msgs = c.log.events.map((e) => e.message);
    assert.deepEqual(msgs.slice(0, 3), [
      'New revision detected! Scaling up c1.unit',
      'Starting canary analysis for c1.unit',
      'Advance c1.unit canary weight 10',
    ]);
    assert.ok(msgs.includes('Copying c1.unit template spec to c1-primary.unit'));
    assert.equal(msgs.at(-1), 'Promotion completed! Scaling down c1.unit');
  });

  it('the target moved on after the last check: nothing promoted, analysis restarts for the newer revision', async () => {
    seed('fence', { raw: raw('fence', { stepWeight: 50, maxWeight: 50 }) });
    const asked: string[] = [];
    const { state, c } = await simulate('fence', {
      wrap: (ports) => ({
        ...ports,
        // The first promotion finds the target at rev-3 (a set image after the last check): not copied.
        promotePrimary: async (input) => {
          asked.push(input.revision.hash);
          if (asked.length === 1) return { promoted: false, current: { hash: 'rev-3', generation: 3 } };
          return ports.promotePrimary(input);
        },
      }),
    });
    assert.equal(state.phase, 'Succeeded');
    assert.deepEqual(asked, ['rev-2', 'rev-3'], 'the newer revision is analysed, then promoted');
    assert.equal(state.lastPromotedRevision, 'rev-3');
    const msgs = c.log.events.map((e) => e.message);
    const halt = msgs.findIndex((m) => m.includes('changed since its analysis (revision rev-2, now rev-3)'));
    const restart = msgs.findIndex((m) => m.startsWith('New revision detected! Restarting analysis'));
    assert.ok(halt >= 0 && restart > halt, msgs.join('\n'));
    assert.equal(msgs.filter((m) => m.startsWith('Copying ')).length, 1, 'one copy: the analysed rev-3');
    assert.deepEqual(c.log.phases.filter((p) => p === 'Promoting').length, 1);
  });

  it('failed checks reach the threshold on the next tick → rollback 100/0, Failed, canary scaled down', async () => {
    seed('c2', {
      raw: raw('c2', { stepWeight: 10, maxWeight: 50, metrics: [errorRate] }),
      metrics: { 'error-rate': [0, 0, 5] },
    });
    const { state, routes, c } = await simulate('c2');
    assert.equal(state.phase, 'Failed');
    // Tick 1 runs pre-rollout only; metric calls 0 and 1 pass (20, 30), calls 2 and 3 fail, tick 6 rolls back.
    assert.deepEqual(routes, ['90/10', '80/20', '70/30', '100/0']);
    assert.equal(state.failedChecks, 2);
    assert.deepEqual(c.log.actions, ['scale-canary up', 'scale-canary down']);
    const msgs = c.log.events.map((e) => e.message);
    assert.ok(msgs.includes('Rolling back c2.unit failed checks threshold reached 2'));
    assert.ok(msgs.includes('Canary failed! Scaling down c2.unit'));
  });

  it('stepWeights overflow [1,2,10,200] clamps at 100', async () => {
    seed('c3', { raw: raw('c3', { stepWeights: [1, 2, 10, 200] }) });
    const { routes } = await simulate('c3');
    assert.deepEqual(routes, ['99/1', '98/2', '90/10', '0/100', '100/0']);
  });

  it('A/B: 0/100 for the iterations, then promotion', async () => {
    seed('c4', { raw: raw('c4', { iterations: 3, match: [{ headers: { x: { exact: 'y' } } }] }) });
    const { state, routes, c } = await simulate('c4');
    assert.equal(state.phase, 'Succeeded');
    assert.deepEqual(routes, ['0/100', '100/0']);
    assert.ok(c.log.events.some((e) => e.message === 'Advance c4.unit canary iteration 3/3'));
  });

  it('blue/green with mirroring: mirror, then all to canary, then promote', async () => {
    seed('c5', { raw: raw('c5', { iterations: 2, mirror: true }) });
    const { routes, c } = await simulate('c5');
    assert.deepEqual(routes, ['100/0m', '0/100', '100/0']);
    assert.ok(c.log.events.some((e) => e.message === 'Stop traffic mirroring and route all traffic to canary'));
  });

  it('progress deadline: canary never ready → rollback', async () => {
    seed('c6', {
      raw: raw('c6', { stepWeight: 10 }, { progressDeadlineSeconds: 2 }),
      canary: { scaled: 'down', ready: true, readyAfterScaleUp: false },
    });
    const { state, routes, c } = await simulate('c6');
    assert.equal(state.phase, 'Failed');
    assert.deepEqual(routes, []);
    assert.ok(c.log.events.some((e) => e.message.startsWith('Rolling back c6.unit progress deadline exceeded')));
  });

  it('primary not ready after promotion: Failed, canary keeps its traffic', async () => {
    seed('c7', {
      raw: raw('c7', { stepWeight: 50 }, { progressDeadlineSeconds: 2 }),
      primary: { exists: true, ready: true, revision: 'rev-1', readyAfterPromote: false },
    });
    const { state, routes, c } = await simulate('c7');
    assert.equal(state.phase, 'Failed');
    assert.deepEqual(routes, ['50/50', '0/100']);
    assert.equal(c.canary.scaled, 'up');
  });

  it('confirm-promotion closed: WaitingPromotion, metrics keep running and fail it', async () => {
    seed('c8', {
      raw: raw('c8', {
        stepWeight: 50,
        metrics: [errorRate],
        webhooks: [{ name: 'approve', type: 'confirm-promotion', url: 'http://h/approve' }],
      }),
      hooks: { approve: [false] },
      metrics: { 'error-rate': [0, 0, 0, 0, 9] },
    });
    const { state, routes, c } = await simulate('c8');
    assert.equal(state.phase, 'Failed');
    assert.deepEqual(routes, ['50/50', '0/100', '100/0']);
    assert.deepEqual(c.log.phases, ['Progressing', 'WaitingPromotion', 'Failed']);
  });

  it('validators say why a control cannot apply', () => {
    const s = initialState({ namespace: NS, name: 'x' }, { hash: 'h', generation: 1 }, 'test');
    s.phase = 'Succeeded';
    assert.equal(rejectControl('promote', s, { by: 'me' }), 'nothing to promote: canary is Succeeded');
    assert.equal(rejectControl('retry', s, { by: 'me' }), 'nothing to retry: canary is Succeeded');
    s.phase = 'Progressing';
    assert.equal(rejectControl('pause', s, { by: 'me' }), undefined);
    applyControl('pause', s, { by: 'me' });
    assert.equal(rejectControl('pause', s, { by: 'you' }), 'already paused (by me)');
    assert.equal(rejectControl('resume', s, {}), 'resume needs { by: string; reason?: string }');
  });
});
