// The load tester as its own process (node worker/loadtester.ts), driven over HTTP exactly as Flagger webhooks
// drive flagger-loadtester: bash smoke tests against a local app, hey load counted at the target, durable gates
// across a restart, and refused commands.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import {
  REPO_ROOT,
  freePort,
  makeTempDir,
  removeTempDir,
  spawnServer,
  waitReady,
  type Server as Proc,
} from '../../dev/proc.ts';
import { createWebhookActivities } from '../../activities/webhooks/index.ts';

const dir = makeTempDir('loadtester');
const stateFile = join(dir, 'gates.json');
let port = 0;
let tester: Proc;

/** The app under test: `/token` answers a token to a POST, every request is counted. */
let appHits = 0;
const loadHeaders: { host?: string; canary?: string }[] = [];
const app: Server = createServer((req, res) => {
  appHits++;
  if (req.url === '/load') loadHeaders.push({ host: req.headers.host, canary: String(req.headers['x-canary']) });
  req.resume();
  req.on('end', () => {
    if (req.url === '/token' && req.method === 'POST') res.end('{"token":"abc"}');
    else if (req.url === '/token') res.end('{"error":"method"}');
    else res.end('ok');
  });
});
const appUrl = (path = '/') => `http://127.0.0.1:${(app.address() as AddressInfo).port}${path}`;

async function startTester(): Promise<void> {
  tester = spawnServer({
    name: 'loadtester',
    bin: process.execPath,
    args: [
      join(REPO_ROOT, 'worker', 'loadtester.ts'),
      // Flagger's single-dash spelling, as existing Deployments pass it.
      `-port=${port}`,
      '--host',
      '127.0.0.1',
      '-timeout=30s',
      '--namespace-regexp',
      '^(test|prod)$',
      '--state-file',
      stateFile,
      '--allow-command',
      'curl',
      '--allow-command',
      'grep',
      '--expose-env',
      'FLEDGE_PUBLIC',
    ],
    // A secret in the load tester's own environment: no command may read it back.
    env: { FLEDGE_SECRET: 'hunter2-secret-value', FLEDGE_PUBLIC: 'public-value' },
    logFile: join(dir, 'loadtester.log'),
  });
  await waitReady(tester, async () => (await post('/healthz', undefined)).status === 200, { timeoutMs: 20_000 });
}

async function post(path: string, body: unknown): Promise<{ status: number; text: string }> {
  const res = await request(`http://127.0.0.1:${port}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  return { status: res.statusCode, text: await res.body.text() };
}

const payload = (metadata?: Record<string, string>, namespace = 'test') => ({
  name: 'podinfo',
  namespace,
  phase: 'Progressing',
  checksum: 'abc',
  ...(metadata ? { metadata } : {}),
});

before(async () => {
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  port = await freePort();
  await startTester();
});

after(async () => {
  await tester?.stop();
  await new Promise<void>((r) => app.close(() => r()));
  removeTempDir(dir);
});

describe('bash tasks (seed-style smoke test)', () => {
  it('passes when the pipeline succeeds, and returns the output when asked', async () => {
    const cmd = `curl -sd 'anon' ${appUrl('/token')} | grep token`;
    const r = await post('/', payload({ type: 'bash', cmd, returnCmdOutput: 'true' }));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text.trim(), '{"token":"abc"}');
    assert.equal((await post('/', payload({ type: 'bash', cmd }))).text, '');
  });

  it('fails when grep finds nothing, with the output in the error', async () => {
    const cmd = `curl -s ${appUrl('/token')} | grep token`;
    const r = await post('/', payload({ type: 'bash', cmd }));
    assert.equal(r.status, 500);
    assert.match(r.text, /failed: .*exit status 1/);
  });

  it('fails when the app is down (curl exits non-zero, grep sees nothing)', async () => {
    const down = `http://127.0.0.1:${await freePort()}/token`;
    const r = await post('/', payload({ type: 'bash', cmd: `curl -sfd 'anon' ${down} | grep token` }));
    assert.equal(r.status, 500);
  });

  it('as a fledge webhook: the same hook passes and fails through callWebhook', async () => {
    const hooks = createWebhookActivities();
    const hook = (cmd: string) => ({
      canary: { namespace: 'test', name: 'podinfo' },
      revision: { hash: 'r1', generation: 1 },
      phase: 'Progressing' as const,
      hook: {
        name: 'smoke',
        type: 'pre-rollout' as const,
        url: `http://127.0.0.1:${port}/`,
        metadata: { type: 'bash', cmd },
      },
    });
    assert.equal((await hooks.callWebhook(hook(`curl -sd 'anon' ${appUrl('/token')} | grep token`))).ok, true);
    const failed = await hooks.callWebhook(hook(`curl -s ${appUrl('/token')} | grep nothing-here`));
    assert.equal(failed.ok, false);
    assert.match(failed.message, /exit status 1/);
  });
});

describe('refused commands', () => {
  it("commands never read the load tester's environment back (echo $HOME $FLEDGE_SECRET)", async () => {
    for (const cmd of [
      'echo $HOME $FLEDGE_SECRET',
      'echo "${FLEDGE_SECRET}"',
      "bash -c 'echo $FLEDGE_SECRET'",
      'sh -c "echo x$HOME"',
    ]) {
      for (const type of ['bash', 'cmd']) {
        const r = await post('/', payload({ type, cmd, returnCmdOutput: 'true' }));
        assert.equal(r.status, 400, `${type} ${cmd}: ${r.text}`);
        assert.doesNotMatch(r.text, /hunter2|\/root|public-value/, cmd);
        assert.match(r.text, /does not expand/);
      }
    }
    // Variables the operator exposed with --expose-env expand; single quotes keep $ literal, as in bash.
    const exposed = await post(
      '/',
      payload({ type: 'bash', cmd: "echo $FLEDGE_PUBLIC '$HOME'", returnCmdOutput: 'true' }),
    );
    assert.equal(exposed.status, 200, exposed.text);
    assert.equal(exposed.text, 'public-value $HOME\n');
  });

  it('a program that is not allowed is refused and never runs', async () => {
    const marker = join(dir, 'must-not-exist');
    const r = await post('/', payload({ type: 'bash', cmd: `touch ${marker}` }));
    assert.equal(r.status, 403);
    assert.match(r.text, /command touch is not allowed/);
    const { existsSync } = await import('node:fs');
    assert.equal(existsSync(marker), false);
  });

  it('every command of a pipeline and of a nested bash -c is checked', async () => {
    for (const cmd of [
      `curl -s ${appUrl()} | sh`,
      `bash -c "curl -s ${appUrl()} | rm -rf /tmp/x"`,
      `curl -s ${appUrl()} && wget ${appUrl()}`,
    ]) {
      const r = await post('/', payload({ type: 'bash', cmd }));
      assert.equal(r.status, 403, `${cmd}: ${r.text}`);
    }
  });

  it('shell tricks that could smuggle a command are syntax errors', async () => {
    for (const cmd of ['curl $(whoami)', 'curl `id`', `curl ${appUrl()} > /tmp/out`, 'curl x & touch y']) {
      const r = await post('/', payload({ type: 'bash', cmd }));
      assert.equal(r.status, 400, `${cmd}: ${r.text}`);
    }
  });

  it('async cmd tasks are checked before they are accepted', async () => {
    const r = await post('/', payload({ type: 'cmd', cmd: 'rm -rf /' }));
    assert.equal(r.status, 403);
  });

  it('kubectl and helm tasks are disabled unless enabled', async () => {
    assert.equal((await post('/', payload({ type: 'kubectl', cmd: 'get pods' }))).status, 403);
    assert.equal((await post('/', payload({ type: 'helm', cmd: 'ls' }))).status, 403);
    assert.equal((await post('/', payload({ type: 'ngrinder', cmd: 'x' }))).status, 400);
  });

  it('namespaces outside --namespace-regexp are rejected', async () => {
    const r = await post('/', payload({ type: 'bash', cmd: 'echo hi' }, 'kube-system'));
    assert.equal(r.status, 401);
    assert.equal((await post('/gate/open', payload(undefined, 'kube-system'))).status, 401);
  });

  it('a payload without metadata is a bad request', async () => {
    const r = await post('/', payload());
    assert.equal(r.status, 400);
    assert.equal(r.text, 'metadata not found in payload');
  });
});

describe('hey load generation', () => {
  it('hey -z 2s -q 10 -c 2 sends ~40 requests to the target (async cmd task)', async () => {
    const before = appHits;
    const cmd = `hey -z 2s -q 10 -c 2 -host podinfo.test -H 'X-Canary: insider' ${appUrl('/load')}`;
    const r = await post('/', payload({ type: 'cmd', cmd }));
    assert.equal(r.status, 202);
    // The same command for the same canary is not started twice while it runs.
    assert.equal((await post('/', payload({ type: 'cmd', cmd }))).status, 202);
    await new Promise((res) => setTimeout(res, 3000));
    const sent = appHits - before;
    assert.ok(sent >= 30 && sent <= 50, `expected ~40 requests, got ${sent}`);
    assert.deepEqual(loadHeaders.at(-1), { host: 'podinfo.test', canary: 'insider' });
  });

  it('hey in a bash task reports hey-style output', async () => {
    const cmd = `hey -n 10 -c 2 ${appUrl('/load')}`;
    const r = await post('/', payload({ type: 'bash', cmd, returnCmdOutput: 'true' }));
    assert.equal(r.status, 200, r.text);
    assert.match(r.text, /Requests\/sec:/);
    assert.match(r.text, /\[200\]\t10 responses/);
  });

  it('/metrics counts tasks', async () => {
    const r = await post('/metrics', undefined);
    assert.equal(r.status, 200);
    assert.match(r.text, /fledge_loadtester_tasks_total\{type="bash",result="ok"\} \d+/);
    assert.match(r.text, /fledge_loadtester_tasks_total\{type="cmd",result="skipped"\} 1/);
  });
});

describe('gates', () => {
  it('static approve and halt', async () => {
    assert.equal((await post('/gate/approve', payload())).status, 200);
    assert.equal((await post('/gate/halt', payload())).status, 403);
  });

  it('gates are closed by default, open and close on request, and survive a restart', async () => {
    const other = { ...payload(), name: 'other' };
    assert.deepEqual(await post('/gate/check', payload()), { status: 403, text: 'Forbidden' });
    assert.equal((await post('/gate/open', payload())).status, 202);
    assert.equal((await post('/rollback/open', other)).status, 202);
    assert.deepEqual(await post('/gate/check', payload()), { status: 200, text: 'Approved' });
    assert.equal((await post('/rollback/check', payload())).status, 403, 'rollback gate is separate');

    await tester.stop();
    await startTester();

    assert.deepEqual(await post('/gate/check', payload()), { status: 200, text: 'Approved' });
    assert.equal((await post('/rollback/check', other)).status, 200);
    assert.equal((await post('/gate/check', other)).status, 403);
    assert.equal((await post('/gate/close', payload())).status, 202);
    assert.equal((await post('/gate/check', payload())).status, 403);
    assert.equal((await post('/rollback/close', other)).status, 202);
    assert.equal((await post('/rollback/check', other)).status, 403);
  });
});
