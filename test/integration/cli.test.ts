// The fledge CLI against a real Temporal dev server running the real rollout workflow (scripted activities):
// controls as updates with validator errors printed, status blocking until the end with its exit code,
// history from visibility with who promoted, describe with the steps.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../../cli/fledge.ts';
import { startCluster, type Cluster } from '../../dev/cluster.ts';
import type { Io } from '../../cli/commands.ts';
import {
  NAMESPACE,
  canaryRaw,
  routeTrail,
  seedInitialized,
  setupEnv,
  startRollout,
  waitUntil,
  type TestEnv,
} from '../workflow/env.ts';

let env: TestEnv;
let cluster: Cluster;
before(async () => {
  env = await setupEnv('cli');
  cluster = await startCluster({ gatewayApi: false });
  await cluster.kubectl(['create', 'namespace', NAMESPACE]);
});
after(async () => {
  await Promise.all([env?.stop(), cluster?.stop()]);
});

async function fledge(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io: Io & { o: string; e: string } = {
    o: '',
    e: '',
    out: (s) => void (io.o += s),
    err: (s) => void (io.e += s),
    isTTY: false,
    interrupted: new Promise<void>(() => {}),
    sleep: (ms) => new Promise<void>((r) => setTimeout(r, ms)),
  };
  const vars = {
    HOME: '/nonexistent-home',
    TEMPORAL_ADDRESS: env.temporal.address,
    TEMPORAL_NAMESPACE: env.temporal.namespace,
    FLEDGE_USER: 'alice',
    KUBECONFIG: cluster.kubeconfigPath,
  };
  const code = await runCli(['-n', NAMESPACE, ...args], io, vars);
  return { code, out: io.o, err: io.e };
}

function trail(name: string): string[] {
  return routeTrail(env.world.get(`${NAMESPACE}/${name}`).log.routes);
}

describe('fledge CLI on a dev server', { concurrency: true }, () => {
  it('an unknown canary is one clear line and exit 1', async () => {
    for (const cmd of ['promote', 'status', 'history', 'describe']) {
      const r = await fledge(cmd, 'no-such-canary');
      assert.equal(r.code, 1, cmd);
      assert.equal(
        r.err,
        `fledge: no rollout of canary ${NAMESPACE}/no-such-canary in Temporal namespace ${env.temporal.namespace}\n`,
        cmd,
      );
    }
  });

  it('pause, refused pause, describe, resume, promote, then status exits 0 and history shows who promoted', async () => {
    const name = 'cli-promote';
    seedInitialized(env, { raw: canaryRaw(name, { stepWeight: 10, maxWeight: 50 }) });
    await startRollout(env, name);
    await waitUntil('first weight step', () => trail(name).at(-1) === '90/10');

    let r = await fledge('pause', name, '--reason', 'looking at dashboards');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /paused by alice \(looking at dashboards\)/);
    r = await fledge('pause', name);
    assert.equal(r.code, 1);
    assert.equal(r.err, `fledge: cannot pause ${NAMESPACE}/${name}: already paused (by alice)\n`);

    r = await fledge('describe', name);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Phase:\s+Progressing \(paused\)/);
    assert.match(r.out, /pause by alice \(looking at dashboards\) via update/);

    assert.equal((await fledge('resume', name)).code, 0);
    r = await fledge('promote', name, '--reason', 'ship it');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /promote requested by alice \(ship it\)/);

    r = await fledge('status', name, '--interval', '0.2', '--timeout', '60');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out.trimEnd().split('\n').at(-1) ?? '', /cli-promote\.test\s+Succeeded/);

    r = await fledge('history', name);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^STARTED\s+REVISION\s+CAUSE\s+RESULT\s+DURATION\s+PROMOTED-BY/);
    assert.match(r.out, /rev-2\s+new-revision\s+Succeeded\s+\S+\s+alice\s+COMPLETED/);
    const json = JSON.parse((await fledge('history', name, '-o', 'json')).out) as { promotedBy: string[] }[];
    assert.deepEqual(json[0]?.promotedBy, ['alice']);

    // --since: the finished run started before now, so it is not the answer: status waits (here: times out).
    r = await fledge('status', name, '--since', new Date().toISOString(), '--timeout', '1', '--interval', '0.2');
    assert.equal(r.code, 1);
    assert.match(r.out, /waiting for a rollout after --since \(latest: Succeeded\)/);
    assert.match(r.err, /timed out waiting for/);
  });

  it('abort through the CLI: status exits 1; a signal is accepted without validation', async () => {
    const name = 'cli-abort';
    seedInitialized(env, { raw: canaryRaw(name, { stepWeight: 25, maxWeight: 50 }) });
    const before = new Date().toISOString();
    await startRollout(env, name);
    await waitUntil('first weight step', () => trail(name).at(-1) === '75/25');
    let r = await fledge('resume', name);
    assert.equal(r.err, `fledge: cannot resume ${NAMESPACE}/${name}: not paused\n`);
    r = await fledge('abort', name, '--reason', 'bad dashboards');
    assert.equal(r.code, 0, r.err);
    r = await fledge('status', name, '--since', before, '--interval', '0.2', '--timeout', '60');
    assert.equal(r.code, 1);
    assert.match(r.out, /Failed/);
    r = await fledge('retry', name, '--signal');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /retry signal sent/);
  });

  it('get lists Canaries from the apiserver with the live step and waiting-for; get -w shows the live view', async () => {
    const name = 'cli-get';
    const raw = canaryRaw(name, { stepWeight: 10, maxWeight: 50, interval: '30s' });
    seedInitialized(env, { raw });
    await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(raw));
    await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(canaryRaw('cli-idle', {})));
    await startRollout(env, name);
    // A long interval keeps the rollout Progressing while the CLI looks at it.
    await waitUntil('Progressing', () => env.world.get(`${NAMESPACE}/${name}`).status.phase === 'Progressing');

    let r = await fledge('get');
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^NAME\s+STATUS\s+WEIGHT\s+STEP\s+WAITING-FOR/);
    assert.match(lines.find((l) => l.startsWith('cli-get ')) ?? '', /^cli-get\s+Progressing\s+\d+\s+\d+\s+\S/);
    assert.match(lines.find((l) => l.startsWith('cli-idle ')) ?? '', /^cli-idle\s+-\s+0\s+-\s+-/);

    r = await fledge('get', '-A', '-o', 'wide');
    assert.match(r.out, /^NAMESPACE\s+NAME\s+STATUS\s+WEIGHT\s+SUSPENDED/);

    r = await fledge('get', name, '-w', '--count', '2', '--interval', '0.2');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /cli-get\.test\s+Progressing\s+revision rev-2/);
    assert.match(r.out, /weight\s+\[[█░]+\] canary \d+% \/ primary \d+%/);
    assert.equal(r.out.match(/revision rev-2/g)?.length, 2, 'two refreshes');

    r = await fledge('get', 'no-such-canary');
    assert.equal(r.code, 1);
    assert.equal(r.err, `fledge: canary ${NAMESPACE}/no-such-canary not found\n`);
    await fledge('abort', name);
  });
});
