// Durability: SIGKILL the worker process at several points of a 10-step canary and start a new one each time.
// The world lives in this test process, so it survives; the route sequence must equal the uninterrupted one.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import type { RolloutResult } from '../../workflows/rollout.ts';
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
import { kill, startWorkerProcess } from '../scripted/worker-process.ts';

let env: TestEnv;
const children = new Set<ChildProcess>();
before(async () => {
  env = await setupEnv('crash', { worker: false });
});
after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await env?.stop();
});

const TEN_STEPS = ['90/10', '80/20', '70/30', '60/40', '50/50', '40/60', '30/70', '20/80', '10/90', '0/100', '100/0'];

describe('worker crashes', () => {
  it('SIGKILL at several points of a 10-step canary: same routes, phases and actions as without crashes', async () => {
    const name = 'crash';
    const world = seedInitialized(env, {
      raw: canaryRaw(name, { interval: '500ms', stepWeight: 10, metrics: [metric('error-rate', 1)] }),
    });
    let worker = await startWorkerProcess(env, children);
    const handle = await startRollout(env, name, { options: { activityTimeout: '3s' } });
    const crashPoints: [string, () => boolean][] = [
      ['scaled up', () => world.log.actions.includes('scale-canary up')],
      ['after 20%', () => world.log.routes.length >= 2],
      ['after 50%', () => world.log.routes.length >= 5],
      ['after 80%', () => world.log.routes.length >= 8],
      ['promoting', () => world.log.phases.includes('Promoting')],
    ];
    for (const [label, reached] of crashPoints) {
      await waitUntil(label, reached, 60_000);
      await kill(worker);
      worker = await startWorkerProcess(env, children);
    }
    const result = (await handle.result()) as RolloutResult;
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(routeTrail(world.log.routes), TEN_STEPS);
    assert.deepEqual(world.log.phases, ['Progressing', 'Promoting', 'Finalising', 'Succeeded']);
    assert.deepEqual(world.log.actions, ['scale-canary up', 'promote rev-2', 'scale-canary down']);
    const advances = world.log.events.filter((e) => e.message.startsWith(`Advance ${name}.${NAMESPACE} canary weight`));
    assert.equal(advances.length, 10, 'each step announced exactly once');
    await kill(worker);
  });
});
