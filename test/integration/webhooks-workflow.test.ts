// The real webhook activities inside a real rollout workflow (Temporal dev server, bundled workflow, in-process
// worker; the rest of the world scripted): every hook type is called at its point of the rollout with Flagger's
// payload, a rollback hook that answers 2xx rolls back, and the event hook receives every event in order.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RolloutActivities } from '../../api/ports.ts';
import { createWebhookActivities, postEvents } from '../../activities/webhooks/index.ts';
import { createScriptedActivities } from '../scripted/activities.ts';
import {
  NAMESPACE,
  canaryRaw,
  runToEnd,
  seedInitialized,
  setupEnv,
  startBundledWorker,
  type TestEnv,
} from '../workflow/env.ts';

interface Call {
  canary: string;
  hook: string;
  body: { name: string; namespace: string; phase: string; checksum: string; metadata?: Record<string, string> };
  key: string | undefined;
}

/** The receiver: `/<canary>/<hook>`; answers 200 unless the hook name starts with `no-` (403). */
const calls: Call[] = [];
const receiver: Server = createServer((req, res) => {
  let data = '';
  req.on('data', (c) => (data += c));
  req.on('end', () => {
    const [, canary = '', hook = ''] = (req.url ?? '').split('/');
    calls.push({ canary, hook, body: JSON.parse(data), key: req.headers['idempotency-key'] as string | undefined });
    res.statusCode = hook.startsWith('no-') ? 403 : 200;
    res.end(res.statusCode === 200 ? 'ok' : 'Forbidden');
  });
});
const hookUrl = (canary: string, hook: string) =>
  `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/${canary}/${hook}`;

let env: TestEnv;
let stopWorker = async () => {};

before(async () => {
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  env = await setupEnv('webhooks', { worker: false });
  const scripted = createScriptedActivities(env.world.url);
  const real = createWebhookActivities({ backoffBaseMs: 10 });
  const activities: RolloutActivities = {
    ...scripted,
    callWebhook: real.callWebhook,
    // The scripted world keeps the Kubernetes events; the real event posting runs after it, as in production.
    recordEvents: async (input) => {
      await scripted.recordEvents(input);
      await postEvents({}, input);
    },
  };
  stopWorker = await startBundledWorker(env, activities);
});

after(async () => {
  await stopWorker();
  await env?.stop();
  await new Promise<void>((r) => receiver.close(() => r()));
});

const hooksFor = (canary: string, names: [string, string][]) =>
  names.map(([name, type]) => ({ name, type, url: hookUrl(canary, name), metadata: { cmd: `run ${name}` } }));

/** Collapses repeated calls of the same hook (polled every tick) into one entry. */
function trail(canary: string): string[] {
  const out: string[] = [];
  for (const c of calls.filter((x) => x.canary === canary && !x.hook.startsWith('events'))) {
    const entry = `${c.hook}:${c.body.phase}`;
    if (out.at(-1) !== entry) out.push(entry);
  }
  return out;
}

describe('webhooks in a real workflow run', { concurrency: true }, () => {
  it('every type is called at its point, with the exact payload, and events reach the event hook in order', async () => {
    const name = 'all-hooks';
    seedInitialized(env, {
      raw: canaryRaw(name, {
        interval: '300ms',
        stepWeight: 50,
        webhooks: hooksFor(name, [
          ['confirm', 'confirm-rollout'],
          ['pre', 'pre-rollout'],
          ['load', 'rollout'],
          ['more', 'confirm-traffic-increase'],
          ['ship', 'confirm-promotion'],
          ['no-rollback', 'rollback'],
          ['post', 'post-rollout'],
          ['events', 'event'],
        ]),
      }),
    });
    const { result, world } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');

    // Flagger's order: confirm-rollout gates the start and is sent the canary's current phase (canary.Status.Phase);
    // each tick polls the rollback hook first; pre-rollout runs once before traffic moves; confirm-traffic-increase
    // before each weight step; rollout hooks during analysis; confirm-promotion at max weight; post-rollout once,
    // with the final phase.
    assert.deepEqual(trail(name), [
      'confirm:Initialized',
      'no-rollback:Progressing',
      'pre:Progressing',
      'more:Progressing',
      'no-rollback:Progressing',
      'load:Progressing',
      'more:Progressing',
      'no-rollback:Progressing',
      'load:Progressing',
      'more:Progressing',
      'ship:Progressing',
      'post:Succeeded',
    ]);

    const ship = calls.find((c) => c.canary === name && c.hook === 'ship')!;
    assert.deepEqual(ship.body, {
      name,
      namespace: NAMESPACE,
      phase: ship.body.phase,
      checksum: 'rev-2',
      metadata: { cmd: 'run ship' },
    });
    assert.ok(calls.filter((c) => c.canary === name && c.hook !== 'events').every((c) => c.body.checksum === 'rev-2'));
    assert.match(ship.key ?? '', new RegExp(`^canary/${NAMESPACE}/${name}/[^/]+/\\d+/ship$`));

    const events = calls.filter((c) => c.canary === name && c.hook === 'events');
    assert.deepEqual(
      events.map((e) => e.body.metadata?.eventMessage),
      world.log.events.map((e) => e.message),
    );
    assert.deepEqual(
      events.map((e) => e.body.metadata?.eventType),
      world.log.events.map((e) => e.type),
    );
    assert.equal(new Set(events.map((e) => e.key)).size, events.length, 'one key per event');
  });

  it('a rollback hook that answers 2xx rolls the canary back', async () => {
    const name = 'rollback-hook';
    seedInitialized(env, {
      raw: canaryRaw(name, {
        interval: '300ms',
        stepWeight: 20,
        webhooks: hooksFor(name, [
          ['load', 'rollout'],
          ['rollback', 'rollback'],
        ]),
      }),
    });
    const { result, world } = await runToEnd(env, name, { options: { retryWindowMs: 1 } });
    assert.equal(result.phase, 'Failed');
    assert.ok(world.log.events.some((e) => e.message.includes('Rolling back')));
    assert.ok(calls.some((c) => c.canary === name && c.hook === 'rollback' && c.body.phase === 'Progressing'));
  });

  it('a failing pre-rollout hook counts as failed checks with the body as reason', async () => {
    const name = 'pre-fails';
    seedInitialized(env, {
      raw: canaryRaw(name, {
        interval: '300ms',
        stepWeight: 50,
        webhooks: hooksFor(name, [['no-pre', 'pre-rollout']]),
      }),
    });
    const { result, world } = await runToEnd(env, name, { options: { retryWindowMs: 1 } });
    assert.equal(result.phase, 'Failed');
    assert.ok(
      world.log.events.some((e) => e.message.includes('no-pre') && e.message.includes('Forbidden')),
      world.log.events.map((e) => e.message).join('\n'),
    );
  });
});
