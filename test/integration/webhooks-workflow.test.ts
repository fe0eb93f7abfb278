// The real webhook activities inside a real rollout workflow (Temporal dev server, bundled workflow, in-process
// worker; the rest of the world scripted): every hook type is called at its point of the rollout with Flagger's
// payload, a rollback hook that answers 2xx rolls back, and the event hook receives every event in order.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import type { CanaryRef, RolloutActivities } from '../../api/ports.ts';
import { parseCanary } from '../../api/validate.ts';
import { createWebhookActivities, postEvents } from '../../activities/webhooks/index.ts';
import { createScriptedActivities } from '../scripted/activities.ts';
import { rolloutWorkflowId } from '../../workflows/controls.ts';
import type { RolloutOptions } from '../../workflows/rollout.ts';
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

/**
 * The receiver: `/<canary>/<hook>`; answers 200, except hooks named `no-…` (403), `down…` (503 forever) and
 * `slow…` (answers after 10 s, longer than any timeout in these tests).
 */
const calls: Call[] = [];
const receiver: Server = createServer((req, res) => {
  let data = '';
  req.on('data', (c) => (data += c));
  req.on('end', () => {
    const [, canary = '', hook = ''] = (req.url ?? '').split('/');
    calls.push({ canary, hook, body: JSON.parse(data), key: req.headers['idempotency-key'] as string | undefined });
    if (hook.startsWith('slow')) {
      setTimeout(() => res.end('late'), 10_000).unref();
      return;
    }
    res.statusCode = hook.startsWith('no-') ? 403 : hook.startsWith('down') ? 503 : 200;
    res.end(res.statusCode === 200 ? 'ok' : res.statusCode === 403 ? 'Forbidden' : 'unavailable');
  });
});

/** A TCP receiver that accepts connections and never answers; counts the requests it got. */
const hungSockets: Socket[] = [];
let hungRequests = 0;
const hung = createTcpServer((s) => {
  hungSockets.push(s);
  // Count requests, not connections: undici may open a spare connection after aborting one.
  s.once('data', () => hungRequests++);
  s.on('error', () => undefined);
});
const hungUrl = () => `http://127.0.0.1:${(hung.address() as AddressInfo).port}/hook`;
const hookUrl = (canary: string, hook: string) =>
  `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/${canary}/${hook}`;

let env: TestEnv;
let stopWorker = async () => {};

before(async () => {
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
  env = await setupEnv('webhooks', { worker: false });
  const scripted = createScriptedActivities(env.world.url);
  // The workflow passes webhook refs (name, type, URL digest); the activities read URL and metadata from the Canary.
  const resolveHooks = async (canary: CanaryRef) => {
    const parsed = parseCanary(env.world.get(`${canary.namespace}/${canary.name}`).raw);
    return parsed.ok ? parsed.canary.spec.analysis.webhooks : undefined;
  };
  const real = createWebhookActivities({ backoffBaseMs: 10, backoffMaxMs: 40, resolveHooks });
  const activities: RolloutActivities = {
    ...scripted,
    callWebhook: real.callWebhook,
    // The scripted world keeps the Kubernetes events; the real event posting runs after it, as in production.
    recordEvents: async (input) => {
      await scripted.recordEvents(input);
      await postEvents({ resolveHooks }, input);
    },
    // The tick's events ride along its status write (event-driven-phases).
    writeStatus: async (input) => {
      await scripted.writeStatus(input);
      if (input.events) await postEvents({ resolveHooks }, { ...input.events, canary: input.canary });
    },
  };
  stopWorker = await startBundledWorker(env, activities);
});

after(async () => {
  await stopWorker();
  await env?.stop();
  receiver.closeAllConnections();
  await new Promise<void>((r) => receiver.close(() => r()));
  for (const sock of hungSockets) sock.destroy();
  await new Promise<void>((r) => hung.close(() => r()));
});

/** Runs the rollout to its end, or fails the test (terminating the workflow) when it takes longer than `ms`. */
async function runBounded(name: string, ms: number, options: RolloutOptions) {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`rollout ${name} did not end within ${ms} ms`)), ms);
  });
  const started = Date.now();
  try {
    const out = await Promise.race([runToEnd(env, name, { options }), deadline]);
    return { ...out, tookMs: Date.now() - started };
  } catch (err) {
    await env.client.workflow
      .getHandle(rolloutWorkflowId({ namespace: NAMESPACE, name }))
      .terminate('test deadline')
      .catch(() => undefined);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

const failedChecks = (world: { log: { events: { type: string; message: string }[] } }, hook: string) =>
  world.log.events.filter((e) => e.type === 'Warning' && e.message.includes(`external check ${hook} failed`));

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

  // Flagger semantics: a webhook that cannot be called successfully is one failed check per call. Its retries are
  // activity attempts, each cut to the activity's timeout, so a receiver that keeps failing, times out or hangs
  // ends the call in bounded time instead of an activity retried for ever.
  it('a receiver answering 5xx forever: 1 + retries requests per call, one failed check per call', async () => {
    const name = 'hook-5xx';
    seedInitialized(env, {
      raw: canaryRaw(name, {
        interval: '300ms',
        stepWeight: 50,
        threshold: 2,
        webhooks: [{ ...hooksFor(name, [['down', 'rollout']])[0], retries: 3 }],
      }),
    });
    const { result, world } = await runBounded(name, 60_000, { retryWindowMs: 1 });
    assert.equal(result.phase, 'Failed');
    assert.equal(failedChecks(world, 'down').length, 2, world.log.events.map((e) => e.message).join('\n'));
    assert.match(failedChecks(world, 'down')[0]!.message, /unavailable \(4 attempts\)/);
    assert.equal(calls.filter((c) => c.canary === name && c.hook === 'down').length, 2 * 4);
  });

  it('a receiver slower than the hook timeout, with retries that outlast the activity timeout', async () => {
    const name = 'hook-slow';
    seedInitialized(env, {
      raw: canaryRaw(name, {
        interval: '300ms',
        stepWeight: 50,
        threshold: 1,
        webhooks: [{ ...hooksFor(name, [['slow', 'rollout']])[0], timeout: '1s', retries: 2 }],
      }),
    });
    // Three 1 s attempts do not fit one 2 s activity attempt; as three activity attempts they do.
    const { result, world, tookMs } = await runBounded(name, 30_000, { retryWindowMs: 1, activityTimeout: '2s' });
    assert.equal(result.phase, 'Failed');
    const failed = failedChecks(world, 'slow');
    assert.equal(failed.length, 1);
    assert.match(failed[0]!.message, /timeout after 1000ms \(3 attempts\)/);
    assert.equal(calls.filter((c) => c.canary === name && c.hook === 'slow').length, 3);
    assert.ok(tookMs < 15_000, `took ${tookMs} ms`);
  });

  it('a receiver that accepts and never answers, with a hook timeout longer than the activity timeout', async () => {
    const name = 'hook-hung';
    const before = hungRequests;
    seedInitialized(env, {
      raw: canaryRaw(name, {
        interval: '300ms',
        stepWeight: 50,
        threshold: 1,
        webhooks: [{ name: 'hung', type: 'rollout', url: hungUrl(), timeout: '1h' }],
      }),
    });
    const { result, world, tookMs } = await runBounded(name, 30_000, { retryWindowMs: 1, activityTimeout: '2s' });
    assert.equal(result.phase, 'Failed');
    const failed = failedChecks(world, 'hung');
    assert.equal(failed.length, 1);
    assert.match(failed[0]!.message, /timeout after \d+ms/);
    assert.equal(hungRequests - before, 1, 'one request: the hook has no retries');
    assert.ok(tookMs < 15_000, `took ${tookMs} ms`);
  });
});
