// The controller's configuration (flags, env, Temporal envconfig), its health server and the Flagger metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, optionTable, parseWorkerConfig } from '../../worker/config.ts';
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
