// The tick's side of issue 20 items 1 and 2, driven with in-memory ports (no servers): an accepted control is
// checked again against the phase when the tick acts on it; an infrastructure fault holds the rollout without a
// failed check, shows in the status and counts toward the progress deadline.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Observation, Routes } from '../../api/ports.ts';
import { InfrastructureError, runTick, type TickPorts } from '../../workflows/tick.ts';
import { initialState, type RolloutState } from '../../workflows/state.ts';
import { applyControl } from '../../workflows/controls.ts';
import { parseCanary } from '../../api/validate.ts';
import { statusPatch } from '../../activities/kubernetes/status.ts';
import { toRolloutSpec } from '../../workflows/spec-from-canary.ts';

function spec(analysis: Record<string, unknown>): Observation['spec'] {
  const parsed = parseCanary({
    metadata: { name: 'p', namespace: 'ns' },
    spec: {
      provider: 'gatewayapi:v1',
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'p' },
      service: { port: 80, gatewayRefs: [{ name: 'gw' }] },
      progressDeadlineSeconds: 60,
      analysis: { interval: '10s', threshold: 2, ...analysis },
    },
  });
  return parsed.ok ? { ok: true, spec: toRolloutSpec(parsed.canary) } : parsed;
}

interface Fake {
  routes: Routes;
  observeDown: boolean;
  metricsDown: boolean;
  log: string[];
}

function ports(w: Fake, s: Observation['spec']): TickPorts {
  return {
    observe: async () => {
      if (w.observeDown) throw new InfrastructureError('observe', 'route not accepted by gateways/gw');
      return {
        found: true,
        spec: s,
        primary: { ready: true },
        canary: { ready: true },
        routes: { ...w.routes },
        status: { phase: 'Initialized', lastAppliedRevision: 'rev-1' },
        generation: 1,
      };
    },
    checkReadiness: async () => ({ primary: { ready: true }, canary: { ready: true } }),
    initializePrimary: async () => void w.log.push('initializePrimary'),
    promotePrimary: async () => void w.log.push('promotePrimary'),
    scaleCanary: async (i) => void w.log.push(`scaleCanary ${i.direction}`),
    reconcileRoutes: async () => ({ ...w.routes }),
    setRoutes: async (i) => {
      w.log.push(`setRoutes ${i.routes.primary}/${i.routes.canary}`);
      w.routes = { ...i.routes };
      return { ...w.routes };
    },
    runMetrics: async () => {
      if (w.metricsDown) throw new InfrastructureError('metrics', 'connect ECONNREFUSED');
      return { ok: true, results: [] };
    },
    callWebhook: async () => ({ ok: true, message: '' }),
  };
}

function driver(analysis: Record<string, unknown>) {
  const w: Fake = {
    routes: { primary: 100, canary: 0, mirrored: false },
    observeDown: false,
    metricsDown: false,
    log: [],
  };
  const state: RolloutState = initialState({ namespace: 'ns', name: 'p' }, { hash: 'rev-2', generation: 2 }, 'test');
  const p = ports(w, spec(analysis));
  let clock = 1_000_000;
  return {
    w,
    state,
    async tick() {
      const outcome = await runTick(state, { ports: p, now: () => clock });
      clock += 10_000;
      return outcome;
    },
    events: () => state.outbox.events.map((e) => e.message),
  };
}

describe('controls checked again when the tick acts on them', () => {
  it('an abort accepted before promotion is refused once the rollout is Promoting', async () => {
    const d = driver({ stepWeight: 50, maxWeight: 50 });
    while (d.state.phase !== 'Progressing' || d.w.routes.canary < 50) await d.tick();
    // Accepted while Progressing (the validator's view), then the tick in flight promotes.
    applyControl('abort', d.state, { by: 'bob' });
    d.state.phase = 'Promoting';
    d.w.log.length = 0;
    assert.equal(await d.tick(), 'continue');
    assert.equal(d.state.abortRequested, undefined);
    assert.deepEqual(d.state.controlOutcomes, [
      { id: 1, control: 'abort', applied: false, message: 'too late to abort: canary is Promoting' },
    ]);
    assert.ok(d.events().includes('abort by bob not applied: too late to abort: canary is Promoting'));
    // The promotion carries on: traffic back to the promoted primary, never a "rollback".
    assert.deepEqual(d.w.log, ['setRoutes 100/0']);
    assert.equal(d.state.phase, 'Finalising');
  });

  it('an abort that still applies is answered applied', async () => {
    const d = driver({ stepWeight: 25, maxWeight: 50 });
    while (d.w.routes.canary < 25) await d.tick();
    applyControl('abort', d.state, { by: 'bob' });
    assert.equal(await d.tick(), 'final');
    assert.deepEqual(d.state.controlOutcomes, [{ id: 1, control: 'abort', applied: true, message: 'rolling back' }]);
    assert.equal(d.state.phase, 'Failed');
  });
});

describe('infrastructure faults', () => {
  it('observe down: holds the step, visible, no failed check; past the progress deadline rolls back', async () => {
    const d = driver({ stepWeight: 25, maxWeight: 50 });
    while (d.w.routes.canary < 25) await d.tick();
    d.w.observeDown = true;
    d.w.log.length = 0;
    for (let i = 0; i < 6; i++) assert.equal(await d.tick(), 'continue');
    assert.deepEqual(d.w.log, []);
    assert.equal(d.state.failedChecks, 0);
    assert.equal(d.state.message, 'infrastructure fault: observe: route not accepted by gateways/gw');
    assert.match(d.state.waitingFor, /^the observation to recover \(progress deadline in 10s\)$/);
    assert.equal(d.events().filter((e) => e.startsWith('infrastructure fault')).length, 1, 'one event per text');
    // 60 s deadline, 10 s per tick: the 8th faulty tick is past it.
    assert.equal(await d.tick(), 'continue');
    assert.equal(await d.tick(), 'final');
    assert.deepEqual(d.w.log, ['setRoutes 100/0', 'scaleCanary down']);
    assert.equal(d.state.phase, 'Failed');
    assert.equal(d.state.failedChecks, 0);
  });

  it('observe down: an abort rolls back at once from the last routes and a route-free readiness read', async () => {
    const d = driver({ stepWeight: 25, maxWeight: 50 });
    while (d.w.routes.canary < 25) await d.tick();
    d.w.observeDown = true;
    await d.tick();
    applyControl('abort', d.state, { by: 'bob' });
    d.w.log.length = 0;
    assert.equal(await d.tick(), 'final');
    assert.deepEqual(d.w.log, ['setRoutes 100/0', 'scaleCanary down']);
    assert.equal(d.state.phase, 'Failed');
  });

  it('metrics server down: no failed check; recovered, the fault clears and analysis goes on', async () => {
    const d = driver({
      stepWeight: 25,
      maxWeight: 50,
      metrics: [{ name: 'm', query: 'q', thresholdRange: { max: 1 } }],
    });
    while (d.w.routes.canary < 25) await d.tick();
    d.w.metricsDown = true;
    for (let i = 0; i < 3; i++) assert.equal(await d.tick(), 'continue');
    assert.equal(d.state.failedChecks, 0);
    assert.equal(d.w.routes.canary, 25);
    assert.equal(d.state.message, 'infrastructure fault: metrics: connect ECONNREFUSED');
    d.w.metricsDown = false;
    await d.tick();
    assert.equal(d.state.fault, undefined);
    assert.equal(d.state.message, '');
    assert.equal(d.w.routes.canary, 50);
  });
});

describe('the Promoted condition of a fault', () => {
  it('reason InfrastructureFault with the message, the status of the phase it holds in', () => {
    const raw = { metadata: { name: 'p', namespace: 'ns' }, spec: { targetRef: { kind: 'Deployment' } } } as never;
    const base = { canaryWeight: 25, failedChecks: 0, iterations: 0, step: 1, revision: 'rev-2', metrics: [] };
    const message = 'infrastructure fault: metrics: connect ECONNREFUSED';
    const run = { workflowId: 'w', runId: 'r' };
    const patch = statusPatch(raw, { ...base, ...run, phase: 'Progressing', message }, new Date(0));
    const promoted = patch.conditions?.find((c) => c.type === 'Promoted');
    assert.deepEqual(
      [promoted?.status, promoted?.reason, promoted?.message],
      ['Unknown', 'InfrastructureFault', message],
    );
  });
});
