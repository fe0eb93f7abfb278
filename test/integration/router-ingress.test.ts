// The nginx and contour routers inside real rollout workflows: Temporal dev server, bundled workflow, in-process
// worker, a real kube-apiserver with Contour's CRDs, and a stand-in Contour that marks every HTTPProxy generation
// valid through the status subresource. Workloads, metrics and status stay scripted. The canary Ingress and the
// HTTPProxy stored in the apiserver are recorded after every setRoutes and checked at the end and at finalize.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import { parseCanary } from '../../api/validate.ts';
import type { Ingress } from '../../activities/routers/ingress.ts';
import type { HTTPProxy } from '../../activities/routers/httpproxy.ts';
import { contourCrdFiles } from '../../dev/fixtures.ts';
import { userIngress as userIngressOf } from '../user-ingress.ts';
import { NAMESPACE, canaryRaw, runToEnd, seedInitialized, type TestEnv } from '../workflow/env.ts';
import {
  assertUntouched,
  fastTutorial,
  isNotFound,
  owners,
  routerHarness,
  validProxyStatus,
  weightTrail,
} from './router-harness.ts';

const PREFIX = 'nginx.ingress.kubernetes.io';
const INGRESS_CLASS = 'contour-external';
const PROXIES = { group: 'projectcontour.io', version: 'v1', namespace: NAMESPACE, plural: 'httpproxies' };

const harness = routerHarness('router-ingress', {
  crds: contourCrdFiles,
  // Flagger's contour tutorial installs Flagger with meshProvider=contour: its Canary names no provider.
  routes: { ingressClass: INGRESS_CLASS, defaultProvider: 'contour' },
});
const { stored, describers, createCanary, deleteMidRollout, readIngress, createIngress } = harness;
let custom: k8s.CustomObjectsApi;
let env: TestEnv;
let contourRunning = true;
let contourLoop: Promise<void> = Promise.resolve();

before(async () => {
  await harness.start();
  ({ custom, env } = harness);
  contourLoop = playContour();
});
after(async () => {
  contourRunning = false;
  await contourLoop.catch(() => undefined);
  await harness.stop();
});

/** Per Canary: its provider and the user Ingress (nginx) or the HTTPProxy's name (contour: the apex Service). */
const providers = new Map<string, { provider: 'nginx' | 'contour'; object: string }>();

/** Records what the Canary's router stores after every setRoutes. */
function track(name: string, p: { provider: 'nginx' | 'contour'; object: string }): void {
  providers.set(name, p);
  describers.set(name, () => describeStored(name));
}

// ---------------------------------------------------------------------------------------------------------
// Reading the stored objects

async function readProxy(name: string): Promise<HTTPProxy> {
  return (await custom.getNamespacedCustomObject({ ...PROXIES, name })) as HTTPProxy;
}

/** `w20` (canary-weight), `h:x-canary=insider` / `c:canary` (A/B selection); `!` when canary is not "true". */
function describeIngress(ing: Ingress): string {
  const a = ing.metadata.annotations ?? {};
  const parts: string[] = [];
  if (a[`${PREFIX}/canary-by-header`])
    parts.push(`h:${a[`${PREFIX}/canary-by-header`]}=${a[`${PREFIX}/canary-by-header-value`] ?? ''}`);
  if (a[`${PREFIX}/canary-by-cookie`]) parts.push(`c:${a[`${PREFIX}/canary-by-cookie`]}`);
  if (!parts.length) parts.push(`w${a[`${PREFIX}/canary-weight`]}`);
  return `${parts.join(',')}${a[`${PREFIX}/canary`] === 'true' ? '' : '!'}`;
}

/** Weights of every route, `60/40`, `100/0m` (canary mirrored); A/B routes are prefixed with their header. */
function describeProxy(proxy: HTTPProxy, name: string): string {
  return (proxy.spec.routes ?? [])
    .map((r) => {
      const w = (svc: string) => r.services.find((s) => s.name === svc);
      const header = r.conditions?.find((c) => c.header)?.header;
      const canary = w(`${name}-canary`);
      const mirror = canary?.mirror ? 'm' : '';
      const split = `${w(`${name}-primary`)?.weight ?? 0}/${mirror ? 0 : (canary?.weight ?? 0)}${mirror}`;
      return header ? `${header.name}=${header.exact}:${split}` : split;
    })
    .join(' ');
}

async function describeStored(name: string): Promise<string> {
  const p = providers.get(name);
  if (p?.provider === 'nginx') return describeIngress(await readIngress(`${p.object}-canary`));
  const apex = p?.object ?? name;
  return describeProxy(await readProxy(apex), apex);
}

// ---------------------------------------------------------------------------------------------------------
// A stand-in Contour: every HTTPProxy generation is valid

async function playContour(): Promise<void> {
  while (contourRunning) {
    await markValid().catch((err: unknown) => console.error('stand-in Contour:', (err as Error).message));
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function markValid(): Promise<void> {
  {
    const list = (await custom.listNamespacedCustomObject(PROXIES)) as { items: HTTPProxy[] };
    for (const proxy of list.items) {
      const generation = proxy.metadata.generation ?? 1;
      if (proxy.status?.conditions?.[0]?.observedGeneration === generation) continue;
      const status = validProxyStatus(generation);
      await custom
        .patchNamespacedCustomObjectStatus({
          ...PROXIES,
          name: proxy.metadata.name,
          body: [{ op: 'add', path: '/status', value: status }],
        })
        .catch((err: unknown) => console.error('stand-in Contour status:', (err as Error).message)); // e.g. a newer generation
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Setup

/** The user's Ingress of the nginx tutorial: app.example.com → the apex Service `svc`. */
function userIngress(name: string, svc: string): Ingress {
  return userIngressOf({
    name,
    namespace: NAMESPACE,
    labels: { app: svc },
    annotations: { 'example.com/owner': 'team-a' },
    ingressClassName: 'nginx',
    host: `${svc}.example.com`,
    paths: [['/', svc, 80]],
  });
}

/** An nginx Canary and its user Ingress `<name>-ing`, stored in the apiserver and seeded as initialized. */
async function nginxCanary(name: string, analysis: Record<string, unknown>, spec: Record<string, unknown> = {}) {
  const ingress = `${name}-ing`;
  track(name, { provider: 'nginx', object: ingress });
  return { ...(await harness.ingressCanary('nginx', userIngress(ingress, name), name, analysis, spec)), ingress };
}

async function contourCanary(name: string, analysis: Record<string, unknown>, service: Record<string, unknown> = {}) {
  const raw = canaryRaw(name, analysis, { provider: 'contour', service: { port: 9898, ...service } });
  track(name, { provider: 'contour', object: name });
  await createCanary(raw);
  return { raw, world: seedInitialized(env, { raw }) };
}

// ---------------------------------------------------------------------------------------------------------
// The Flagger tutorials' Canaries, from Flagger's docs

// ---------------------------------------------------------------------------------------------------------

describe('nginx and contour routes in real workflow runs', { concurrency: true }, () => {
  it('nginx canary: canary-weight walks to max weight and back to 0 on the <ingress>-canary copy', async () => {
    const name = 'ng-weights';
    const { ingress, userVersion } = await nginxCanary(name, { interval: '300ms', stepWeight: 25, maxWeight: 50 });
    const { result } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(stored.get(name), ['w25', 'w50', 'w0']);
    const copy = await readIngress(`${ingress}-canary`);
    assert.equal(copy.spec?.rules?.[0]?.http?.paths[0]?.backend.service?.name, `${name}-canary`);
    assert.equal(copy.spec?.ingressClassName, 'nginx');
    assert.deepEqual(copy.metadata.labels, { app: name });
    assert.equal(copy.metadata.annotations?.['example.com/owner'], 'team-a');
    assert.equal(copy.metadata.annotations?.['kustomize.toolkit.fluxcd.io/reconcile'], 'disabled');
    assert.deepEqual(owners(copy), [['Canary', name]]);
    await assertUntouched(readIngress(ingress), userVersion);
  });

  it('nginx A/B (the tutorial match): header and cookie annotations, removed at promotion', async () => {
    const name = 'ng-ab';
    const match = [{ headers: { 'x-canary': { exact: 'insider' } } }, { headers: { cookie: { exact: 'canary' } } }];
    const { ingress, userVersion } = await nginxCanary(name, { interval: '300ms', iterations: 2, match });
    const { result } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(stored.get(name), ['h:x-canary=insider,c:canary', 'w0']);
    const a = (await readIngress(`${ingress}-canary`)).metadata.annotations ?? {};
    assert.equal(a[`${PREFIX}/canary-by-header`], undefined);
    assert.equal(a[`${PREFIX}/canary-by-cookie`], undefined);
    await assertUntouched(readIngress(ingress), userVersion);
  });

  it('nginx blue/green: canary-weight 100 before promotion, 0 after', async () => {
    const name = 'ng-bluegreen';
    await nginxCanary(name, { interval: '300ms', iterations: 2 });
    const { result } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(stored.get(name), ['w100', 'w0']);
  });

  harness.itRollback('nginx rollback: failed checks put canary-weight back to 0', nginxCanary, {
    name: 'ng-rollback',
    stepWeight: 20,
    trail: ['w20', 'w40', 'w0'],
  });

  it('nginx takeover and finalize: a leftover <ingress>-canary is taken over, deleted when the Canary goes', async () => {
    const name = 'ng-final';
    const ingress = `${name}-ing`;
    // A copy left by Flagger (or a person): wrong backend, weight 30, no owner.
    const leftover = userIngress(`${ingress}-canary`, 'elsewhere');
    leftover.metadata.annotations = { [`${PREFIX}/canary`]: 'true', [`${PREFIX}/canary-weight`]: '30' };
    await createIngress(leftover);
    const { userVersion } = await nginxCanary(name, { interval: '300ms', stepWeight: 10 }, { revertOnDeletion: true });
    const result = await deleteMidRollout(name, async () => {
      const taken = await readIngress(`${ingress}-canary`);
      assert.equal(taken.spec?.rules?.[0]?.http?.paths[0]?.backend.service?.name, `${name}-canary`);
      assert.equal(taken.metadata.annotations?.['fledge.app/canary'], name);
      assert.equal(stored.get(name)?.[0], 'w10');
    });
    assert.equal(result.deleted, true);
    await assert.rejects(readIngress(`${ingress}-canary`), isNotFound);
    await assertUntouched(readIngress(ingress), userVersion);
  });

  it('nginx mirroring is ignored with a warning: the canary steps without a mirror pre-step', async () => {
    const name = 'ng-mirror';
    const { raw } = await nginxCanary(name, { interval: '300ms', stepWeight: 50, maxWeight: 50, mirror: true });
    const parsed = parseCanary(raw);
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.warnings, ['analysis.mirror is ignored for the nginx provider']);
    const { result } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(stored.get(name), ['w50', 'w0']);
  });

  it('contour canary with mirroring, timeout, retries and ingress class: weights per step', async () => {
    const name = 'ct-weights';
    await contourCanary(
      name,
      { interval: '300ms', stepWeight: 50, maxWeight: 50, mirror: true, mirrorWeight: 30 },
      { timeout: '15s', retries: { attempts: 3, perTryTimeout: '5s', retryOn: 'gateway-error,connect-failure' } },
    );
    const { result } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(stored.get(name), ['100/0m', '50/50', '100/0']);
    const proxy = await readProxy(name);
    assert.equal(proxy.spec.ingressClassName, INGRESS_CLASS);
    const route = proxy.spec.routes?.[0];
    assert.deepEqual(route?.timeoutPolicy, { response: '15s', idle: '5m' });
    assert.deepEqual(route?.retryPolicy, {
      count: 3,
      perTryTimeout: '5s',
      retryOn: ['gateway-error', 'connect-failure'],
    });
    assert.deepEqual(route?.services[1]?.requestHeadersPolicy?.set, [
      { name: 'l5d-dst-override', value: `${name}-canary.${NAMESPACE}.svc.cluster.local:9898` },
    ]);
    assert.deepEqual(owners(proxy), [['Canary', name]]);
  });

  it('contour A/B: a header route first, the default route on the primary', async () => {
    const name = 'ct-ab';
    const match = [{ headers: { 'x-canary': { exact: 'insider' } } }];
    await contourCanary(name, { interval: '300ms', iterations: 2, match });
    const { result } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(stored.get(name), ['x-canary=insider:0/100 100/0', 'x-canary=insider:100/0 100/0']);
  });

  harness.itBlueGreenAndRollback('contour blue/green and rollback', contourCanary, {
    bg: 'ct-bluegreen',
    rb: 'ct-rollback',
    stepWeight: 30,
    bgTrail: ['0/100', '100/0'],
    rbTrail: ['70/30', '40/60', '100/0'],
  });

  it('contour takeover: a pre-existing HTTPProxy is rewritten, and put back as it was on finalize', async () => {
    const name = 'ct-takeover';
    const original = {
      routes: [{ conditions: [{ prefix: '/' }], services: [{ name: 'legacy', port: 8080 }] }],
    };
    await custom.createNamespacedCustomObject({
      ...PROXIES,
      body: { apiVersion: 'projectcontour.io/v1', kind: 'HTTPProxy', metadata: { name }, spec: original },
    });
    await contourCanary(name, { interval: '300ms', stepWeight: 10 });
    const result = await deleteMidRollout(name);
    assert.equal(result.deleted, true);
    assert.equal(stored.get(name)?.[0], '90/10');
    const restored = await readProxy(name);
    assert.deepEqual(restored.spec, original);
    assert.deepEqual(
      Object.keys(restored.metadata.annotations ?? {}).filter((k) => k.startsWith('fledge.app/')),
      [],
    );
    assert.equal(restored.metadata.ownerReferences, undefined);
  });

  it('contour finalize: the HTTPProxy fledge created is deleted', async () => {
    const name = 'ct-final';
    await contourCanary(name, { interval: '300ms', stepWeight: 10 });
    const result = await deleteMidRollout(name);
    assert.equal(result.deleted, true);
    await assert.rejects(readProxy(name), isNotFound);
  });

  it("Flagger's nginx tutorial Canary (webhooks, ingressRef) reaches Succeeded", async () => {
    const name = 'tut-nginx';
    const raw = fastTutorial('nginx-progressive-delivery.md', name);
    const ingressName = (raw.spec as { ingressRef: { name: string } }).ingressRef.name;
    await createIngress(userIngress(ingressName, 'podinfo'));
    // The tutorial's Services are `podinfo`: its copy is named so, whatever this Canary is called.
    track(name, { provider: 'nginx', object: ingressName });
    const { result, world } = await harness.runTutorial(raw);
    assert.equal(result.phase, 'Succeeded');
    const steps = stored.get(name) ?? [];
    assert.deepEqual(steps, [...Array.from({ length: 10 }, (_, i) => `w${(i + 1) * 5}`), 'w0']);
    assert.deepEqual(
      world.log.hooks.map((h) => h.name).filter((n, i, all) => all.indexOf(n) === i),
      ['acceptance-test', 'load-test'],
    );
  });

  it("Flagger's contour tutorial Canary reaches Succeeded", async () => {
    const name = 'tut-contour';
    const raw = fastTutorial('contour-progressive-delivery.md', name);
    track(name, { provider: 'contour', object: 'podinfo' });
    assert.equal((raw.spec as { provider?: string }).provider, undefined);
    const { result } = await harness.runTutorial(raw, 'contour');
    assert.equal(result.phase, 'Succeeded');
    const apex = 'podinfo';
    const proxy = await readProxy(apex);
    assert.deepEqual(stored.get(name), weightTrail(5, 50));
    assert.equal(describeProxy(proxy, apex), '100/0');
    assert.deepEqual(proxy.spec.routes?.[0]?.retryPolicy, { count: 3, perTryTimeout: '5s', retryOn: ['5xx'] });
    assert.equal(proxy.metadata.annotations?.['fledge.app/canary'], name);
  });
});
