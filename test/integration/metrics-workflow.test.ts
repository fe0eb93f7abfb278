// The real metrics activity inside a real rollout workflow (Temporal dev server, bundled workflow, in-process
// worker): runMetrics reads the Canary and a MetricTemplate from a real kube-apiserver and queries a real
// Prometheus, which scrapes a tiny exporter in this process every second. The exporter's error rate rises from
// one analysis interval to the next; workloads, routes, status and events stay scripted (the world).
//
// Deterministic by construction: the exporter adds a fixed mix of 2xx and 5xx requests per scrape, so once the
// query window holds only scrapes of the current mix, rate() ratios are exact and stay put. Before each
// analysis the test switches to that interval's mix and waits until Prometheus answers the new ratio (checked
// with the test's own PromQL), then lets the real activity run its query.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { Context } from '@temporalio/activity';
import type { MetricResult, MetricsOutcome, RolloutActivities, StatusProjection } from '../../api/ports.ts';
import { createMetricsActivities } from '../../activities/metrics/index.ts';
import { statusQuery, rolloutWorkflowId } from '../../workflows/controls.ts';
import type { RolloutResult } from '../../workflows/rollout.ts';
import { startCluster, type Cluster } from '../../dev/cluster.ts';
import { freePort, makeTempDir, removeTempDir, spawnServer, waitReady, type Server } from '../../dev/proc.ts';
import { createScriptedActivities } from '../scripted/activities.ts';
import {
  NAMESPACE,
  canaryRaw,
  routeTrail,
  seedInitialized,
  setupEnv,
  startBundledWorker,
  startRollout,
  type TestEnv,
} from '../workflow/env.ts';

const NAME = 'podinfo';
const POD = 'podinfo-7b9d8c6f5d-x2x4z';
/** Query window of both metrics: five 1 s scrapes. */
const WINDOW = '5s';

/** Requests per scrape, one mix per analysis interval (the last repeats): the error rate rises 0 → 0.5 → 5 → 58 %. */
const MIXES = [
  { ok: 200, errors: 0 },
  { ok: 199, errors: 1 },
  { ok: 190, errors: 10 },
  { ok: 84, errors: 116 },
];
const expectedSuccess = (m: { ok: number; errors: number }) => (m.ok / (m.ok + m.errors)) * 100;
const expectedErrors = (m: { ok: number; errors: number }) => (m.errors / (m.ok + m.errors)) * 100;

// ---------------------------------------------------------------------------------------------------------
// The exporter: counters start high so rate() never extrapolates towards zero differently per series.
// ---------------------------------------------------------------------------------------------------------

let mix = MIXES[0]!;
const counters = { ok: 1_000_000, errors: 1_000_000 };
const exporter: HttpServer = createServer((req, res) => {
  if (req.url !== '/metrics') {
    res.statusCode = 404;
    res.end();
    return;
  }
  counters.ok += mix.ok;
  counters.errors += mix.errors;
  const labels = (status: string) =>
    `kubernetes_namespace="${NAMESPACE}",kubernetes_pod_name="${POD}",status="${status}"`;
  res.setHeader('content-type', 'text/plain; version=0.0.4');
  res.end(
    `http_request_duration_seconds_count{${labels('200')}} ${counters.ok}\n` +
      `http_request_duration_seconds_count{${labels('500')}} ${counters.errors}\n`,
  );
});

// ---------------------------------------------------------------------------------------------------------
// A real Prometheus scraping the exporter every second.
// ---------------------------------------------------------------------------------------------------------

interface ScrapingPrometheus {
  url: string;
  stop(): Promise<void>;
}

async function startScrapingPrometheus(target: string): Promise<ScrapingPrometheus> {
  const dir = makeTempDir('prometheus-scrape');
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      '  evaluation_interval: 1m',
      'scrape_configs:',
      '  - job_name: podinfo',
      '    static_configs:',
      `      - targets: ['${target}']`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const server: Server = spawnServer({
    name: 'prometheus',
    bin: 'prometheus',
    args: [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    logFile: join(dir, 'prometheus.log'),
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitReady(server, async () => (await fetch(`${url}/-/ready`)).status === 200, { timeoutMs: 60_000 });
  } catch (err) {
    removeTempDir(dir);
    throw err;
  }
  return {
    url,
    async stop() {
      await server.stop();
      removeTempDir(dir);
    },
  };
}

/** The test's own PromQL (not the activity's rendering): what Prometheus says the rates are right now. */
async function promRates(url: string): Promise<{ success?: number; errors?: number }> {
  const all = `sum(rate(http_request_duration_seconds_count[${WINDOW}]))`;
  const one = async (selector: string) => {
    const q = `sum(rate(http_request_duration_seconds_count{${selector}}[${WINDOW}])) / ${all} * 100`;
    const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = (await res.json()) as { data?: { result?: { value: [number, string] }[] } };
    const v = body.data?.result?.[0]?.value[1];
    return v === undefined ? undefined : Number(v);
  };
  return { success: await one('status!~"5.*"'), errors: await one('status=~"5.*"') };
}

const close = (a: number | undefined, b: number) => a !== undefined && Math.abs(a - b) < 1e-6;

/** Waits until Prometheus's window holds only scrapes of the current mix. */
async function converged(url: string): Promise<{ success: number; errors: number }> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await promRates(url).catch(() => ({ success: undefined, errors: undefined }));
    if (close(r.success, expectedSuccess(mix)) && close(r.errors, expectedErrors(mix))) {
      return { success: r.success!, errors: r.errors! };
    }
    if (Date.now() > deadline)
      throw new Error(`Prometheus never reported ${JSON.stringify(mix)}: ${JSON.stringify(r)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Setup: apiserver (Canary + MetricTemplate), Prometheus, Temporal, worker with the real runMetrics.
// ---------------------------------------------------------------------------------------------------------

let cluster: Cluster;
let prom: ScrapingPrometheus;
let env: TestEnv;
let stopWorker = async () => {};

/** What the workflow did, in order: each analysis (with Prometheus's answer around it) and each status write. */
type Trail =
  { analysis: number; outcome: MetricsOutcome; prom: { success: number; errors: number } } | StatusProjection;
const trail: Trail[] = [];
let metricCalls = 0;

const canary = canaryRaw(NAME, {
  interval: '1s',
  threshold: 2,
  stepWeight: 10,
  maxWeight: 50,
  metrics: [
    { name: 'request-success-rate', interval: WINDOW, thresholdRange: { min: 90 } },
    { name: 'error-rate', interval: WINDOW, templateRef: { name: 'error-rate' }, thresholdRange: { max: 1 } },
  ],
});

before(async () => {
  await new Promise<void>((r) => exporter.listen(0, '127.0.0.1', r));
  const target = `127.0.0.1:${(exporter.address() as AddressInfo).port}`;
  [cluster, prom, env] = await Promise.all([
    startCluster({ gatewayApi: false }),
    startScrapingPrometheus(target),
    setupEnv('metrics', { worker: false }),
  ]);
  const kube = cluster.kubeConfig;
  await kube.makeApiClient(k8s.CoreV1Api).createNamespace({ body: { metadata: { name: NAMESPACE } } });
  const custom = kube.makeApiClient(k8s.CustomObjectsApi);
  const flagger = { group: 'flagger.app', version: 'v1beta1', namespace: NAMESPACE };
  await custom.createNamespacedCustomObject({
    ...flagger,
    plural: 'metrictemplates',
    body: {
      apiVersion: 'flagger.app/v1beta1',
      kind: 'MetricTemplate',
      metadata: { name: 'error-rate' },
      spec: {
        provider: { type: 'prometheus', address: prom.url },
        query: `sum(rate(http_request_duration_seconds_count{kubernetes_namespace="{{ namespace }}",
          kubernetes_pod_name=~"{{ target }}-.*", status=~"5.*"}[{{ interval }}]))
          / sum(rate(http_request_duration_seconds_count{kubernetes_namespace="{{ namespace }}",
          kubernetes_pod_name=~"{{ target }}-.*"}[{{ interval }}])) * 100`,
      },
    },
  });
  await custom.createNamespacedCustomObject({ ...flagger, plural: 'canaries', body: canary });

  const scripted = createScriptedActivities(env.world.url);
  const real = createMetricsActivities({ kube, metricsServer: prom.url });
  const activities: RolloutActivities = {
    ...scripted,
    runMetrics: async (input) => {
      // A retried attempt belongs to the same analysis interval: same mix.
      if (Context.current().info.attempt === 1) metricCalls++;
      mix = MIXES[Math.min(metricCalls, MIXES.length) - 1]!;
      await converged(prom.url);
      const outcome = await real.runMetrics(input);
      trail.push({ analysis: metricCalls, outcome, prom: await converged(prom.url) });
      return outcome;
    },
    writeStatus: async (input) => {
      trail.push(input.status);
      await scripted.writeStatus(input);
    },
  };
  stopWorker = await startBundledWorker(env, activities);
  // Traffic is healthy before the rollout starts.
  await converged(prom.url);
});

after(async () => {
  await stopWorker();
  await env?.stop();
  await prom?.stop();
  await cluster?.stop();
  await new Promise<void>((r) => exporter.close(() => r()));
});

const pct = (v: number) => v.toFixed(2);

describe('metric analysis on a real Prometheus in a real workflow run', () => {
  it('a rising error rate fails one check per interval, rolls back at the threshold, and reports the values', async () => {
    const world = seedInitialized(env, { raw: canary });
    const handle = await startRollout(env, NAME, { options: { retryWindowMs: 1 } });
    const result = (await handle.result()) as RolloutResult;

    // Rolled back at the threshold: Failed, all traffic back on the primary, never past the last passing step.
    assert.equal(result.phase, 'Failed');
    assert.deepEqual(result.routes, { primary: 100, canary: 0, mirrored: false });
    assert.deepEqual(routeTrail(world.log.routes), ['90/10', '80/20', '70/30', '100/0']);

    // One analysis per interval, each answered with exactly what Prometheus reports for that interval's mix.
    const analyses = trail.filter((t): t is Extract<Trail, { analysis: number }> => 'analysis' in t);
    assert.deepEqual(
      analyses.map((a) => a.analysis),
      [1, 2, 3, 4],
      'runMetrics once per interval, none after the threshold',
    );
    const value = (results: MetricResult[], name: string) => results.find((r) => r.name === name)?.value;
    for (const [i, a] of analyses.entries()) {
      const m = MIXES[i]!;
      assert.ok(close(a.prom.success, expectedSuccess(m)), `interval ${i + 1}: Prometheus success rate`);
      assert.ok(close(value(a.outcome.results, 'request-success-rate') ?? undefined, a.prom.success));
      if (i < 3) assert.ok(close(value(a.outcome.results, 'error-rate') ?? undefined, a.prom.errors));
    }
    const [ok1, ok2, errorRateFails, successRateFails] = analyses;
    const errorsAt3 = errorRateFails!.prom.errors;
    const successAt4 = successRateFails!.prom.success;
    assert.deepEqual(
      analyses.map((a) => a.outcome.results.map((r) => `${r.name}:${r.verdict}`)),
      [
        ['request-success-rate:pass', 'error-rate:pass'],
        ['request-success-rate:pass', 'error-rate:pass'],
        ['request-success-rate:pass', 'error-rate:fail'],
        // Flagger's short circuit: the failing builtin metric stops the analysis before the template.
        ['request-success-rate:fail'],
      ],
    );
    assert.equal(ok1!.outcome.ok && ok2!.outcome.ok, true);
    const halt3 = `Halt ${NAME}.${NAMESPACE} advancement error-rate ${pct(errorsAt3)} > 1`;
    const halt4 = `Halt ${NAME}.${NAMESPACE} advancement success rate ${pct(successAt4)}% < 90%`;
    assert.equal(halt3, `Halt podinfo.test advancement error-rate 5.00 > 1`);
    assert.equal(halt4, `Halt podinfo.test advancement success rate 42.00% < 90%`);

    // Failed checks, as written to status after each interval: counted once per failing interval, no jumps.
    const checksAfter = analyses.map((a) => {
      const next = trail.slice(trail.indexOf(a) + 1).find((t): t is StatusProjection => 'failedChecks' in t);
      return next?.failedChecks;
    });
    assert.deepEqual(checksAfter, [0, 0, 1, 2]);
    const written = trail.filter((t): t is StatusProjection => 'failedChecks' in t).map((s) => s.failedChecks);
    for (let i = 1; i < written.length; i++) {
      assert.ok(written[i]! - written[i - 1]! <= 1 && written[i]! >= written[i - 1]!, `no jump: ${written.join(',')}`);
    }
    assert.equal(written.at(-1), 2);

    // The written status carries each interval's values, ranges, verdicts and Flagger's messages.
    const statusAfter = (a: Trail) =>
      trail.slice(trail.indexOf(a) + 1).find((t): t is StatusProjection => 'failedChecks' in t)!;
    assert.deepEqual(statusAfter(errorRateFails!).metrics, errorRateFails!.outcome.results);
    assert.deepEqual(statusAfter(errorRateFails!).metrics[1], {
      name: 'error-rate',
      value: errorRateFails!.outcome.results[1]!.value,
      range: { max: 1 },
      verdict: 'fail',
      message: halt3,
    });
    const last = trail.filter((t): t is StatusProjection => 'failedChecks' in t).at(-1)!;
    assert.equal(last.phase, 'Failed');
    assert.deepEqual(last.metrics, [
      {
        name: 'request-success-rate',
        value: successRateFails!.outcome.results[0]!.value,
        range: { min: 90 },
        verdict: 'fail',
        message: halt4,
      },
    ]);

    // Warning events: one halt per failed check with the measured values, then the rollback.
    assert.deepEqual(
      world.log.events.filter((e) => e.type === 'Warning').map((e) => e.message),
      [
        halt3,
        halt4,
        `Rolling back ${NAME}.${NAMESPACE} failed checks threshold reached 2`,
        `Canary failed! Scaling down ${NAME}.${NAMESPACE}`,
      ],
    );

    // The status query (answered from history after the run) shows the same.
    const view = await env.client.workflow
      .getHandle(rolloutWorkflowId({ namespace: NAMESPACE, name: NAME }))
      .query(statusQuery);
    assert.equal(view.phase, 'Failed');
    assert.equal(view.failedChecks, 2);
    assert.equal(view.threshold, 2);
    assert.deepEqual(view.weights, { primary: 100, canary: 0, mirrored: false });
    assert.deepEqual(view.metrics, last.metrics);
    assert.ok(close(view.metrics[0]!.value ?? undefined, 42));
  });
});
