// The load tester's command parser, allow-list and hey flag parsing, without a server.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseScript, ShellSyntaxError, inlineScript } from '../../worker/loadtester/shell.ts';
import { CommandRefused, plan, runScript } from '../../worker/loadtester/exec.ts';
import { parseHeyArgs, HeyUsageError } from '../../worker/loadtester/hey.ts';
import { normalizeFlags, parseArgs } from '../../worker/loadtester.ts';

const argvs = (src: string, env = {}) => parseScript(src, env).map((i) => [i.op, i.pipeline.map((c) => c.argv)]);

describe('shell parsing', () => {
  it('words, quotes, escapes and variables', () => {
    assert.deepEqual(argvs(`curl -sd 'anon x' "http://$HOST/a b" \\"q\\" \${P}x '$HOME'`, { HOST: 'h', P: 'p' }), [
      [';', [['curl', '-sd', 'anon x', 'http://h/a b', '"q"', 'px', '$HOME']]],
    ]);
  });

  it('pipelines and lists', () => {
    assert.deepEqual(argvs('a | b | c && d || e; f\ng'), [
      [';', [['a'], ['b'], ['c']]],
      ['&&', [['d']]],
      ['||', [['e']]],
      [';', [['f']]],
      [';', [['g']]],
    ]);
  });

  it('2>&1 is accepted; other redirections and substitutions are not', () => {
    assert.deepEqual(argvs('curl x 2>&1 | grep y'), [
      [
        ';',
        [
          ['curl', 'x'],
          ['grep', 'y'],
        ],
      ],
    ]);
    for (const bad of [
      'a > f',
      'a < f',
      'a $(b)',
      'a `b`',
      'a & b',
      '(a)',
      'a |',
      '| a',
      'a && ',
      "a 'x",
      'a "x',
      'a ${x:-y}',
    ]) {
      assert.throws(() => parseScript(bad), ShellSyntaxError, bad);
    }
  });

  it('bash -c and sh -c scripts are recognised', () => {
    assert.equal(inlineScript(['bash', '-c', 'a | b']), 'a | b');
    assert.equal(inlineScript(['sh', '-ec', 'a']), 'a');
    assert.equal(inlineScript(['bash', 'script.sh']), undefined);
  });
});

describe('allow-list', () => {
  const allow = new Set(['curl', 'grep']);
  it('built-ins are always allowed; others only when listed', () => {
    assert.doesNotThrow(() => plan('echo x | grep x && hey -n 2 -c 1 http://127.0.0.1/', allow));
    assert.throws(() => plan('curl x | jq .', allow), CommandRefused);
    assert.throws(() => plan('/usr/bin/curl x', allow), CommandRefused);
    assert.throws(() => plan("bash -c 'curl x; wget y'", allow), /wget is not allowed/);
    assert.throws(() => plan('bash script.sh', allow), /bash is not allowed/);
  });

  it("never expands the load tester's own environment, only variables exposed by the operator", async () => {
    const env = { HOME: '/home/tester', FLEDGE_SECRET: 'hunter2-secret-value', PATH: process.env.PATH };
    for (const cmd of ['echo $HOME $FLEDGE_SECRET', 'echo "${FLEDGE_SECRET}"', "bash -c 'echo $FLEDGE_SECRET'"]) {
      await assert.rejects(runScript(cmd, { allow, env }), (err: Error) => {
        assert.ok(err instanceof ShellSyntaxError, String(err));
        assert.match(err.message, /does not expand/);
        assert.doesNotMatch(err.message, /hunter2|home\/tester/);
        return true;
      });
    }
    const r = await runScript("echo $FLEDGE_PUBLIC '$HOME'", { allow, env, vars: { FLEDGE_PUBLIC: 'pub' } });
    assert.equal(r.output, 'pub $HOME\n');
  });

  it('nothing of a refused line runs', async () => {
    await assert.rejects(runScript('echo first; rm -rf /nonexistent', { allow }), CommandRefused);
  });

  it('bash semantics for && || and pipeline status', async () => {
    assert.deepEqual(await runScript('false || echo b && echo c', { allow }), { ok: true, code: 0, output: 'b\nc\n' });
    assert.equal((await runScript('echo abc | grep z', { allow })).code, 1);
    assert.equal((await runScript('false | echo ok', { allow })).ok, true);
  });
});

describe('hey flags', () => {
  it('parses the flags Flagger examples use', () => {
    const o = parseHeyArgs([
      '-z',
      '2m',
      '-q',
      '10',
      '-c',
      '2',
      '-host',
      'app.test',
      '-H',
      'X-A: b',
      '-m',
      'post',
      'http://x/',
    ]);
    assert.equal(o.durationMs, 120_000);
    assert.equal(o.qps, 10);
    assert.equal(o.concurrency, 2);
    assert.equal(o.method, 'POST');
    assert.deepEqual(o.headers, { 'x-a': 'b', host: 'app.test' });
    assert.equal(o.url, 'http://x/');
  });

  it('defaults and errors', () => {
    const o = parseHeyArgs(['http://x/']);
    assert.equal(o.requests, 200);
    assert.equal(o.concurrency, 50);
    assert.throws(() => parseHeyArgs(['-D', 'f', 'http://x/']), HeyUsageError);
    assert.throws(() => parseHeyArgs(['-n', '1', '-c', '2', 'http://x/']), HeyUsageError);
    assert.throws(() => parseHeyArgs(['-bogus', 'http://x/']), HeyUsageError);
    assert.throws(() => parseHeyArgs(['-z', '2m']), HeyUsageError);
  });
});

describe('command line', () => {
  it("accepts Flagger's single-dash flags", () => {
    assert.deepEqual(normalizeFlags(['-port=9090', '-timeout', '5m', '-v', '--state-file', 'x']), [
      '--port=9090',
      '--timeout',
      '5m',
      '-v',
      '--state-file',
      'x',
    ]);
    const c = parseArgs(
      ['-port=9090', '-namespace-regexp=^test$', '--allow-command', 'curl,grep', '-log-level=debug'],
      {},
    );
    assert.equal(c.port, 9090);
    assert.equal(c.namespaceRegexp, '^test$');
    assert.deepEqual(c.allowCommands, ['curl', 'grep']);
    assert.equal(c.timeout, '1h');
    assert.equal(c.logLevel, 'debug');
  });
});
