#!/usr/bin/env node
// The controller process: `node worker/main.ts [--mode all|worker|watcher|loadtester]`.
//
//   worker      Temporal worker running the rollout workflows and their activities
//   watcher     Kubernetes informers that start/signal rollouts (watch-driven, not polling)
//   loadtester  Flagger-compatible load tester (webhook target)
//   all         worker + watcher (the default; two replicas are safe: one workflow id per canary, and the
//               workflow ignores duplicate signals)
//
// Temporal from @temporalio/envconfig (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS, profiles);
// with no address anywhere, an embedded dev server with SQLite under --data-dir. Kubernetes from --kubeconfig,
// KUBECONFIG, ~/.kube/config or the in-cluster service account.
import { createServer } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { NativeConnection, Runtime, Worker, type NativeConnectionOptions } from '@temporalio/worker';
import { pino, type Logger } from 'pino';
import type { CanaryRef, RolloutActivities } from '../api/ports.ts';
import { parseCanary } from '../api/validate.ts';
import { deriveStrategy } from '../api/validate.ts';
import { SEARCH_ATTRIBUTES } from '../workflows/controls.ts';
import { withConnectionReuse } from '../activities/kubernetes/client.ts';
import { ConfigError, HelpRequested, parseWorkerConfig, type WorkerConfig } from './config.ts';
import { componentSettings } from './config.ts';
import { startDevServer, type DevServer } from './dev-server.ts';
import { isEntrypoint, sourcePath } from './entry.ts';
import { startHealthServer, type HealthServer, type ReadinessCheck } from './health.ts';
import { METRICS_CONTENT_TYPE, forgetCanary, metricsText, recordCanaries, recordStatus, setInfo } from './metrics.ts';
import {
  createActivities,
  startLoadTester,
  startWatcher,
  syncedCheck,
  type ActivityDepsLike,
  type RunningLoadTester,
  type Watcher,
} from './parts.ts';

export const VERSION = '0.1.0';
const CANARY_LIST_INTERVAL_MS = 30_000;

/** Everything started so far, stopped in reverse order on shutdown. */
interface Running {
  health?: HealthServer;
  devServer?: DevServer;
  client?: Client;
  native?: NativeConnection;
  worker?: Worker;
  workerRun?: Promise<void>;
  watcher?: Watcher;
  loadTester?: RunningLoadTester;
  canaryLister?: NodeJS.Timeout;
}

export function createLogger(config: Pick<WorkerConfig, 'logLevel' | 'mode'>): Logger {
  return pino({ name: 'fledge', level: config.logLevel, base: { mode: config.mode } });
}

/** `canary/<ns>/<name>` → `name.ns`, Flagger's way of naming a canary in logs. */
export function canaryLabel(workflowId: unknown): string | undefined {
  if (typeof workflowId !== 'string') return undefined;
  const m = /^canary\/([^/]+)\/([^/]+)$/.exec(workflowId);
  return m ? `${m[2]}.${m[1]}` : undefined;
}

async function main(): Promise<void> {
  let config: WorkerConfig;
  try {
    config = parseWorkerConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof HelpRequested) {
      process.stdout.write(err.text);
      process.exit(0);
    }
    if (!(err instanceof ConfigError)) throw err;
    console.error(`fledge: ${err.message}`);
    process.exit(2);
  }
  const log = createLogger(config);
  const running: Running = {};
  const state = { stopping: false };
  const readiness: ReadinessCheck[] = [];
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (signal: string) => {
      if (state.stopping) return;
      state.stopping = true;
      log.info({ signal }, 'shutting down');
      void shutdown(running, log).then(resolve);
    };
    process.on('SIGTERM', onSignal).on('SIGINT', onSignal);
  });
  try {
    await start(config, log, running, readiness, state);
  } catch (err) {
    log.error({ err: err instanceof Error ? err.message : String(err) }, 'fledge failed to start');
    await shutdown(running, log);
    process.exit(1);
  }
  await stopped;
  log.info('stopped');
  process.exit(0);
}

async function start(
  config: WorkerConfig,
  log: Logger,
  running: Running,
  readiness: ReadinessCheck[],
  state: { stopping: boolean },
): Promise<void> {
  const core = await coreMetrics(config);
  const health = componentSettings(config).health;
  // `--mode loadtester` on the load tester's port: the load tester's own server answers /healthz and /metrics.
  if (health.standalone) {
    running.health = await startHealthServer({
      host: health.host,
      port: health.port,
      readiness,
      metrics: metricsText,
      contentType: METRICS_CONTENT_TYPE,
      coreMetricsUrl: core.mergeUrl,
      stopping: () => state.stopping,
    });
    log.info({ url: running.health.url }, 'serving /healthz, /readyz and /metrics');
  }
  setInfo(VERSION, config.meshProvider);
  if (config.mode === 'loadtester') return startLoadTesterMode(config, log, running, readiness);

  installRuntime(log, core.bindAddress);
  const connection = await temporalConnection(config, log, running);
  running.client = await connectClient(connection, config.temporal.namespace, log);
  // Every apiserver request of the process (watcher lists and patches, activities) reuses connections.
  const kube = withConnectionReuse(kubeConfig(config));
  await checkKubernetes(kube, log);
  if (config.mode === 'all' || config.mode === 'worker')
    await startWorker(config, log, running, readiness, { connection, kube });
  if (config.mode === 'all' || config.mode === 'watcher') startWatcherPart(config, log, running, readiness, kube);
}

// ---------------------------------------------------------------------------------------------------------
// Temporal
// ---------------------------------------------------------------------------------------------------------

/** Core metrics go to a loopback port we merge into /metrics, unless the operator asked for their own endpoint. */
async function coreMetrics(config: WorkerConfig): Promise<{ bindAddress: string; mergeUrl?: string }> {
  const { coreMetricsAddress } = componentSettings(config).health;
  if (coreMetricsAddress) return { bindAddress: coreMetricsAddress };
  const port = await freePort();
  return { bindAddress: `127.0.0.1:${port}`, mergeUrl: `http://127.0.0.1:${port}/metrics` };
}

function installRuntime(log: Logger, bindAddress: string): void {
  const sdk = log.child({ component: 'temporal' });
  const write = (level: string, message: string, meta?: Record<string | symbol, unknown>) => {
    const canary = canaryLabel(meta?.workflowId);
    const fields = { ...(meta as Record<string, unknown>), ...(canary ? { canary } : {}) };
    const fn = level === 'ERROR' ? sdk.error : level === 'WARN' ? sdk.warn : level === 'INFO' ? sdk.info : sdk.debug;
    fn.call(sdk, fields, message);
  };
  Runtime.install({
    logger: {
      log: write,
      trace: (m, meta) => write('TRACE', m, meta),
      debug: (m, meta) => write('DEBUG', m, meta),
      info: (m, meta) => write('INFO', m, meta),
      warn: (m, meta) => write('WARN', m, meta),
      error: (m, meta) => write('ERROR', m, meta),
    },
    telemetryOptions: { metrics: { prometheus: { bindAddress } } },
    // We stop in our own order (watcher first, then the worker drains), so the SDK must not react to signals.
    shutdownSignals: [],
  });
}

async function temporalConnection(
  config: WorkerConfig,
  log: Logger,
  running: Running,
): Promise<NativeConnectionOptions> {
  const t = config.temporal;
  if (!t.embedded) return t.connection;
  running.devServer = await startDevServer({
    dataDir: config.dataDir,
    port: t.devServerPort,
    uiPort: t.devServerUiPort,
    namespace: t.namespace,
    log: (msg, fields) => log.info(fields ?? {}, msg),
  });
  log.info({ ui: running.devServer.uiUrl }, 'Temporal Web UI');
  return { ...t.connection, address: running.devServer.address };
}

async function connectClient(options: NativeConnectionOptions, namespace: string, log: Logger): Promise<Client> {
  const address = options.address ?? '127.0.0.1:7233';
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...(options as ConnectionOptions), connectTimeout: 10_000 });
    const info = await connection.workflowService.getSystemInfo({});
    await connection.workflowService.describeNamespace({ namespace });
    log.info({ address, namespace, serverVersion: info.serverVersion }, 'connected to Temporal');
  } catch (err) {
    throw new Error(`cannot reach Temporal at ${address} (namespace ${namespace}): ${errorText(err)}`, { cause: err });
  }
  await ensureSearchAttributes(connection, namespace, log);
  return new Client({ connection, namespace });
}

/** temporal.api.enums.v1.IndexedValueType, by the names SEARCH_ATTRIBUTES uses. */
const INDEXED_VALUE_TYPE: Record<(typeof SEARCH_ATTRIBUTES)[number]['type'], number> = {
  Text: 1,
  Keyword: 2,
  Int: 3,
  Double: 4,
  Bool: 5,
  Datetime: 6,
};

/**
 * Registers the custom search attributes the rollout workflow upserts (SEARCH_ATTRIBUTES, all Keyword) on
 * `namespace` when the server lacks any of them: a server without them would fail the workflow's tasks. Only the
 * missing ones are added, so a second call changes nothing. A server that refuses (Temporal Cloud registers them
 * through its own API) gets a warning naming them, never an error.
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string, log: Logger): Promise<void> {
  try {
    const have = await connection.operatorService.listSearchAttributes({ namespace });
    const missing = SEARCH_ATTRIBUTES.filter((a) => !have.customAttributes?.[a.name]);
    if (missing.length === 0) return;
    // The enum's numbers: the gRPC client encodes the request as given, and a name string would go out as 0
    // (Unspecified), which the server refuses.
    const searchAttributes = Object.fromEntries(missing.map((a) => [a.name, INDEXED_VALUE_TYPE[a.type]]));
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes });
    log.info({ attributes: missing.map((a) => a.name) }, 'registered search attributes');
  } catch (err) {
    // Temporal Cloud registers them through its own API; say what to do instead of failing.
    log.warn(
      { err: errorText(err), attributes: SEARCH_ATTRIBUTES.map((a) => `${a.name}=${a.type}`) },
      'could not check/register search attributes; register them on the namespace',
    );
  }
}

// ---------------------------------------------------------------------------------------------------------
// Kubernetes
// ---------------------------------------------------------------------------------------------------------

function kubeConfig(config: WorkerConfig): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  // KUBECONFIG may list several files (a:b); loadFromDefault merges them and falls back to in-cluster.
  if (config.kubeconfig && !config.kubeconfig.includes(':') && config.kubeconfig !== process.env.KUBECONFIG)
    kc.loadFromFile(config.kubeconfig);
  else kc.loadFromDefault();
  return kc;
}

async function checkKubernetes(kc: k8s.KubeConfig, log: Logger): Promise<void> {
  const server = kc.getCurrentCluster()?.server;
  try {
    const version = await kc.makeApiClient(k8s.VersionApi).getCode();
    log.info({ server, version: version.gitVersion }, 'connected to Kubernetes');
  } catch (err) {
    throw new Error(`cannot reach Kubernetes at ${server}: ${errorText(err)}`, { cause: err });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Modes
// ---------------------------------------------------------------------------------------------------------

async function startWorker(
  config: WorkerConfig,
  log: Logger,
  running: Running,
  readiness: ReadinessCheck[],
  env: { kube: k8s.KubeConfig; connection: NativeConnectionOptions },
): Promise<void> {
  warnUnsupported(config, log);
  const activities = withMetrics(createActivities(activityDeps(config, log, env.kube)), log);
  running.native = await NativeConnection.connect(env.connection);
  const { deployment, maxCachedWorkflows } = componentSettings(config).worker;
  running.worker = await Worker.create({
    connection: running.native,
    namespace: config.temporal.namespace,
    taskQueue: config.taskQueue,
    ...workflowSource(config),
    activities,
    // Worker Versioning (--worker-deployment-name): poll as deploymentName.buildId; docs/upgrading.md.
    ...(deployment ? { workerDeploymentOptions: deployment } : {}),
    // --max-cached-workflows bounds the memory of open rollouts (docs/benchmarks.md, "Engine").
    ...(maxCachedWorkflows !== undefined ? { maxCachedWorkflows } : {}),
    // On SIGTERM running activities get this long to finish before they are cancelled (and retried elsewhere);
    // the chart's terminationGracePeriodSeconds is longer.
    shutdownGraceTime: '30s',
  });
  const worker = running.worker;
  running.workerRun = worker.run();
  running.workerRun.catch((err: unknown) => log.error({ err: errorText(err) }, 'worker failed'));
  readiness.push({ name: 'worker', check: () => (worker.getState() === 'RUNNING' ? undefined : worker.getState()) });
  running.canaryLister = listCanariesPeriodically(config, env.kube, log);
  log.info(
    {
      taskQueue: config.taskQueue,
      namespace: config.temporal.namespace,
      ...(deployment
        ? {
            deploymentVersion: `${deployment.version.deploymentName}.${deployment.version.buildId}`,
            versioningBehavior: deployment.defaultVersioningBehavior,
          }
        : {}),
    },
    'worker running',
  );
}

/** The worker's activity set: kube and log plus the settings every activity set of the process shares. */
function activityDeps(config: WorkerConfig, log: Logger, kube: k8s.KubeConfig): ActivityDepsLike {
  return { kube, log, ...componentSettings(config).activities };
}

/** Flagger options the activities do not act on yet: accepted (so Flagger manifests and charts still start), but said. */
function warnUnsupported(config: WorkerConfig, log: Logger): void {
  for (const warning of componentSettings(config).warnings) log.warn(warning);
}

/** Every status projection the workflow writes also feeds the Flagger metrics (after the write succeeded). */
export function withMetrics<T extends RolloutActivities>(activities: T, log: Logger): T {
  const writeStatus = activities.writeStatus.bind(activities);
  return {
    ...activities,
    async writeStatus(input) {
      await writeStatus(input);
      try {
        recordStatus(input.canary, input.status);
      } catch (err) {
        log.warn(
          { canary: `${input.canary.name}.${input.canary.namespace}`, err: errorText(err) },
          'metrics not recorded',
        );
      }
    },
  };
}

function workflowSource(config: WorkerConfig): { workflowBundle: { codePath: string } } | { workflowsPath: string } {
  if (config.workflowBundle) return { workflowBundle: { codePath: config.workflowBundle } };
  return { workflowsPath: sourcePath('../workflows/index', import.meta.url) };
}

function startWatcherPart(
  config: WorkerConfig,
  log: Logger,
  running: Running,
  readiness: ReadinessCheck[],
  kube: k8s.KubeConfig,
): void {
  // The client's Temporal namespace is where the watcher starts rollouts.
  // It only signals; finalizing a deleted Canary (revertOnDeletion) is the workflow's last step, on the worker.
  const watcher = startWatcher({ kube, client: running.client as Client, log, ...componentSettings(config).watcher });
  running.watcher = watcher;
  const synced = syncedCheck(watcher);
  readiness.push({ name: 'watcher', check: () => (synced() ? undefined : 'informers not synced') });
  log.info({ namespaces: config.namespaces.length ? config.namespaces : 'all' }, 'watcher started');
}

async function startLoadTesterMode(
  config: WorkerConfig,
  log: Logger,
  running: Running,
  readiness: ReadinessCheck[],
): Promise<void> {
  const { host, port } = componentSettings(config).loadTester;
  running.loadTester = await startLoadTester({ host, port, log: log.child({ component: 'loadtester' }) });
  readiness.push({ name: 'loadtester', check: () => undefined });
}

// ---------------------------------------------------------------------------------------------------------
// Canary inventory for flagger_canary_total and the per-canary label facts (target name, strategy)
// ---------------------------------------------------------------------------------------------------------

function listCanariesPeriodically(config: WorkerConfig, kube: k8s.KubeConfig, log: Logger): NodeJS.Timeout {
  const api = kube.makeApiClient(k8s.CustomObjectsApi);
  let known = new Set<string>();
  const once = async () => {
    try {
      const items = await listCanaries(api, config.namespaces);
      recordCanaries(items);
      const now = new Set(items.map((c) => `${c.namespace}/${c.name}`));
      for (const k of known) if (!now.has(k)) forgetCanary(refOf(k));
      known = now;
    } catch (err) {
      log.debug({ err: errorText(err) }, 'canary list for metrics failed');
    }
  };
  void once();
  const timer = setInterval(() => void once(), CANARY_LIST_INTERVAL_MS);
  timer.unref();
  return timer;
}

function refOf(key: string): CanaryRef {
  const [namespace = '', name = ''] = key.split('/');
  return { namespace, name };
}

type CanaryFactsRow = CanaryRef & {
  target?: string;
  strategy?: 'canary' | 'blue-green' | 'ab-testing';
  skipAnalysis?: boolean;
};

async function listCanaries(api: k8s.CustomObjectsApi, namespaces: string[]): Promise<CanaryFactsRow[]> {
  const group = { group: 'flagger.app', version: 'v1beta1', plural: 'canaries' };
  const lists = namespaces.length
    ? await Promise.all(namespaces.map((namespace) => api.listNamespacedCustomObject({ ...group, namespace })))
    : [await api.listClusterCustomObject(group)];
  return lists.flatMap((l) => ((l as { items?: unknown[] }).items ?? []).map(canaryFacts));
}

function canaryFacts(raw: unknown): CanaryFactsRow {
  const meta = (raw as { metadata?: { name?: string; namespace?: string } }).metadata ?? {};
  const row: CanaryFactsRow = { namespace: meta.namespace ?? '', name: meta.name ?? '' };
  const parsed = parseCanary(raw);
  if (!parsed.ok) return row;
  const strategy = deriveStrategy(parsed.canary.spec).strategy;
  return { ...row, target: parsed.canary.spec.targetRef.name, strategy, skipAnalysis: parsed.canary.spec.skipAnalysis };
}

// ---------------------------------------------------------------------------------------------------------
// Shutdown and helpers
// ---------------------------------------------------------------------------------------------------------

/** Watcher first (no new rollouts), then the worker drains its tasks, then connections and the dev server. */
async function shutdown(r: Running, log: Logger): Promise<void> {
  const step = async (what: string, fn: () => unknown) => {
    try {
      await fn();
    } catch (err) {
      log.warn({ err: errorText(err) }, `stopping ${what} failed`);
    }
  };
  if (r.canaryLister) clearInterval(r.canaryLister);
  await step('watcher', () => r.watcher?.stop());
  await step('load tester', () => r.loadTester?.stop());
  if (r.worker && r.worker.getState() === 'RUNNING') await step('worker', () => r.worker?.shutdown());
  await step('worker', () => r.workerRun);
  await step('worker connection', () => r.native?.close());
  await step('client connection', () => r.client?.connection.close());
  await step('dev server', () => r.devServer?.stop());
  await step('health server', () => r.health?.close());
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

if (isEntrypoint(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(`fledge: ${errorText(err)}`);
    process.exit(1);
  });
}
