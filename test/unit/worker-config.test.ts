// The controller's configuration (flags, env, Temporal envconfig), its health server and the Flagger metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createActivities } from '../../activities/index.ts';
import { createContext, temporalTarget } from '../../cli/context.ts';
import { ConfigError, componentSettings, optionTable, parseWorkerConfig } from '../../worker/config.ts';
import { startLoadTester } from '../../worker/loadtester.ts';
import { startHealthServer, type ReadinessCheck } from '../../worker/health.ts';
import { METRICS_CONTENT_TYPE, metricsText, recordCanaries, recordStatus, setInfo } from '../../worker/metrics.ts';
import { canaryLabel } from '../../worker/main.ts';
import type { StatusProjection } from '../../api/ports.ts';

// No TEMPORAL_CONFIG_FILE and a HOME without one, so only what a test passes counts.
const BASE = { HOME: '/nonexistent-home' };

test('defaults: mode all, embedded Temporal, Flagger defaults for the global options', () => {
  const c = parseWorkerConfig([], BASE);
  assert.equal(c.mode, 'all');
  assert.equal(c.temporal.embedded, true);
  assert.equal(c.temporal.namespace, 'default');
  assert.equal(c.temporal.devServerUiPort, 8233);
  assert.equal(c.dataDir, '/nonexistent-home/.local/share/fledge');
  assert.equal(c.taskQueue, 'fledge');
  assert.deepEqual(c.selectorLabels, ['app', 'name', 'app.kubernetes.io/name']);
  assert.equal(c.metricsServer, 'http://prometheus:9090');
  assert.deepEqual(c.namespaces, []);
  assert.equal(c.configTracking, true);
  assert.equal(c.slack.user, 'flagger');
  assert.equal(c.port, 8080);
});

test('flags win over env, env over defaults', () => {
  const env = { ...BASE, FLEDGE_MODE: 'watcher', FLEDGE_NAMESPACE: 'a, b', SLACK_URL: 'https://hooks.example/x' };
  const c = parseWorkerConfig(['--mode', 'worker', '--selector-labels', 'app'], env);
  assert.equal(c.mode, 'worker');
  assert.deepEqual(c.namespaces, ['a', 'b']);
  assert.deepEqual(c.selectorLabels, ['app']);
  assert.equal(c.slack.url, 'https://hooks.example/x');
  const d = parseWorkerConfig(['--namespace', 'only'], env);
  assert.deepEqual(d.namespaces, ['only']);
  assert.equal(d.mode, 'watcher');
});

test('Temporal from envconfig variables: address, namespace, API key turns TLS on', () => {
  const c = parseWorkerConfig([], {
    ...BASE,
    TEMPORAL_ADDRESS: 'my-ns.tmprl.cloud:7233',
    TEMPORAL_NAMESPACE: 'my-ns',
    TEMPORAL_API_KEY: 'secret',
  });
  assert.equal(c.temporal.embedded, false);
  assert.equal(c.temporal.namespace, 'my-ns');
  assert.equal(c.temporal.connection.address, 'my-ns.tmprl.cloud:7233');
  assert.equal(c.temporal.connection.apiKey, 'secret');
  assert.ok(c.temporal.connection.tls);
  const flag = parseWorkerConfig(['--temporal-address', '10.0.0.1:7233', '--temporal-namespace', 'x'], BASE);
  assert.equal(flag.temporal.embedded, false);
  assert.equal(flag.temporal.connection.address, '10.0.0.1:7233');
  assert.equal(flag.temporal.namespace, 'x');
});

test('bad values are one clear ConfigError', () => {
  assert.throws(
    () => parseWorkerConfig(['--mode', 'bogus'], BASE),
    (e: Error) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /bogus.*invalid|invalid.*bogus/i);
      return true;
    },
  );
  assert.throws(() => parseWorkerConfig([], { ...BASE, FLEDGE_MODE: 'x' }), /FLEDGE_MODE=x is invalid/);
  assert.throws(() => parseWorkerConfig(['--port', '99999'], BASE), /--port must be a port number/);
  assert.throws(() => parseWorkerConfig(['--enable-config-tracking', 'maybe'], BASE), /true or false/);
  assert.throws(() => parseWorkerConfig(['--unknown'], BASE), ConfigError);
  assert.throws(() => parseWorkerConfig(['--max-cached-workflows', '-1'], BASE), /whole number ≥ 0, not -1/);
  // An unknown default provider: no silent fallback (Flagger's factory used Istio), the supported names listed.
  for (const bad of ['envoy', 'Istio', 'gatewayapi:v2', 'smi:v1alpha4:linkerd'])
    assert.throws(
      () => parseWorkerConfig(['--mesh-provider', bad], BASE),
      (e: Error) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.message.split(';')[0], `--mesh-provider ${bad} is not a provider fledge knows`);
        assert.match(e.message, /supported: apisix, .*istio, .*linkerd, .*nginx/);
        return true;
      },
    );
  assert.throws(() => parseWorkerConfig([], { ...BASE, FLEDGE_MESH_PROVIDER: 'envoy' }), /--mesh-provider envoy/);
  for (const good of ['istio', 'gatewayapi', 'smi:v1alpha2:linkerd', 'appmesh:v1beta2'])
    assert.equal(parseWorkerConfig(['--mesh-provider', good], BASE).meshProvider, good);
});

test('--max-cached-workflows: the SDK default unless given; 0 (no cache) is a value', () => {
  assert.equal(componentSettings(parseWorkerConfig([], BASE)).worker.maxCachedWorkflows, undefined);
  const c = parseWorkerConfig([], { ...BASE, FLEDGE_MAX_CACHED_WORKFLOWS: '0' });
  assert.equal(componentSettings(c).worker.maxCachedWorkflows, 0);
});

test('Worker Versioning: off by default; deployment name needs a build id; behavior defaults to auto-upgrade', () => {
  assert.equal(parseWorkerConfig([], BASE).versioning, undefined);
  assert.equal(componentSettings(parseWorkerConfig([], BASE)).worker.deployment, undefined);
  const c = parseWorkerConfig([], { ...BASE, FLEDGE_WORKER_DEPLOYMENT_NAME: 'fledge', FLEDGE_WORKER_BUILD_ID: 'v2' });
  assert.deepEqual(c.versioning, { deploymentName: 'fledge', buildId: 'v2', behavior: 'auto-upgrade' });
  assert.deepEqual(componentSettings(c).worker.deployment, {
    useWorkerVersioning: true,
    version: { deploymentName: 'fledge', buildId: 'v2' },
    defaultVersioningBehavior: 'AUTO_UPGRADE',
  });
  const pinned = parseWorkerConfig(['--worker-deployment-name', 'd', '--worker-build-id', 'b'], {
    ...BASE,
    FLEDGE_WORKER_VERSIONING_BEHAVIOR: 'pinned',
  });
  assert.equal(componentSettings(pinned).worker.deployment?.defaultVersioningBehavior, 'PINNED');
  assert.throws(
    () => parseWorkerConfig(['--worker-deployment-name', 'fledge'], BASE),
    (e: Error) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /--worker-deployment-name fledge needs --worker-build-id \(FLEDGE_WORKER_BUILD_ID\)/);
      return true;
    },
  );
  assert.throws(() => parseWorkerConfig(['--worker-build-id', 'b'], BASE), /needs --worker-deployment-name/);
  assert.throws(
    () => parseWorkerConfig([], { ...BASE, FLEDGE_WORKER_VERSIONING_BEHAVIOR: 'sticky' }),
    /FLEDGE_WORKER_VERSIONING_BEHAVIOR=sticky is invalid; allowed: pinned, auto-upgrade/,
  );
});

test('every option has an env variable', () => {
  for (const o of optionTable()) assert.match(o.env, /^[A-Z_]+$/, o.flag);
});

test('canaryLabel: workflow id to Flagger-style name.namespace', () => {
  assert.equal(canaryLabel('canary/test/podinfo'), 'podinfo.test');
  assert.equal(canaryLabel('other'), undefined);
  assert.equal(canaryLabel(undefined), undefined);
});

test('health server: healthz always, readyz reflects every check, metrics served', async () => {
  const readiness: ReadinessCheck[] = [];
  let stopping = false;
  const h = await startHealthServer({
    host: '127.0.0.1',
    port: 0,
    readiness,
    metrics: metricsText,
    contentType: METRICS_CONTENT_TYPE,
    stopping: () => stopping,
  });
  try {
    assert.equal((await fetch(`${h.url}/healthz`)).status, 200);
    let r = await fetch(`${h.url}/readyz`);
    assert.equal(r.status, 503);
    assert.match(await r.text(), /starting/);
    let synced = false;
    readiness.push({ name: 'worker', check: () => undefined });
    readiness.push({ name: 'watcher', check: () => (synced ? undefined : 'informers not synced') });
    r = await fetch(`${h.url}/readyz`);
    assert.equal(r.status, 503);
    assert.equal(await r.text(), 'watcher: informers not synced\n');
    synced = true;
    assert.equal((await fetch(`${h.url}/readyz`)).status, 200);
    stopping = true;
    assert.equal((await fetch(`${h.url}/readyz`)).status, 503);
    assert.equal((await fetch(`${h.url}/nope`)).status, 404);
    const m = await fetch(`${h.url}/metrics`);
    assert.equal(m.status, 200);
    assert.match(await m.text(), /# TYPE flagger_canary_weight gauge/);
  } finally {
    await h.close();
  }
});

function projection(over: Partial<StatusProjection>): StatusProjection {
  return {
    phase: 'Progressing',
    canaryWeight: 10,
    failedChecks: 0,
    iterations: 0,
    step: 1,
    revision: 'rev-2',
    metrics: [],
    message: '',
    workflowId: 'canary/test/podinfo',
    runId: 'run-1',
    ...over,
  };
}

test('metrics: Flagger names and labels, threshold labels, outcomes counted once', async () => {
  const ref = { namespace: 'test', name: 'podinfo' };
  setInfo('0.1.0', 'kubernetes');
  recordCanaries([{ ...ref, target: 'podinfo-app', strategy: 'canary', skipAnalysis: false }]);
  const errorRate = { name: 'error-rate', value: 0.5, range: { max: 1 }, verdict: 'pass' as const };
  recordStatus(ref, projection({ metrics: [errorRate] }), 1_000);
  recordStatus(ref, projection({ canaryWeight: 20, metrics: [{ ...errorRate, range: { max: 2 } }] }), 2_000);
  const done = projection({ phase: 'Succeeded', canaryWeight: 0 });
  recordStatus(ref, done, 61_000);
  recordStatus(ref, done, 62_000); // a retried writeStatus
  const text = await metricsText();
  assert.match(text, /flagger_info\{version="0.1.0",mesh_provider="kubernetes"\} 1/);
  assert.match(text, /flagger_canary_total\{namespace="test"\} 1/);
  assert.match(text, /flagger_canary_status\{name="podinfo-app",namespace="test"\} 1/);
  assert.match(text, /flagger_canary_weight\{workload="podinfo-app-primary",namespace="test"\} 100/);
  assert.match(text, /flagger_canary_weight\{workload="podinfo-app",namespace="test"\} 0/);
  assert.match(
    text,
    /flagger_canary_metric_analysis\{name="podinfo-app",namespace="test",metric="error-rate",min="",max="2"\} 0.5/,
  );
  assert.doesNotMatch(text, /max="1"/, 'a changed threshold leaves no stale series');
  assert.match(
    text,
    /flagger_canary_successes_total\{name="podinfo-app",namespace="test",deployment_strategy="canary",analysis_status="completed"\} 1/,
  );
  assert.match(text, /flagger_canary_duration_seconds_sum\{name="podinfo-app",namespace="test"\} 60/);
  assert.match(text, /flagger_canary_duration_seconds_count\{name="podinfo-app",namespace="test"\} 1/);
});

// ---------------------------------------------------------------------------------------------------------
// One configuration builds every component (issue 18: the watcher's finalizer once ignored --selector-labels)
// ---------------------------------------------------------------------------------------------------------

/** A free loopback port. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

test('every flag with a non-default value reaches every component that uses it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fledge-config-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: c, cluster: {server: "https://10.7.7.7:6443"}}]',
      'users: [{name: u, user: {token: t}}]',
      'contexts: [{name: x, context: {cluster: c, user: u}}]',
      'current-context: x',
    ].join('\n'),
  );
  const temporalToml = join(dir, 'temporal.toml');
  writeFileSync(temporalToml, '[profile.ci]\naddress = "10.9.9.9:7233"\napi_key = "from-profile"\n');
  const env = { ...BASE, TEMPORAL_CONFIG_FILE: temporalToml };
  const [port, loadtesterPort] = [await freePort(), await freePort()];
  const values: Record<string, string> = {
    '--mode': 'watcher',
    '--data-dir': join(dir, 'data'),
    '--task-queue': 'tq-test',
    '--temporal-address': '10.1.2.3:7234',
    '--temporal-namespace': 'ns-test',
    '--temporal-profile': 'ci',
    '--dev-server-port': '17233',
    '--dev-server-ui-port': '18233',
    '--workflow-bundle': join(dir, 'bundle.js'),
    '--max-cached-workflows': '250',
    '--worker-deployment-name': 'fledge-test',
    '--worker-build-id': '1.2.3',
    '--worker-versioning-behavior': 'pinned',
    '--kubeconfig': kubeconfig,
    '--mesh-provider': 'gatewayapi:v1',
    '--metrics-server': 'http://prom.test:9090',
    '--ingress-annotations-prefix': 'custom.ingress.kubernetes.io',
    '--ingress-class': 'contour-external',
    '--selector-labels': 'app.kubernetes.io/instance,app',
    '--include-label-prefix': 'team.example.com,owner',
    '--namespace': 'a,b',
    '--cluster-name': 'prod-eu',
    '--slack-url': 'https://hooks.slack.test/x',
    '--slack-proxy-url': 'http://proxy.test:3128',
    '--slack-user': 'bot',
    '--slack-channel': 'deploys',
    '--msteams-url': 'https://teams.test/x',
    '--msteams-proxy-url': 'http://proxy2.test:3128',
    '--event-webhook': 'http://events.test/hook',
    '--enable-config-tracking': 'false',
    '--forbid-cross-namespace-refs': 'true',
    '--listen-address': '127.0.0.1',
    '--port': String(port),
    '--core-metrics-address': '127.0.0.1:19464',
    '--loadtester-port': String(loadtesterPort),
    '--log-level': 'debug',
  };
  // Every flag the controller has is in this test: a new flag without a check here fails it.
  const flags = optionTable().map((o) => o.flag);
  assert.deepEqual(Object.keys(values).sort(), [...flags].sort());
  for (const o of optionTable())
    assert.notEqual(values[o.flag], o.default ?? '', `${o.flag} is given a non-default value`);
  const argv = Object.entries(values).flat();
  const s = componentSettings(parseWorkerConfig(argv, env));
  // The embedded dev server only exists without a Temporal address: the same flags, minus the address and profile.
  const embeddedArgv = Object.entries(values)
    .filter(([f]) => f !== '--temporal-address' && f !== '--temporal-profile')
    .flat();
  const e = componentSettings(parseWorkerConfig(embeddedArgv, BASE));

  const activities = {
    selectorLabels: ['app.kubernetes.io/instance', 'app'],
    includeLabelPrefix: ['team.example.com', 'owner'],
    defaultProvider: 'gatewayapi:v1',
    configTracking: false,
    noCrossNamespaceRefs: true,
    metricsServer: 'http://prom.test:9090',
    ingressAnnotationsPrefix: 'custom.ingress.kubernetes.io',
    ingressClass: 'contour-external',
    eventWebhook: 'http://events.test/hook',
    globalNotifier: {
      slackUrl: 'https://hooks.slack.test/x',
      slackProxyUrl: 'http://proxy.test:3128',
      slackUser: 'bot',
      slackChannel: 'deploys',
      msteamsUrl: 'https://teams.test/x',
      msteamsProxyUrl: 'http://proxy2.test:3128',
    },
  };
  // Worker activities and the watcher's (finalizer) activities: the same settings.
  assert.deepEqual(s.activities, activities);
  assert.deepEqual(s.watcher, { taskQueue: 'tq-test', namespaces: ['a', 'b'], configTracking: false, activities });
  assert.deepEqual(s.worker, {
    taskQueue: 'tq-test',
    namespace: 'ns-test',
    workflowBundle: values['--workflow-bundle'],
    maxCachedWorkflows: 250,
    deployment: {
      useWorkerVersioning: true,
      version: { deploymentName: 'fledge-test', buildId: '1.2.3' },
      defaultVersioningBehavior: 'PINNED',
    },
  });
  assert.equal(s.temporal.embedded, false);
  assert.equal(s.temporal.connection.address, '10.1.2.3:7234', '--temporal-address over the profile');
  assert.equal(s.temporal.connection.apiKey, 'from-profile', '--temporal-profile is read');
  assert.equal(s.devServer, undefined);
  assert.deepEqual(e.devServer, { dataDir: values['--data-dir'], port: 17233, uiPort: 18233, namespace: 'ns-test' });
  assert.deepEqual(s.kube, { kubeconfig });
  assert.deepEqual(s.log, { level: 'debug', mode: 'watcher' });
  assert.deepEqual(s.health, { host: '127.0.0.1', port, coreMetricsAddress: '127.0.0.1:19464', standalone: true });
  assert.deepEqual(s.loadTester, { host: '127.0.0.1', port: loadtesterPort, logLevel: 'debug' });
  assert.deepEqual(s.warnings, ['--cluster-name prod-eu is not used in alerts yet']);

  // The activity sets are built from them (the kubeconfig only has to load: nothing is called).
  const kube = createContext({ kubeconfig }, BASE).kube();
  const log = pino({ level: 'silent' });
  const worker = createActivities({ kube, log, ...s.activities });
  const watcher = createActivities({ kube, log, ...s.watcher.activities });
  assert.deepEqual(Object.keys(watcher).sort(), Object.keys(worker).sort());
  assert.equal(typeof worker.finalizeCanary, 'function');

  // The CLI, given the controller's settings, talks to the same Temporal namespace and the same cluster.
  assert.deepEqual(s.cli, { address: '10.1.2.3:7234', temporalNamespace: 'ns-test', profile: 'ci', kubeconfig });
  const target = temporalTarget(s.cli, env);
  assert.deepEqual([target.address, target.namespace], ['10.1.2.3:7234', 'ns-test']);
  assert.equal(target.connectionOptions.apiKey, 'from-profile');
  assert.equal(createContext(s.cli, env).kube().getCurrentCluster()?.server, 'https://10.7.7.7:6443');
  const embedded = temporalTarget(e.cli, BASE);
  assert.deepEqual([embedded.address, embedded.namespace], ['127.0.0.1:17233', 'ns-test']);

  // The load tester and the health server listen where the flags say.
  const tester = await startLoadTester({ host: s.loadTester.host, port: s.loadTester.port, log });
  const health = await startHealthServer({
    ...s.health,
    readiness: [],
    metrics: metricsText,
    contentType: METRICS_CONTENT_TYPE,
    stopping: () => false,
  });
  try {
    assert.equal(tester.port, loadtesterPort);
    assert.equal((await fetch(`http://127.0.0.1:${loadtesterPort}/healthz`)).status, 200);
    assert.equal(health.url, `http://127.0.0.1:${port}`);
    assert.equal((await fetch(`${health.url}/healthz`)).status, 200);
  } finally {
    await tester.stop();
    await health.close();
  }
});

test('--mode loadtester with equal health and load tester ports (the defaults) starts: one server answers /healthz', async () => {
  assert.equal(componentSettings(parseWorkerConfig(['--mode', 'loadtester'], BASE)).health.standalone, false);
  assert.equal(componentSettings(parseWorkerConfig([], BASE)).health.standalone, true);
  // The same port for both (as the defaults are), on a free loopback port instead of 8080.
  const port = await freePort();
  const main = fileURLToPath(new URL('../../worker/main.ts', import.meta.url));
  const child = spawn(
    process.execPath,
    [main, '--mode', 'loadtester', '--listen-address', '127.0.0.1', '--port', String(port)],
    { env: { ...process.env, ...BASE, FLEDGE_LOADTESTER_PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  try {
    const deadline = Date.now() + 20_000;
    let status = 0;
    while (Date.now() < deadline && status !== 200) {
      const code = await Promise.race([exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 200))]);
      assert.equal(code, undefined, `the process exited: ${output}`);
      status = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.status,
        () => 0,
      );
    }
    assert.equal(status, 200, output);
    assert.doesNotMatch(output, /EADDRINUSE|failed to start/);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
});
