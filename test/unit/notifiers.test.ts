// Alert activities against a local receiver: each provider's JSON body and headers, severity routing, provider
// and Secret resolution, the global notifier, metadata fields, bounded retries of 5xx and dropped connections
// (never of a 4xx), and that failures are logged once and swallowed.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type { AlertInput, AlertSpec } from '../../api/ports.ts';
import {
  ALERT_RETRIES,
  createAlertActivities,
  globalNotifierFromEnv,
  type AlertLookup,
} from '../../activities/notifiers/index.ts';
import { shouldAlert } from '../../activities/notifiers/routing.ts';
import { discordUrl } from '../../activities/notifiers/discord.ts';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

const got: Received[] = [];
let respond: (res: ServerResponse) => void = (res) => res.end('ok');
const server: Server = createServer((req, res) => {
  let data = '';
  req.on('data', (c) => (data += c));
  req.on('end', () => {
    got.push({ path: req.url ?? '', headers: req.headers, body: JSON.parse(data) });
    respond(res);
  });
});
const url = (path: string) => `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;

before(() => new Promise<void>((r) => server.listen(0, '127.0.0.1', r)));
after(() => new Promise<void>((r) => server.close(() => r())));
beforeEach(() => {
  got.length = 0;
  respond = (res) => res.end('ok');
});

const canaryObject = {
  apiVersion: 'flagger.app/v1beta1',
  kind: 'Canary',
  metadata: { name: 'podinfo', namespace: 'test', uid: 'abc', resourceVersion: '12' },
  spec: {
    provider: 'kubernetes',
    targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' },
    service: { port: 9898 },
    analysis: { interval: '1m', threshold: 5, maxWeight: 50, stepWeight: 10 },
  },
  status: { phase: 'Progressing' },
};

function provider(name: string, spec: Record<string, unknown>, namespace = 'test') {
  return { apiVersion: 'flagger.app/v1beta1', kind: 'AlertProvider', metadata: { name, namespace }, spec };
}

/** A scripted cluster: providers and secrets by "namespace/name". */
function lookup(providers: Record<string, unknown>, secrets: Record<string, Record<string, string>> = {}): AlertLookup {
  return {
    canary: async () => canaryObject,
    alertProvider: async (ns, name) => {
      const p = providers[`${ns}/${name}`];
      if (!p) throw Object.assign(new Error('HTTP-Code: 404 body: {"secret":"leak"}'), { code: 404 });
      return p;
    },
    secret: async (ns, name) => {
      const s = secrets[`${ns}/${name}`];
      if (!s) throw Object.assign(new Error('not found'), { code: 404 });
      return s;
    },
  };
}

function alertInput(alerts: AlertSpec[], over: Partial<AlertInput> = {}): AlertInput {
  return {
    canary: { namespace: 'test', name: 'podinfo' },
    message: 'New revision detected, progressing canary analysis.',
    severity: 'info',
    metadata: false,
    alerts,
    ...over,
  };
}

const alertTo = (name: string, severity: AlertSpec['severity'] = 'info', namespace?: string): AlertSpec => ({
  name,
  severity,
  providerRef: namespace ? { name, namespace } : { name },
});

describe('provider payloads', () => {
  it('slack: attachment with author, colour by severity, fields, channel and username', async () => {
    const a = createAlertActivities({
      lookup: lookup({ 'test/slack': provider('slack', { type: 'slack', address: url('/slack'), channel: 'ops' }) }),
    });
    await a.sendAlert(alertInput([alertTo('slack')], { metadata: true }));
    await a.sendAlert(alertInput([alertTo('slack')], { severity: 'error', message: 'Canary failed' }));
    assert.equal(got.length, 2);
    assert.equal(got[0]!.path, '/slack');
    assert.match(String(got[0]!.headers['content-type']), /application\/json/);
    assert.equal(got[0]!.headers.authorization, undefined);
    assert.deepEqual(got[0]!.body, {
      channel: 'ops',
      username: 'flagger',
      icon_url: '',
      icon_emoji: ':rocket:',
      attachments: [
        {
          color: 'good',
          author_name: 'podinfo.test',
          text: 'New revision detected, progressing canary analysis.',
          mrkdwn_in: ['text'],
          fields: [
            { title: 'Target', value: 'Deployment/podinfo.test', short: false },
            { title: 'Failed checks threshold', value: '5', short: false },
            { title: 'Progress deadline', value: '600s', short: false },
            { title: 'Traffic routing', value: 'Weight step: 10 max: 50', short: false },
          ],
        },
      ],
    });
    const second = got[1]!.body as { attachments: { color: string; fields: unknown[]; text: string }[] };
    assert.equal(second.attachments[0]!.color, 'danger');
    assert.equal(second.attachments[0]!.text, 'Canary failed');
    assert.deepEqual(second.attachments[0]!.fields, []);
  });

  it('slack: address and token from the Secret; the token is a bearer header', async () => {
    const a = createAlertActivities({
      lookup: lookup(
        { 'test/s': provider('s', { type: 'slack', secretRef: { name: 'slack-secret' }, username: 'bot' }) },
        { 'test/slack-secret': { address: url('/from-secret'), token: 'xoxb-1' } },
      ),
    });
    await a.sendAlert(alertInput([alertTo('s')]));
    assert.equal(got[0]!.path, '/from-secret');
    assert.equal(got[0]!.headers.authorization, 'Bearer xoxb-1');
    assert.equal((got[0]!.body as { username: string; channel: string }).username, 'bot');
    assert.equal((got[0]!.body as { username: string; channel: string }).channel, 'general');
  });

  it('msteams: MessageCard with facts; red theme for errors', async () => {
    const a = createAlertActivities({
      lookup: lookup({ 'test/teams': provider('teams', { type: 'msteams', address: url('/teams') }) }),
    });
    await a.sendAlert(alertInput([alertTo('teams')], { metadata: true }));
    await a.sendAlert(alertInput([alertTo('teams')], { severity: 'error' }));
    assert.deepEqual(got[0]!.body, {
      '@type': 'MessageCard',
      '@context': 'http://schema.org/extensions',
      themeColor: '0076D7',
      summary: 'podinfo.test',
      sections: [
        {
          activityTitle: 'New revision detected, progressing canary analysis.',
          activitySubtitle: 'podinfo.test',
          facts: [
            { name: 'Target', value: 'Deployment/podinfo.test' },
            { name: 'Failed checks threshold', value: '5' },
            { name: 'Progress deadline', value: '600s' },
            { name: 'Traffic routing', value: 'Weight step: 10 max: 50' },
          ],
        },
      ],
    });
    assert.equal((got[1]!.body as { themeColor: string }).themeColor, 'FF0000');
  });

  it('discord: Slack format posted to <hook>/slack', async () => {
    const a = createAlertActivities({
      lookup: lookup({
        'test/d': provider('d', { type: 'discord', address: url('/api/webhooks/1/abc'), channel: 'c', username: 'u' }),
      }),
    });
    await a.sendAlert(alertInput([alertTo('d')], { severity: 'error' }));
    assert.equal(got[0]!.path, '/api/webhooks/1/abc/slack');
    const body = got[0]!.body as { channel: string; username: string; attachments: { color: string }[] };
    assert.equal(body.channel, 'c');
    assert.equal(body.username, 'u');
    assert.equal(body.attachments[0]!.color, 'danger');
    assert.equal(
      discordUrl('https://discord.com/api/webhooks/1/abc/slack'),
      'https://discord.com/api/webhooks/1/abc/slack',
    );
  });

  it('rocket: Slack format with hex colours', async () => {
    const a = createAlertActivities({
      lookup: lookup({ 'test/r': provider('r', { type: 'rocket', address: url('/rocket') }) }),
    });
    await a.sendAlert(alertInput([alertTo('r')]));
    await a.sendAlert(alertInput([alertTo('r')], { severity: 'error' }));
    const colors = got.map((g) => (g.body as { attachments: { color: string }[] }).attachments[0]!.color);
    assert.deepEqual(colors, ['#0076D7', '#FF0000']);
    assert.equal((got[0]!.body as { icon_emoji: string }).icon_emoji, ':rocket:');
  });

  it('gchat: card with header and one paragraph per field', async () => {
    const a = createAlertActivities({
      lookup: lookup({ 'test/g': provider('g', { type: 'gchat', address: url('/gchat') }) }),
    });
    await a.sendAlert(alertInput([alertTo('g')], { metadata: true, message: 'hello' }));
    const body = got[0]!.body as {
      cards: { header: unknown; sections: { widgets: { textParagraph: { text: string } }[] }[] }[];
    };
    assert.deepEqual(body.cards[0]!.header, {
      title: 'Flagger',
      subtitle: 'podinfo.test',
      imageUrl: 'https://flagger.app/favicon.png',
    });
    assert.deepEqual(
      body.cards[0]!.sections.map((s) => s.widgets[0]!.textParagraph.text),
      [
        '<font color=#848484><strong>hello</strong></font>',
        'Target<br><font color=#848484><strong>Deployment/podinfo.test</strong></font>',
        'Failed checks threshold<br><font color=#848484><strong>5</strong></font>',
        'Progress deadline<br><font color=#848484><strong>600s</strong></font>',
        'Traffic routing<br><font color=#848484><strong>Weight step: 10 max: 50</strong></font>',
      ],
    );
  });
});

describe('severity routing', () => {
  it('info gets all, warn gets warn+error, error gets error; empty means info', () => {
    const table: [AlertSpec['severity'] | '', AlertSpec['severity'], boolean][] = [
      ['info', 'info', true],
      ['info', 'warn', true],
      ['info', 'error', true],
      ['warn', 'info', false],
      ['warn', 'warn', true],
      ['warn', 'error', true],
      ['error', 'info', false],
      ['error', 'warn', false],
      ['error', 'error', true],
      ['', 'info', true],
      ['', 'error', true],
    ];
    for (const [sub, msg, want] of table) assert.equal(shouldAlert(sub, msg), want, `${sub || '(empty)'} ← ${msg}`);
  });

  it('routes each message to the subscribed providers on the wire', async () => {
    const providers = {
      'test/all': provider('all', { type: 'slack', address: url('/info') }),
      'test/warn': provider('warn', { type: 'slack', address: url('/warn') }),
      'ops/err': provider('err', { type: 'slack', address: url('/error') }, 'ops'),
    };
    const a = createAlertActivities({ lookup: lookup(providers) });
    const alerts = [alertTo('all', 'info'), alertTo('warn', 'warn'), alertTo('err', 'error', 'ops')];
    for (const severity of ['info', 'warn', 'error'] as const) {
      await a.sendAlert(alertInput(alerts, { severity, message: severity }));
    }
    const seen = got.map((g) => `${(g.body as { attachments: { text: string }[] }).attachments[0]!.text}→${g.path}`);
    assert.deepEqual(seen, ['info→/info', 'warn→/info', 'warn→/warn', 'error→/info', 'error→/warn', 'error→/error']);
  });
});

/** A pino-shaped logger that records warn and error lines. */
function recorder() {
  const logged: string[] = [];
  const log = {
    error: (o: object, m: string) => logged.push(`${m} ${JSON.stringify(o)}`),
    warn: (o: object, m: string) => logged.push(`${m} ${JSON.stringify(o)}`),
    info: () => undefined,
  } as never;
  return { log, logged };
}

const slack = (path: string) => provider('s', { type: 'slack', address: url(path) });

describe('global notifier and failures', () => {
  it('a Canary without alerts uses the global notifier (MS Teams wins over Slack, as in Flagger)', async () => {
    const g = globalNotifierFromEnv({ SLACK_URL: url('/global-slack'), SLACK_CHANNEL: 'deploys' });
    await createAlertActivities({ globalNotifier: g }).sendAlert(alertInput([]));
    assert.equal(got[0]!.path, '/global-slack');
    assert.equal((got[0]!.body as { channel: string }).channel, 'deploys');
    const both = globalNotifierFromEnv({ SLACK_URL: url('/s'), MSTEAMS_URL: url('/t') });
    await createAlertActivities({ globalNotifier: both }).sendAlert(alertInput([]));
    assert.equal(got[1]!.path, '/t');
  });

  it('a Canary with alerts does not use the global notifier', async () => {
    const a = createAlertActivities({
      globalNotifier: { slackUrl: url('/global') },
      lookup: lookup({ 'test/x': provider('x', { type: 'slack', address: url('/own') }) }),
    });
    await a.sendAlert(alertInput([alertTo('x')]));
    assert.deepEqual(
      got.map((g) => g.path),
      ['/own'],
    );
  });

  it('missing providers, bad secrets and failing receivers are logged, never thrown', async () => {
    const logged: string[] = [];
    const log = {
      error: (o: object, m: string) => logged.push(`${m} ${JSON.stringify(o)}`),
      warn: (o: object, m: string) => logged.push(`${m} ${JSON.stringify(o)}`),
      info: () => undefined,
    } as never;
    respond = (res) => {
      res.statusCode = 500;
      res.end('down');
    };
    const a = createAlertActivities({
      log,
      backoffBaseMs: 10,
      lookup: lookup({
        'test/bad-secret': provider('bad-secret', { type: 'slack', secretRef: { name: 'missing' } }),
        'test/down': provider('down', { type: 'msteams', address: url('/down') }),
      }),
    });
    await a.sendAlert(alertInput([alertTo('nope'), alertTo('bad-secret'), alertTo('down')]));
    assert.equal(got.length, 1 + ALERT_RETRIES, 'the 500 is retried');
    assert.equal(logged.length, 3);
    assert.ok(
      logged.every((l) => !l.includes('leak')),
      'API error bodies are not logged',
    );
  });

  it('a 500 then a 200: delivered once, after one retry, nothing logged', async () => {
    const { log, logged } = recorder();
    let n = 0;
    respond = (res) => {
      res.statusCode = n++ === 0 ? 500 : 200;
      res.end(res.statusCode === 200 ? 'ok' : 'down');
    };
    const a = createAlertActivities({ log, backoffBaseMs: 10, lookup: lookup({ 'test/s': slack('/flaky') }) });
    await a.sendAlert(alertInput([alertTo('s')]));
    assert.deepEqual(
      got.map((g) => g.path),
      ['/flaky', '/flaky'],
    );
    assert.deepEqual(logged, []);
  });

  it('a connection dropped without an answer is retried too', async () => {
    let n = 0;
    respond = (res) => {
      if (n++ === 0) res.socket?.destroy();
      else res.end('ok');
    };
    const { log, logged } = recorder();
    const a = createAlertActivities({ log, backoffBaseMs: 10, lookup: lookup({ 'test/s': slack('/drop') }) });
    await a.sendAlert(alertInput([alertTo('s')]));
    assert.equal(got.length, 2);
    assert.deepEqual(logged, []);
  });

  it('a 5xx forever: bounded attempts, then one log line, never thrown', async () => {
    const { log, logged } = recorder();
    respond = (res) => {
      res.statusCode = 503;
      res.end('unavailable');
    };
    const a = createAlertActivities({ log, backoffBaseMs: 10, lookup: lookup({ 'test/s': slack('/down') }) });
    await a.sendAlert(alertInput([alertTo('s')]));
    assert.equal(got.length, 3);
    assert.equal(logged.length, 1);
    assert.match(logged[0]!, /alert provider send error.*"status":503.*"attempts":3/);
  });

  it('a 400 is one attempt and one log line', async () => {
    const { log, logged } = recorder();
    respond = (res) => {
      res.statusCode = 400;
      res.end('invalid_payload');
    };
    const a = createAlertActivities({ log, backoffBaseMs: 10, lookup: lookup({ 'test/s': slack('/bad') }) });
    await a.sendAlert(alertInput([alertTo('s')]));
    assert.equal(got.length, 1);
    assert.equal(logged.length, 1);
    assert.match(logged[0]!, /alert provider send error.*"status":400/);
  });

  it('posts through the provider proxy', async () => {
    const tunnels: string[] = [];
    // undici sends plain-HTTP targets to the proxy in absolute form, and tunnels HTTPS with CONNECT.
    const proxy = createServer((req, res) => {
      tunnels.push(req.url ?? '');
      const up = request(req.url ?? '', { method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      req.pipe(up);
    });
    proxy.on('connect', (req, client, head) => {
      tunnels.push(req.url ?? '');
      const [host, port] = (req.url ?? '').split(':');
      const upstream = connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const a = createAlertActivities({
        lookup: lookup({ 'test/p': provider('p', { type: 'slack', address: url('/via-proxy'), proxy: proxyUrl }) }),
      });
      await a.sendAlert(alertInput([alertTo('p')]));
      assert.equal(got[0]?.path, '/via-proxy');
      assert.deepEqual(tunnels, [url('/via-proxy')]);
    } finally {
      proxy.closeAllConnections();
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });
});
