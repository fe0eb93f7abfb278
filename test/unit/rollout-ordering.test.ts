// Two rules of the tick, driven with an in-memory world (no servers): traffic moves only towards a ready
// workload (initialization, promotion, rollback, restart, skipAnalysis), and status mirrors the world (weights,
// iterations, phase under an invalid spec; spec edits re-derive the route keeping the weights).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Observation, Routes } from '../../api/ports.ts';
import type { TickPorts } from '../../workflows/tick.ts';
import { MESH_ROUTES_FIRST, runTick } from '../../workflows/tick.ts';
import { initialState, type RolloutState } from '../../workflows/state.ts';
import { applyControl } from '../../workflows/controls.ts';
import { parseCanary, parseCanaryForRouting } from '../../api/validate.ts';
import { toRolloutSpec } from '../../workflows/spec-from-canary.ts';

function spec(analysis: Record<string, unknown>, extra: Record<string, unknown> = {}): Observation['spec'] {
  const parsed = parseCanary({
    metadata: { name: 'p', namespace: 'ns' },
    spec: {
      provider: 'gatewayapi:v1',
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'p' },
      service: { port: 80, gatewayRefs: [{ name: 'gw' }] },
      progressDeadlineSeconds: 60,
      ...extra,
      analysis: { interval: '10s', threshold: 2, ...analysis },
    },
  });
  return parsed.ok ? { ok: true, spec: toRolloutSpec(parsed.canary) } : parsed;
}

/** The world the ports act on; `log` lists every action in order. */
interface Fake {
  spec: Observation['spec'];
  primaryReady: boolean;
  canaryReady: boolean;
  routes: Routes;
  generation: number;
  status: Observation['status'];
  /** Names of the hooks that answer failure (closed gates). */
  closed: Set<string>;
  log: string[];
}

function fake(init: Partial<Fake> = {}): Fake {
  return {
    spec: spec({ stepWeight: 10, maxWeight: 50 }),
    primaryReady: true,
    canaryReady: true,
    routes: { primary: 100, canary: 0, mirrored: false },
    generation: 1,
    status: { phase: 'Initialized', lastAppliedRevision: 'rev-1' },
    closed: new Set(),
    log: [],
    ...init,
  };
}

function portsOf(w: Fake): TickPorts {
  const w8 = (r: Routes) => `${r.primary}/${r.canary}`;
  return {
    observe: async () => ({
      found: true,
      spec: w.spec,
      primary: w.primaryReady ? { ready: true } : { ready: false, message: 'primary rolling' },
      canary: w.canaryReady ? { ready: true } : { ready: false, message: 'canary rolling' },
      routes: { ...w.routes },
      status: w.status,
      generation: w.generation,
    }),
    checkReadiness: async () => ({
      primary: w.primaryReady ? { ready: true } : { ready: false, message: 'primary rolling' },
      canary: w.canaryReady ? { ready: true } : { ready: false, message: 'canary rolling' },
    }),
    initializePrimary: async () => void w.log.push('initializePrimary'),
    promotePrimary: async () => void w.log.push('promotePrimary'),
    scaleCanary: async (i) => void w.log.push(`scaleCanary ${i.direction}`),
    reconcileRoutes: async () => {
      w.log.push(`reconcileRoutes ${w8(w.routes)}`);
      return { ...w.routes };
    },
    setRoutes: async (i) => {
      w.log.push(`setRoutes ${w8(i.routes)}`);
      w.routes = { ...i.routes };
      return { ...w.routes };
    },
    runMetrics: async () => ({ ok: true, results: [] }),
    callWebhook: async (i) => ({ ok: !w.closed.has(i.hook.name), message: '' }),
  };
}

/** One driver per test: ticks on a fake clock that advances one interval per tick. */
function driver(w: Fake, state?: RolloutState) {
  const s = state ?? initialState({ namespace: 'ns', name: 'p' }, { hash: 'rev-2', generation: 2 }, 'test');
  let clock = 1_000_000;
  const ports = portsOf(w);
  return {
    state: s,
    async tick() {
      const outcome = await runTick(s, { ports, now: () => clock });
      clock += s.intervalMs;
      return outcome;
    },
    events: () => s.outbox.events.map((e) => e.message),
  };
}

/** A rollout under way at `canary` % (Progressing, analysis started). */
async function atWeight(w: Fake, canary: number) {
  const d = driver(w);
  for (let i = 0; i < 20 && w.routes.canary < canary; i++) await d.tick();
  assert.equal(w.routes.canary, canary);
  assert.equal(d.state.phase, 'Progressing');
  w.log.length = 0;
  d.state.outbox = { events: [], alerts: [] };
  return d;
}

describe('traffic moves only towards a ready workload', () => {
  it('initialization: primary and its Services first; apex Service, route and scale-down once the primary is ready', async () => {
    const w = fake({ primaryReady: false, status: {} });
    const d = driver(w);
    for (let i = 0; i < 3; i++) assert.equal(await d.tick(), 'continue');
    assert.deepEqual(w.log, ['initializePrimary', 'initializePrimary', 'initializePrimary']);
    assert.match(d.state.waitingFor, /^primary ready: primary rolling/);
    w.primaryReady = true;
    assert.equal(await d.tick(), 'final');
    assert.deepEqual(w.log.slice(3), ['initializePrimary', 'reconcileRoutes 100/0', 'scaleCanary down']);
    assert.equal(d.state.phase, 'Initialized');
  });

  it('App Mesh: routes (the VirtualNodes) before the primary on every initialization tick, as Flagger', async () => {
    const mesh = () => spec({ stepWeight: 10 }, { provider: 'appmesh:v1beta2', service: { port: 80 } });
    const w = fake({ primaryReady: false, status: {}, spec: mesh() });
    const d = driver(w);
    assert.equal(await d.tick(), 'continue');
    assert.deepEqual(w.log, ['reconcileRoutes 100/0', 'initializePrimary']);
    w.primaryReady = true;
    assert.equal(await d.tick(), 'final');
    assert.deepEqual(w.log.slice(2), ['reconcileRoutes 100/0', 'initializePrimary', 'scaleCanary down']);
    // A history recorded before the change (patched false) replays the old order.
    const old = fake({ status: {}, spec: mesh() });
    const s = initialState({ namespace: 'ns', name: 'p' }, { hash: 'rev-1', generation: 1 }, 'test');
    await runTick(s, { ports: portsOf(old), now: () => 1_000_000, patched: (id) => id !== MESH_ROUTES_FIRST });
    assert.deepEqual(old.log, ['initializePrimary', 'reconcileRoutes 100/0', 'scaleCanary down']);
  });

  it('rollback (abort) with the primary not ready holds the routes, then routes back and scales down once ready', async () => {
    const w = fake();
    const d = await atWeight(w, 30);
    w.primaryReady = false;
    applyControl('abort', d.state, { by: 'test' });
    assert.equal(await d.tick(), 'continue');
    assert.equal(await d.tick(), 'continue');
    assert.deepEqual(w.log, [], 'no route or scale change towards an unready primary');
    assert.equal(d.state.routes.canary, 30);
    assert.match(d.state.waitingFor, /^primary ready before routing traffic back to it/);
    w.primaryReady = true;
    assert.equal(await d.tick(), 'final');
    assert.deepEqual(w.log, ['setRoutes 100/0', 'scaleCanary down']);
    assert.equal(d.state.phase, 'Failed');
  });

  it('rollback at the primary progress deadline waits for the primary instead of routing to it', async () => {
    const w = fake();
    const d = await atWeight(w, 20);
    w.primaryReady = false;
    for (let i = 0; i < 8; i++) await d.tick(); // 80 s > the 60 s deadline
    assert.ok(d.events().some((m) => m.startsWith('Rolling back p.ns progress deadline exceeded')));
    assert.deepEqual(w.log, []);
    assert.equal(d.state.rollingBack, true);
    w.primaryReady = true;
    assert.equal(await d.tick(), 'final');
    assert.deepEqual(w.log, ['setRoutes 100/0', 'scaleCanary down']);
  });

  it('promotion routes back to the primary only after its rollout, also with skipAnalysis set meanwhile', async () => {
    const w = fake({ spec: spec({ stepWeight: 50, maxWeight: 50 }) });
    const d = await atWeight(w, 50);
    await d.tick(); // max weight reached: promote
    assert.deepEqual(w.log, ['promotePrimary']);
    assert.equal(d.state.phase, 'Promoting');
    w.primaryReady = false;
    w.spec = spec({ stepWeight: 50, maxWeight: 50 }, { skipAnalysis: true });
    await d.tick();
    await d.tick();
    assert.deepEqual(w.log, ['promotePrimary']);
    w.primaryReady = true;
    await d.tick();
    assert.equal(w.log[1], 'setRoutes 100/0');
  });

  it('a new revision mid-rollout restarts analysis (all traffic to the primary) once the primary is ready', async () => {
    const w = fake();
    const d = await atWeight(w, 20);
    w.primaryReady = false;
    d.state.pendingRevision = { hash: 'rev-3', generation: 3 };
    await d.tick();
    assert.deepEqual(w.log, []);
    assert.equal(d.state.revision.hash, 'rev-2');
    w.primaryReady = true;
    await d.tick();
    assert.deepEqual(w.log, ['setRoutes 100/0']);
    assert.equal(d.state.revision.hash, 'rev-3');
  });
});

describe('status mirrors the world under an invalid spec', () => {
  const invalid = spec({ stepWeights: [30, 20] });

  it('weights: the routes the router reports, not 0', async () => {
    const w = fake();
    const d = await atWeight(w, 30);
    w.spec = invalid;
    await d.tick();
    assert.deepEqual(d.state.routes, { primary: 70, canary: 30, mirrored: false });
    // Someone moves the route by hand meanwhile: status follows the route.
    w.routes = { primary: 80, canary: 20, mirrored: false };
    await d.tick();
    assert.equal(d.state.routes.canary, 20);
    assert.deepEqual(w.log, [], 'held: no analysis step, no route change');
  });

  it('iterations: an A/B rollout keeps its count while held', async () => {
    const match = [{ headers: { 'x-canary': { exact: 'insider' } } }];
    const w = fake({ spec: spec({ iterations: 5, match }) });
    const d = driver(w);
    for (let i = 0; i < 4; i++) await d.tick();
    const held = d.state.iterations;
    assert.ok(held >= 2);
    w.spec = spec({ iterations: 5, match, stepWeights: [30, 20] });
    await d.tick();
    await d.tick();
    assert.equal(d.state.iterations, held);
  });

  it('phase: Progressing with the errors as message and one event; Failed once the progress deadline passes', async () => {
    const w = fake();
    const d = await atWeight(w, 30);
    w.spec = invalid;
    await d.tick();
    assert.equal(d.state.phase, 'Progressing');
    assert.equal(d.state.message, 'invalid spec: spec.analysis.stepWeights: stepWeights must be strictly increasing');
    assert.match(d.state.waitingFor, /^a valid Canary spec \(progress deadline in \d+s\)/);
    // 60 s deadline, 10 s interval: held at +10 … +60 s, rolled back past it.
    for (let i = 0; i < 6; i++) assert.equal(await d.tick(), 'continue');
    assert.equal(d.events().filter((m) => m.startsWith('invalid spec')).length, 1);
    assert.deepEqual(w.log, []);
    assert.equal(await d.tick(), 'final');
    assert.equal(d.state.phase, 'Failed');
    assert.deepEqual(w.log, ['setRoutes 100/0', 'scaleCanary down']);
    assert.ok(d.events().includes('Rolling back p.ns progress deadline exceeded spec invalid for more than 60s'));
  });

  it('a spec that turns valid again before the deadline resumes where it was', async () => {
    const w = fake();
    const d = await atWeight(w, 30);
    w.spec = invalid;
    for (let i = 0; i < 5; i++) await d.tick();
    w.spec = spec({ stepWeight: 10, maxWeight: 50 });
    await d.tick();
    assert.deepEqual(w.log, ['setRoutes 60/40']);
    assert.equal(d.state.message, '');
    assert.equal(d.state.invalidSince, undefined);
  });
});

describe('spec edits reach the derived objects at the next tick, with the weights kept', () => {
  it('mid-rollout: one reconcile per new generation, no weight change', async () => {
    const w = fake();
    const d = await atWeight(w, 20);
    const synced = d.state.syncedGeneration;
    assert.equal(synced, 1);
    w.generation = 2;
    w.spec = spec(
      { stepWeight: 10, maxWeight: 50 },
      { service: { port: 80, gatewayRefs: [{ name: 'gw' }], timeout: '15s' } },
    );
    await d.tick();
    assert.deepEqual(w.log.slice(0, 2), ['initializePrimary', 'reconcileRoutes 80/20']);
    await d.tick();
    assert.equal(w.log.filter((l) => l.startsWith('reconcileRoutes')).length, 1, 'once per generation');
  });

  it('at a closed confirm-promotion gate (A/B): the edit is reconciled while the gate stays closed', async () => {
    const gate = { name: 'gate', type: 'confirm-promotion', url: 'http://gate' };
    const match = [{ headers: { 'x-canary': { exact: 'insider' } } }];
    const w = fake({ spec: spec({ iterations: 2, match, webhooks: [gate] }), closed: new Set(['gate']) });
    const d = driver(w);
    for (let i = 0; i < 6; i++) await d.tick();
    assert.equal(d.state.phase, 'WaitingPromotion');
    w.log.length = 0;
    w.generation = 2;
    w.spec = spec({ iterations: 2, match: [{ headers: { 'x-canary': { exact: 'beta' } } }], webhooks: [gate] });
    await d.tick();
    assert.deepEqual(w.log, ['initializePrimary', 'reconcileRoutes 0/100']);
    assert.equal(d.state.phase, 'WaitingPromotion');
  });

  it('a suspended Canary is left alone until it is resumed', async () => {
    const w = fake();
    const d = await atWeight(w, 20);
    w.generation = 2;
    w.spec = spec({ stepWeight: 10, maxWeight: 50 }, { suspend: true });
    await d.tick();
    assert.deepEqual(w.log, []);
    w.spec = spec({ stepWeight: 10, maxWeight: 50 });
    w.generation = 3;
    await d.tick();
    assert.deepEqual(w.log.slice(0, 2), ['initializePrimary', 'reconcileRoutes 80/20']);
  });

  it('a finished revision (nothing to roll out) still re-derives after an edit, then ends', async () => {
    const w = fake({ status: { phase: 'Succeeded', lastAppliedRevision: 'rev-2' }, generation: 7 });
    const d = driver(w);
    assert.equal(await d.tick(), 'final');
    assert.deepEqual(w.log, ['initializePrimary', 'reconcileRoutes 100/0']);
  });
});

describe('the routing view of a Canary whose analysis is invalid', () => {
  const canary = (analysis: Record<string, unknown>, service: Record<string, unknown> = {}) => ({
    metadata: { name: 'p', namespace: 'ns' },
    spec: {
      provider: 'gatewayapi:v1',
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'p' },
      service: { port: 80, gatewayRefs: [{ name: 'gw' }], ...service },
      analysis,
    },
  });

  it('keeps what routes and readiness are built from, drops the invalid analysis', () => {
    const match = [{ headers: { 'x-canary': { exact: 'insider' } } }];
    const raw = canary({ interval: '2s', threshold: 2, stepWeights: [30, 20], match, primaryReadyThreshold: 50 });
    assert.equal(parseCanary(raw).ok, false);
    const view = parseCanaryForRouting(raw);
    assert.ok(view.ok && view.lenient);
    assert.equal(view.canary.spec.analysis.interval, '2s');
    assert.deepEqual(view.canary.spec.analysis.match, match);
    assert.equal(view.canary.spec.analysis.primaryReadyThreshold, 50);
  });

  it('a valid spec is its own view; a broken service has none', () => {
    const ok = parseCanaryForRouting(canary({ interval: '1m', threshold: 1, stepWeight: 10 }));
    assert.ok(ok.ok && !ok.lenient);
    assert.equal(parseCanaryForRouting(canary({ interval: '1m', threshold: 1 }, { port: 'x' })).ok, false);
  });
});
