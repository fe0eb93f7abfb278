// A real Prometheus (Debian's package) on a free loopback port, holding known series: the test describes
// counters by their per-second rate, the harness writes them as OpenMetrics, backfills them into the TSDB with
// `promtool tsdb create-blocks-from openmetrics` around "now", and starts Prometheus on that TSDB, so instant
// queries evaluated at the current time see a steady, exactly known rate. With `scrapeTargets` it also scrapes
// live exporters (the end-to-end stack's exporter), every `scrapeIntervalSeconds`; `scrapeJobs` adds jobs of its
// own (e.g. Kubernetes pod discovery), and `net` runs it inside the harness's network namespace (dev/netns.ts),
// where it reaches pod IPs, with `url` a host loopback forwarder to it.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PodNetwork } from './netns.ts';
import { freePort, makeTempDir, removeTempDir, spawnServer, waitReady } from './proc.ts';

export interface CounterSpec {
  name: string;
  labels: Record<string, string>;
  /** Increase per second, constant over the whole backfilled range. */
  perSecond: number;
}

export interface PrometheusOptions {
  /** Backfilled series; none (or empty) means no backfill. */
  counters?: CounterSpec[];
  /** host:port of exporters to scrape at /metrics (job `scrape`). */
  scrapeTargets?: string[];
  /** Scrape interval of `scrapeTargets` and `scrapeJobs` (default 1 s). */
  scrapeIntervalSeconds?: number;
  /** More entries of `scrape_configs`, each a YAML list item (`- job_name: …`) indented by two spaces. */
  scrapeJobs?: string[];
  /**
   * Run inside this network namespace (listening on its 127.0.0.1) instead of the host; `url` is then a host
   * loopback forwarder. Host loopback targets must be made reachable inside (`net.exposeHostPort`) by the caller.
   */
  net?: PodNetwork;
  /** Contents of --web.config.file (basic_auth_users, …); none means no auth. */
  webConfig?: string;
  /** Authorization header of the readiness probe, when webConfig asks for auth. */
  readyAuth?: string;
  /** Half-width of the backfilled range around now, seconds (default 30 min). */
  spanSeconds?: number;
  stepSeconds?: number;
}

export interface PrometheusServer {
  url: string;
  dir: string;
  stop(): Promise<void>;
}

export async function startPrometheus(opts: PrometheusOptions): Promise<PrometheusServer> {
  const dir = makeTempDir('prometheus');
  const tsdb = join(dir, 'tsdb');
  if (opts.counters?.length) backfill(dir, tsdb, opts.counters, opts);
  const config = join(dir, 'prometheus.yml');
  writeFileSync(config, configText(opts));
  const port = await freePort();
  const args = [
    `--config.file=${config}`,
    `--storage.tsdb.path=${tsdb}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--storage.tsdb.retention.time=30d',
  ];
  if (opts.webConfig) {
    const web = join(dir, 'web.yml');
    writeFileSync(web, opts.webConfig);
    args.push(`--web.config.file=${web}`);
  }
  const spawnOpts = { name: 'prometheus', bin: 'prometheus', args, logFile: join(dir, 'prometheus.log') };
  const server = opts.net ? opts.net.spawn(spawnOpts) : spawnServer(spawnOpts);
  const headers: Record<string, string> = opts.readyAuth ? { authorization: opts.readyAuth } : {};
  let url = `http://127.0.0.1:${port}`;
  try {
    if (opts.net) url = `http://127.0.0.1:${await opts.net.forwardToNamespace('127.0.0.1', port)}`;
    await waitReady(server, async () => (await fetch(`${url}/-/ready`, { headers })).status === 200, {
      timeoutMs: 60_000,
    });
  } catch (err) {
    await server.stop();
    removeTempDir(dir);
    throw err;
  }
  return {
    url,
    dir,
    async stop() {
      await server.stop();
      removeTempDir(dir);
    },
  };
}

function configText(opts: PrometheusOptions): string {
  const lines = ['global:', '  evaluation_interval: 1m'];
  const jobs = opts.scrapeJobs ?? [];
  if (opts.scrapeTargets?.length || jobs.length) {
    const every = `${opts.scrapeIntervalSeconds ?? 1}s`;
    lines.push(`  scrape_interval: ${every}`, `  scrape_timeout: ${every}`, 'scrape_configs:');
  }
  if (opts.scrapeTargets?.length) {
    lines.push(
      '  - job_name: scrape',
      '    static_configs:',
      `      - targets: [${opts.scrapeTargets.map((t) => `'${t}'`).join(', ')}]`,
    );
  }
  lines.push(...jobs);
  return `${lines.join('\n')}\n`;
}

/** Samples every `step` s from now − span to now + span, so "now" stays inside the data for the whole test. */
function backfill(dir: string, tsdb: string, counters: CounterSpec[], opts: PrometheusOptions): void {
  const span = opts.spanSeconds ?? 1800;
  const step = opts.stepSeconds ?? 5;
  const now = Math.floor(Date.now() / 1000 / step) * step;
  const lines: string[] = [];
  const byName = new Map<string, CounterSpec[]>();
  for (const c of counters) byName.set(c.name, [...(byName.get(c.name) ?? []), c]);
  // OpenMetrics wants each family contiguous; an untyped family accepts any sample name.
  for (const [name, specs] of byName) {
    lines.push(`# TYPE ${name} unknown`);
    for (const spec of specs) {
      const labels = Object.entries(spec.labels)
        .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`)
        .join(',');
      for (let t = now - span, i = 0; t <= now + span; t += step, i++) {
        lines.push(`${name}{${labels}} ${spec.perSecond * step * i} ${t}`);
      }
    }
  }
  lines.push('# EOF');
  const file = join(dir, 'series.om');
  writeFileSync(file, `${lines.join('\n')}\n`);
  execFileSync('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', file, tsdb], { stdio: 'pipe' });
}

/**
 * The `kubernetes-pods` scrape job of Flagger's chart (charts/flagger/templates/prometheus.yaml): pods kept when
 * annotated `prometheus.io/scrape: "true"`, scraped on `prometheus.io/port` (and `prometheus.io/path`), labelled
 * with the pod's labels plus `kubernetes_namespace` and `kubernetes_pod_name`, which the builtin metrics' queries
 * select on. The chart discovers pods with `kubernetes_sd_configs`; Debian's Prometheus is built without it, so
 * the targets come from `sdFile`, which dev/pod-discovery.ts keeps with the same `__meta_kubernetes_*` labels.
 */
export function kubernetesPodsJob(sdFile: string): string {
  return `  - job_name: kubernetes-pods
    file_sd_configs:
      - { files: ['${sdFile}'], refresh_interval: 5s }
    relabel_configs:
      - { action: keep, regex: 'true', source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape] }
      - { action: replace, regex: '(.+)', source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path], target_label: __metrics_path__ }
      - action: replace
        regex: '([^:]+)(?::\\d+)?;(\\d+)'
        replacement: '$1:$2'
        source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
        target_label: __address__
      - { action: labelmap, regex: '__meta_kubernetes_pod_label_(.+)' }
      - { action: replace, source_labels: [__meta_kubernetes_namespace], target_label: kubernetes_namespace }
      - { action: replace, source_labels: [__meta_kubernetes_pod_name], target_label: kubernetes_pod_name }`;
}
