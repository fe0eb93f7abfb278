// The traefik, kuma and gloo routers inside real rollout workflows: Temporal dev server, bundled workflow,
// in-process worker, a real kube-apiserver with Traefik's CRDs and Kuma's and Gloo's (generated from Flagger's
// types). Workloads, metrics and status stay scripted. The routing objects stored
// in the apiserver are recorded after every setRoutes and checked at the end and at finalize.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { parseCanary } from '../../api/validate.ts';
import type { TraefikService } from '../../activities/routers/traefikservice.ts';
import type { TrafficRoute } from '../../activities/routers/trafficroute.ts';
import type { RouteTable, Upstream } from '../../activities/routers/gloo-objects.ts';
import { type Cluster } from '../../dev/cluster.ts';
import { flaggerApiCrdFiles, traefikCrdFiles } from '../../dev/fixtures.ts';
import { NAMESPACE, canaryRaw, runToEnd, seedInitialized, type TestEnv } from '../workflow/env.ts';
import {
  fastTutorial,
  isNotFound,
  owners,
  rollbackCanary,
  routerHarness,
  runRollback,
  weightTrail,
} from './router-harness.ts';

const harness = routerHarness('router-traefik-kuma-gloo', {
  crds: () => [...traefikCrdFiles(), ...flaggerApiCrdFiles('kuma'), ...flaggerApiCrdFiles('gloo')],
  routes: { defaultProvider: 'kuma' },
});
const { stored, describers, createCanary, deleteMidRollout } = harness;
let cluster: Cluster;
let custom: k8s.CustomObjectsApi;
let env: TestEnv;

before(async () => {
  await harness.start();
  ({ cluster, custom, env } = harness);
});
after(() => harness.stop());

const TRAEFIK = { group: 'traefik.io', version: 'v1alpha1', namespace: NAMESPACE, plural: 'traefikservices' };
const KUMA = { group: 'kuma.io', version: 'v1alpha1', plural: 'trafficroutes' };
const UPSTREAMS = { group: 'gloo.solo.io', version: 'v1', namespace: NAMESPACE, plural: 'upstreams' };
const ROUTE_TABLES = { group: 'gateway.solo.io', version: 'v1', namespace: NAMESPACE, plural: 'routetables' };

// ---------------------------------------------------------------------------------------------------------
// Reading the stored objects

async function readTraefik(name: string): Promise<TraefikService> {
  return (await custom.getNamespacedCustomObject({ ...TRAEFIK, name })) as TraefikService;
}

/** `<primary weight>/<canary weight>`; a service left out counts 0, one without a weight `-`. */
function describeTraefik(ts: TraefikService, apex: string): string {
  const services = ts.spec.weighted?.services ?? [];
  const w = (name: string) => {
    const s = services.find((x) => x.name === name);
    return s ? (s.weight ?? '-') : 0;
  };
  return `${w(`${apex}-primary`)}/${w(`${apex}-canary`)}`;
}

async function readKuma(name: string): Promise<TrafficRoute> {
  return (await custom.getClusterCustomObject({ ...KUMA, name })) as TrafficRoute;
}

/** `<primary weight>/<canary weight>` of the split. */
function describeKuma(route: TrafficRoute, apex: string): string {
  const w = (name: string) =>
    route.spec.conf?.split?.find((s) => s.destination['kuma.io/service']?.startsWith(`${name}_`))?.weight ?? '-';
  return `${w(`${apex}-primary`)}/${w(`${apex}-canary`)}`;
}

async function readRouteTable(name: string): Promise<RouteTable> {
  return (await custom.getNamespacedCustomObject({ ...ROUTE_TABLES, name })) as RouteTable;
}

async function readUpstream(name: string): Promise<Upstream> {
  return (await custom.getNamespacedCustomObject({ ...UPSTREAMS, name })) as Upstream;
}

/** `<primary weight>/<canary weight>` of the first route, prefixed with its matchers (`x-canary=insider,POST:`). */
function describeRouteTable(table: RouteTable, apex: string): string {
  const route = table.spec.routes?.[0];
  const w = (role: string) =>
    route?.routeAction.multi.destinations.find((d) =>
      d.destination.upstream.name.endsWith(`-${apex}-${role}upstream-9898`),
    )?.weight ?? 0;
  const m = route?.matchers?.[0];
  const match = [...(m?.headers ?? []).map((h) => `${h.name}=${h.value ?? ''}`), ...(m?.methods ?? [])].join(',');
  return `${match ? `${match}:` : ''}${w('primary')}/${w('canary')}`;
}

// ---------------------------------------------------------------------------------------------------------
// Setup

async function traefikCanary(name: string, analysis: Record<string, unknown>, spec: Record<string, unknown> = {}) {
  const raw = canaryRaw(name, analysis, { provider: 'traefik', service: { port: 80, targetPort: 9898 }, ...spec });
  describers.set(name, async () => describeTraefik(await readTraefik(name), name));
  await createCanary(raw);
  return { raw, world: seedInitialized(env, { raw }) };
}

async function kumaCanary(
  name: string,
  analysis: Record<string, unknown>,
  spec: Record<string, unknown> = {},
  annotations?: Record<string, string>,
) {
  const raw = canaryRaw(name, analysis, { provider: 'kuma', service: { port: 9898 }, ...spec });
  if (annotations) (raw.metadata as { annotations?: Record<string, string> }).annotations = annotations;
  describers.set(name, async () => describeKuma(await readKuma(name), name));
  await createCanary(raw);
  return { raw, world: seedInitialized(env, { raw }) };
}

/** The `<apex>-primary` and `<apex>-canary` Services the Kubernetes activities would have created. */
async function createServices(apex: string): Promise<void> {
  const core = cluster.kubeConfig.makeApiClient(k8s.CoreV1Api);
  for (const [suffix, app] of [
    ['-primary', `${apex}-primary`],
    ['-canary', apex],
  ] as const)
    await core.createNamespacedService({
      namespace: NAMESPACE,
      body: { metadata: { name: `${apex}${suffix}` }, spec: { selector: { app }, ports: [{ port: 9898 }] } },
    });
}

async function glooCanary(name: string, analysis: Record<string, unknown>, spec: Record<string, unknown> = {}) {
  const raw = canaryRaw(name, analysis, { provider: 'gloo', service: { port: 9898 }, ...spec });
  await createServices(name);
  describers.set(name, async () => describeRouteTable(await readRouteTable(name), name));
  await createCanary(raw);
  return { raw, world: seedInitialized(env, { raw }) };
}

// ---------------------------------------------------------------------------------------------------------
// The Flagger tutorials' Canaries, from Flagger's docs

// ---------------------------------------------------------------------------------------------------------

// The three providers' suites run side by side: one apiserver and one Temporal server serve them all.
describe('traefik, kuma and gloo routers', { concurrency: true }, () => {
  describe('traefik routes in real workflow runs', { concurrency: true }, () => {
    it('canary: the TraefikService weights walk to max weight and back, with apex metadata and owner', async () => {
      const name = 'tr-weights';
      await traefikCanary(
        name,
        { interval: '300ms', stepWeight: 25, maxWeight: 50 },
        {
          service: {
            port: 80,
            targetPort: 9898,
            apex: { labels: { team: 'a' }, annotations: { 'example.com/owner': 'team-a' } },
          },
        },
      );
      const { result } = await runToEnd(env, name);
      assert.equal(result.phase, 'Succeeded');
      assert.deepEqual(stored.get(name), ['75/25', '50/50', '100/0']);
      const ts = await readTraefik(name);
      assert.deepEqual(ts.spec.weighted?.services, [
        { name: `${name}-primary`, namespace: NAMESPACE, port: 80, weight: 100 },
      ]);
      assert.deepEqual(ts.metadata.labels, { team: 'a' });
      assert.equal(ts.metadata.annotations?.['example.com/owner'], 'team-a');
      assert.equal(ts.metadata.annotations?.['kustomize.toolkit.fluxcd.io/reconcile'], 'disabled');
      assert.deepEqual(
        ts.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.controller]),
        [['Canary', name, true]],
      );
    });

    it('blue/green, A/B (matches ignored: all traffic to the canary) and mirroring (ignored) with warnings', async () => {
      const bg = 'tr-bluegreen';
      const ab = 'tr-ab';
      const mirror = 'tr-mirror';
      await traefikCanary(bg, { interval: '300ms', iterations: 2 });
      const match = [{ headers: { 'x-canary': { exact: 'insider' } } }];
      const abCanary = await traefikCanary(ab, { interval: '300ms', iterations: 2, match });
      const mirrorCanary = await traefikCanary(mirror, {
        interval: '300ms',
        stepWeight: 50,
        maxWeight: 50,
        mirror: true,
      });
      const warnings = (raw: Record<string, unknown>) => {
        const parsed = parseCanary(raw);
        assert.ok(parsed.ok);
        return parsed.warnings;
      };
      assert.deepEqual(warnings(abCanary.raw), [
        'A/B testing match conditions are ignored by the traefik provider: all traffic goes to the canary',
      ]);
      assert.deepEqual(warnings(mirrorCanary.raw), ['analysis.mirror is ignored for the traefik provider']);
      const runs = await Promise.all([runToEnd(env, bg), runToEnd(env, ab), runToEnd(env, mirror)]);
      assert.deepEqual(
        runs.map((r) => r.result.phase),
        ['Succeeded', 'Succeeded', 'Succeeded'],
      );
      // Blue/green: the primary keeps an explicit weight 0 (Traefik weighs a service without one as 1).
      assert.deepEqual(stored.get(bg), ['0/100', '100/0']);
      assert.deepEqual(stored.get(ab), ['0/100', '100/0']);
      assert.deepEqual(stored.get(mirror), ['50/50', '100/0']);
    });

    harness.itRollback('rollback: failed checks put all traffic back on the primary', traefikCanary, {
      name: 'tr-rollback',
      stepWeight: 20,
      trail: ['80/20', '60/40', '100/0'],
    });

    it('finalize deletes the TraefikService the Canary owns; a taken-over one is rewritten and left in place', async () => {
      const owned = 'tr-final';
      const taken = 'tr-takeover';
      await custom.createNamespacedCustomObject({
        ...TRAEFIK,
        body: {
          apiVersion: 'traefik.io/v1alpha1',
          kind: 'TraefikService',
          metadata: { name: taken },
          spec: { weighted: { services: [{ name: 'legacy', port: 8080, weight: 1 }] } },
        },
      });
      await traefikCanary(owned, { interval: '300ms', stepWeight: 10 }, { revertOnDeletion: true });
      await traefikCanary(taken, { interval: '300ms', stepWeight: 10 }, { revertOnDeletion: true });
      const [a, b] = await Promise.all([deleteMidRollout(owned), deleteMidRollout(taken)]);
      assert.equal(a.deleted, true);
      assert.equal(b.deleted, true);
      assert.equal(stored.get(owned)?.[0], '90/10');
      assert.equal(stored.get(taken)?.[0], '90/10');
      await assert.rejects(readTraefik(owned), isNotFound);
      const left = await readTraefik(taken);
      assert.equal(left.metadata.ownerReferences, undefined);
      assert.deepEqual(
        left.spec.weighted?.services?.map((s) => s.name),
        [`${taken}-primary`, `${taken}-canary`],
      );
    });

    it("Flagger's traefik tutorial Canary reaches Succeeded", async () => {
      const name = 'tut-traefik';
      const raw = fastTutorial('traefik-progressive-delivery.md', name);
      describers.set(name, async () => describeTraefik(await readTraefik('podinfo'), 'podinfo'));
      const { result, world } = await harness.runTutorial(raw);
      assert.equal(result.phase, 'Succeeded');
      assert.deepEqual(stored.get(name), weightTrail(5, 50));
      assert.deepEqual(
        world.log.hooks.map((h) => h.name).filter((n, i, all) => all.indexOf(n) === i),
        ['acceptance-test', 'load-test'],
      );
    });
  });

  describe('kuma routes in real workflow runs', { concurrency: true }, () => {
    it('canary: the cluster-scoped TrafficRoute splits walk to max weight and back, in the annotated mesh', async () => {
      const name = 'ku-weights';
      await kumaCanary(
        name,
        { interval: '300ms', stepWeight: 25, maxWeight: 50 },
        { service: { port: 9898, apex: { annotations: { '9898.service.kuma.io/protocol': 'http' } } } },
        { 'kuma.io/mesh': 'mesh-a' },
      );
      const { result } = await runToEnd(env, name);
      assert.equal(result.phase, 'Succeeded');
      assert.deepEqual(stored.get(name), ['75/25', '50/50', '100/0']);
      const route = await readKuma(name);
      assert.equal(route.mesh, 'mesh-a');
      assert.deepEqual(route.spec.destinations, [{ match: { 'kuma.io/service': `${name}_${NAMESPACE}_svc_9898` } }]);
      assert.deepEqual(route.spec.sources, [{ match: { 'kuma.io/service': '*' } }]);
      assert.equal(route.metadata.annotations?.['9898.service.kuma.io/protocol'], 'http');
      assert.equal(route.metadata.annotations?.['fledge.app/canary'], `${NAMESPACE}/${name}`);
      assert.equal((route.metadata as { ownerReferences?: unknown }).ownerReferences, undefined);
    });

    it('blue/green and A/B (matches ignored: all traffic to the canary), rollback', async () => {
      const bg = 'ku-bluegreen';
      const ab = 'ku-ab';
      const rb = 'ku-rollback';
      await kumaCanary(bg, { interval: '300ms', iterations: 2 });
      const match = [{ headers: { 'x-canary': { exact: 'insider' } } }];
      const abCanary = await kumaCanary(ab, { interval: '300ms', iterations: 2, match });
      const parsed = parseCanary(abCanary.raw);
      assert.ok(parsed.ok);
      assert.deepEqual(parsed.warnings, [
        'A/B testing match conditions are ignored by the kuma provider: all traffic goes to the canary',
      ]);
      await rollbackCanary(kumaCanary, rb, 20);
      const runs = await Promise.all([runToEnd(env, bg), runToEnd(env, ab), runRollback(env, rb)]);
      assert.deepEqual(
        runs.map((r) => r.result.phase),
        ['Succeeded', 'Succeeded', 'Failed'],
      );
      assert.deepEqual(stored.get(bg), ['0/100', '100/0']);
      assert.deepEqual(stored.get(ab), ['0/100', '100/0']);
      assert.deepEqual(stored.get(rb), ['80/20', '60/40', '100/0']);
    });

    it('finalize deletes the TrafficRoute fledge created; a taken-over one keeps its mesh and stays', async () => {
      const created = 'ku-final';
      const taken = 'ku-takeover';
      await custom.createClusterCustomObject({
        ...KUMA,
        body: {
          apiVersion: 'kuma.io/v1alpha1',
          kind: 'TrafficRoute',
          metadata: { name: taken },
          mesh: 'legacy-mesh',
          spec: { conf: { split: [{ weight: 100, destination: { 'kuma.io/service': 'legacy_test_svc_80' } }] } },
        },
      });
      await kumaCanary(created, { interval: '300ms', stepWeight: 10 }, { revertOnDeletion: true });
      await kumaCanary(taken, { interval: '300ms', stepWeight: 10 }, { revertOnDeletion: true });
      const [a, b] = await Promise.all([deleteMidRollout(created), deleteMidRollout(taken)]);
      assert.equal(a.deleted, true);
      assert.equal(b.deleted, true);
      assert.equal(stored.get(created)?.[0], '90/10');
      assert.equal(stored.get(taken)?.[0], '90/10');
      await assert.rejects(readKuma(created), isNotFound);
      const left = await readKuma(taken);
      assert.equal(left.mesh, 'legacy-mesh');
      assert.equal(left.metadata.annotations?.['fledge.app/adopted'], 'true');
    });

    it("Flagger's kuma tutorial Canary (no provider: --mesh-provider kuma) reaches Succeeded", async () => {
      const name = 'tut-kuma';
      const raw = fastTutorial('kuma-progressive-delivery.md', name);
      assert.equal((raw.spec as { provider?: string }).provider, undefined);
      describers.set(name, async () => describeKuma(await readKuma('podinfo'), 'podinfo'));
      const { result } = await harness.runTutorial(raw, 'kuma');
      assert.equal(result.phase, 'Succeeded');
      assert.deepEqual(stored.get(name), weightTrail(5, 50));
      const route = await readKuma('podinfo');
      assert.equal(route.mesh, 'default');
      assert.equal(route.metadata.annotations?.['9898.service.kuma.io/protocol'], 'http');
    });
  });

  describe('gloo routes in real workflow runs', { concurrency: true }, () => {
    it('canary: Upstreams copy upstreamRef and select the Services; RouteTable weights walk and return', async () => {
      const name = 'gl-weights';
      await custom.createNamespacedCustomObject({
        ...UPSTREAMS,
        body: {
          apiVersion: 'gloo.solo.io/v1',
          kind: 'Upstream',
          metadata: { name: 'podinfo-upstream' },
          spec: { sslConfig: { sni: 'podinfo.example.com' }, connectionConfig: { connectTimeout: '2s' } },
        },
      });
      await glooCanary(
        name,
        { interval: '300ms', stepWeight: 25, maxWeight: 50 },
        { upstreamRef: { apiVersion: 'gloo.solo.io/v1', kind: 'Upstream', name: 'podinfo-upstream' } },
      );
      const { result } = await runToEnd(env, name);
      assert.equal(result.phase, 'Succeeded');
      assert.deepEqual(stored.get(name), ['75/25', '50/50', '100/0']);
      const table = await readRouteTable(name);
      assert.equal(table.spec.routes?.[0]?.inheritablePathMatchers, true);
      assert.equal(table.spec.routes?.[0]?.matchers, undefined);
      assert.deepEqual(owners(table), [['Canary', name]]);
      const canaryUp = await readUpstream(`${NAMESPACE}-${name}-canaryupstream-9898`);
      assert.deepEqual(canaryUp.spec, {
        sslConfig: { sni: 'podinfo.example.com' },
        connectionConfig: { connectTimeout: '2s' },
        kube: {
          serviceName: `${name}-canary`,
          serviceNamespace: NAMESPACE,
          servicePort: 9898,
          selector: { app: name },
        },
      });
      const primaryUp = await readUpstream(`${NAMESPACE}-${name}-primaryupstream-9898`);
      assert.deepEqual(primaryUp.spec.kube?.selector, { app: `${name}-primary` });
      assert.deepEqual(owners(primaryUp), [['Canary', name]]);
    });

    it('A/B (header and method matchers), blue/green and rollback', async () => {
      const ab = 'gl-ab';
      const bg = 'gl-bluegreen';
      const rb = 'gl-rollback';
      const match = [{ headers: { 'x-canary': { exact: 'insider' } } }, { method: { exact: 'POST' } }];
      await glooCanary(ab, { interval: '300ms', iterations: 2, match });
      await glooCanary(bg, { interval: '300ms', iterations: 2 });
      await rollbackCanary(glooCanary, rb, 20);
      const runs = await Promise.all([runToEnd(env, ab), runToEnd(env, bg), runRollback(env, rb)]);
      assert.deepEqual(
        runs.map((r) => r.result.phase),
        ['Succeeded', 'Succeeded', 'Failed'],
      );
      assert.deepEqual(stored.get(ab), ['x-canary=insider,POST:0/100', 'x-canary=insider,POST:100/0']);
      assert.deepEqual(stored.get(bg), ['0/100', '100/0']);
      assert.deepEqual(stored.get(rb), ['80/20', '60/40', '100/0']);
    });

    it('finalize deletes the RouteTable and Upstreams the Canary owns', async () => {
      const name = 'gl-final';
      await glooCanary(name, { interval: '300ms', stepWeight: 10 }, { revertOnDeletion: true });
      const result = await deleteMidRollout(name);
      assert.equal(result.deleted, true);
      assert.equal(stored.get(name)?.[0], '90/10');
      await assert.rejects(readRouteTable(name), isNotFound);
      await assert.rejects(readUpstream(`${NAMESPACE}-${name}-primaryupstream-9898`), isNotFound);
      await assert.rejects(readUpstream(`${NAMESPACE}-${name}-canaryupstream-9898`), isNotFound);
    });

    it("Flagger's gloo tutorial Canary reaches Succeeded", async () => {
      const name = 'tut-gloo';
      const raw = fastTutorial('gloo-progressive-delivery.md', name);
      await createServices('podinfo');
      describers.set(name, async () => describeRouteTable(await readRouteTable('podinfo'), 'podinfo'));
      const { result } = await harness.runTutorial(raw);
      assert.equal(result.phase, 'Succeeded');
      assert.deepEqual(stored.get(name), weightTrail(5, 50));
    });
  });
});
