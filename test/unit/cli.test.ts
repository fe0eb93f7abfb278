// The fledge CLI without servers: argument parsing, rendering, and one-line errors with exit codes when
// Temporal or Kubernetes cannot be reached.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../../cli/fledge.ts';
import type { Io } from '../../cli/commands.ts';
import { defaultActor, overlay, rowOf, sinceTime } from '../../cli/commands.ts';
import { CliError, canaryRef } from '../../cli/context.ts';
import { canaryTable, duration, historyTable, liveView, progressBar, rangeText, table } from '../../cli/render.ts';
import type { StatusView } from '../../workflows/controls.ts';

function captureIo(): Io & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    out: (s: string) => void (io.stdout += s),
    err: (s: string) => void (io.stderr += s),
    isTTY: false,
    interrupted: new Promise<void>(() => {}),
    sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
  };
  return io;
}

// An address nothing listens on: port 1 on loopback is refused at once.
const UNREACHABLE = ['--address', '127.0.0.1:1', '--connect-timeout', '1'];
const ENV = { HOME: '/nonexistent-home' };

test('canary references: NAME with -n or context, NAMESPACE/NAME, bad forms are usage errors', () => {
  const ctx = { defaultNamespace: () => 'test' };
  assert.deepEqual(canaryRef('podinfo', ctx), { namespace: 'test', name: 'podinfo' });
  assert.deepEqual(canaryRef('prod/podinfo', ctx), { namespace: 'prod', name: 'podinfo' });
  assert.throws(
    () => canaryRef('a/b/c', ctx),
    (e: CliError) => e.code === 2 && /NAMESPACE\/NAME/.test(e.message),
  );
  assert.throws(() => canaryRef('', ctx), CliError);
});

test('controls with Temporal unreachable: one line, exit 1', async () => {
  for (const cmd of ['promote', 'abort', 'pause', 'resume', 'retry']) {
    const io = captureIo();
    const code = await runCli([...UNREACHABLE, cmd, 'test/podinfo', '--reason', 'x'], io, ENV);
    assert.equal(code, 1, cmd);
    assert.match(io.stderr, /^fledge: cannot reach Temporal at 127\.0\.0\.1:1: .+\n$/);
    assert.equal(io.stderr.split('\n').length, 2, 'exactly one line');
  }
});

test('status, history, describe with Temporal unreachable: exit 1', async () => {
  for (const args of [
    ['status', 'podinfo'],
    ['history', 'podinfo'],
    ['describe', 'podinfo'],
  ]) {
    const io = captureIo();
    assert.equal(await runCli(['-n', 'test', ...UNREACHABLE, ...args], io, ENV), 1, args.join(' '));
    assert.match(io.stderr, /cannot reach Temporal/);
  }
});

test('get without a reachable cluster: clear kubeconfig error, exit 1', async () => {
  const io = captureIo();
  const code = await runCli(['get', '--kubeconfig', '/nonexistent/kubeconfig', ...UNREACHABLE], io, ENV);
  assert.equal(code, 1);
  assert.match(io.stderr, /^fledge: kubeconfig: .*nonexistent/);
});

test('usage errors exit 2; --help exits 0', async () => {
  let io = captureIo();
  assert.equal(await runCli(['frobnicate'], io, ENV), 2);
  assert.match(io.stderr, /unknown command/);
  io = captureIo();
  assert.equal(await runCli(['promote'], io, ENV), 2);
  assert.match(io.stderr, /missing required argument 'canary'/);
  io = captureIo();
  assert.equal(await runCli(['get', '-o', 'yaml'], io, ENV), 2);
  io = captureIo();
  assert.equal(await runCli(['--help'], io, ENV), 0);
  assert.match(io.stdout, /promote/);
  assert.match(io.stdout, /history/);
});

test('the actor of a control defaults to FLEDGE_USER, else user@host', () => {
  assert.equal(defaultActor({ FLEDGE_USER: 'ci-bot' }), 'ci-bot');
  assert.match(defaultActor({}), /.+@.+/);
});

const RAW = {
  metadata: { name: 'podinfo', namespace: 'test' },
  spec: { analysis: { interval: '1m', stepWeight: 10, maxWeight: 50, threshold: 5 } },
  status: { phase: 'Progressing', canaryWeight: 10, failedChecks: 1, lastTransitionTime: '2025-01-01T00:00:00Z' },
};

function live(over: Partial<StatusView> = {}): StatusView {
  return {
    canary: { namespace: 'test', name: 'podinfo' },
    revision: { hash: 'abc123', generation: 3 },
    phase: 'Progressing',
    paused: false,
    weights: { primary: 80, canary: 20, mirrored: false },
    step: 2,
    iterations: 0,
    failedChecks: 0,
    threshold: 5,
    metrics: [{ name: 'request-success-rate', value: 99.5, range: { min: 99 }, verdict: 'pass' }],
    waitingFor: 'next analysis in 1m',
    message: '',
    steps: [
      {
        at: '2025-01-01T00:00:00.000Z',
        kind: 'tick',
        phase: 'Progressing',
        routes: { primary: 90, canary: 10, mirrored: false },
        note: 'Advance podinfo.test canary weight 10',
      },
    ],
    ...over,
  };
}

test('table: kubectl columns plus STEP and WAITING-FOR; the live status overrides .status', () => {
  const row = overlay(rowOf(RAW), live());
  const out = canaryTable([row]);
  const [header, line] = out.trimEnd().split('\n');
  assert.match(header ?? '', /^NAME\s+STATUS\s+WEIGHT\s+STEP\s+WAITING-FOR\s+LASTTRANSITIONTIME$/);
  assert.match(line ?? '', /^podinfo\s+Progressing\s+20\s+2\s+next analysis in 1m\s+2025-01-01T00:00:00Z$/);
  const wide = canaryTable([rowOf(RAW)], { wide: true, allNamespaces: true });
  assert.match(wide, /^NAMESPACE\s+NAME\s+STATUS\s+WEIGHT\s+SUSPENDED\s+FAILEDCHECKS\s+INTERVAL\s+MIRROR\s+STEPWEIGHT/);
  assert.match(wide, /test\s+podinfo\s+Progressing\s+10\s+false\s+1\s+1m\s+false\s+10/);
});

test('table alignment: columns padded to the widest cell, no trailing spaces', () => {
  const out = table(
    ['A', 'BB'],
    [
      ['long-cell', 'x'],
      ['y', ''],
    ],
  );
  assert.equal(out, 'A           BB\nlong-cell   x\ny\n');
});

test('live view: progress bars of weight and step, metric values against thresholds, gates', () => {
  const view = liveView(overlay(rowOf(RAW), live()));
  assert.match(view, /podinfo\.test\s+Progressing\s+revision abc123/);
  assert.match(view, /weight\s+\[█{10}░{14}\] canary 20% \/ primary 80%/);
  assert.match(view, /step\s+\[.*\] 2 of 5/);
  assert.match(view, /waiting for next analysis in 1m/);
  assert.match(view, /request-success-rate\s+99\.50\s+≥ 99\s+pass/);
  assert.match(view, /Advance podinfo\.test canary weight 10/);
  assert.match(liveView(rowOf(RAW)), /no rollout running/);
});

test('small renderers: bar, ranges, durations, history', () => {
  assert.equal(progressBar(50, 100, 4), '[██░░]');
  assert.equal(progressBar(150, 100, 4), '[████]');
  assert.equal(rangeText({ min: 1, max: 2 }), '1 … 2');
  assert.equal(rangeText({}), 'any');
  const start = new Date('2025-01-01T00:00:00Z');
  assert.equal(duration(start, new Date('2025-01-01T00:02:05Z')), '2m5s');
  assert.equal(duration(start, undefined, new Date('2025-01-01T00:00:09Z')), '9s+');
  const h = historyTable([
    {
      runId: 'r1',
      start,
      close: new Date('2025-01-01T00:10:00Z'),
      revision: 'abc',
      cause: 'new-revision',
      result: 'Succeeded',
      status: 'COMPLETED',
      promotedBy: ['alice'],
    },
  ]);
  assert.match(h, /^STARTED\s+REVISION\s+CAUSE\s+RESULT\s+DURATION\s+PROMOTED-BY/);
  assert.match(h, /2025-01-01T00:00:00Z\s+abc\s+new-revision\s+Succeeded\s+10m0s\s+alice\s+COMPLETED\s+r1/);
});

test('--since: a Go duration before now or an RFC 3339 time; anything else is a usage error', () => {
  const now = Date.parse('2026-01-01T00:10:00Z');
  assert.equal(sinceTime('2m', now), now - 120_000);
  assert.equal(sinceTime('90s', now), now - 90_000);
  assert.equal(sinceTime('2026-01-01T00:00:00Z', now), Date.parse('2026-01-01T00:00:00Z'));
  assert.equal(sinceTime(undefined, now), undefined);
  assert.throws(
    () => sinceTime('yesterday', now),
    (e: CliError) => e.code === 2,
  );
});
