// The npm package as a user installs it: `npm pack` compiles the product to JavaScript (tsconfig.build.json,
// package.json `prepack`), `npm install -g --prefix <tmp> ./fledge-*.tgz` installs it, and the installed bins run
// (Node refuses to strip types under node_modules, so a package of .ts files would not). `kubectl fledge` finds
// the `kubectl-fledge` bin through kubectl's plugin discovery on PATH.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { startCluster, type Cluster } from '../../dev/cluster.ts';
import { REPO_ROOT, binary, makeTempDir, removeTempDir } from '../../dev/proc.ts';
import { startTemporal, type TemporalServer } from '../../dev/temporal.ts';

const run = promisify(execFile);

let dir: string;
let prefix: string;
let cluster: Cluster;
let temporal: TemporalServer;
let env: NodeJS.ProcessEnv;

before(async () => {
  dir = makeTempDir('package');
  prefix = join(dir, 'prefix');
  [cluster, temporal] = await Promise.all([startCluster({ gatewayApi: false }), startTemporal()]);
  // npm runs `prepack` (tsc → dist/) and writes the tarball into the temp dir.
  await run('npm', ['pack', '--pack-destination', dir, '--loglevel=error'], { cwd: REPO_ROOT, maxBuffer: 16 << 20 });
  const tgz = readdirSync(dir).find((f) => /^fledge-.*\.tgz$/.test(f));
  assert.ok(tgz, 'npm pack wrote no fledge-*.tgz');
  // Dependencies come from npm's cache when `npm ci` has filled it, from the registry otherwise.
  await run(
    'npm',
    [
      'install',
      '-g',
      '--prefix',
      prefix,
      join(dir, tgz),
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
    ],
    { cwd: dir, maxBuffer: 16 << 20 },
  );
  const kubectlDir = dirname(binary('kubectl'));
  env = {
    // Only the installed bins, this Node (the bins' `#!/usr/bin/env node`) and kubectl: nothing from the repository.
    PATH: [join(prefix, 'bin'), dirname(process.execPath), kubectlDir, '/usr/bin', '/bin'].join(':'),
    HOME: join(dir, 'home'),
    KUBECONFIG: cluster.kubeconfigPath,
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: temporal.namespace,
  };
});

after(async () => {
  await Promise.all([cluster?.stop(), temporal?.stop()]);
  if (dir) removeTempDir(dir);
});

async function installed(cmd: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await run(cmd, args, { cwd: dir, env, maxBuffer: 4 << 20 });
    return { code: 0, out: stdout, err: stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, out: e.stdout ?? '', err: e.stderr ?? String(err) };
  }
}

describe('the installed npm package', () => {
  it('installs JavaScript bins, not TypeScript sources', () => {
    for (const bin of ['fledge', 'kubectl-fledge', 'fledge-controller', 'fledge-loadtester'])
      assert.ok(existsSync(join(prefix, 'bin', bin)), `${bin} is not installed`);
    const pkg = join(prefix, 'lib', 'node_modules', 'fledge');
    assert.ok(existsSync(join(pkg, 'dist', 'cli', 'fledge.js')));
    assert.ok(existsSync(join(pkg, 'dist', 'workflows', 'index.js')), 'the worker bundles dist/workflows/index.js');
    assert.ok(!existsSync(join(pkg, 'cli', 'fledge.ts')), 'sources are not shipped');
    assert.ok(!existsSync(join(pkg, 'test')), 'tests are not shipped');
  });

  it('fledge --help and fledge-controller --help exit 0 with their usage', async () => {
    const cli = await installed(join(prefix, 'bin', 'fledge'), ['--help']);
    assert.equal(cli.code, 0, cli.err);
    assert.match(cli.out, /^Usage: fledge /m);
    assert.match(cli.out, /promote/);
    const controller = await installed(join(prefix, 'bin', 'fledge-controller'), ['--help']);
    assert.equal(controller.code, 0, controller.err);
    assert.match(controller.out, /^Usage: fledge-controller /m);
    assert.match(controller.out, /--selector-labels/);
  });

  it('fledge get -A and kubectl fledge get -A list the canaries of the cluster', async () => {
    await cluster.kubectl(['create', 'namespace', 'pkg-test']);
    const canary = {
      apiVersion: 'flagger.app/v1beta1',
      kind: 'Canary',
      metadata: { name: 'podinfo', namespace: 'pkg-test' },
      spec: {
        targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' },
        service: { port: 80 },
        analysis: { interval: '10s', threshold: 2, stepWeight: 10, maxWeight: 50 },
      },
    };
    await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(canary));
    for (const [cmd, args] of [
      [join(prefix, 'bin', 'fledge'), ['get', '-A']],
      ['kubectl', ['fledge', 'get', '-A']],
    ] as const) {
      const r = await installed(cmd, [...args]);
      assert.equal(r.code, 0, `${cmd} ${args.join(' ')}: ${r.err}`);
      const lines = r.out.trimEnd().split('\n');
      assert.match(lines[0] ?? '', /^NAMESPACE\s+NAME\s+STATUS\s+WEIGHT/, r.out);
      assert.ok(
        lines.some((l) => /^pkg-test\s+podinfo\s/.test(l)),
        `${cmd} ${args.join(' ')} does not list pkg-test/podinfo:\n${r.out}`,
      );
    }
  });

  it('kubectl lists fledge among its plugins', async () => {
    const r = await installed('kubectl', ['plugin', 'list']);
    assert.match(r.out, /kubectl-fledge/, r.err);
  });
});
