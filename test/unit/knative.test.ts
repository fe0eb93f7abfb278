// Pure parts of the knative provider: the Knative Service builders and readers (activities/routers/knative-service.ts)
// against Flagger's knative router and controller, the revision rule for Knative targets (worker/revision.ts),
// Flagger's Knative validation (api/canary.ts), the ignored A/B match and mirror, and the stand-in's route
// resolution (dev/knative-standin.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';
import { isKnativeService } from '../../api/canary.ts';
import { parseCanary } from '../../api/validate.ts';
import {
  ORIGINAL_TRAFFIC_ANNOTATION,
  PRIMARY_REVISION_ANNOTATION,
  adoptPatch,
  releasePatch,
  revisionReadiness,
  routesOfSpec,
  routesOfStatus,
  splitTraffic,
  type KnativeService,
  type TrafficTarget,
} from '../../activities/routers/knative-service.ts';
import { decideRevision, knativeState } from '../../worker/revision.ts';
import { describeTraffic, resolveTraffic } from '../../dev/knative-standin.ts';
import { readFixture } from '../../dev/fixtures.ts';
import { observerFor } from '../../activities/metrics/observers/index.ts';
import { renderQuery } from '../../activities/metrics/template.ts';

function service(over: Partial<KnativeService> = {}, annotations?: Record<string, string>): KnativeService {
  return {
    metadata: { name: 'podinfo', namespace: 'test', generation: 3, ...(annotations ? { annotations } : {}) },
    spec: { template: {} },
    status: {
      observedGeneration: 3,
      latestCreatedRevisionName: 'podinfo-00002',
      latestReadyRevisionName: 'podinfo-00002',
    },
    ...over,
  };
}

const withStatusTraffic = (traffic: TrafficTarget[], observedGeneration = 3) =>
  service({ status: { observedGeneration, traffic } }, { [PRIMARY_REVISION_ANNOTATION]: 'podinfo-00001' });

test('splitTraffic: the latest revision (canary) first, then the primary revision; zero percents written', () => {
  // Flagger's SetRoutes: [{LatestRevision: true, Percent: canary}, {RevisionName: primary, Percent: primary}].
  assert.deepEqual(splitTraffic('podinfo-00001', 90, 10), [
    { latestRevision: true, percent: 10 },
    { revisionName: 'podinfo-00001', percent: 90 },
  ]);
  assert.deepEqual(splitTraffic('p-1', 100, 0)[0], { latestRevision: true, percent: 0 });
});

test('adoptPatch: annotation, all traffic on the primary revision, the traffic found before saved once', () => {
  const own: TrafficTarget[] = [{ latestRevision: true, percent: 100, tag: 'current' }];
  const patch = adoptPatch(service({ spec: { traffic: own } }), 'podinfo-00001');
  assert.deepEqual(patch, {
    metadata: {
      annotations: {
        [PRIMARY_REVISION_ANNOTATION]: 'podinfo-00001',
        [ORIGINAL_TRAFFIC_ANNOTATION]: JSON.stringify(own),
      },
    },
    spec: { traffic: splitTraffic('podinfo-00001', 100, 0) },
  });
  assert.equal(
    (adoptPatch(service(), 'x') as { metadata: { annotations: Record<string, string> } }).metadata.annotations[
      ORIGINAL_TRAFFIC_ANNOTATION
    ],
    'null',
    'no traffic block: null',
  );
  // Already routed to that primary: nothing to write (the split in force is kept).
  assert.equal(adoptPatch(service({}, { [PRIMARY_REVISION_ANNOTATION]: 'p-1' }), 'p-1'), undefined);
  // Re-pointed while initializing: the first saved traffic is not overwritten by fledge's own split.
  const again = adoptPatch(
    service({}, { [PRIMARY_REVISION_ANNOTATION]: 'p-1', [ORIGINAL_TRAFFIC_ANNOTATION]: '[]' }),
    'p-2',
  ) as { metadata: { annotations: Record<string, string> } };
  assert.deepEqual(again.metadata.annotations, { [PRIMARY_REVISION_ANNOTATION]: 'p-2' });
});

test('releasePatch: fledge annotations removed, the saved traffic restored (none: the field removed)', () => {
  const own: TrafficTarget[] = [{ revisionName: 'podinfo-00001', percent: 100 }];
  const routed = { [PRIMARY_REVISION_ANNOTATION]: 'p', [ORIGINAL_TRAFFIC_ANNOTATION]: JSON.stringify(own) };
  assert.deepEqual(releasePatch(service({}, routed)), {
    metadata: { annotations: { [PRIMARY_REVISION_ANNOTATION]: null, [ORIGINAL_TRAFFIC_ANNOTATION]: null } },
    spec: { traffic: own },
  });
  const none = { [PRIMARY_REVISION_ANNOTATION]: 'p', [ORIGINAL_TRAFFIC_ANNOTATION]: 'null' };
  assert.equal((releasePatch(service({}, none)) as { spec: { traffic: unknown } }).spec.traffic, null);
  // Flagger's annotation alone (a Service Flagger routed): released too, traffic left to Knative's default.
  assert.equal(
    (releasePatch(service({}, { [PRIMARY_REVISION_ANNOTATION]: 'p' })) as { spec: { traffic: unknown } }).spec.traffic,
    null,
  );
  const garbled = { [ORIGINAL_TRAFFIC_ANNOTATION]: '{not json' };
  assert.equal((releasePatch(service({}, garbled)) as { spec: { traffic: unknown } }).spec.traffic, null);
  assert.equal(releasePatch(service()), undefined, 'never routed: nothing to undo');
});

test('routesOfStatus: the latestRevision entry is the canary, the primary revision entry the primary', () => {
  const traffic = [
    { latestRevision: true, revisionName: 'podinfo-00002', percent: 30 },
    { latestRevision: false, revisionName: 'podinfo-00001', percent: 70 },
  ];
  assert.deepEqual(routesOfStatus(withStatusTraffic(traffic), 'podinfo-00001'), {
    ok: true,
    routes: { primary: 70, canary: 30, mirrored: false },
  });
});

test('routesOfStatus: not in force until Knative observed the generation; a foreign split is not ready', () => {
  const traffic = [
    { latestRevision: true, revisionName: 'podinfo-00002', percent: 30 },
    { latestRevision: false, revisionName: 'podinfo-00001', percent: 70 },
  ];
  const stale = routesOfStatus(withStatusTraffic(traffic, 2), 'podinfo-00001');
  assert.equal(stale.ok, false);
  assert.match(!stale.ok ? stale.reason : '', /has not observed generation 3 yet \(observedGeneration 2\)/);
  const noLatest = routesOfStatus(withStatusTraffic([traffic[1]!]), 'podinfo-00001');
  assert.match(!noLatest.ok ? noLatest.reason : '', /no latestRevision entry/);
  const foreign = routesOfStatus(withStatusTraffic(traffic), 'podinfo-00009');
  assert.match(!foreign.ok ? foreign.reason : '', /does not route to the primary revision podinfo-00009/);
});

test('routesOfStatus: right after promotion (annotation = the latest revision) the other entries are the primary', () => {
  // Flagger's Promote changes only the annotation; the split in force still names the old primary until setRoutes.
  const svc = service(
    {
      status: {
        observedGeneration: 3,
        traffic: [
          { latestRevision: true, revisionName: 'podinfo-00002', percent: 50 },
          { latestRevision: false, revisionName: 'podinfo-00001', percent: 50 },
        ],
      },
    },
    { [PRIMARY_REVISION_ANNOTATION]: 'podinfo-00002' },
  );
  assert.deepEqual(routesOfStatus(svc, 'podinfo-00002'), {
    ok: true,
    routes: { primary: 50, canary: 50, mirrored: false },
  });
  // After setRoutes(100, 0): both entries name the new revision; the explicit one is the primary.
  const after = service({
    status: {
      observedGeneration: 3,
      traffic: [
        { latestRevision: true, revisionName: 'podinfo-00002', percent: 0 },
        { latestRevision: false, revisionName: 'podinfo-00002', percent: 100 },
      ],
    },
  });
  assert.deepEqual(routesOfStatus(after, 'podinfo-00002'), {
    ok: true,
    routes: { primary: 100, canary: 0, mirrored: false },
  });
});

test('routesOfSpec: only fledge’s own two-entry split reads back', () => {
  const svc = service({ spec: { traffic: splitTraffic('p-1', 80, 20) } });
  assert.deepEqual(routesOfSpec(svc, 'p-1'), { primary: 80, canary: 20, mirrored: false });
  assert.equal(routesOfSpec(svc, 'p-2'), undefined);
  assert.equal(
    routesOfSpec(service({ spec: { traffic: [{ latestRevision: true, percent: 100 }] } }), 'p-1'),
    undefined,
  );
});

test('revisionReadiness: the Ready condition; Knative’s own deadline reported as deadlineExceeded', () => {
  const rev = (conditions: { type: string; status: string; reason?: string; message?: string }[]) => ({
    metadata: { name: 'podinfo-00002' },
    status: { conditions },
  });
  assert.deepEqual(revisionReadiness('podinfo-00002', rev([{ type: 'Ready', status: 'True' }])), { ready: true });
  assert.deepEqual(
    revisionReadiness('podinfo-00002', rev([{ type: 'Ready', status: 'Unknown', reason: 'Deploying' }])),
    {
      ready: false,
      message: 'Knative Revision podinfo-00002 is not ready: Ready=Unknown (Deploying)',
    },
  );
  const failed = revisionReadiness(
    'podinfo-00002',
    rev([
      {
        type: 'Ready',
        status: 'False',
        reason: 'ProgressDeadlineExceeded',
        message: 'Initial scale was never achieved',
      },
    ]),
  );
  assert.equal(failed.deadlineExceeded, true);
  assert.match(failed.message ?? '', /ProgressDeadlineExceeded: Initial scale was never achieved/);
  assert.deepEqual(revisionReadiness('podinfo-00002', rev([])), {
    ready: false,
    message: 'Knative Revision podinfo-00002 is not ready: no Ready condition yet',
  });
  assert.match(revisionReadiness('podinfo-00003', undefined).message ?? '', /podinfo-00003 not found/);
  assert.match(revisionReadiness('', undefined).message ?? '', /latestCreatedRevisionName is empty/);
});

test('revision rule: the latest created revision name is the revision; traffic edits (new generations) are not', () => {
  const first = decideRevision(knativeState(service()), undefined, {});
  assert.ok(first.signal);
  assert.deepEqual(first.revision, { hash: 'podinfo-00002', generation: 3 });
  // fledge's own spec.traffic edit: a new generation, the same revision.
  const edited = service({ metadata: { name: 'podinfo', namespace: 'test', generation: 4 } });
  const again = decideRevision(knativeState(edited), first.mark, { lastAppliedSpec: 'podinfo-00002' });
  assert.equal(again.signal, false);
  const next = service({ status: { latestCreatedRevisionName: 'podinfo-00003' } });
  const third = decideRevision(knativeState(next), again.mark, { lastAppliedSpec: 'podinfo-00002' });
  assert.ok(third.signal);
  assert.equal(third.revision.hash, 'podinfo-00003');
});

const knativeCanary = (spec: Record<string, unknown> = {}) => ({
  metadata: { name: 'podinfo', namespace: 'test' },
  spec: {
    provider: 'knative',
    targetRef: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'podinfo' },
    analysis: { interval: '15s', threshold: 15, maxWeight: 50, stepWeight: 10 },
    ...spec,
  },
});

test("validation: Flagger's verifyKnativeCanary, with its texts", () => {
  assert.ok(isKnativeService({ apiVersion: 'serving.knative.dev/v1', kind: 'Service' }));
  assert.ok(!isKnativeService({ apiVersion: 'v1', kind: 'Service' }));
  assert.ok(parseCanary(knativeCanary()).ok, 'no spec.service needed');
  const errors = (raw: unknown) => {
    const parsed = parseCanary(raw);
    return parsed.ok ? [] : parsed.errors.map((e) => `${e.path}: ${e.message}`);
  };
  assert.deepEqual(errors(knativeCanary({ provider: 'istio' })), [
    "spec.provider: can't use istio provider with Knative Service as target",
  ]);
  assert.deepEqual(
    errors(
      knativeCanary({ targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'p' }, service: { port: 80 } }),
    ),
    ["spec.targetRef: can't use apps/v1/Deployment as target if provider is set to knative"],
  );
  assert.deepEqual(
    errors(
      knativeCanary({ autoscalerRef: { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', name: 'p' } }),
    ),
    ["spec.autoscalerRef: can't use autoscaler with Knative Service"],
  );
  // Flagger's kustomize/knative installs with -mesh-provider=knative: a Canary naming no provider is a knative one.
  const { provider: _none, ...noProvider } = knativeCanary().spec;
  const defaulted = parseCanary({ ...knativeCanary(), spec: noProvider }, { defaultProvider: 'knative' });
  assert.ok(defaulted.ok && defaulted.canary.spec.provider === 'knative');
});

test('validation: A/B match and mirror are ignored by the knative provider (warnings), as in Flagger', () => {
  const ab = parseCanary(
    knativeCanary({
      analysis: { interval: '15s', threshold: 5, iterations: 3, match: [{ headers: { x: { exact: '1' } } }] },
    }),
  );
  assert.ok(ab.ok);
  assert.ok(ab.warnings.some((w) => /A\/B testing match conditions are ignored by the knative provider/.test(w)));
  const mirror = parseCanary(
    knativeCanary({ analysis: { interval: '15s', threshold: 5, iterations: 3, mirror: true } }),
  );
  assert.ok(mirror.ok);
  assert.ok(mirror.warnings.includes('analysis.mirror is ignored for the knative provider'));
});

test("Flagger's Knative tutorial Canary is valid as published", () => {
  const text = readFixture('flagger', 'docs/gitbook/tutorials/knative-progressive-delivery.md');
  const canary = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)]
    .flatMap((b) => parseAllDocuments(b[1] ?? '').map((d) => d.toJS() as { kind?: string } | null))
    .find((o) => o?.kind === 'Canary');
  const parsed = parseCanary(canary);
  assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.errors));
  assert.equal(parsed.canary.spec.provider, 'knative');
});

test("builtin metrics: Flagger's Knative observer, Kourier's Envoy cluster of the canary revision", () => {
  const o = observerFor('knative');
  assert.equal(o.name, 'knative');
  const model = {
    name: 'podinfo',
    namespace: 'test',
    target: 'podinfo',
    service: 'podinfo',
    ingress: 'podinfo',
    route: 'podinfo-00002',
    interval: '1m',
    variables: {},
  };
  const oneLine = (q: string) => renderQuery(q, model).replace(/\s+/g, ' ').trim();
  const cluster = 'envoy_cluster_name=~"test/podinfo-00002"';
  assert.equal(
    oneLine(o.successRate),
    `sum(rate(envoy_cluster_upstream_rq{${cluster}, envoy_response_code!~"5.*"}[1m])) / ` +
      `sum(rate(envoy_cluster_upstream_rq{${cluster}}[1m])) * 100`,
  );
  assert.equal(
    oneLine(o.duration),
    `histogram_quantile(0.99, sum(rate(envoy_cluster_upstream_rq_time_bucket{${cluster}}[1m])) by (le))`,
  );
  assert.equal(o.durationUnit, 'ms');
});

test('stand-in routes: latestRevision resolved to the latest ready revision, no traffic block = 100 % to it', () => {
  assert.deepEqual(resolveTraffic(undefined, 'p-2'), [{ latestRevision: true, revisionName: 'p-2', percent: 100 }]);
  assert.deepEqual(resolveTraffic(splitTraffic('p-1', 90, 10), 'p-2'), [
    { latestRevision: true, revisionName: 'p-2', percent: 10 },
    { latestRevision: false, revisionName: 'p-1', percent: 90 },
  ]);
  assert.equal(describeTraffic(splitTraffic('p-1', 90, 10)), 'latest=10,p-1=90');
});
