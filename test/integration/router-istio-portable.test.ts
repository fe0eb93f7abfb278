// Canaries written for Istio, unchanged, under other mesh providers: Flagger's own Istio Canaries (they name no
// `provider`, no gatewayRefs) run under the worker's `--mesh-provider` istio, linkerd and nginx (the nginx runs get
// the one field that provider needs, an ingressRef; their worker has a custom --ingress-annotations-prefix) and
// reach Succeeded. Routes activities with an unknown default provider fail validation with a clear message (a
// Warning event) and route nothing: never a silent fallback to Istio. Real Temporal dev server, bundled workflow,
// in-process worker, a real kube-apiserver with Istio v1.30.3's CRDs and the TrafficSplit CRD (every object
// validated by its schema), the real routes activities parsing the stored Canary with the run's default provider;
// workloads, metrics and webhooks stay scripted. What each router stored is recorded after every setRoutes, and
// finalize (revertOnDeletion) is checked at the end.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { SUPPORTED_LIST } from '../../api/canary.ts';
import { parseCanary } from '../../api/validate.ts';
import type { Ingress } from '../../activities/routers/ingress.ts';
import type { TrafficSplit } from '../../activities/routers/trafficsplit.ts';
import type { IstioHttpRoute, VirtualService } from '../../activities/routers/virtualservice.ts';
import type { Cluster } from '../../dev/cluster.ts';
import { flaggerApiCrdFiles, istioCrdFile, readFixture } from '../../dev/fixtures.ts';
import { userIngress as userIngressOf } from '../user-ingress.ts';
import { routerHarness } from './router-harness.ts';
import { rolloutWorkflowId } from '../../workflows/controls.ts';
import type { RolloutResult } from '../../workflows/rollout.ts';
import { REV2, seedInitialized, waitUntil, type TestEnv } from '../workflow/env.ts';

type Mesh = 'istio' | 'linkerd' | 'nginx';
const MESHES: readonly Mesh[] = ['istio', 'linkerd', 'nginx'];
/** A mesh provider name fledge (and Flagger's CRD) does not know. */
const UNKNOWN = 'envoy';
/** The nginx runs' `--ingress-annotations-prefix` (Flagger's option, for a controller started with another prefix). */
const PREFIX = 'custom.ingress.kubernetes.io';
const HEALTHY = { 'request-success-rate': [99.9], 'request-duration': [120] };
const ISTIO = { group: 'networking.istio.io', version: 'v1beta1' };
const SPLITS = { group: 'split.smi-spec.io', version: 'v1alpha1', plural: 'trafficsplits' };

/**
 * One worker; routes activities per `--mesh-provider <key>`, picked by the Canary's namespace (`routerOf`), whose
 * observe parses the Canary with that default provider, as activities/index.ts does. What the router stored is
 * recorded after every setRoutes, per namespace.
 */
const harness = routerHarness('router-istio-portable', {
  crds: () => [istioCrdFile(), ...flaggerApiCrdFiles('smi')],
  gatewayApi: false,
  routers: {
    istio: { defaultProvider: 'istio' },
    linkerd: { defaultProvider: 'linkerd' },
    nginx: { defaultProvider: 'nginx', ingressAnnotationsPrefix: PREFIX },
    [UNKNOWN]: { defaultProvider: UNKNOWN },
  },
  keyOf: (ref) => ref.namespace,
  observeParses: true,
});
const { stored, describers, routerOf: meshOf, routesOf } = harness;
let cluster: Cluster;
let custom: k8s.CustomObjectsApi;
let net: k8s.NetworkingV1Api;
let env: TestEnv;
before(async () => {
  await harness.start();
  ({ cluster, custom, net, env } = harness);
});
after(() => harness.stop());

const notFound = (e: unknown) => (e as { code?: number }).code === 404;

// ---------------------------------------------------------------------------------------------------------
// Reading what each router stored

/** `primary/canary` weights of a VirtualService rule, `-` for a missing destination, `m<percent>` when mirrored. */
function describeRule(rule: IstioHttpRoute): string {
  const side = (host: string) => String(rule.route.find((r) => r.destination.host === host)?.weight ?? '-');
  const mirror = rule.mirror?.host === 'podinfo-canary' ? `m${rule.mirrorPercentage?.value ?? ''}` : '';
  return `${side('podinfo-primary')}/${side('podinfo-canary')}${mirror}`;
}

/** `w<weight>`, or the A/B selection `h:<header>=<value>~<pattern>` / `c:<cookie>`, of the canary Ingress. */
function describeIngress(ing: Ingress): string {
  const a = ing.metadata.annotations ?? {};
  const at = (k: string) => a[`${PREFIX}/${k}`];
  const parts: string[] = [];
  if (at('canary-by-header'))
    parts.push(
      `h:${at('canary-by-header')}=${at('canary-by-header-value') ?? ''}~${at('canary-by-header-pattern') ?? ''}`,
    );
  if (at('canary-by-cookie')) parts.push(`c:${at('canary-by-cookie')}`);
  parts.push(`w${at('canary-weight')}`);
  return `${parts.join(',')}${at('canary') === 'true' ? '' : '!'}`;
}

async function readVs(namespace: string): Promise<VirtualService> {
  const obj = { ...ISTIO, plural: 'virtualservices', namespace, name: 'podinfo' };
  return (await custom.getNamespacedCustomObject(obj)) as VirtualService;
}
async function readSplit(namespace: string): Promise<TrafficSplit> {
  return (await custom.getNamespacedCustomObject({ ...SPLITS, namespace, name: 'podinfo' })) as TrafficSplit;
}
async function readIngress(namespace: string, name: string): Promise<Ingress> {
  return JSON.parse(JSON.stringify(await net.readNamespacedIngress({ name, namespace }))) as Ingress;
}

async function describeStored(namespace: string, mesh: Mesh): Promise<string> {
  if (mesh === 'istio') return ((await readVs(namespace)).spec.http ?? []).map(describeRule).join(' ');
  if (mesh === 'linkerd') {
    const split = await readSplit(namespace);
    const weight = (svc: string) => split.spec.backends.find((b) => b.service === svc)?.weight;
    return `${weight('podinfo-primary')}/${weight('podinfo-canary')}`;
  }
  return describeIngress(await readIngress(namespace, 'podinfo-canary'));
}

// ---------------------------------------------------------------------------------------------------------
// Flagger's Istio Canaries

/** The `kind: Canary` YAML blocks of a Markdown file in Flagger's module, as published. */
function flaggerCanaries(path: string): Record<string, unknown>[] {
  return [...readFixture('flagger', path).matchAll(/```yaml\n([\s\S]*?)```/g)]
    .flatMap((m) => parseAllDocuments(m[1] ?? '').map((d) => d.toJS() as Record<string, unknown> | null))
    .filter((d): d is Record<string, unknown> => d?.kind === 'Canary');
}

type Spec = Record<string, unknown>;
const PROGRESSIVE = flaggerCanaries('docs/gitbook/tutorials/istio-progressive-delivery.md');
const AB = flaggerCanaries('docs/gitbook/tutorials/istio-ab-testing.md')[0]!;

/** The Istio Canaries: the webhooks tutorial (weighted), A/B (header and cookie matches), mirroring (mirrorWeight 100). */
const CANARIES = {
  webhooks: PROGRESSIVE[0]!,
  ab: AB,
  // The doc's mirroring Canary is partial ("omitted for brevity"): the tutorial's targetRef and service complete it.
  mirror: ((): Record<string, unknown> => {
    const partial = PROGRESSIVE.find((c) => (c.spec as { analysis?: Spec }).analysis?.mirror)!;
    const base = PROGRESSIVE[0]!.spec as Spec;
    return { ...partial, spec: { targetRef: base.targetRef, service: base.service, ...(partial.spec as Spec) } };
  })(),
};
type CanaryKind = keyof typeof CANARIES;

/** The user's Ingress for the nginx runs: app.example.com → the apex Service podinfo on the tutorial's port. */
function userIngress(namespace: string): k8s.V1Ingress {
  const annotations = { 'example.com/owner': 'team-a' };
  const paths: [string, string, number][] = [['/', 'podinfo', 9898]];
  return userIngressOf({ name: 'podinfo', namespace, annotations, ingressClassName: 'nginx', paths }) as k8s.V1Ingress;
}

/**
 * Runs Flagger's Canary `kind` as published (a 300 ms interval, its own namespace) under `--mesh-provider mesh`:
 * the Canary goes to the apiserver, where the real routes activities read it; nginx runs add an ingressRef to it
 * and create the user's Ingress. Returns the result and the namespace.
 */
async function rollout(kind: CanaryKind, mesh: Mesh | typeof UNKNOWN): Promise<{ result: RolloutResult; ns: string }> {
  const ns = `${kind}-${mesh}`;
  meshOf.set(ns, mesh);
  describers.set(ns, () => describeStored(ns, mesh as Mesh));
  await cluster.kubeConfig.makeApiClient(k8s.CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
  const published = CANARIES[kind] as { spec: Spec & { analysis: Spec } };
  assert.equal(published.spec.provider, undefined, 'written for Istio: no provider');
  const spec: Spec = { ...published.spec, analysis: { ...published.spec.analysis, interval: '300ms' } };
  if (mesh === 'nginx') {
    await net.createNamespacedIngress({ namespace: ns, body: userIngress(ns) });
    spec.ingressRef = { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', name: 'podinfo' };
  }
  const raw = { apiVersion: 'flagger.app/v1beta1', kind: 'Canary', metadata: { name: 'podinfo', namespace: ns }, spec };
  await custom.createNamespacedCustomObject({
    group: 'flagger.app',
    version: 'v1beta1',
    namespace: ns,
    plural: 'canaries',
    body: raw,
  });
  seedInitialized(env, { raw, metrics: HEALTHY });
  const ref = { namespace: ns, name: 'podinfo' };
  const handle = await env.client.workflow.start('rollout', {
    taskQueue: env.taskQueue,
    workflowId: rolloutWorkflowId(ref),
    args: [{ canary: ref, revision: REV2, cause: 'new-revision', options: { retryWindowMs: 1 } }],
  });
  if (mesh === UNKNOWN) {
    await waitUntil('the invalid-spec Warning', () =>
      env.world.get(`${ns}/podinfo`).log.events.some((e) => e.type === 'Warning'),
    );
    await handle.terminate('test done');
    return { result: { phase: 'Failed' } as RolloutResult, ns };
  }
  return { result: (await handle.result()) as RolloutResult, ns };
}

/** After finalize (revertOnDeletion) nothing fledge created is left; the user's Ingress is as it was. */
async function assertFinalized(ns: string, mesh: Mesh): Promise<void> {
  const userBefore = mesh === 'nginx' ? await readIngress(ns, 'podinfo') : undefined;
  await routesOf({ namespace: ns, name: 'podinfo' }).finalizeRoutes({ canary: { namespace: ns, name: 'podinfo' } });
  if (mesh === 'istio') {
    await assert.rejects(readVs(ns), notFound);
    for (const name of ['podinfo-primary', 'podinfo-canary'])
      await assert.rejects(
        custom.getNamespacedCustomObject({ ...ISTIO, plural: 'destinationrules', namespace: ns, name }),
        notFound,
      );
  } else if (mesh === 'linkerd') await assert.rejects(readSplit(ns), notFound);
  else {
    await assert.rejects(readIngress(ns, 'podinfo-canary'), notFound);
    assert.deepEqual(await readIngress(ns, 'podinfo'), userBefore);
  }
}

// ---------------------------------------------------------------------------------------------------------

/** What each router stores after every step of each Canary: the same manifest, three providers. */
const TRAILS: Record<CanaryKind, Record<Mesh, string[]>> = {
  webhooks: {
    istio: ['90/10', '80/20', '70/30', '60/40', '50/50', '100/0'],
    linkerd: ['90/10', '80/20', '70/30', '60/40', '50/50', '100/0'],
    nginx: ['w10', 'w20', 'w30', 'w40', 'w50', 'w0'],
  },
  ab: {
    // Rule 0 carries the matches and the weights, rule 1 keeps everyone else on the primary.
    istio: ['0/100 100/-', '100/0 100/-'],
    // SMI has no matches: the iterations send all traffic to the canary (Flagger's behaviour, with a warning).
    linkerd: ['0/100', '100/0'],
    // ingress-nginx takes one header: the user-agent regex; a cookie can only be matched by name (exact), so the
    // cookie header regex is not expressible and dropped, as in Flagger.
    nginx: ['h:user-agent=~.*Firefox.*,w0', 'w0'],
  },
  mirror: {
    istio: ['100/0m100', '0/100', '100/0'],
    // Neither SMI nor ingress-nginx can mirror: blue/green without the mirror (a validation warning says so).
    linkerd: ['0/100', '100/0'],
    nginx: ['w100', 'w0'],
  },
};

/** The validation warnings (Warning events) of each run: what the provider leaves out of the manifest. */
const WARNINGS: Record<CanaryKind, Record<Mesh, string[]>> = {
  webhooks: { istio: [], linkerd: [], nginx: [] },
  ab: {
    istio: [],
    linkerd: ['A/B testing match conditions are ignored by the linkerd provider: all traffic goes to the canary'],
    nginx: [
      'analysis.match[1].headers.cookie is ignored by the nginx provider: ingress-nginx selects a cookie by name (exact) only',
    ],
  },
  mirror: {
    istio: [],
    linkerd: ['analysis.mirror is ignored for the linkerd provider'],
    nginx: ['analysis.mirror is ignored for the nginx provider'],
  },
};

describe("Flagger's Istio Canaries under --mesh-provider istio, linkerd and nginx", { concurrency: true }, () => {
  for (const kind of Object.keys(CANARIES) as CanaryKind[])
    for (const mesh of MESHES)
      it(`${kind} Canary reaches Succeeded under ${mesh}`, async () => {
        const { result, ns } = await rollout(kind, mesh);
        assert.equal(result.phase, 'Succeeded');
        assert.deepEqual(stored.get(ns), TRAILS[kind][mesh]);
        const world = env.world.get(`${ns}/podinfo`);
        const parsed = parseCanary(world.raw, { defaultProvider: mesh });
        assert.ok(parsed.ok);
        assert.deepEqual(parsed.warnings, WARNINGS[kind][mesh]);
        if (kind === 'webhooks')
          assert.deepEqual(
            world.log.hooks.map((h) => h.name).filter((n, i, all) => all.indexOf(n) === i),
            ['acceptance-test', 'load-test'],
          );
        await assertEndState(ns, kind, mesh);
        await assertFinalized(ns, mesh);
      });

  it(`activities built with an unknown default provider (${UNKNOWN}): the Canary fails validation, nothing is routed`, async () => {
    // The worker itself refuses `--mesh-provider envoy` at start (worker/config.ts); activities built with such a
    // default by other means still never fall back to Istio.
    const { ns } = await rollout('webhooks', UNKNOWN);
    const world = env.world.get(`${ns}/podinfo`);
    assert.deepEqual(
      world.log.events.map((e) => [e.type, e.message]),
      [['Warning', `invalid spec: spec.provider: unknown provider "envoy"; fledge supports ${SUPPORTED_LIST}`]],
    );
    assert.deepEqual(world.log.routes, [], 'no route was set');
    assert.equal(stored.get(ns), undefined);
    await assert.rejects(
      routesOf({ namespace: ns, name: 'podinfo' }).reconcileRoutes({ canary: { namespace: ns, name: 'podinfo' } }),
      {
        type: 'InvalidSpec',
        nonRetryable: true,
        message: /unknown provider "envoy"/,
      },
    );
    await assert.rejects(readVs(ns), notFound, 'no silent Istio fallback');
    await assert.rejects(readSplit(ns), notFound);
  });
});

/** The whole routing object each router left after promotion. */
async function assertEndState(ns: string, kind: CanaryKind, mesh: Mesh): Promise<void> {
  if (mesh === 'istio') {
    const vs = await readVs(ns);
    assert.deepEqual(vs.spec.hosts, ['app.example.com', 'podinfo']);
    assert.deepEqual(vs.spec.gateways, ['istio-system/public-gateway']);
    if (kind === 'ab')
      assert.deepEqual(vs.spec.http?.[0]?.match, [
        { headers: { 'user-agent': { regex: '.*Firefox.*' } } },
        { headers: { cookie: { regex: '^(.*?;)?(type=insider)(;.*)?$' } } },
      ]);
    return;
  }
  if (mesh === 'linkerd') {
    const split = await readSplit(ns);
    // Flagger's SMI router names the split's root service after `service.hosts[0]` when there is one.
    assert.deepEqual(split.spec, {
      service: 'app.example.com',
      backends: [
        { service: 'podinfo-canary', weight: '0' },
        { service: 'podinfo-primary', weight: '100' },
      ],
    });
    assert.equal(split.metadata.ownerReferences?.[0]?.kind, 'Canary');
    return;
  }
  const copy = await readIngress(ns, 'podinfo-canary');
  assert.deepEqual(copy.spec, {
    ingressClassName: 'nginx',
    rules: [
      {
        host: 'app.example.com',
        http: {
          paths: [
            { path: '/', pathType: 'Prefix', backend: { service: { name: 'podinfo-canary', port: { number: 9898 } } } },
          ],
        },
      },
    ],
  });
  const annotations = copy.metadata.annotations ?? {};
  assert.equal(annotations['example.com/owner'], 'team-a');
  assert.deepEqual(
    Object.keys(annotations).filter((k) => k.includes('ingress.kubernetes.io/')),
    [`${PREFIX}/canary`, `${PREFIX}/canary-weight`],
    'only the configured prefix, no A/B selection left after promotion',
  );
  assert.equal(copy.metadata.ownerReferences?.[0]?.kind, 'Canary');
}
