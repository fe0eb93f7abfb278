// The sandbox's env file: `fledge` and `kubectl-fledge` are wrapper scripts on PATH (not aliases), so a
// non-interactive `bash -c` that sources the file runs them, with arguments and exit codes passed through, and
// the real kubectl (the sandbox's, scripts/build-binaries.sh) finds kubectl-fledge as its `fledge` plugin.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT, binary, makeTempDir, removeTempDir } from '../../dev/proc.ts';
import { writeSandboxEnv } from '../../dev/sandbox-env.ts';

const dir = makeTempDir('sandbox env');
after(() => removeTempDir(dir));

const envFile = writeSandboxEnv({
  stateDir: dir,
  kubeconfig: join(dir, 'kubeconfig'),
  temporalAddress: '127.0.0.1:7233',
  temporalNamespace: 'default',
  node: process.execPath,
  fledgeCli: join(REPO_ROOT, 'cli', 'fledge.ts'),
  temporalBin: join(dir, 'tools', 'temporal'),
  kubectl: binary('kubectl'),
});

/** Runs `script` in a fresh non-interactive bash that sources the env file (no aliases expand there). */
function bashWithEnv(script: string) {
  const r = spawnSync('bash', ['-c', `source "$1"; ${script}`, 'bash', envFile], {
    encoding: 'utf8',
    env: { PATH: '/usr/bin:/bin', HOME: dir },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('fledge and kubectl-fledge are on PATH as executables after sourcing the env file', () => {
  const found = bashWithEnv('command -v fledge; command -v kubectl-fledge; type -t fledge');
  assert.equal(found.code, 0, found.err);
  assert.deepEqual(found.out.trim().split('\n'), [
    join(dir, 'bin', 'fledge'),
    join(dir, 'bin', 'kubectl-fledge'),
    'file',
  ]);
});

test('the wrappers run the CLI with its arguments and exit code', () => {
  const help = bashWithEnv('fledge --help && kubectl-fledge --help');
  assert.equal(help.code, 0, help.err);
  assert.match(help.out, /promote/);
  const bad = bashWithEnv('fledge no-such-command');
  assert.notEqual(bad.code, 0);
  assert.match(bad.err + bad.out, /no-such-command/);
});

test('kubectl runs kubectl-fledge as its plugin: kubectl fledge …', () => {
  const r = bashWithEnv('kubectl plugin list 2>/dev/null; kubectl fledge --help');
  assert.equal(r.code, 0, r.err);
  assert.ok(r.out.includes(join(dir, 'bin', 'kubectl-fledge')), r.out);
  assert.match(r.out, /promote/);
});

test('the env file exports the sandbox connection', () => {
  const r = bashWithEnv('echo "$KUBECONFIG $TEMPORAL_ADDRESS $TEMPORAL_NAMESPACE"');
  assert.equal(r.out.trim(), `${join(dir, 'kubeconfig')} 127.0.0.1:7233 default`);
});
