// The knative provider end to end (dev/stack.ts: the real controller process with its watcher, the real rollout
// workflow and activities) on a real kube-apiserver with Knative Serving v0.49.1's Service and Revision CRDs.
// Nothing runs Knative's controller: the test plays it with dev/knative-standin.ts, which makes a Revision for
// every new template and writes the Service's status (latestCreatedRevisionName, latestReadyRevisionName,
// observedGeneration, status.traffic) through the status subresource, as Knative does. What fledge writes is read
// back from the apiserver: the `flagger.app/primary-revision` annotation and every `spec.traffic` the stand-in
// reconciled (one per Service generation), i.e. the split after each step.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { startStack, type Stack } from '../../dev/stack.ts';
import { knativeCrdFiles, readFixture } from '../../dev/fixtures.ts';
import { describeTraffic, startKnativeStandin, type KnativeStandin } from '../../dev/knative-standin.ts';
import {
  ORIGINAL_TRAFFIC_ANNOTATION,
  PRIMARY_REVISION_ANNOTATION,
  type KnativeService,
} from '../../activities/routers/knative-service.ts';
import { createKubeReader } from '../../activities/metrics/kube.ts';
import { NEW_IMAGE } from './helpers.ts';

/** A template annotation that makes the stand-in report the revision as never ready. */
const BROKEN = 'test.fledge.dev/broken';

let stack: Stack;
let standin: KnativeStandin;

before(async () => {
  stack = await startStack({ controllers: 1, crds: knativeCrdFiles() });
  standin = startKnativeStandin(stack.kubeConfig, {
    intervalMs: 100,
    revisionReady: (svc) =>
      (svc.spec?.template as { metadata?: { annotations?: Record<string, string> } })?.metadata?.annotations?.[
        BROKEN
      ] !== 'true',
  });
});
after(async () => {
  await standin?.stop();
  await stack?.stop();
});

/** The Knative Service and the Canary of Flagger's Knative tutorial, as published. */
function tutorialObjects(): { service: Record<string, unknown>; canary: Record<string, unknown> } {
  const text = readFixture('flagger', 'docs/gitbook/tutorials/knative-progressive-delivery.md');
  const found: Record<string, Record<string, unknown>> = {};
  for (const block of text.matchAll(/```yaml\n([\s\S]*?)```/g))
    for (const d of parseAllDocuments(block[1] ?? '')) {
      const obj = d.toJS() as { kind?: string; apiVersion?: string } | null;
      if (obj?.kind === 'Canary') found.canary = obj as Record<string, unknown>;
      if (obj?.kind === 'Service' && obj.apiVersion === 'serving.knative.dev/v1')
        found.service = obj as Record<string, unknown>;
    }
  assert.ok(found.service && found.canary, 'the tutorial has a Knative Service and a Canary');
  return { service: found.service, canary: found.canary };
}

/**
 * The tutorial's objects in namespace `ns`. The analysis runs at a 1 s interval without the tutorial's builtin
 * metrics and load-test webhook (no Knative data plane produces traffic here); the rest is as published.
 */
async function applyTutorial(ns: string, spec: Record<string, unknown> = {}): Promise<void> {
  const { service, canary } = tutorialObjects();
  const meta = (o: Record<string, unknown>) => ({ ...(o.metadata as object), namespace: ns });
  await stack.kubectl(['apply', '-f', '-'], JSON.stringify({ ...service, metadata: meta(service) }));
  await waitFor(() => standin.revisions(ns, 'podinfo').length === 1, 'the first revision');
  const cs = canary.spec as { analysis: Record<string, unknown> };
  const analysis = { ...cs.analysis, interval: '1s', metrics: [], webhooks: [] };
  await stack.kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({ ...canary, metadata: meta(canary), spec: { ...cs, analysis, ...spec } }),
  );
}

async function ksvc(ns: string): Promise<KnativeService> {
  return (await stack.kubeConfig.makeApiClient(k8s.CustomObjectsApi).getNamespacedCustomObject({
    group: 'serving.knative.dev',
    version: 'v1',
    namespace: ns,
    plural: 'services',
    name: 'podinfo',
  })) as KnativeService;
}

/** A new template (image, and optionally the broken mark): Knative makes a new revision of it. */
async function deploy(ns: string, image: string, broken = false): Promise<void> {
  const patch = [
    { op: 'replace', path: '/spec/template/spec/containers/0/image', value: image },
    ...(broken ? [{ op: 'add', path: '/spec/template/metadata', value: { annotations: { [BROKEN]: 'true' } } }] : []),
  ];
  await stack.kubectl([
    '-n',
    ns,
    'patch',
    'services.serving.knative.dev',
    'podinfo',
    '--type=json',
    '-p',
    JSON.stringify(patch),
  ]);
}

/** The `spec.traffic` of each Service generation the stand-in reconciled, consecutive repeats dropped. */
function trail(ns: string): string[] {
  return standin.trafficLog(ns, 'podinfo').filter((t, i, all) => i === 0 || all[i - 1] !== t);
}

/**
 * The trail once the stand-in has reconciled the Service as it is now: its log lags the apiserver by one of its
 * passes, so a phase the controller wrote right after its last traffic write can be read before that write is in it.
 */
async function settledTrail(ns: string): Promise<string[]> {
  await waitFor(async () => {
    const svc = await ksvc(ns);
    const reconciled = svc.status?.observedGeneration === svc.metadata.generation;
    return reconciled && standin.trafficLog(ns, 'podinfo').at(-1) === describeTraffic(svc.spec?.traffic);
  }, 'the stand-in reconciled the Service as it is now');
  return trail(ns);
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${stack.controllerLogs()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('knative provider end to end', { concurrency: true }, () => {
  it("Flagger's tutorial: initialized on podinfo-00001, a new revision walks 10→50 by spec.traffic and is promoted", async () => {
    const ns = await stack.createNamespace('kn-promote');
    await applyTutorial(ns);
    const init = await stack.waitForPhase(ns, 'Initialized');
    assert.equal(init.status?.lastAppliedSpec, 'podinfo-00001', 'the revision name is the revision identity');
    let svc = await ksvc(ns);
    assert.equal(svc.metadata.annotations?.[PRIMARY_REVISION_ANNOTATION], 'podinfo-00001');
    assert.equal(svc.metadata.annotations?.[ORIGINAL_TRAFFIC_ANNOTATION], 'null', 'the Service had no traffic block');
    assert.deepEqual(svc.spec?.traffic, [
      { latestRevision: true, percent: 0 },
      { revisionName: 'podinfo-00001', percent: 100 },
    ]);
    // No primary workload and no generated Services: the primary is a revision.
    const core = stack.kubeConfig.makeApiClient(k8s.CoreV1Api);
    const apps = stack.kubeConfig.makeApiClient(k8s.AppsV1Api);
    assert.deepEqual((await apps.listNamespacedDeployment({ namespace: ns })).items, []);
    assert.deepEqual((await core.listNamespacedService({ namespace: ns })).items, []);

    await deploy(ns, NEW_IMAGE);
    const done = await stack.waitForPhase(ns, 'Succeeded', { timeoutMs: 90_000 });
    assert.deepEqual(await settledTrail(ns), [
      '', // the Service as applied: no traffic block
      'latest=0,podinfo-00001=100',
      'latest=10,podinfo-00001=90',
      'latest=20,podinfo-00001=80',
      'latest=30,podinfo-00001=70',
      'latest=40,podinfo-00001=60',
      'latest=50,podinfo-00001=50',
      // Promotion: the annotation names the new revision, then all traffic goes to it.
      'latest=0,podinfo-00002=100',
    ]);
    svc = await ksvc(ns);
    assert.equal(svc.metadata.annotations?.[PRIMARY_REVISION_ANNOTATION], 'podinfo-00002');
    assert.deepEqual(svc.status?.traffic, [
      { latestRevision: true, revisionName: 'podinfo-00002', percent: 0 },
      { latestRevision: false, revisionName: 'podinfo-00002', percent: 100 },
    ]);
    assert.equal(done.status?.lastAppliedSpec, 'podinfo-00002');
    assert.equal(done.status?.lastPromotedSpec, 'podinfo-00002');
    // fledge's own traffic edits made no revision, so no further rollout either.
    assert.deepEqual(standin.revisions(ns, 'podinfo'), ['podinfo-00001', 'podinfo-00002']);
    // Builtin metrics select the latest created revision (Flagger's model.Route for Knative).
    const facts = await createKubeReader(stack.kubeConfig).canary({ namespace: ns, name: 'podinfo' });
    assert.equal(facts.route, 'podinfo-00002');
  });

  it('rollback: a revision that never gets ready gets no traffic; past the progress deadline the primary keeps it all', async () => {
    const ns = await stack.createNamespace('kn-rollback');
    await applyTutorial(ns, { progressDeadlineSeconds: 3 });
    await stack.waitForPhase(ns, 'Initialized');
    await deploy(ns, NEW_IMAGE, true);
    const failed = await stack.waitForPhase(ns, 'Failed', { timeoutMs: 90_000 });
    assert.equal(failed.status?.lastAppliedSpec, 'podinfo-00002');
    assert.equal(failed.status?.lastPromotedSpec, 'podinfo-00001');
    assert.deepEqual(await settledTrail(ns), ['', 'latest=0,podinfo-00001=100'], 'the canary never got traffic');
    const svc = await ksvc(ns);
    assert.equal(svc.metadata.annotations?.[PRIMARY_REVISION_ANNOTATION], 'podinfo-00001');
    assert.equal(svc.status?.latestCreatedRevisionName, 'podinfo-00002');
    assert.equal(svc.status?.latestReadyRevisionName, 'podinfo-00001');
  });

  it('abort at 20 %: traffic back on the primary revision, the annotation unchanged', async () => {
    const ns = await stack.createNamespace('kn-abort');
    await applyTutorial(ns);
    await stack.waitForPhase(ns, 'Initialized');
    await deploy(ns, NEW_IMAGE);
    await waitFor(() => trail(ns).includes('latest=20,podinfo-00001=80'), 'weight 20');
    await stack.kubectl(['-n', ns, 'annotate', 'canary/podinfo', 'flagger.app/canaryWeight=0']);
    await stack.waitForPhase(ns, 'Failed');
    const steps = await settledTrail(ns);
    assert.equal(steps.at(-1), 'latest=0,podinfo-00001=100');
    assert.ok(!steps.some((s) => s.includes('podinfo-00002')), JSON.stringify(steps));
    assert.equal((await ksvc(ns)).metadata.annotations?.[PRIMARY_REVISION_ANNOTATION], 'podinfo-00001');
  });

  it('finalize (revertOnDeletion): deleting the Canary mid-rollout gives the Service its own traffic back', async () => {
    const ns = await stack.createNamespace('kn-finalize');
    await applyTutorial(ns, { revertOnDeletion: true });
    await stack.waitForPhase(ns, 'Initialized');
    await deploy(ns, NEW_IMAGE);
    await waitFor(() => trail(ns).includes('latest=10,podinfo-00001=90'), 'weight 10');
    await stack.kubectl(['-n', ns, 'delete', 'canary/podinfo', '--wait=false']);
    await waitFor(async () => {
      const list = await stack.kubectl(['-n', ns, 'get', 'canaries', '-o', 'name']);
      return list.trim() === '';
    }, 'the Canary gone (finalizer released)');
    const svc = await ksvc(ns);
    assert.equal(svc.metadata.annotations?.[PRIMARY_REVISION_ANNOTATION], undefined);
    assert.equal(svc.metadata.annotations?.[ORIGINAL_TRAFFIC_ANNOTATION], undefined);
    assert.equal(svc.spec?.traffic, undefined, 'Knative routes to its latest ready revision again');
    await waitFor(() => trail(ns).at(-1) === '', 'Knative reconciled the restored Service');
    assert.deepEqual((await ksvc(ns)).status?.traffic, [
      { latestRevision: true, revisionName: 'podinfo-00002', percent: 100 },
    ]);
  });
});
