// Deploy artifacts and the controller process on real servers: the Helm chart renders and applies to a real
// kube-apiserver (server-side dry-run), its ClusterRole (or, with rbac.scope=namespace, its Roles) grants exactly
// the verbs fledge uses (kubectl auth can-i --list against the real RBAC authorizer), the kustomize base
// applies too, and `node worker/main.ts` serves /healthz, /readyz and /metrics, then stops cleanly on SIGTERM.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { startCluster, waitFor, type Cluster } from '../../dev/cluster.ts';
import { REPO_ROOT, binary, freePort, makeTempDir, removeTempDir } from '../../dev/proc.ts';
import { startTemporal, type TemporalServer } from '../../dev/temporal.ts';
import { workflowBundlePath } from '../../dev/workflow-bundle.ts';
import { SEARCH_ATTRIBUTES } from '../../workflows/controls.ts';
import { DEV_SERVER_DYNAMIC_CONFIG } from '../../worker/dev-server.ts';

const run = promisify(execFile);
const CHART = join(REPO_ROOT, 'deploy', 'chart');
const RELEASE_NS = 'fledge-system';

let helmBin: string;
async function helm(...args: string[]): Promise<string> {
  try {
    return (await run(helmBin, args, { maxBuffer: 32 << 20 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`helm ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}`, { cause: err });
  }
}

function kinds(yaml: string): string[] {
  return parseAllDocuments(yaml)
    .map((d) => d.toJS() as { kind?: string; metadata?: { name?: string } } | null)
    .filter((o) => o?.kind)
    .map((o) => `${o?.kind}/${o?.metadata?.name}`);
}

/**
 * Every verb fledge uses, per resource, derived from the apiserver calls in activities/ and worker/ (server-side
 * apply is patch, and create when it creates). The chart must grant exactly these: no more, no less.
 */
const USED_VERBS: Record<string, string[]> = {
  'canaries.flagger.app': ['get', 'list', 'patch', 'watch'],
  'canaries.flagger.app/status': ['patch'],
  'canaries.flagger.app/finalizers': ['update'],
  'metrictemplates.flagger.app': ['get'],
  'alertproviders.flagger.app': ['get'],
  'deliverypolicies.fledge.dev': ['list'],
  'releasegroups.fledge.dev': ['get', 'list', 'watch'],
  'releasegroups.fledge.dev/status': ['patch'],
  'replicasets.apps': ['list'],
  'deployments.apps': ['create', 'get', 'list', 'patch', 'watch'],
  'daemonsets.apps': ['create', 'get', 'list', 'patch', 'watch'],
  services: ['create', 'get', 'list', 'patch', 'watch'],
  configmaps: ['create', 'get', 'list', 'patch', 'watch'],
  secrets: ['create', 'get', 'list', 'patch', 'watch'],
  events: ['create'],
  'horizontalpodautoscalers.autoscaling': ['create', 'get', 'patch'],
  'scaledobjects.keda.sh': ['create', 'get', 'patch'],
  'httproutes.gateway.networking.k8s.io': ['create', 'delete', 'get', 'patch', 'update'],
  'trafficsplits.split.smi-spec.io': ['create', 'delete', 'get', 'patch'],
  'ingresses.networking.k8s.io': ['create', 'delete', 'get', 'patch'],
  'apisixroutes.apisix.apache.org': ['create', 'delete', 'get', 'patch'],
  'httpproxies.projectcontour.io': ['create', 'delete', 'get', 'patch', 'update'],
  'virtualservices.networking.istio.io': ['create', 'delete', 'get', 'patch', 'update'],
  'destinationrules.networking.istio.io': ['create', 'delete', 'get', 'patch'],
  'traefikservices.traefik.io': ['create', 'delete', 'get', 'patch'],
  'trafficroutes.kuma.io': ['create', 'delete', 'get', 'patch'],
  'upstreams.gloo.solo.io': ['create', 'delete', 'get', 'patch'],
  'routetables.gateway.solo.io': ['create', 'delete', 'get', 'patch'],
  'services.serving.knative.dev': ['get', 'list', 'patch', 'watch'],
  'revisions.serving.knative.dev': ['get'],
};

/** What `as` may do in `ns` (`kubectl auth can-i --list`), less what every authenticated user may do. */
async function grants(as: string, ns: string): Promise<Record<string, string[]>> {
  const out = await cluster.kubectl(['auth', 'can-i', '--list', '-n', ns, `--as=${as}`, '--no-headers']);
  const granted: Record<string, string[]> = {};
  for (const line of out.split('\n')) {
    // Resources, Non-Resource URLs, Resource Names, Verbs: `events   []   []   [create]`.
    const m = /^(\S+)\s+\[[^\]]*\]\s+\[[^\]]*\]\s+\[([^\]]*)\]/.exec(line.trim());
    if (!m || /\.authorization\.k8s\.io$|\.authentication\.k8s\.io$/.test(m[1]!)) continue;
    granted[m[1]!] = m[2]!.split(/\s+/).filter(Boolean).sort();
  }
  return granted;
}

async function canI(as: string, args: string[]): Promise<boolean> {
  return cluster.kubectl(['auth', 'can-i', ...args, `--as=${as}`]).then(
    () => true,
    () => false,
  );
}

let cluster: Cluster;
before(async () => {
  const out = (await run('bash', [join(REPO_ROOT, 'scripts', 'build-helm.sh')])).stdout;
  helmBin = /^FLEDGE_HELM_BIN=(.+)$/m.exec(out)?.[1] ?? 'helm';
  cluster = await startCluster();
  await cluster.kubectl(['create', 'namespace', RELEASE_NS]);
});
after(async () => {
  await cluster?.stop();
});

describe('deploy artifacts', () => {
  it('CRD copies in the chart and the kustomize base match crds/', async () => {
    await run('bash', [join(REPO_ROOT, 'deploy', 'sync-crds.sh'), '--check']);
  });

  it('helm lint passes; rendering without a Temporal address fails with a clear message', async () => {
    await helm('lint', CHART, '--set', 'devServer.enabled=true');
    await assert.rejects(helm('template', 'fl', CHART), /set temporal.address .* or devServer.enabled=true/);
  });

  it('the rendered chart (with the trial dev server) applies to the apiserver with server-side dry-run', async () => {
    const yaml = await helm('template', 'fl', CHART, '--namespace', RELEASE_NS, '--set', 'devServer.enabled=true');
    assert.deepEqual(kinds(yaml).sort(), [
      'ClusterRole/fl-fledge',
      'ClusterRoleBinding/fl-fledge',
      'CustomResourceDefinition/alertproviders.flagger.app',
      'CustomResourceDefinition/canaries.flagger.app',
      'CustomResourceDefinition/deliverypolicies.fledge.dev',
      'CustomResourceDefinition/metrictemplates.flagger.app',
      'CustomResourceDefinition/releasegroups.fledge.dev',
      'Deployment/fl-fledge',
      'Deployment/fl-fledge-temporal',
      'Service/fl-fledge',
      'Service/fl-fledge-temporal',
      'ServiceAccount/fl-fledge',
    ]);
    const out = await cluster.kubectl(
      ['apply', '--server-side', '--force-conflicts', '--dry-run=server', '-f', '-'],
      yaml,
    );
    assert.match(out, /deployment.apps\/fl-fledge serverside-applied \(server dry run\)/);
    for (const a of SEARCH_ATTRIBUTES) assert.ok(yaml.includes(`--search-attribute=${a.name}=${a.type}`), a.name);
    // The chart's dev server has the dynamic config of every dev server fledge starts (worker/dev-server.ts).
    for (const [k, v] of Object.entries(DEV_SERVER_DYNAMIC_CONFIG))
      assert.ok(yaml.includes(`--dynamic-config-value=${k}=${JSON.stringify(v)}`), k);
  });

  it('every value reaches the controller: flags, Temporal Cloud API key, TLS, monitors, PDB', async () => {
    const yaml = await helm(
      ...['template', 'fl', CHART, '--namespace', RELEASE_NS],
      ...['--set', 'temporal.address=ns.acct.tmprl.cloud:7233', '--set', 'temporal.namespace=ns.acct'],
      ...['--set', 'temporal.apiKeySecret.name=temporal-key', '--set', 'temporal.tls.enabled=true'],
      ...['--set', 'namespace=test\\,prod', '--set', 'clusterName=eu-1', '--set', 'eventWebhook=http://hook'],
      ...['--set', 'slack.url=http://slack', '--set', 'slack.channel=ops', '--set', 'msteams.url=http://teams'],
      ...['--set', 'includeLabelPrefix=team', '--set', 'noCrossNamespaceRefs=true', '--set', 'mode=worker'],
      ...['--set', 'podMonitor.enabled=true', '--set', 'serviceMonitor.enabled=true'],
      ...['--set', 'podDisruptionBudget.enabled=true', '--set', 'replicaCount=2'],
    );
    const deployment = parseAllDocuments(yaml)
      .map((d) => d.toJS())
      .find((o) => o?.kind === 'Deployment');
    const container = deployment.spec.template.spec.containers[0];
    const args: string[] = container.args;
    for (const flag of [
      '--mode=worker',
      '--namespace=test,prod',
      '--cluster-name=eu-1',
      '--event-webhook=http://hook',
      '--slack-url=http://slack',
      '--slack-channel=ops',
      '--msteams-url=http://teams',
      '--include-label-prefix=team',
      '--forbid-cross-namespace-refs=true',
    ])
      assert.ok(args.includes(flag), flag);
    const env = Object.fromEntries(
      (container.env as { name: string; value?: string }[]).map((e) => [e.name, e.value ?? 'from-secret']),
    );
    assert.equal(env.TEMPORAL_ADDRESS, 'ns.acct.tmprl.cloud:7233');
    assert.equal(env.TEMPORAL_NAMESPACE, 'ns.acct');
    assert.equal(env.TEMPORAL_API_KEY, 'from-secret');
    assert.equal(env.TEMPORAL_TLS, 'true');
    assert.equal(deployment.spec.replicas, 2);
    const all = kinds(yaml);
    for (const k of ['PodMonitor/fl-fledge', 'ServiceMonitor/fl-fledge', 'PodDisruptionBudget/fl-fledge'])
      assert.ok(all.includes(k), k);
  });

  it('Worker Versioning values: off by default; a deployment name sets the env, the build id defaults to appVersion', async () => {
    const envOf = async (...set: string[]) => {
      const yaml = await helm('template', 'fl', CHART, '--set', 'temporal.address=t:7233', ...set);
      const deployment = parseAllDocuments(yaml)
        .map((d) => d.toJS())
        .find((o) => o?.kind === 'Deployment');
      const container = deployment.spec.template.spec.containers[0];
      return Object.fromEntries(
        (container.env as { name: string; value?: string }[])
          .filter((e) => e.name.startsWith('FLEDGE_WORKER_'))
          .map((e) => [e.name, e.value]),
      );
    };
    const appVersion = /^appVersion:\s*'?([^'\n]+)'?$/m.exec(readFileSync(join(CHART, 'Chart.yaml'), 'utf8'))?.[1];
    assert.ok(appVersion);
    assert.deepEqual(await envOf(), {});
    assert.deepEqual(await envOf('--set', 'temporal.workerVersioning.deploymentName=fledge'), {
      FLEDGE_WORKER_DEPLOYMENT_NAME: 'fledge',
      FLEDGE_WORKER_BUILD_ID: appVersion,
      FLEDGE_WORKER_VERSIONING_BEHAVIOR: 'auto-upgrade',
    });
    assert.deepEqual(
      await envOf(
        ...['--set', 'temporal.workerVersioning.deploymentName=fledge'],
        ...['--set', 'temporal.workerVersioning.buildId=2026-11-29.1'],
        ...['--set', 'temporal.workerVersioning.behavior=pinned'],
      ),
      {
        FLEDGE_WORKER_DEPLOYMENT_NAME: 'fledge',
        FLEDGE_WORKER_BUILD_ID: '2026-11-29.1',
        FLEDGE_WORKER_VERSIONING_BEHAVIOR: 'pinned',
      },
    );
  });

  it('the ClusterRole grants exactly the verbs the code uses, in every namespace', async () => {
    const yaml = await helm(
      ...['template', 'fl', CHART, '--namespace', RELEASE_NS, '--set', 'temporal.address=t:7233'],
      ...['--show-only', 'templates/rbac.yaml', '--show-only', 'templates/serviceaccount.yaml'],
    );
    assert.deepEqual(kinds(yaml).sort(), [
      'ClusterRole/fl-fledge',
      'ClusterRoleBinding/fl-fledge',
      'ServiceAccount/fl-fledge',
    ]);
    await cluster.kubectl(['apply', '--server-side', '-f', '-'], yaml);
    const as = `system:serviceaccount:${RELEASE_NS}:fl-fledge`;
    await cluster.kubectl(['create', 'namespace', 'rbac-any']);
    for (const ns of ['test', 'rbac-any']) assert.deepEqual(await grants(as, ns), USED_VERBS, ns);
    assert.ok(await canI(as, ['list', 'canaries.flagger.app', '--all-namespaces']), 'cluster-wide list');
  });

  it('rbac.scope=namespace: a Role per watched namespace with the same verbs, nothing cluster-wide', async () => {
    const watched = ['rbac-a', 'rbac-b'];
    for (const ns of [...watched, 'rbac-other']) await cluster.kubectl(['create', 'namespace', ns]);
    const yaml = await helm(
      ...['template', 'fl-ns', CHART, '--namespace', RELEASE_NS, '--set', 'temporal.address=t:7233'],
      ...['--set', 'rbac.scope=namespace', '--set', `namespace=${watched.join('\\,')}`],
      ...['--show-only', 'templates/rbac.yaml', '--show-only', 'templates/serviceaccount.yaml'],
    );
    const objects = parseAllDocuments(yaml)
      .map((d) => d.toJS() as { kind?: string; metadata: { name: string; namespace?: string } } | null)
      .filter((o) => o?.kind)
      .map((o) => `${o!.kind}/${o!.metadata.namespace ?? ''}/${o!.metadata.name}`);
    assert.deepEqual(objects.sort(), [
      'Role/rbac-a/fl-ns-fledge',
      'Role/rbac-b/fl-ns-fledge',
      'RoleBinding/rbac-a/fl-ns-fledge',
      'RoleBinding/rbac-b/fl-ns-fledge',
      'ServiceAccount/fledge-system/fl-ns-fledge',
    ]);
    await cluster.kubectl(['apply', '--server-side', '-f', '-'], yaml);
    const as = `system:serviceaccount:${RELEASE_NS}:fl-ns-fledge`;
    for (const ns of watched) assert.deepEqual(await grants(as, ns), USED_VERBS, ns);
    assert.deepEqual(await grants(as, 'rbac-other'), {}, 'nothing outside the watched namespaces');
    assert.ok(!(await canI(as, ['list', 'canaries.flagger.app', '--all-namespaces'])), 'no cluster-wide list');
    await assert.rejects(
      helm('template', 'fl', CHART, '--set', 'temporal.address=t:7233', '--set', 'rbac.scope=namespace'),
      /rbac.scope=namespace needs the watched namespaces/,
    );
    await assert.rejects(
      helm('template', 'fl', CHART, '--set', 'temporal.address=t:7233', '--set', 'rbac.scope=cluster-ish'),
      /rbac.scope must be cluster or namespace/,
    );
  });

  it('the kustomize base has the same rules as the chart', async () => {
    const rulesOf = (yaml: string) =>
      parseAllDocuments(yaml)
        .map((d) => d.toJS() as { kind?: string; rules?: unknown } | null)
        .find((o) => o?.kind === 'ClusterRole')?.rules;
    const chart = await helm(
      ...['template', 'fl', CHART, '--set', 'temporal.address=t:7233', '--show-only', 'templates/rbac.yaml'],
    );
    const kustomize = readFileSync(join(REPO_ROOT, 'deploy', 'kustomize', 'rbac.yaml'), 'utf8');
    assert.deepEqual(rulesOf(kustomize), rulesOf(chart));
  });

  it('the kustomize base builds and applies with server-side dry-run', async () => {
    const yaml = await cluster.kubectl(['kustomize', join(REPO_ROOT, 'deploy', 'kustomize')]);
    assert.ok(kinds(yaml).includes('Deployment/fledge'));
    const out = await cluster.kubectl(
      ['apply', '--server-side', '--force-conflicts', '--dry-run=server', '-f', '-'],
      yaml,
    );
    assert.match(out, /deployment.apps\/fledge serverside-applied \(server dry run\)/);
  });

  it('the Grafana dashboard is valid JSON over the Flagger metric names', () => {
    const text = readFileSync(join(REPO_ROOT, 'deploy', 'grafana', 'fledge.json'), 'utf8');
    const dash = JSON.parse(text) as { panels: unknown[] };
    assert.ok(dash.panels.length >= 6);
    for (const m of ['flagger_canary_weight', 'flagger_canary_metric_analysis', 'flagger_canary_status'])
      assert.ok(text.includes(m), m);
    assert.ok(text.includes('flagger_canary_duration_seconds_bucket'));
  });
});

describe('controller process', () => {
  let temporal: TemporalServer;
  let child: ChildProcess | undefined;
  before(async () => {
    temporal = await startTemporal();
  });
  after(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await temporal?.stop();
  });

  it('serves /healthz, /readyz (worker running, watcher synced), /metrics with core metrics; exits 0 on SIGTERM', async () => {
    const bundle = await workflowBundlePath();
    child = spawn(
      process.execPath,
      [
        join(REPO_ROOT, 'worker', 'main.ts'),
        '--port',
        '0',
        '--listen-address',
        '127.0.0.1',
        '--task-queue',
        'deploy-test',
      ],
      {
        env: {
          ...process.env,
          TEMPORAL_ADDRESS: temporal.address,
          TEMPORAL_NAMESPACE: temporal.namespace,
          KUBECONFIG: cluster.kubeconfigPath,
          FLEDGE_WORKFLOW_BUNDLE: bundle,
          FLEDGE_LOG_LEVEL: 'info',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let logs = '';
    child.stdout?.on('data', (d: Buffer) => (logs += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (logs += d.toString()));
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
    let url = '';
    await waitFor(async () => {
      url = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(logs)?.[1] ?? '';
      return Boolean(url);
    }, `health server URL in the logs:\n${logs}`);
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    await waitFor(
      async () => (await fetch(`${url}/readyz`)).status === 200,
      'readyz 200 (worker running, watcher synced)',
      120_000,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}; readyz says: ${await (await fetch(`${url}/readyz`)).text()}\n${logs}`);
    });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /flagger_info\{version="[^"]+",mesh_provider="kubernetes"\} 1/);
    assert.match(metrics, /^temporal_\w+/m, 'Temporal core metrics merged');
    const line = logs.split('\n').find((l) => l.includes('connected to Temporal'));
    assert.ok(line && JSON.parse(line).name === 'fledge', 'JSON logs');
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 60_000))]);
    assert.equal(code, 0, logs.split('\n').slice(-10).join('\n'));
    assert.match(logs, /"msg":"stopped"/);
  });

  it('with FLEDGE_WORKER_DEPLOYMENT_NAME and FLEDGE_WORKER_BUILD_ID the worker polls as that deployment version', async () => {
    const proc = spawn(
      process.execPath,
      [join(REPO_ROOT, 'worker', 'main.ts'), '--mode', 'worker', '--port', '0', '--listen-address', '127.0.0.1'],
      {
        env: {
          ...process.env,
          TEMPORAL_ADDRESS: temporal.address,
          TEMPORAL_NAMESPACE: temporal.namespace,
          KUBECONFIG: cluster.kubeconfigPath,
          FLEDGE_WORKFLOW_BUNDLE: await workflowBundlePath(),
          FLEDGE_TASK_QUEUE: 'deploy-versioned',
          FLEDGE_WORKER_DEPLOYMENT_NAME: 'fledge-deploy-test',
          FLEDGE_WORKER_BUILD_ID: '9.9.9',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let logs = '';
    proc.stdout?.on('data', (d: Buffer) => (logs += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (logs += d.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    try {
      await waitFor(async () => logs.includes('"msg":"worker running"'), `worker running:\n${logs}`, 120_000);
      const line = JSON.parse(logs.split('\n').find((l) => l.includes('"msg":"worker running"'))!);
      assert.equal(line.deploymentVersion, 'fledge-deploy-test.9.9.9');
      assert.equal(line.versioningBehavior, 'AUTO_UPGRADE');
      const describe = () =>
        run(binary('temporal'), [
          ...['worker', 'deployment', 'describe-version', '--deployment-name', 'fledge-deploy-test'],
          ...['--build-id', '9.9.9', '--address', temporal.address, '--namespace', temporal.namespace],
        ]).then(
          (r) => r.stdout,
          () => '',
        );
      await waitFor(async () => (await describe()).includes('deploy-versioned'), 'the version polls the task queue');
    } finally {
      proc.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 60_000))]);
    }
  });

  it('with no Temporal address, starts an embedded dev server (SQLite in the data dir, UI) and stops it on SIGTERM', async () => {
    const dataDir = makeTempDir('worker-data');
    const [port, uiPort] = [await freePort(), await freePort()];
    const env: Record<string, string | undefined> = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('TEMPORAL_')) delete env[k];
    const proc = spawn(
      process.execPath,
      [join(REPO_ROOT, 'worker', 'main.ts'), '--port', '0', '--listen-address', '127.0.0.1'],
      {
        env: {
          ...env,
          HOME: dataDir,
          FLEDGE_DATA_DIR: dataDir,
          FLEDGE_DEV_SERVER_PORT: String(port),
          FLEDGE_DEV_SERVER_UI_PORT: String(uiPort),
          FLEDGE_TEMPORAL_BIN: binary('temporal'),
          FLEDGE_WORKFLOW_BUNDLE: await workflowBundlePath(),
          KUBECONFIG: cluster.kubeconfigPath,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let logs = '';
    proc.stdout?.on('data', (d: Buffer) => (logs += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (logs += d.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    try {
      let url = '';
      await waitFor(async () => Boolean((url = /"url":"(http:[^"]+)"/.exec(logs)?.[1] ?? '')), 'health URL');
      await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, 'readyz', 120_000).catch(
        (err: Error) => {
          throw new Error(`${err.message}\n${logs}`);
        },
      );
      assert.match(logs, /started the embedded Temporal dev server/);
      assert.ok(existsSync(join(dataDir, 'temporal.sqlite')), 'SQLite file in the data dir');
      assert.ok((await fetch(`http://127.0.0.1:${uiPort}/`)).status < 500, 'Web UI answers');
      proc.kill('SIGTERM');
      assert.equal(await exited, 0, logs.split('\n').slice(-10).join('\n'));
      await assert.rejects(fetch(`http://127.0.0.1:${uiPort}/`), 'the dev server stopped with the controller');
    } finally {
      if (proc.exitCode === null) proc.kill('SIGKILL');
      removeTempDir(dataDir);
    }
  });
});
