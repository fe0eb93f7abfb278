// The Istio router inside real rollout workflows: Temporal dev server, bundled workflow, in-process worker, a real
// kube-apiserver with Istio v1.30.3's CRDs (every VirtualService and DestinationRule is validated by Istio's own
// schema) and the real routes activities. Workloads, metrics and webhooks stay scripted. The stored VirtualService
// is recorded after every setRoutes; Istio has no route status, so (like Flagger's GetRoutes) the spec is the truth.
//
// Flagger's own Istio Canaries (its tutorials and e2e scripts, read from the pinned module) run unchanged but for a
// short analysis interval and their own namespace, without `provider`: the routes activities default to istio,
// as Flagger's `-mesh-provider` does.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import type { CanaryRef, FinalizePort, RolloutActivities } from '../../api/ports.ts';
import { parseCanary } from '../../api/validate.ts';
import { createRoutesActivities } from '../../activities/routers/index.ts';
import { ANNOTATIONS } from '../../activities/routers/httproute.ts';
import { FLUX_ANNOTATIONS, ORIGINAL_CONFIGURATION } from '../../activities/routers/virtualservice.ts';
import type { DestinationRule, IstioHttpRoute, VirtualService } from '../../activities/routers/virtualservice.ts';
import { startCluster, type Cluster } from '../../dev/cluster.ts';
import { istioCrdFile, readFixture } from '../../dev/fixtures.ts';
import { createScriptedActivities } from '../scripted/activities.ts';
import { toRolloutSpec } from '../../workflows/spec-from-canary.ts';
import { canaryDeletingSignal, rolloutWorkflowId } from '../../workflows/controls.ts';
import type { RolloutResult } from '../../workflows/rollout.ts';
import {
  NAMESPACE,
  REV2,
  canaryRaw,
  seedInitialized,
  setupEnv,
  startBundledWorker,
  waitUntil,
  type TestEnv,
} from '../workflow/env.ts';

let cluster: Cluster;
let custom: k8s.CustomObjectsApi;
let env: TestEnv;
let stopWorker = async () => {};
let routes: ReturnType<typeof createRoutesActivities>;
/** The stored VirtualService after every setRoutes, per `namespace/name`. */
const snapshots = new Map<string, VirtualService[]>();

const ISTIO = { group: 'networking.istio.io', version: 'v1beta1' };
const HEALTHY = { 'request-success-rate': [99.9], 'request-duration': [120], latency: [120] };

async function readVs(namespace: string, name: string): Promise<VirtualService> {
  return (await custom.getNamespacedCustomObject({
    ...ISTIO,
    plural: 'virtualservices',
    namespace,
    name,
  })) as VirtualService;
}

async function readDr(namespace: string, name: string): Promise<DestinationRule> {
  return (await custom.getNamespacedCustomObject({
    ...ISTIO,
    plural: 'destinationrules',
    namespace,
    name,
  })) as DestinationRule;
}

const notFound = (e: unknown) => (e as { code?: number }).code === 404;

/**
 * One rule as `primary/canary`: weights of its destinations by host, `-` for a missing one, `m<percent>` for a
 * mirror to the canary, `c` when a destination sets a cookie. E.g. "80/20", "100/-", "100/0m100", "50c/50c".
 */
function describeRule(rule: IstioHttpRoute, name: string): string {
  const side = (host: string) => {
    const d = rule.route.find((r) => r.destination.host === host);
    return d ? `${d.weight}${d.headers ? 'c' : ''}` : '-';
  };
  const mirror = rule.mirror?.host === `${name}-canary` ? `m${rule.mirrorPercentage?.value ?? ''}` : '';
  return `${side(`${name}-primary`)}/${side(`${name}-canary`)}${mirror}`;
}

function describeVs(vs: VirtualService, name = 'podinfo'): string {
  if (vs.spec.tcp) return vs.spec.tcp.map((r) => describeRule(r, name)).join(' ');
  return (vs.spec.http ?? []).map((r) => describeRule(r, name)).join(' ');
}

function trail(ref: CanaryRef, name = ref.name): string[] {
  return (snapshots.get(`${ref.namespace}/${ref.name}`) ?? []).map((vs) => describeVs(vs, name));
}

before(async () => {
  cluster = await startCluster({ crds: [istioCrdFile()], gatewayApi: false });
  custom = cluster.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
  const core = cluster.kubeConfig.makeApiClient(k8s.CoreV1Api);
  for (const ns of [NAMESPACE, ...Object.values(DOC_NAMESPACES)])
    await core.createNamespace({ body: { metadata: { name: ns } } });
  env = await setupEnv('istio', { worker: false });
  const scripted = createScriptedActivities(env.world.url);
  routes = createRoutesActivities({ kube: cluster.kubeConfig, defaultProvider: 'istio' });
  const activities: RolloutActivities & FinalizePort = {
    ...scripted,
    // observe parses the Canary with the worker's default provider and reports the stored routes, as
    // activities/index.ts wires it with `--mesh-provider istio`.
    observe: async (input) => {
      const observed = await scripted.observe(input);
      const parsed = parseCanary(env.world.get(`${input.canary.namespace}/${input.canary.name}`).raw, {
        defaultProvider: 'istio',
      });
      const spec = parsed.ok ? { ok: true as const, spec: toRolloutSpec(parsed.canary) } : observed.spec;
      const stored = (await custom.getNamespacedCustomObject({
        group: 'flagger.app',
        version: 'v1beta1',
        plural: 'canaries',
        ...input.canary,
      })) as { metadata: { generation: number } };
      const generation = stored.metadata.generation;
      return { ...observed, spec, generation, routes: await routes.getRoutes(input) };
    },
    reconcileRoutes: async (input) => {
      await scripted.reconcileRoutes(input);
      return routes.reconcileRoutes(input);
    },
    setRoutes: async (input) => {
      await scripted.setRoutes(input);
      const now = await routes.setRoutes(input);
      const { namespace, name } = input.canary;
      const key = `${namespace}/${name}`;
      const vsName = serviceNameOf(env.world.get(key).raw) ?? name;
      snapshots.set(key, [...(snapshots.get(key) ?? []), await readVs(namespace, vsName)]);
      return now;
    },
    getRoutes: routes.getRoutes,
    // revertOnDeletion as far as routing goes: the router's finalize (the Kubernetes side is not under test here).
    finalizeCanary: (input) => routes.finalizeRoutes(input),
  };
  stopWorker = await startBundledWorker(env, activities);
});

after(async () => {
  await stopWorker();
  await env?.stop();
  await cluster?.stop();
});

function serviceNameOf(raw: Record<string, unknown>): string | undefined {
  const spec = raw.spec as { service?: { name?: string }; targetRef: { name: string } };
  return spec.service?.name || spec.targetRef.name;
}

/** A Canary of the istio provider in the test namespace, 300 ms analysis interval. */
function istioCanary(name: string, analysis: Record<string, unknown>, spec: Record<string, unknown> = {}) {
  const raw = canaryRaw(
    name,
    { interval: '300ms', ...analysis },
    { provider: 'istio', service: { port: 9898 }, ...spec },
  );
  return raw;
}

/** Stores the Canary `raw` (its name, in its namespace, and the rest as written) in the apiserver. */
async function storeCanary(raw: Record<string, unknown>): Promise<CanaryRef> {
  const { metadata, ...rest } = raw as { metadata: { name: string; namespace: string } };
  const ref = { namespace: metadata.namespace, name: metadata.name };
  await custom.createNamespacedCustomObject({
    group: 'flagger.app',
    version: 'v1beta1',
    namespace: ref.namespace,
    plural: 'canaries',
    body: { ...rest, metadata: { name: ref.name, namespace: ref.namespace } },
  });
  return ref;
}

/** Creates the Canary in the apiserver, seeds the scripted world (healthy metrics unless given) and runs it. */
async function rollout(
  raw: Record<string, unknown>,
  metrics: Record<string, (number | null)[]> = HEALTHY,
): Promise<{ result: RolloutResult; ref: CanaryRef }> {
  const ref = await storeCanary(raw);
  seedInitialized(env, { raw, metrics });
  const handle = await env.client.workflow.start('rollout', {
    taskQueue: env.taskQueue,
    workflowId: rolloutWorkflowId(ref),
    // A failed rollout ends right away instead of waiting for a retry.
    args: [{ canary: ref, revision: REV2, cause: 'new-revision', options: { retryWindowMs: 1 } }],
  });
  return { result: (await handle.result()) as RolloutResult, ref };
}

async function uidOf(ref: CanaryRef): Promise<string> {
  const c = (await custom.getNamespacedCustomObject({
    group: 'flagger.app',
    version: 'v1beta1',
    plural: 'canaries',
    ...ref,
  })) as { metadata: { uid: string } };
  return c.metadata.uid;
}

// ---------------------------------------------------------------------------------------------------------
// Flagger's manifests

const DOC_NAMESPACES = {
  tutorial: 'doc-canary',
  sessionAffinity: 'doc-session',
  abTesting: 'doc-ab',
  mirror: 'doc-mirror',
  e2eAbTesting: 'doc-e2e-ab',
} as const;

/** The `kind: Canary` YAML blocks of a Markdown file (or heredocs of a shell script) in Flagger's module. */
function flaggerCanaries(path: string): Record<string, unknown>[] {
  const text = readFixture('flagger', path);
  const blocks = path.endsWith('.md')
    ? [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '')
    : [...text.matchAll(/<<EOF \| kubectl apply -f -\n([\s\S]*?)\nEOF/g)].map((m) => m[1] ?? '');
  return blocks
    .flatMap((b) => parseAllDocuments(b).map((d) => d.toJS() as Record<string, unknown> | null))
    .filter((d): d is Record<string, unknown> => d?.kind === 'Canary');
}

/** A Flagger manifest in its own namespace with a short interval; nothing else changes. */
function inNamespace(raw: Record<string, unknown>, namespace: string): Record<string, unknown> {
  const copy = structuredClone(raw) as {
    metadata: Record<string, unknown>;
    spec: { analysis: Record<string, unknown> };
  };
  copy.metadata.namespace = namespace;
  copy.spec.analysis.interval = '300ms';
  return copy;
}

describe('Istio routes in real workflow runs', { concurrency: true }, () => {
  it('canary (stepWeight): weights step to maxWeight, VirtualService and DestinationRules as Flagger writes them', async () => {
    const trafficPolicy = { tls: { mode: 'ISTIO_MUTUAL' } };
    const raw = istioCanary(
      'ist-canary',
      { stepWeight: 20, maxWeight: 60 },
      {
        service: {
          port: 9898,
          hosts: ['app.example.com'],
          gateways: ['istio-system/public-gateway'],
          apex: { labels: { team: 'a' }, annotations: { note: 'apex' } },
          trafficPolicy,
        },
      },
    );
    const { result, ref } = await rollout(raw);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(trail(ref), ['80/20', '60/40', '40/60', '100/0']);
    const uid = await uidOf(ref);
    const owner = {
      apiVersion: 'flagger.app/v1beta1',
      kind: 'Canary',
      name: 'ist-canary',
      uid,
      controller: true,
      blockOwnerDeletion: true,
    };
    const vs = await readVs(NAMESPACE, 'ist-canary');
    assert.deepEqual(vs.metadata.labels, { team: 'a' });
    assert.deepEqual(vs.metadata.annotations, {
      note: 'apex',
      ...FLUX_ANNOTATIONS,
      [ANNOTATIONS.canary]: 'ist-canary',
    });
    assert.deepEqual(vs.metadata.ownerReferences, [owner]);
    assert.deepEqual(vs.spec, {
      hosts: ['app.example.com', 'ist-canary'],
      gateways: ['istio-system/public-gateway'],
      http: [
        {
          route: [
            { destination: { host: 'ist-canary-primary' }, weight: 100 },
            { destination: { host: 'ist-canary-canary' }, weight: 0 },
          ],
        },
      ],
    });
    for (const host of ['ist-canary-primary', 'ist-canary-canary']) {
      const dr = await readDr(NAMESPACE, host);
      assert.deepEqual(dr.spec, { host, trafficPolicy });
      assert.deepEqual(dr.metadata.ownerReferences, [owner]);
    }

    // revertOnDeletion: what fledge created goes (Flagger leaves it to garbage collection through the owner).
    await routes.finalizeRoutes({ canary: ref });
    await assert.rejects(readVs(NAMESPACE, 'ist-canary'), notFound);
    await assert.rejects(readDr(NAMESPACE, 'ist-canary-primary'), notFound);
    await assert.rejects(readDr(NAMESPACE, 'ist-canary-canary'), notFound);
  });

  it("canary (stepWeights) with every HTTP feature Istio's schema accepts: match, rewrite, retries, cors, headers", async () => {
    const raw = istioCanary(
      'ist-steps',
      { stepWeights: [10, 40, 80] },
      {
        service: {
          port: 9898,
          portDiscovery: true,
          gateways: ['istio-system/public-gateway', 'mesh'],
          match: [{ uri: { prefix: '/api' } }, { uri: { suffix: '.json' }, ignoreUriCase: true }],
          rewrite: { uri: '/' },
          timeout: '30s',
          retries: { attempts: 3, perTryTimeout: '1s', retryOn: 'gateway-error,connect-failure' },
          corsPolicy: { allowOrigins: [{ exact: 'https://example.com' }], allowMethods: ['GET'], maxAge: '24h' },
          headers: { request: { add: { 'x-envoy-upstream-rq-timeout-ms': '15000' } }, response: { remove: ['x-a'] } },
        },
      },
    );
    const { result, ref } = await rollout(raw);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(trail(ref), ['90/10', '60/40', '20/80', '100/0']);
    const rule = (await readVs(NAMESPACE, 'ist-steps')).spec.http?.[0];
    assert.deepEqual(rule, {
      match: [{ uri: { prefix: '/api' } }, { uri: { regex: '.*\\.json$' }, ignoreUriCase: true }],
      rewrite: { uri: '/' },
      timeout: '30s',
      retries: { attempts: 3, perTryTimeout: '1s', retryOn: 'gateway-error,connect-failure' },
      corsPolicy: { allowOrigins: [{ exact: 'https://example.com' }], allowMethods: ['GET'], maxAge: '24h' },
      headers: { request: { add: { 'x-envoy-upstream-rq-timeout-ms': '15000' } }, response: { remove: ['x-a'] } },
      route: [
        { destination: { host: 'ist-steps-primary', port: { number: 9898 } }, weight: 100 },
        { destination: { host: 'ist-steps-canary', port: { number: 9898 } }, weight: 0 },
      ],
    });
  });

  it('A/B testing (header and cookie matches): matching requests to the canary, the rest to the primary', async () => {
    const raw = istioCanary('ist-ab', {
      iterations: 3,
      match: [{ headers: { 'x-canary': { exact: 'insider' } } }, { cookies: { type: { exact: 'insider' } } }],
    });
    const { result, ref } = await rollout(raw);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(trail(ref, 'ist-ab'), ['0/100 100/-', '100/0 100/-']);
    const during = snapshots.get(`${NAMESPACE}/ist-ab`)![0]!;
    assert.deepEqual(during.spec.http?.[0]?.match, [
      { headers: { 'x-canary': { exact: 'insider' } } },
      { headers: { cookie: { regex: '^(?:.*;\\s*)?type=insider(?:;.*)?$' } } },
    ]);
    assert.equal(during.spec.http?.[1]?.match, undefined);
  });

  it('A/B × service matches: every analysis match on every service match (headers, query params, source labels)', async () => {
    const raw = istioCanary(
      'ist-abx',
      {
        iterations: 2,
        match: [
          { headers: { 'x-canary': { exact: 'insider' } } },
          { queryParams: { beta: { exact: 'on' } }, sourceLabels: { app: 'tester' } },
        ],
      },
      { service: { port: 9898, match: [{ uri: { prefix: '/api' } }, { uri: { prefix: '/v2' } }] } },
    );
    const { result, ref } = await rollout(raw);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(trail(ref, 'ist-abx'), ['0/100 100/-', '100/0 100/-']);
    // Istio's schema accepted the merged matches; the second rule keeps the service matches on the primary.
    const [during] = snapshots.get(`${NAMESPACE}/ist-abx`)!;
    const header = { 'x-canary': { exact: 'insider' } };
    const query = { queryParams: { beta: { exact: 'on' } }, sourceLabels: { app: 'tester' } };
    assert.deepEqual(during!.spec.http?.[0]?.match, [
      { uri: { prefix: '/api' }, headers: header },
      { uri: { prefix: '/v2' }, headers: header },
      { uri: { prefix: '/api' }, ...query },
      { uri: { prefix: '/v2' }, ...query },
    ]);
    assert.deepEqual(during!.spec.http?.[1]?.match, [{ uri: { prefix: '/api' } }, { uri: { prefix: '/v2' } }]);
  });

  it('blue/green: all traffic switches to the canary after the iterations, then back to the promoted primary', async () => {
    const { result, ref } = await rollout(istioCanary('ist-bg', { iterations: 3 }));
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(trail(ref), ['0/100', '100/0']);
  });

  it('blue/green with mirroring (mirrorWeight 100): mirror during the iterations, then the switch', async () => {
    const { result, ref } = await rollout(
      istioCanary('ist-mirror', { iterations: 3, mirror: true, mirrorWeight: 100 }),
    );
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(trail(ref), ['100/0m100', '0/100', '100/0']);
  });

  it('canary with mirroring: the mirrored pre-step at weight 0, then weights without the mirror', async () => {
    const { result, ref } = await rollout(istioCanary('ist-cmirror', { stepWeight: 50, maxWeight: 50, mirror: true }));
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(trail(ref), ['100/0m', '50/50', '100/0']);
  });

  it('session affinity: sticky cookie rules while the canary gets traffic, the cookie expired after promotion', async () => {
    const raw = istioCanary('ist-sticky', {
      stepWeight: 50,
      maxWeight: 50,
      sessionAffinity: { cookieName: 'flagger-cookie', primaryCookieName: 'primary-cookie', maxAge: 600 },
    });
    const { result, ref } = await rollout(raw);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(trail(ref), ['0/100 100/0 50c/50c', '100/0 100/0']);
    const [running, done] = snapshots.get(`${NAMESPACE}/ist-sticky`)!;
    const cookie = running!.metadata.annotations?.[ANNOTATIONS.sessionCookie] ?? '';
    const primaryCookie = running!.metadata.annotations?.[ANNOTATIONS.primarySessionCookie] ?? '';
    assert.match(cookie, /^flagger-cookie=[A-Za-z0-9]{32}$/);
    assert.match(primaryCookie, /^primary-cookie=[A-Za-z0-9]{32}$/);
    const [name, value] = cookie.split('=');
    const http = running!.spec.http!;
    assert.deepEqual(http[0]?.match, [{ headers: { Cookie: { regex: `.*${name}.*${value}.*` } } }]);
    assert.deepEqual(http[2]?.route[1]?.headers, {
      response: { add: { 'Set-Cookie': `${cookie}; Max-Age=600` } },
    });
    // The primary cookie lives one analysis interval (300 ms → 0 s, as Flagger truncates).
    assert.deepEqual(http[2]?.route[0]?.headers, {
      response: { add: { 'Set-Cookie': `${primaryCookie}; Max-Age=0` } },
    });
    assert.equal(done!.metadata.annotations?.[ANNOTATIONS.previousSessionCookie], cookie);
    assert.equal(done!.metadata.annotations?.[ANNOTATIONS.sessionCookie], undefined);
    assert.deepEqual(done!.spec.http?.[0]?.headers, { response: { add: { 'Set-Cookie': `${cookie}; Max-Age=-1` } } });
  });

  it('rollback: failed checks put all traffic back on the primary', async () => {
    const raw = istioCanary('ist-rollback', {
      stepWeight: 20,
      threshold: 2,
      metrics: [{ name: 'error-rate', query: 'q', thresholdRange: { max: 1 } }],
    });
    const { result, ref } = await rollout(raw, { 'error-rate': [0, 5] });
    assert.equal(result.phase, 'Failed');
    // One passing check moves to 60/40; two failed ones (threshold 2) roll back.
    assert.deepEqual(trail(ref), ['80/20', '60/40', '100/0']);
    assert.deepEqual(result.routes, { primary: 100, canary: 0, mirrored: false });
    assert.equal(describeVs(await readVs(NAMESPACE, 'ist-rollback'), 'ist-rollback'), '100/0');
  });

  it('TCP (appProtocol tcp): a weighted TCP route', async () => {
    const raw = istioCanary(
      'ist-tcp',
      { stepWeight: 50, maxWeight: 50 },
      { service: { port: 7070, appProtocol: 'TCP' } },
    );
    const { result, ref } = await rollout(raw);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(trail(ref), ['50/50', '100/0']);
    assert.equal((await readVs(NAMESPACE, 'ist-tcp')).spec.http, undefined);
  });

  for (const viaKubectl of [false, true]) {
    const name = viaKubectl ? 'ist-kubectl' : 'ist-takeover';
    it(`takeover of an existing VirtualService (${viaKubectl ? 'kubectl apply' : 'API create'}), restored on finalize`, async () => {
      const original = {
        apiVersion: 'networking.istio.io/v1beta1',
        kind: 'VirtualService',
        metadata: { name, namespace: NAMESPACE, labels: { owner: 'user' } },
        spec: { hosts: [name], http: [{ timeout: '7s', route: [{ destination: { host: name } }] }] },
      };
      if (viaKubectl) await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(original));
      else
        await custom.createNamespacedCustomObject({
          ...ISTIO,
          plural: 'virtualservices',
          namespace: NAMESPACE,
          body: original,
        });
      const { result, ref } = await rollout(istioCanary(name, { stepWeight: 50, maxWeight: 50 }));
      assert.equal(result.phase, 'Succeeded');
      assert.deepEqual(trail(ref), ['50/50', '100/0']);
      const taken = await readVs(NAMESPACE, name);
      assert.equal(taken.metadata.ownerReferences, undefined, 'a taken-over VirtualService is not the Canary’s');
      assert.equal(taken.metadata.annotations?.[ANNOTATIONS.canary], name);
      // Flagger: kubectl's last-applied copy already holds the user's spec, otherwise it keeps its own.
      const saved = taken.metadata.annotations?.[ORIGINAL_CONFIGURATION];
      assert.deepEqual(saved === undefined ? undefined : JSON.parse(saved), viaKubectl ? undefined : original.spec);
      await routes.finalizeRoutes({ canary: ref });
      const back = await readVs(NAMESPACE, name);
      assert.deepEqual(back.spec, original.spec);
      assert.deepEqual(back.metadata.labels, { owner: 'user' });
      assert.equal(back.metadata.annotations?.[ANNOTATIONS.canary], undefined);
      assert.equal(back.metadata.annotations?.[ORIGINAL_CONFIGURATION], undefined);
      await assert.rejects(readDr(NAMESPACE, `${name}-primary`), notFound, 'created DestinationRules go');
    });
  }

  it('deleting the Canary mid-rollout (revertOnDeletion) restores a taken-over VirtualService, created rules go', async () => {
    const name = 'ist-delete';
    const original = {
      apiVersion: 'networking.istio.io/v1beta1',
      kind: 'VirtualService',
      metadata: { name, namespace: NAMESPACE, labels: { owner: 'user' } },
      spec: { hosts: [name], http: [{ timeout: '7s', route: [{ destination: { host: name } }] }] },
    };
    await custom.createNamespacedCustomObject({
      ...ISTIO,
      plural: 'virtualservices',
      namespace: NAMESPACE,
      body: original,
    });
    const raw = istioCanary(name, { interval: '500ms', stepWeight: 10, maxWeight: 90 }, { revertOnDeletion: true });
    const ref = await storeCanary(raw);
    seedInitialized(env, { raw, metrics: HEALTHY });
    const handle = await env.client.workflow.start('rollout', {
      taskQueue: env.taskQueue,
      workflowId: rolloutWorkflowId(ref),
      args: [{ canary: ref, revision: REV2, cause: 'new-revision' }],
    });
    await waitUntil('the canary getting 20%', () => trail(ref).includes('80/20'), 120_000);
    const during = await readVs(NAMESPACE, name);
    assert.equal(during.metadata.ownerReferences, undefined, 'a taken-over VirtualService is not the Canary’s');
    assert.deepEqual(JSON.parse(during.metadata.annotations?.[ORIGINAL_CONFIGURATION] ?? 'null'), original.spec);
    await handle.signal(canaryDeletingSignal);
    const result = (await handle.result()) as RolloutResult;
    assert.equal(result.deleted, true);
    const back = await readVs(NAMESPACE, name);
    assert.deepEqual(back.spec, original.spec);
    assert.deepEqual(back.metadata.labels, { owner: 'user' });
    assert.equal(back.metadata.annotations?.[ANNOTATIONS.canary], undefined);
    assert.equal(back.metadata.annotations?.[ORIGINAL_CONFIGURATION], undefined);
    for (const host of [`${name}-primary`, `${name}-canary`]) await assert.rejects(readDr(NAMESPACE, host), notFound);
  });

  it('delegate VirtualService, idempotent reconcile that keeps the weights, a delegate with hosts refused', async () => {
    const raw = istioCanary(
      'ist-delegate',
      { stepWeight: 10 },
      { service: { port: 9898, delegation: true, portDiscovery: true } },
    );
    const canary = await storeCanary(raw);
    assert.deepEqual(await routes.reconcileRoutes({ canary }), { primary: 100, canary: 0, mirrored: false });
    const split = { primary: 70, canary: 30, mirrored: false };
    assert.deepEqual(await routes.setRoutes({ canary, routes: split }), split);
    const before = await readVs(NAMESPACE, 'ist-delegate');
    assert.deepEqual(before.spec, {
      hosts: [],
      http: [
        {
          route: [
            { destination: { host: 'ist-delegate-primary', port: { number: 9898 } }, weight: 70 },
            { destination: { host: 'ist-delegate-canary', port: { number: 9898 } }, weight: 30 },
          ],
        },
      ],
    });
    assert.deepEqual(await routes.reconcileRoutes({ canary }), split, 'reconcile keeps the weights in force');
    assert.equal((await readVs(NAMESPACE, 'ist-delegate')).metadata.resourceVersion, before.metadata.resourceVersion);
    assert.deepEqual(await routes.getRoutes({ canary }), split);

    await custom.patchNamespacedCustomObject(
      {
        group: 'flagger.app',
        version: 'v1beta1',
        namespace: NAMESPACE,
        plural: 'canaries',
        name: 'ist-delegate',
        body: { spec: { service: { hosts: ['app.example.com'] } } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await assert.rejects(routes.reconcileRoutes({ canary }), (e: unknown) => {
      const f = e as { type?: string; nonRetryable?: boolean; message?: string };
      return (
        f.type === 'InvalidSpec' &&
        f.nonRetryable === true &&
        /cannot have hosts and gateways when delegation enabled/.test(f.message ?? '')
      );
    });
  });

  // ---- Flagger's own manifests -------------------------------------------------------------------------

  it("Flagger's Istio tutorial canary (webhooks, gateway, hosts, trafficPolicy, retries) succeeds", async () => {
    const [tutorial] = flaggerCanaries('docs/gitbook/tutorials/istio-progressive-delivery.md');
    const raw = inNamespace(tutorial!, DOC_NAMESPACES.tutorial);
    const { result, ref } = await rollout(raw);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(trail(ref, 'podinfo'), ['90/10', '80/20', '70/30', '60/40', '50/50', '100/0']);
    const vs = await readVs(ref.namespace, 'podinfo');
    assert.deepEqual(vs.spec.hosts, ['app.example.com', 'podinfo']);
    assert.deepEqual(vs.spec.gateways, ['istio-system/public-gateway']);
    assert.deepEqual(vs.spec.http?.[0]?.retries, {
      attempts: 3,
      perTryTimeout: '1s',
      retryOn: 'gateway-error,connect-failure,refused-stream',
    });
    assert.deepEqual((await readDr(ref.namespace, 'podinfo-canary')).spec.trafficPolicy, { tls: { mode: 'DISABLE' } });
  });

  it("Flagger's session affinity tutorial canary succeeds with its cookie", async () => {
    const sticky = flaggerCanaries('docs/gitbook/tutorials/istio-progressive-delivery.md').find(
      (c) => (c.spec as { analysis: { sessionAffinity?: unknown } }).analysis.sessionAffinity,
    );
    const { result, ref } = await rollout(inNamespace(sticky!, DOC_NAMESPACES.sessionAffinity));
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(trail(ref, 'podinfo'), [
      '0/100 90/10c',
      '0/100 80/20c',
      '0/100 70/30c',
      '0/100 60/40c',
      '0/100 50/50c',
      '100/0 100/0',
    ]);
    const last = snapshots.get(`${ref.namespace}/podinfo`)!.at(-1)!;
    assert.match(last.spec.http?.[0]?.headers?.response?.add?.['Set-Cookie'] ?? '', /^flagger-cookie=\w+; Max-Age=-1$/);
  });

  it("Flagger's A/B tutorial canary (user-agent header and cookie header regex) succeeds", async () => {
    const [ab] = flaggerCanaries('docs/gitbook/tutorials/istio-ab-testing.md');
    const { result, ref } = await rollout(inNamespace(ab!, DOC_NAMESPACES.abTesting));
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(trail(ref, 'podinfo'), ['0/100 100/-', '100/0 100/-']);
    assert.deepEqual(snapshots.get(`${ref.namespace}/podinfo`)![0]!.spec.http?.[0]?.match, [
      { headers: { 'user-agent': { regex: '.*Firefox.*' } } },
      { headers: { cookie: { regex: '^(.*?;)?(type=insider)(;.*)?$' } } },
    ]);
  });

  it("Flagger's e2e A/B canary (cookie match, confirm-promotion gate, revertOnDeletion) succeeds", async () => {
    const e2e = flaggerCanaries('test/istio/test-canary.sh').find(
      (c) => (c.spec as { revertOnDeletion?: boolean }).revertOnDeletion,
    );
    const { result, ref } = await rollout(inNamespace(e2e!, DOC_NAMESPACES.e2eAbTesting));
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(trail(ref, 'podinfo'), ['0/100 100/-', '100/0 100/-']);
    // portDiscovery on the mesh gateway: Flagger names no port.
    const vs = await readVs(ref.namespace, 'podinfo');
    assert.deepEqual(vs.spec.http?.[1]?.route, [{ destination: { host: 'podinfo-primary' }, weight: 100 }]);
    // revertOnDeletion: the finalizer's route step removes what fledge created.
    await routes.finalizeRoutes({ canary: ref });
    await assert.rejects(readVs(ref.namespace, 'podinfo'), notFound);
  });

  it("Flagger's mirroring example (mirror, mirrorWeight 100) succeeds, mirroring during the iterations", async () => {
    // The doc's Canary is partial ("omitted for brevity"): the tutorial's targetRef and service complete it.
    const docs = flaggerCanaries('docs/gitbook/tutorials/istio-progressive-delivery.md');
    const mirror = docs.find((c) => (c.spec as { analysis?: { mirror?: boolean } }).analysis?.mirror);
    const base = docs[0] as { spec: Record<string, unknown> };
    const raw = structuredClone(mirror!) as { spec: Record<string, unknown> };
    raw.spec = { targetRef: base.spec.targetRef, service: base.spec.service, ...raw.spec };
    const { result, ref } = await rollout(inNamespace(raw, DOC_NAMESPACES.mirror));
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(trail(ref, 'podinfo'), ['100/0m100', '0/100', '100/0']);
  });
});
