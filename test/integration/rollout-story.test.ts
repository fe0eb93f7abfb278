// What the Temporal UI shows of a rollout, read from a finished execution's history: a 5-step canary rollout
// (real Temporal dev server, bundled workflow) with the real webhook activities (a receiver whose URL and metadata
// carry tokens) and the real metrics activity (a real apiserver holding the MetricTemplates and their basic-auth
// Secret, a real Prometheus that refuses requests without it); workloads and routes stay scripted (the world).
// Every ActivityTaskScheduled and TimerStarted event and every local activity's marker (the UI lists them as
// "Local Activity") carries a summary, and no token, URL or Secret value is anywhere in the history, the
// summaries or the static details. The list filters docs/temporal-controls.md documents run on the real server.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import type { CanaryRef, RolloutActivities } from '../../api/ports.ts';
import { parseCanary } from '../../api/validate.ts';
import { createWebhookActivities } from '../../activities/webhooks/index.ts';
import { createMetricsActivities } from '../../activities/metrics/index.ts';
import { startCluster, type Cluster } from '../../dev/cluster.ts';
import { REPO_ROOT } from '../../dev/proc.ts';
import { startPrometheus, type PrometheusServer } from '../../dev/prometheus.ts';
import { createScriptedActivities } from '../scripted/activities.ts';
import { rolloutWorkflowId } from '../../workflows/controls.ts';
import type { RolloutInput, RolloutResult } from '../../workflows/rollout.ts';
import { rolloutMetadata } from '../../worker/rollout-metadata.ts';
import {
  NAMESPACE,
  REV2,
  canaryRaw,
  seedInitialized,
  setupEnv,
  startBundledWorker,
  type TestEnv,
} from '../workflow/env.ts';

const NAME = 'podinfo';
// bcrypt of "s3cret" (perl -e 'print crypt("s3cret", q{$2b$10$abcdefghijklmnopqrstuu})').
const BCRYPT_S3CRET = '$2b$10$abcdefghijklmnopqrstuu3KWNuWLhBnmgYfnzONPueahDuedC/lu';
const METRIC_PASSWORD = 's3cret';
const HOOK_URL_TOKEN = 'hook-url-token-7f3a';
const HOOK_META_TOKEN = 'hook-metadata-token-91c2';
/** Strings that must appear nowhere in the history (the receiver's address is added once it listens). */
const SECRETS = [HOOK_URL_TOKEN, HOOK_META_TOKEN, METRIC_PASSWORD, 'Basic ', 'Bearer '];

const hookCalls: string[] = [];
const receiver: Server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const url = new URL(req.url ?? '/', 'http://x');
    hookCalls.push(`${url.pathname}?${url.searchParams.get('token')}`);
    res.end('ok');
  });
});

let cluster: Cluster;
let prom: PrometheusServer;
let env: TestEnv;
let stopWorker = async () => {};
let receiverUrl = '';

function canary(): Record<string, unknown> {
  const hook = (name: string, type: string) => ({
    name,
    type,
    url: `${receiverUrl}/${name}?token=${HOOK_URL_TOKEN}`,
    metadata: { authorization: `Bearer ${HOOK_META_TOKEN}` },
  });
  return canaryRaw(NAME, {
    interval: '1s',
    threshold: 2,
    stepWeight: 10,
    maxWeight: 50,
    metrics: [
      { name: 'error-rate', templateRef: { name: 'error-rate' }, thresholdRange: { max: 1 } },
      { name: 'latency', templateRef: { name: 'latency' }, thresholdRange: { max: 0.5 } },
    ],
    webhooks: [hook('load-test', 'rollout'), hook('approve', 'confirm-promotion')],
  });
}

before(async () => {
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  [cluster, prom, env] = await Promise.all([
    startCluster({ gatewayApi: false }),
    startPrometheus({
      webConfig: `basic_auth_users:\n  flagger: ${BCRYPT_S3CRET}\n`,
      readyAuth: `Basic ${Buffer.from(`flagger:${METRIC_PASSWORD}`).toString('base64')}`,
    }),
    setupEnv('story', { worker: false }),
  ]);
  SECRETS.push(receiverUrl, prom.url);
  const kube = cluster.kubeConfig;
  const core = kube.makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
  await core.createNamespacedSecret({
    namespace: NAMESPACE,
    body: { metadata: { name: 'prom-auth' }, stringData: { username: 'flagger', password: METRIC_PASSWORD } },
  });
  const custom = kube.makeApiClient(k8s.CustomObjectsApi);
  const create = (plural: string, kind: string, body: Record<string, unknown>) =>
    custom.createNamespacedCustomObject({
      group: 'flagger.app',
      version: 'v1beta1',
      namespace: NAMESPACE,
      plural,
      body: { apiVersion: 'flagger.app/v1beta1', kind, ...body },
    });
  const provider = { type: 'prometheus', address: prom.url, secretRef: { name: 'prom-auth' } };
  await create('metrictemplates', 'MetricTemplate', {
    metadata: { name: 'error-rate' },
    spec: { provider, query: 'vector(0.4)' },
  });
  await create('metrictemplates', 'MetricTemplate', {
    metadata: { name: 'latency' },
    spec: { provider, query: 'vector(0.21)' },
  });
  await create('canaries', 'Canary', canary());

  const scripted = createScriptedActivities(env.world.url);
  const resolveHooks = async (ref: CanaryRef) => {
    const parsed = parseCanary(env.world.get(`${ref.namespace}/${ref.name}`).raw);
    return parsed.ok ? parsed.canary.spec.analysis.webhooks : undefined;
  };
  const activities: RolloutActivities = {
    ...scripted,
    callWebhook: createWebhookActivities({ backoffBaseMs: 10, backoffMaxMs: 40, resolveHooks }).callWebhook,
    runMetrics: createMetricsActivities({ kube, timeoutMs: 5000 }).runMetrics,
  };
  stopWorker = await startBundledWorker(env, activities);
});

after(async () => {
  await stopWorker();
  await env?.stop();
  await prom?.stop();
  await cluster?.stop();
  receiver.closeAllConnections();
  await new Promise<void>((r) => receiver.close(() => r()));
});

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

const decode = (p: temporal.api.common.v1.IPayload | null | undefined): string | undefined =>
  p ? defaultPayloadConverter.fromPayload<string>(p) : undefined;
const summaryOf = (e: HistoryEvent) => decode(e.userMetadata?.summary);

function assertClean(text: string, where: string): void {
  for (const s of SECRETS) assert.ok(!text.includes(s), `${where} contains ${JSON.stringify(s)}: ${text}`);
  assert.doesNotMatch(text, /https?:\/\//, `${where} contains a URL: ${text}`);
}

describe('a finished 5-step rollout tells its story in the history', () => {
  it('summaries on every activity and timer, current and static details, no secret anywhere', async () => {
    seedInitialized(env, { raw: canary() });
    const ref = { namespace: NAMESPACE, name: NAME };
    const input: RolloutInput = { canary: ref, revision: REV2, cause: 'new-revision' };
    const meta = rolloutMetadata(canary(), ref, REV2, 'new-revision');
    const handle = await env.client.workflow.start('rollout', {
      taskQueue: env.taskQueue,
      workflowId: rolloutWorkflowId(ref),
      args: [input],
      ...meta,
    });
    const result = (await handle.result()) as RolloutResult;
    assert.equal(result.phase, 'Succeeded');
    // The real activities ran: both hooks with their tokens, Prometheus behind its basic auth.
    assert.ok(hookCalls.includes(`/load-test?${HOOK_URL_TOKEN}`) && hookCalls.includes(`/approve?${HOOK_URL_TOKEN}`));

    const events = (await handle.fetchHistory()).events ?? [];
    const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes);
    const timers = events.filter((e) => e.timerStartedEventAttributes);
    assert.ok(scheduled.length >= 10 && timers.length >= 5, `${scheduled.length} activities, ${timers.length} timers`);
    for (const e of [...scheduled, ...timers]) {
      const type = e.activityTaskScheduledEventAttributes?.activityType?.name ?? 'timer';
      const summary = summaryOf(e);
      assert.ok(summary, `event ${e.eventId} (${type}) has no summary`);
      assertClean(summary, `summary of ${type}`);
    }
    const summaries = [...scheduled, ...timers].map(summaryOf);
    for (const w of [10, 20, 30, 40, 50])
      assert.ok(summaries.includes(`set weight ${w} % (primary ${100 - w} %)`), `weight ${w}`);
    // The reads, the analysis and the status writes are local activities: one marker each, with the summary the
    // workflow gave it (the UI shows it on the "Local Activity" event); what the analysis found is in the
    // current details below.
    const local = events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity');
    assert.ok(local.length >= 10, `${local.length} local activities`);
    for (const e of local) {
      const type = localActivityType(e);
      const summary = summaryOf(e);
      assert.ok(summary, `event ${e.eventId} (local ${type}) has no summary`);
      assertClean(summary, `summary of local ${type}`);
    }
    const localSummaries = local.map(summaryOf);
    assert.ok(localSummaries.includes('analysis: error-rate ≤ 1, latency ≤ 0.5'), localSummaries.join('\n'));
    assert.ok(localSummaries.includes('observe test/podinfo'));
    assert.ok(localSummaries.some((x) => x?.startsWith('write status: Succeeded, weight 0 %, failed checks 0')));
    assert.ok(summaries.includes('gate confirm-promotion approve: open?'));
    assert.ok(summaries.includes('webhook rollout load-test'));
    assert.ok(summaries.includes('promote podinfo-primary to revision rev-2'));
    // Fixed rate: the wait is what is left of the 1 s interval after the tick's own work.
    assert.ok(
      summaries.some((x) => /^wait (0\.\d+|1) s for the next analysis$/.test(x ?? '')),
      summaries.join('\n'),
    );
    assert.ok(summaries.includes('set weight 0 % (primary 100 %)'));

    // Nothing secret anywhere in the history: inputs, results, markers, metadata.
    assertNothingSecret(JSON.stringify(events));

    // Static summary and details as the watcher sets them; the current details of the finished rollout.
    const described = await handle.describe();
    const [staticSummary, staticDetails] = await Promise.all([described.staticSummary(), described.staticDetails()]);
    assert.equal(staticSummary, 'test/podinfo: canary rollout of revision rev-2 (gatewayapi:v1)');
    assert.match(staticDetails ?? '', /canary weight 10 % → 20 % → 30 % → 40 % → 50 %/);
    assert.match(staticDetails ?? '', /approve \(confirm-promotion\)/);
    assertClean(`${staticSummary}\n${staticDetails}`, 'static metadata');
    const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    assert.match(metadata.currentDetails ?? '', /^\*\*Succeeded\*\* · weight 0 % \(primary 100 %\) · step 5 of 5/);
    assert.match(metadata.currentDetails ?? '', /analysis: error-rate 0\.4 ≤ 1 ✓, latency 0\.21 ≤ 0\.5 ✓/);
    assertClean(metadata.currentDetails ?? '', 'current details');

    // Every list filter the docs show runs on the server (an attribute it does not know is refused) ...
    const filters = documentedFilters();
    assert.ok(filters.length >= 8, filters.join('\n'));
    for (const query of filters) await assert.doesNotReject(firstPage(query), `documented filter ${query}`);
    await assert.rejects(firstPage('CanaryPhase = "Progressing"'), (err: Error) =>
      /'CanaryPhase' is not a valid search attribute/.test(String(err.cause)),
    );
    // ... and the search attributes answer them.
    for (const query of [
      'FledgeNamespace = "test" AND FledgeCanary = "podinfo"',
      'FledgePhase = "Succeeded" AND FledgeRevision = "rev-2"',
      'FledgePhase IN ("WaitingPromotion", "Succeeded")',
      'FledgeProvider = "gatewayapi:v1" AND ExecutionStatus = "Completed"',
    ]) {
      await poll(`list ${query}`, async () => {
        for await (const w of env.client.workflow.list({ query })) if (w.workflowId === handle.workflowId) return true;
        return false;
      });
    }
  });
});

/** The activity type a local activity's marker records. */
function localActivityType(e: HistoryEvent): string | undefined {
  const data = e.markerRecordedEventAttributes?.details?.data?.payloads?.[0];
  return data ? defaultPayloadConverter.fromPayload<{ activity_type?: string }>(data).activity_type : undefined;
}

/** The list filters of docs/temporal-controls.md: its filter table's first column and its `--query` examples. */
function documentedFilters(): string[] {
  const doc = readFileSync(join(REPO_ROOT, 'docs', 'temporal-controls.md'), 'utf8');
  const table = doc.split('| filter | shows |')[1]?.split('\n\n')[0] ?? '';
  return [
    ...[...table.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1] ?? ''),
    ...[...doc.matchAll(/--query "([^"]+)"/g)].map((m) => m[1] ?? ''),
  ];
}

/** The first page of a workflow list query (the server checks the query before answering). */
async function firstPage(query: string): Promise<void> {
  for await (const _ of env.client.workflow.list({ query, pageSize: 1 })) break;
}

/** Polls `check` every 200 ms until it holds (visibility is eventually consistent), for up to 10 s. */
async function poll(what: string, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function assertNothingSecret(history: string): void {
  for (const s of [HOOK_URL_TOKEN, HOOK_META_TOKEN, METRIC_PASSWORD, receiverUrl, prom.url])
    assert.ok(!history.includes(s), `the history contains ${JSON.stringify(s)}`);
}
