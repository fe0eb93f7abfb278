// The whole product on loopback, for end-to-end tests, the sandbox and the benchmark:
//
//   - a real Kubernetes control plane with controllers and kwok nodes (dev/cluster.ts),
//   - a real Temporal dev server (dev/temporal.ts),
//   - a real Prometheus scraping, every second, a small exporter served by this process, whose per-canary
//     request counters the caller steers (`stack.metrics.set(ns, name, { successRate, durationMs })`): the
//     series are the ones the builtin `request-success-rate` / `request-duration` queries of the `kubernetes` and
//     `gatewayapi` observers read (activities/metrics/observers/http.ts),
//   - the gateway STAND-IN (dev/gateway-standin.ts): NOT a real gateway, it carries no traffic; it only
//     marks each HTTPRoute generation Accepted, as a gateway controller would, so route readiness passes,
//     With `gateway: 'traefik'` instead: real Traefik (dev/traefik.ts) in the harness's network namespace
//     (dev/netns.ts), and the pod runner (dev/pod-runner.ts) serving each pod on its IP, so requests through
//     `stack.traefik.url` really reach the primary or the canary; Prometheus then runs in the namespace too and
//     also scrapes Traefik and the pods (discovered through the apiserver, relabelled as Flagger's chart does).
//   - N real controller processes, `node worker/main.ts --mode all`, each with its own /healthz, /readyz and
//     /metrics port and a JSON log file in the stack's directory; with `supervise`, a controller that exits is
//     started again on the same port and log file, with backoff, as a Deployment's pod would be (dev/supervisor.ts).
//
// Helpers run the real command-line tools against it: kubectl, `node cli/fledge.ts` and the `temporal` CLI.
import { execFile } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { startCluster, waitFor, type Cluster } from './cluster.ts';
import { STANDIN_CONTROLLER_NAME, startGatewayStandin, type GatewayStandin } from './gateway-standin.ts';
import {
  REPO_ROOT,
  binary,
  freePort,
  makeTempDir,
  removeTempDir,
  spawnServer,
  tailFile,
  waitReady,
  type ExitStatus,
  type Server,
} from './proc.ts';
import { kubernetesPodsJob, startPrometheus, type PrometheusServer } from './prometheus.ts';
import { supervise, type RestartRecord, type SupervisionOptions, type Supervised } from './supervisor.ts';
import { startTemporal, type TemporalOptions, type TemporalServer } from './temporal.ts';
import { workflowBundlePath } from './workflow-bundle.ts';
import { controllerNodeFlags } from '../worker/node-flags.ts';
import { podinfoFixtureDir } from './fixtures.ts';
import { startPodNetwork, type PodNetwork } from './netns.ts';
import { startPodRunner, type PodRunner } from './pod-runner.ts';
import { startPodDiscovery, type PodDiscovery } from './pod-discovery.ts';
import { TRAEFIK_ADMIN_PORT, startTraefik, traefikGatewayManifest, type Traefik } from './traefik.ts';

/** Flagger v1.44's podinfo fixture (Deployment + HPA) from the Go module cache (dev/fixtures.ts). */
export const PODINFO_DIR = podinfoFixtureDir();
/** The Gateway every Canary of the stack routes through (accepted by the stand-in, which has no data plane). */
export const GATEWAY = { name: 'gateway', namespace: 'gateways' };

export interface StackOptions {
  /** Controller processes (`node worker/main.ts --mode all`), default 1. */
  controllers?: number;
  /** kwok nodes, default 2. */
  nodes?: number;
  /** Extra CRD files installed into the apiserver (e.g. kedaCrdFiles() of dev/fixtures.ts). */
  crds?: string[];
  /** Log level of the controllers (default info). */
  logLevel?: string;
  /** Extra environment of the controllers. */
  controllerEnv?: Record<string, string>;
  /** Serve the Temporal Web UI (the sandbox does). */
  ui?: boolean;
  /** Fixed dev server ports and namespace (the sandbox: 7233, UI 8233, `default`); default free ports, `fledge-test`. */
  temporal?: Pick<TemporalOptions, 'port' | 'uiPort' | 'namespace'>;
  /**
   * Restart controllers that exit (crash, `kill -9`) as a Deployment would: `true` for the defaults of
   * dev/supervisor.ts (1 s doubling to 30 s, give up after 10 restarts in a row that never got ready), or its
   * options. Default off: the controller's exit is then final (tests that stop controllers themselves want that).
   */
  supervise?: boolean | SupervisionOptions;
  /**
   * Run the controllers as another identity than the cluster admin: called once the cluster is up (CRDs and the
   * Gateway applied) with the cluster and the stack's directory, it returns the kubeconfig the controllers use,
   * e.g. the chart's ServiceAccount bound to its ClusterRole or Roles (`chartIdentity` of dev/rbac.ts). kubectl,
   * the CLI helpers and the gateway stand-in stay admin.
   */
  controllerKubeconfig?: (cluster: Cluster, dir: string) => Promise<string>;
  /**
   * The Gateway's implementation: `standin` (default; no data plane) or `traefik` (real traffic: Traefik, the
   * network namespace and the pod runner; needs root and the traefik binary).
   */
  gateway?: 'standin' | 'traefik';
}

/** What the exporter reports for one canary's pods: a constant mix of requests per scrape. */
export interface CanaryTraffic {
  /** Percentage of non-5xx responses (default 100). */
  successRate?: number;
  /** Latency of every request, milliseconds (default 50): the P99 Prometheus computes lands just under it. */
  durationMs?: number;
  /** Requests per scrape (default 100). */
  requests?: number;
}

export interface Controller {
  readonly index: number;
  /** http://127.0.0.1:PORT of /healthz, /readyz, /metrics; the same across restarts. */
  readonly url: string;
  /** JSON log, appended to by every process of this controller. */
  readonly logFile: string;
  /** The process running now (after a supervised restart, the new one). */
  readonly server: Server;
  /** Supervised restarts so far, oldest first (always empty without `supervise`). */
  readonly restarts: readonly RestartRecord[];
  /** Resolves with the exit cause once the controller is down for good (unsupervised: its first exit). */
  readonly down: Promise<ExitStatus>;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CanaryObject {
  metadata: { name: string; namespace: string; generation?: number };
  spec: Record<string, unknown>;
  status?: {
    phase?: string;
    canaryWeight?: number;
    failedChecks?: number;
    lastAppliedSpec?: string;
    lastPromotedSpec?: string;
    conditions?: { type: string; status: string; reason: string; message?: string }[];
  };
}

export interface Stack {
  readonly dir: string;
  readonly cluster: Cluster;
  /** The dev server (`stack.temporal(args)` runs the `temporal` CLI against it). */
  readonly temporalServer: TemporalServer;
  readonly prometheus: PrometheusServer;
  /** The gateway stand-in (gateway `standin`). */
  readonly standin?: GatewayStandin;
  /** Traefik, the namespace and the pod runner (gateway `traefik`). */
  readonly traefik?: Traefik;
  readonly podNetwork?: PodNetwork;
  readonly podRunner?: PodRunner;
  readonly controllers: Controller[];
  readonly kubeconfigPath: string;
  readonly kubeConfig: k8s.KubeConfig;
  /** The exporter's per-canary traffic (keyed by namespace and target name). */
  readonly metrics: {
    set(namespace: string, name: string, traffic: CanaryTraffic): void;
    /** Resolves once Prometheus answers the builtin success rate of this canary with the set value. */
    converged(namespace: string, name: string, timeoutMs?: number): Promise<void>;
  };
  /** kubectl against the stack's cluster; rejects with stderr on a non-zero exit. */
  kubectl(args: string[], input?: string): Promise<string>;
  /** `node cli/fledge.ts ARGS` with the stack's Temporal and kubeconfig (FLEDGE_USER=e2e). */
  fledge(args: string[], opts?: { timeoutMs?: number }): Promise<RunResult>;
  /** The real `temporal` CLI with --address/--namespace of the stack's dev server appended. */
  temporal(args: string[], opts?: { timeoutMs?: number }): Promise<RunResult>;
  /**
   * podinfo Deployment + HPA of Flagger's kustomize example and a Gateway API Canary (podinfoCanary); waits for
   * Initialized and for Prometheus to report the canary's traffic.
   */
  applyPodinfo(namespace: string, opts?: PodinfoOptions): Promise<void>;
  createNamespace(prefix?: string): Promise<string>;
  canary(namespace: string, name?: string): Promise<CanaryObject>;
  waitForPhase(
    namespace: string,
    phase: string | string[],
    opts?: { name?: string; timeoutMs?: number },
  ): Promise<CanaryObject>;
  /** Text of controller i's /metrics. */
  controllerMetrics(i?: number): Promise<string>;
  /** The tail of every controller's log, for failure messages. */
  controllerLogs(lines?: number): string;
  stop(): Promise<void>;
}

export interface PodinfoOptions {
  name?: string;
  /** Merged into spec.analysis (e.g. { interval: '5s', maxWeight: 50 }); `metrics` replaces the default list. */
  analysis?: Record<string, unknown>;
  /** Merged into spec (after analysis is set). */
  spec?: Record<string, unknown>;
  /** Initial traffic of the exporter for this canary (default healthy). */
  traffic?: CanaryTraffic;
  /** Wait for phase Initialized and for Prometheus to report the traffic (default true). */
  wait?: boolean;
}

/** Window of the builtin metrics: five 1 s scrapes (the analysis interval of 1 s would hold none). */
export const METRIC_WINDOW = '5s';

/** The Canary the stack applies: Gateway API, 1 s interval, 10/30 steps, both builtin metrics. */
export function podinfoCanary(namespace: string, opts: PodinfoOptions = {}): object {
  const name = opts.name ?? 'podinfo';
  return {
    apiVersion: 'flagger.app/v1beta1',
    kind: 'Canary',
    metadata: { name, namespace },
    spec: {
      provider: 'gatewayapi:v1',
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      autoscalerRef: { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', name },
      progressDeadlineSeconds: 120,
      service: { port: 9898, targetPort: 9898, gatewayRefs: [{ ...GATEWAY }] },
      analysis: {
        interval: '1s',
        threshold: 2,
        stepWeight: 10,
        maxWeight: 30,
        metrics: [
          { name: 'request-success-rate', interval: METRIC_WINDOW, thresholdRange: { min: 99 } },
          { name: 'request-duration', interval: METRIC_WINDOW, thresholdRange: { max: 500 } },
        ],
        ...opts.analysis,
      },
      ...opts.spec,
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a command to completion; never rejects on a non-zero exit (the code is in the result). */
export function runCommand(
  bin: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      bin,
      args,
      { env: { ...process.env, ...opts.env }, cwd: REPO_ROOT, maxBuffer: 64 << 20, timeout: opts.timeoutMs ?? 120_000 },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: number | string; signal?: string }) | null;
        const code = !e ? 0 : typeof e.code === 'number' ? e.code : e.signal ? 128 : 1;
        resolve({
          code,
          stdout: String(stdout),
          stderr: String(stderr) || (e && typeof e.code !== 'number' ? e.message : ''),
        });
      },
    );
  });
}

// ---------------------------------------------------------------------------------------------------------
// The exporter: counters start high and grow by a fixed mix per scrape, so rate() ratios are exact.
// ---------------------------------------------------------------------------------------------------------

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Series {
  traffic: Required<CanaryTraffic>;
  ok: number;
  errors: number;
  /** Cumulative count per bucket (same order as BUCKETS), plus +Inf. */
  buckets: number[];
  sum: number;
}

function startExporter(): { server: HttpServer; series: Map<string, Series>; ready: Promise<string> } {
  const series = new Map<string, Series>();
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.statusCode = 404;
      res.end();
      return;
    }
    const lines = ['# TYPE http_request_duration_seconds histogram'];
    for (const [key, s] of series) {
      const [namespace, name] = key.split('/') as [string, string];
      const { requests, successRate, durationMs } = s.traffic;
      const ok = Math.round((requests * successRate) / 100);
      s.ok += ok;
      s.errors += requests - ok;
      const seconds = durationMs / 1000;
      BUCKETS.forEach((le, i) => {
        if (seconds <= le) s.buckets[i]! += requests;
      });
      s.buckets[BUCKETS.length]! += requests;
      s.sum += seconds * requests;
      // A pod name of the target's Deployment: `{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)`.
      const pod = `kubernetes_namespace="${namespace}",kubernetes_pod_name="${name}-7b9d8c6f5d-x2x4z"`;
      const total = s.ok + s.errors;
      lines.push(
        `http_request_duration_seconds_count{${pod},status="200"} ${s.ok}`,
        `http_request_duration_seconds_count{${pod},status="500"} ${s.errors}`,
        `http_request_duration_seconds_sum{${pod}} ${s.sum}`,
        ...BUCKETS.map((le, i) => `http_request_duration_seconds_bucket{${pod},le="${le}"} ${s.buckets[i]}`),
        `http_request_duration_seconds_bucket{${pod},le="+Inf"} ${total}`,
      );
    }
    res.setHeader('content-type', 'text/plain; version=0.0.4');
    res.end(`${lines.join('\n')}\n`);
  });
  const ready = new Promise<string>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(`127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
  return { server, series, ready };
}

function setTraffic(series: Map<string, Series>, namespace: string, name: string, traffic: CanaryTraffic): void {
  const key = `${namespace}/${name}`;
  const full = { successRate: 100, durationMs: 50, requests: 100, ...traffic };
  const s = series.get(key);
  if (s) {
    s.traffic = full;
    return;
  }
  // Start high so that rate() never extrapolates towards zero differently per series.
  const base = 1_000_000;
  series.set(key, {
    traffic: full,
    ok: base,
    errors: base,
    buckets: [...BUCKETS.map(() => 2 * base), 2 * base],
    sum: 0,
  });
}

async function promQuery(url: string, query: string): Promise<number | undefined> {
  const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = (await res.json()) as { data?: { result?: { value: [number, string] }[] } };
  const v = body.data?.result?.[0]?.value[1];
  return v === undefined ? undefined : Number(v);
}

// ---------------------------------------------------------------------------------------------------------
// The stack
// ---------------------------------------------------------------------------------------------------------

const GATEWAY_MANIFEST = `
apiVersion: v1
kind: Namespace
metadata: { name: ${GATEWAY.namespace} }
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: fledge-standin }
spec: { controllerName: ${STANDIN_CONTROLLER_NAME} }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: ${GATEWAY.name}, namespace: ${GATEWAY.namespace} }
spec:
  gatewayClassName: fledge-standin
  listeners:
    - { name: http, protocol: HTTP, port: 80, allowedRoutes: { namespaces: { from: All } } }
`;

/**
 * The stack's Prometheus for `gateway: 'traefik'`: inside the network namespace (url: a host loopback forwarder),
 * scraping every second the exporter (`exporterTarget`, a host loopback address made reachable inside), Traefik's
 * `/metrics` on its admin entrypoint, and every pod annotated `prometheus.io/scrape` on its IP (Flagger chart's
 * `kubernetes-pods` job over the apiserver's pods, dev/pod-discovery.ts). Stop both returned parts.
 */
async function startNetnsPrometheus(
  cluster: Cluster,
  net: PodNetwork,
  dir: string,
  exporterTarget: string,
): Promise<{ prometheus: PrometheusServer; discovery: PodDiscovery }> {
  await net.exposeHostPort(Number(exporterTarget.split(':')[1]));
  const sdFile = join(dir, 'pods.sd.json');
  const discovery = await startPodDiscovery(cluster.kubeConfig, sdFile);
  try {
    const prometheus = await startPrometheus({
      net,
      scrapeTargets: [exporterTarget, `127.0.0.1:${TRAEFIK_ADMIN_PORT}`],
      scrapeJobs: [kubernetesPodsJob(sdFile)],
      scrapeIntervalSeconds: 1,
    });
    return { prometheus, discovery };
  } catch (err) {
    await discovery.stop();
    throw err;
  }
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const dir = makeTempDir('stack');
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    stops.length = 0;
  };
  try {
    const exporter = startExporter();
    stops.push(() => new Promise<void>((r) => exporter.server.close(() => r())));
    const target = await exporter.ready;
    const traefikMode = opts.gateway === 'traefik';
    // With Traefik, Prometheus runs inside the network namespace (started below), where pod IPs are reachable.
    // Started side by side; whichever started is stopped with the rest when another fails (Promise.all would
    // lose it, and a server left running keeps the test process alive).
    const started = await Promise.allSettled([
      startCluster({
        controllers: true,
        nodes: opts.nodes ?? 2,
        crds: opts.crds,
        // With real pod processes, a pod is Ready once its process listens, not before.
        podReadiness: traefikMode ? 'runner' : 'kwok',
      }),
      startTemporal({ ui: opts.ui, ...opts.temporal }),
      traefikMode ? undefined : startPrometheus({ scrapeTargets: [target], scrapeIntervalSeconds: 1 }),
      workflowBundlePath(),
    ] as const);
    const [clusterStart, temporalStart, prometheusStart, bundleStart] = started;
    if (clusterStart.status === 'fulfilled') stops.push(() => clusterStart.value.stop());
    if (temporalStart.status === 'fulfilled') stops.push(() => temporalStart.value.stop());
    if (prometheusStart.status === 'fulfilled' && prometheusStart.value) {
      const p = prometheusStart.value;
      stops.push(() => p.stop());
    }
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const cluster = (clusterStart as PromiseFulfilledResult<Awaited<ReturnType<typeof startCluster>>>).value;
    const temporal = (temporalStart as PromiseFulfilledResult<Awaited<ReturnType<typeof startTemporal>>>).value;
    const hostPrometheus = (
      prometheusStart as PromiseFulfilledResult<Awaited<ReturnType<typeof startPrometheus>> | undefined>
    ).value;
    const sharedBundle = (bundleStart as PromiseFulfilledResult<string>).value;
    // The stack's own copy: the shared cache drops a bundle as soon as someone edits workflows/ and bundles anew,
    // and a controller restarted later must run the code the stack started with (as a pod runs its image).
    const bundle = join(dir, 'workflow-bundle.js');
    try {
      copyFileSync(sharedBundle, bundle);
    } catch {
      // Removed in between by a process that bundled newer sources: bundle the current ones.
      copyFileSync(await workflowBundlePath(), bundle);
    }
    let standin: GatewayStandin | undefined;
    let traefik: Traefik | undefined;
    let podNetwork: PodNetwork | undefined;
    let podRunner: PodRunner | undefined;
    let prometheus = hostPrometheus;
    if (traefikMode) {
      const net = await startPodNetwork();
      podNetwork = net;
      stops.push(() => net.stop());
      const runner = startPodRunner(cluster.kubeConfig, net);
      podRunner = runner;
      stops.push(() => runner.stop());
      await cluster.kubectl(['apply', '-f', '-'], traefikGatewayManifest(GATEWAY.name, GATEWAY.namespace));
      // Traefik also makes the apiserver's loopback port answer inside, which pod discovery uses.
      traefik = await startTraefik(cluster, net);
      const p = await startNetnsPrometheus(cluster, net, dir, target);
      prometheus = p.prometheus;
      stops.push(
        () => p.discovery.stop(),
        () => p.prometheus.stop(),
      );
    } else {
      await cluster.kubectl(['apply', '-f', '-'], GATEWAY_MANIFEST);
      const s = startGatewayStandin(cluster.kubeConfig);
      standin = s;
      stops.push(() => s.stop());
    }

    if (!prometheus) throw new Error('no Prometheus');
    const prom = prometheus;
    const controllerEnv = {
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: temporal.namespace,
      KUBECONFIG: cluster.kubeconfigPath,
      // No Temporal config file of the user's: only the variables above.
      TEMPORAL_CONFIG_FILE: join(dir, 'no-temporal.toml'),
    };
    const controllerKubeconfig = opts.controllerKubeconfig
      ? await opts.controllerKubeconfig(cluster, dir)
      : cluster.kubeconfigPath;
    const controllers: Controller[] = [];
    const supervision = opts.supervise === true ? {} : opts.supervise || undefined;
    const starting = Array.from({ length: opts.controllers ?? 1 }, async (_, index) => {
      const port = await freePort();
      const logFile = join(dir, `controller-${index}.log`);
      const url = `http://127.0.0.1:${port}`;
      const ready = (server: Server) =>
        waitReady(server, async () => (await fetch(`${url}/readyz`)).status === 200, { timeoutMs: 120_000 });
      const spawnController = () =>
        spawnServer({
          name: `controller ${index}`,
          bin: process.execPath,
          args: [
            // The image's node flags (GC sizing, the idle-compaction preload), then FLEDGE_CONTROLLER_NODE_ARGS for
            // diagnosis (e.g. `--expose-gc --heapsnapshot-signal=SIGUSR2`; later flags win, e.g.
            // `--heap-growing-percent=0` for V8's default).
            ...controllerNodeFlags(REPO_ROOT),
            ...(process.env.FLEDGE_CONTROLLER_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
            join(REPO_ROOT, 'worker', 'main.ts'),
            '--mode',
            'all',
            '--listen-address',
            '127.0.0.1',
            '--port',
            String(port),
            '--metrics-server',
            prom.url,
            '--log-level',
            opts.logLevel ?? 'info',
            // Unused with TEMPORAL_ADDRESS set; in the arguments so scripts/test.sh's leftover check finds us.
            '--data-dir',
            join(dir, `controller-${index}`),
          ],
          logFile,
          env: {
            ...controllerEnv,
            KUBECONFIG: controllerKubeconfig,
            FLEDGE_WORKFLOW_BUNDLE: bundle,
            ...opts.controllerEnv,
          },
        });
      let controller: Controller;
      if (supervision) {
        const supervised: Supervised = supervise(`controller ${index}`, spawnController, ready, supervision);
        controller = {
          index,
          url,
          logFile,
          get server() {
            return supervised.current;
          },
          restarts: supervised.restarts,
          down: supervised.down,
        };
        stops.push(() => supervised.stop());
      } else {
        const server = spawnController();
        controller = { index, url, logFile, server, restarts: [], down: server.exit };
        stops.push(() => server.stop());
      }
      controllers[index] = controller;
      await ready(controller.server);
    });
    await Promise.all(starting);

    const kubeConfig = cluster.kubeConfig;
    const custom = kubeConfig.makeApiClient(k8s.CustomObjectsApi);
    const cliEnv = { ...controllerEnv, FLEDGE_USER: 'e2e', HOME: dir };

    const canary = async (namespace: string, name = 'podinfo') =>
      (await custom.getNamespacedCustomObject({
        group: 'flagger.app',
        version: 'v1beta1',
        namespace,
        plural: 'canaries',
        name,
      })) as CanaryObject;

    const controllerLogs = (lines = 30) =>
      controllers.map((c) => `--- controller ${c.index} (${c.logFile})\n${tailFile(c.logFile, lines)}`).join('\n');

    const waitForPhase: Stack['waitForPhase'] = async (namespace, phase, o = {}) => {
      const phases = Array.isArray(phase) ? phase : [phase];
      let last: CanaryObject | undefined;
      try {
        await waitFor(
          async () => {
            last = await canary(namespace, o.name);
            return phases.includes(last.status?.phase ?? '');
          },
          `canary ${namespace}/${o.name ?? 'podinfo'} phase ${phases.join('|')}`,
          o.timeoutMs ?? 120_000,
        );
      } catch (err) {
        throw new Error(`${(err as Error).message}; status: ${JSON.stringify(last?.status)}\n${controllerLogs()}`, {
          cause: err,
        });
      }
      return last!;
    };

    const metrics: Stack['metrics'] = {
      set: (namespace, name, traffic) => setTraffic(exporter.series, namespace, name, traffic),
      async converged(namespace, name, timeoutMs = 60_000) {
        const s = exporter.series.get(`${namespace}/${name}`);
        if (!s) throw new Error(`no traffic set for ${namespace}/${name}`);
        const sel = `kubernetes_namespace="${namespace}",kubernetes_pod_name=~"${name}-.*"`;
        const q =
          `sum(rate(http_request_duration_seconds_count{${sel},status!~"5.*"}[${METRIC_WINDOW}])) / ` +
          `sum(rate(http_request_duration_seconds_count{${sel}}[${METRIC_WINDOW}])) * 100`;
        const want = (Math.round((s.traffic.requests * s.traffic.successRate) / 100) / s.traffic.requests) * 100;
        await waitFor(
          async () => Math.abs(((await promQuery(prom.url, q)) ?? -1) - want) < 1e-6,
          `Prometheus reporting success rate ${want} for ${namespace}/${name}`,
          timeoutMs,
        );
      },
    };

    const stack: Stack = {
      dir,
      cluster,
      temporalServer: temporal,
      prometheus: prom,
      standin,
      traefik,
      podNetwork,
      podRunner,
      controllers,
      kubeconfigPath: cluster.kubeconfigPath,
      kubeConfig,
      metrics,
      kubectl: (args, input) => cluster.kubectl(args, input),
      fledge: (args, o = {}) =>
        runCommand(process.execPath, [join(REPO_ROOT, 'cli', 'fledge.ts'), ...args], { env: cliEnv, ...o }),
      temporal: (args, o = {}) =>
        runCommand(binary('temporal'), [...args, '--address', temporal.address, '--namespace', temporal.namespace], {
          env: cliEnv,
          ...o,
        }),
      createNamespace: (prefix) => cluster.createNamespace(prefix),
      canary,
      waitForPhase,
      async applyPodinfo(namespace, o = {}) {
        const name = o.name ?? 'podinfo';
        metrics.set(namespace, name, o.traffic ?? {});
        if (name === 'podinfo') {
          await cluster.kubectl([
            'apply',
            '-n',
            namespace,
            '-f',
            join(PODINFO_DIR, 'deployment.yaml'),
            '-f',
            join(PODINFO_DIR, 'hpa.yaml'),
          ]);
        } else {
          throw new Error('applyPodinfo: only the fixture name podinfo is supported');
        }
        await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(podinfoCanary(namespace, o)));
        if (o.wait === false) return;
        await waitForPhase(namespace, 'Initialized', { name });
        // The first analysis must find the set traffic in Prometheus's window, not a partial one.
        await metrics.converged(namespace, name);
      },
      async controllerMetrics(i = 0) {
        const c = controllers[i];
        if (!c) throw new Error(`no controller ${i}`);
        const res = await fetch(`${c.url}/metrics`);
        return res.text();
      },
      controllerLogs,
      async stop() {
        await stopAll();
        if (!process.env.FLEDGE_KEEP_TEMP) removeTempDir(dir);
      },
    };
    return stack;
  } catch (err) {
    await stopAll();
    if (!process.env.FLEDGE_KEEP_TEMP) removeTempDir(dir);
    throw err;
  }
}

/** Waits until the Canary object satisfies `check`; the failure shows its last status and the controller logs. */
export async function waitForCanary(
  stack: Stack,
  namespace: string,
  what: string,
  check: (c: CanaryObject) => boolean,
  { name = 'podinfo', timeoutMs = 120_000 } = {},
): Promise<CanaryObject> {
  let last: CanaryObject | undefined;
  try {
    await waitFor(
      async () => check((last = await stack.canary(namespace, name))),
      `${namespace}/${name}: ${what}`,
      timeoutMs,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; status: ${JSON.stringify(last?.status)}\n${stack.controllerLogs()}`, {
      cause: err,
    });
  }
  return last!;
}

/** Polls `fn` until it returns a value that is not undefined. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(250);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last})` : ''}`);
}
