// Webhook activities against a local HTTP receiver: Flagger's payload, the ≤202 rule, timeouts, retries,
// event hooks and the Idempotency-Key header.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { WebhookInput, WebhookOutcome, WebhookSpec, WebhookType } from '../../api/ports.ts';
import {
  WEBHOOK_RETRY_ERROR,
  createWebhookActivities,
  postEvent,
  postEvents,
} from '../../activities/webhooks/index.ts';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

/** A receiver whose answer per request is scripted by `respond`; records every request. */
function receiver() {
  const got: Received[] = [];
  let respond: (req: Received, res: ServerResponse) => void = (_q, res) => res.end('ok');
  const server: Server = createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      const r = { path: req.url ?? '', headers: req.headers, body: data ? JSON.parse(data) : undefined };
      got.push(r);
      respond(r, res);
    });
  });
  return {
    got,
    server,
    set(fn: typeof respond) {
      respond = fn;
    },
    url: (path = '/') => `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`,
  };
}

const rx = receiver();
before(() => new Promise<void>((r) => rx.server.listen(0, '127.0.0.1', r)));
after(() => new Promise<void>((r) => rx.server.close(() => r())));
beforeEach(() => {
  rx.got.length = 0;
  rx.set((_q, res) => res.end('ok'));
});

const canary = { namespace: 'test', name: 'podinfo' };
const revision = { hash: '5d8f9c7b6', generation: 3 };
const hooks = createWebhookActivities({ backoffBaseMs: 10 });

function input(hook: Partial<WebhookSpec>, phase: WebhookInput['phase'] = 'Progressing'): WebhookInput {
  return { canary, revision, phase, hook: { name: 'h', type: 'rollout', url: rx.url('/hook'), ...hook } };
}

function status(code: number, body = '') {
  return (_q: Received, res: ServerResponse) => {
    res.statusCode = code;
    res.end(body);
  };
}

describe('callWebhook payload', () => {
  const types: WebhookType[] = [
    'confirm-rollout',
    'pre-rollout',
    'rollout',
    'confirm-traffic-increase',
    'confirm-promotion',
    'post-rollout',
    'rollback',
  ];
  for (const type of types) {
    it(`${type}: POSTs Flagger's JSON payload`, async () => {
      const r = await hooks.callWebhook(
        input({ type, name: `${type}-hook`, metadata: { type: 'bash', cmd: 'echo hi' } }, 'Progressing'),
      );
      assert.equal(r.ok, true);
      assert.equal(rx.got.length, 1);
      assert.equal(rx.got[0]!.path, '/hook');
      assert.equal(rx.got[0]!.headers['content-type'], 'application/json');
      assert.deepEqual(rx.got[0]!.body, {
        name: 'podinfo',
        namespace: 'test',
        phase: 'Progressing',
        checksum: '5d8f9c7b6',
        metadata: { type: 'bash', cmd: 'echo hi' },
      });
    });
  }

  it('omits metadata when the hook has none (Go omitempty)', async () => {
    await hooks.callWebhook(input({}, 'Succeeded'));
    assert.deepEqual(rx.got[0]!.body, {
      name: 'podinfo',
      namespace: 'test',
      phase: 'Succeeded',
      checksum: '5d8f9c7b6',
    });
  });

  it('the checksum is the same for the same revision and differs for another', async () => {
    await hooks.callWebhook(input({}));
    await hooks.callWebhook(input({}));
    await hooks.callWebhook({ ...input({}), revision: { hash: 'other', generation: 4 } });
    const sums = rx.got.map((g) => (g.body as { checksum: string }).checksum);
    assert.equal(sums[0], sums[1]);
    assert.notEqual(sums[0], sums[2]);
  });
});

describe('callWebhook success rule (status ≤ 202)', () => {
  for (const [code, ok] of [
    [200, true],
    [201, true],
    [202, true],
    [203, false],
    [204, false],
    [403, false],
    [500, false],
  ] as const) {
    it(`${code} → ${ok ? 'pass' : 'fail'}`, async () => {
      rx.set(status(code, code === 204 ? '' : `answer ${code}`));
      const r = await hooks.callWebhook(input({}));
      assert.equal(r.ok, ok);
      if (!ok) assert.match(r.message, code === 204 ? /status 204/ : new RegExp(`answer ${code}`));
    });
  }

  it('the response body is the failure message', async () => {
    rx.set(status(403, 'Forbidden: gate closed'));
    const r = await hooks.callWebhook(input({}));
    assert.deepEqual(r, { ok: false, message: 'Forbidden: gate closed' });
  });
});

describe('callWebhook timeout and retries', () => {
  it('fails after the hook timeout', async () => {
    rx.set((_q, res) => setTimeout(() => res.end('late'), 1000));
    const t0 = Date.now();
    const r = await hooks.callWebhook(input({ timeout: '200ms' }));
    assert.equal(r.ok, false);
    assert.match(r.message, /timeout after 200ms/);
    assert.ok(Date.now() - t0 < 900);
  });

  it('retries 5xx with backoff and counts the attempts', async () => {
    let n = 0;
    rx.set((_q, res) => {
      n++;
      res.statusCode = n < 3 ? 503 : 200;
      res.end(n < 3 ? 'busy' : 'fine');
    });
    const r = await hooks.callWebhook(input({ retries: 3 }));
    assert.deepEqual(r, { ok: true, message: 'fine' });
    assert.equal(rx.got.length, 3);
  });

  it('retries 429 and gives up after `retries` extra attempts', async () => {
    rx.set(status(429, 'slow down'));
    const r = await hooks.callWebhook(input({ retries: 2 }));
    assert.equal(r.ok, false);
    assert.equal(rx.got.length, 3);
    assert.match(r.message, /slow down \(3 attempts\)/);
  });

  it('does not retry a 4xx answer', async () => {
    rx.set(status(400, 'bad'));
    await hooks.callWebhook(input({ retries: 3 }));
    assert.equal(rx.got.length, 1);
  });

  it('does not retry without `retries`', async () => {
    rx.set(status(500, 'down'));
    await hooks.callWebhook(input({}));
    assert.equal(rx.got.length, 1);
  });

  it('retries connection errors and reports them without the query string', async () => {
    const r = await hooks.callWebhook(input({ url: 'http://127.0.0.1:1/hook?token=secret', retries: 1 }));
    assert.equal(r.ok, false);
    assert.match(r.message, /ECONNREFUSED/);
    assert.match(r.message, /2 attempts/);
    assert.doesNotMatch(r.message, /secret/);
  });

  it('an invalid URL is a failed check, not an exception', async () => {
    const r = await hooks.callWebhook(input({ url: 'not a url' }));
    assert.equal(r.ok, false);
  });
});

/** A TCP server that accepts connections and never answers (a hung receiver); counts requests. */
async function hangingReceiver() {
  const sockets: Socket[] = [];
  let requests = 0;
  const server = createTcpServer((s) => {
    sockets.push(s);
    // Count requests, not connections: undici may open a spare connection after aborting one.
    s.once('data', () => requests++);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    requests: () => requests,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe('callWebhook inside an activity: Temporal retries, bounded attempts', () => {
  const activity = (attempt: number, startToCloseTimeoutMs = 10_000) =>
    new MockActivityEnvironment({
      attempt,
      startToCloseTimeoutMs,
      activityId: '3',
      workflowExecution: { workflowId: 'canary/test/podinfo', runId: 'run-1' },
    });
  const retrying = createWebhookActivities({ backoffBaseMs: 10, backoffMaxMs: 40 });

  it('a 5xx before the last attempt sends one request and throws a retryable failure with the backoff', async () => {
    rx.set(status(503, 'busy'));
    await assert.rejects(activity(2).run(retrying.callWebhook, input({ retries: 3 })), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure, String(err));
      assert.equal(err.type, WEBHOOK_RETRY_ERROR);
      assert.equal(err.nonRetryable, false);
      assert.equal(err.nextRetryDelay, 20);
      assert.match(err.message, /busy \(attempt 2 of 4\)/);
      return true;
    });
    assert.equal(rx.got.length, 1, 'one request per activity attempt');
  });

  it('the last allowed attempt returns the failure: one failed check', async () => {
    rx.set(status(503, 'busy'));
    const r = await activity(4).run(retrying.callWebhook, input({ retries: 3 }));
    assert.deepEqual(r, { ok: false, message: 'busy (4 attempts)' });
    assert.equal(rx.got.length, 1);
  });

  it('retries are capped: a hook asking for 1000 retries ends after 11 attempts', async () => {
    rx.set(status(500, 'down'));
    await assert.rejects(activity(10).run(retrying.callWebhook, input({ retries: 1000 })), ApplicationFailure);
    const r = await activity(11).run(retrying.callWebhook, input({ retries: 1000 }));
    assert.deepEqual(r, { ok: false, message: 'down (11 attempts)' });
  });

  it('a 4xx answer and a success are returned on the first attempt', async () => {
    rx.set(status(403, 'closed'));
    assert.deepEqual(await activity(1).run(retrying.callWebhook, input({ retries: 3 })), {
      ok: false,
      message: 'closed',
    });
    rx.set(status(200, 'fine'));
    assert.deepEqual(await activity(1).run(retrying.callWebhook, input({ retries: 3 })), {
      ok: true,
      message: 'fine',
    });
    assert.equal(rx.got.length, 2);
  });

  it(
    "a hung receiver is cut at the activity's start-to-close timeout, whatever the hook's timeout",
    { timeout: 10_000 },
    async () => {
      const hung = await hangingReceiver();
      try {
        const t0 = Date.now();
        const r: WebhookOutcome = await activity(1, 1500).run(
          retrying.callWebhook,
          input({ url: hung.url, timeout: '1h' }),
        );
        const took = Date.now() - t0;
        assert.equal(r.ok, false);
        assert.match(r.message, /timeout after \d+ms/);
        assert.ok(took < 1500, `returned before the activity timeout (took ${took} ms)`);
        assert.equal(hung.requests(), 1);
      } finally {
        await hung.close();
      }
    },
  );

  it('event posts with in-call retries end before the activity deadline', { timeout: 10_000 }, async () => {
    rx.set(status(500, 'down'));
    const t0 = Date.now();
    const out: WebhookOutcome[] = await activity(1, 2000).run(() =>
      postEvent(
        { backoffBaseMs: 100, backoffMaxMs: 100 },
        {
          canary,
          revision,
          phase: 'Progressing',
          event: { type: 'Normal', message: 'x' },
          hooks: [{ name: 'sink', type: 'event', url: rx.url('/events'), retries: 50 }],
        },
      ),
    );
    const took = Date.now() - t0;
    assert.equal(out[0]!.ok, false);
    assert.ok(took < 2000, `took ${took} ms`);
    assert.ok(rx.got.length > 3 && rx.got.length < 51, `${rx.got.length} requests`);
  });
});

describe('Idempotency-Key', () => {
  it('is workflow id + run id + activity id + hook name inside an activity', async () => {
    const env = new MockActivityEnvironment({
      activityId: '7',
      workflowExecution: { workflowId: 'canary/test/podinfo', runId: 'run-1' },
    });
    await env.run(hooks.callWebhook, input({ name: 'load-test' }));
    assert.equal(rx.got[0]!.headers['idempotency-key'], 'canary/test/podinfo/run-1/7/load-test');
  });

  it('an explicit key wins', async () => {
    await hooks.callWebhook({ ...input({}), idempotencyKey: 'k-1' } as WebhookInput);
    assert.equal(rx.got[0]!.headers['idempotency-key'], 'k-1');
  });
});

describe('event hooks', () => {
  const eventHook: WebhookSpec = { name: 'sink', type: 'event', url: '', metadata: { team: 'a', eventType: 'x' } };

  it('every event reaches the hook in order with Flagger metadata', async () => {
    const events = Array.from({ length: 6 }, (_, i) => ({
      type: i % 2 ? ('Warning' as const) : ('Normal' as const),
      message: `event ${i}`,
    }));
    await postEvents(
      { now: () => 1_700_000_000_123 },
      {
        canary,
        revision,
        phase: 'Progressing',
        runId: 'r1',
        firstSequence: 10,
        events,
        eventHooks: [{ ...eventHook, url: rx.url('/events') }],
      },
    );
    assert.deepEqual(
      rx.got.map((g) => (g.body as { metadata: Record<string, string> }).metadata.eventMessage),
      events.map((e) => e.message),
    );
    assert.deepEqual(rx.got[1]!.body, {
      name: 'podinfo',
      namespace: 'test',
      phase: 'Progressing',
      checksum: '5d8f9c7b6',
      // The hook's own metadata is added but never overrides the event fields.
      metadata: { eventMessage: 'event 1', eventType: 'Warning', timestamp: '1700000000123', team: 'a' },
    });
    assert.equal(rx.got[0]!.headers['idempotency-key'], 'canary/test/podinfo/r1/event-10/sink');
    assert.equal(rx.got[5]!.headers['idempotency-key'], 'canary/test/podinfo/r1/event-15/sink');
  });

  it('the global event webhook gets events of canaries without an event hook', async () => {
    const event = { type: 'Normal' as const, message: 'hello' };
    const base = { canary, revision, phase: 'Progressing' as const, event };
    await postEvent({ eventWebhook: rx.url('/global') }, { ...base, hooks: [] });
    await postEvent({ eventWebhook: rx.url('/global') }, { ...base, hooks: [{ ...eventHook, url: rx.url('/own') }] });
    assert.deepEqual(
      rx.got.map((g) => g.path),
      ['/global', '/own'],
    );
  });

  it('a failing sink is reported, not thrown', async () => {
    rx.set(status(500, 'nope'));
    const out = await postEvent(
      {},
      {
        canary,
        revision,
        phase: 'Failed',
        event: { type: 'Warning', message: 'x' },
        hooks: [{ ...eventHook, url: rx.url() }],
      },
    );
    assert.deepEqual(out, [{ ok: false, message: 'nope' }]);
  });
});
