// Issue 18 (items 1, 4, 5) on the whole product (dev/stack.ts): the real controller process against a real
// apiserver, controller-manager (its EndpointSlice controller writes the slices of Services with selectors),
// scheduler and kwok nodes, with a real Temporal dev server and Prometheus.
// - taking over a live Service never leaves it without a ready endpoint (sampled every 100 ms);
// - an invalid spec mid-rollout: status keeps the route's real weights, the rollout holds, and rolls back to the
//   primary once the progress deadline passes;
// - spec edits reach the HTTPRoute within one interval with the weights kept, at a closed gate (weighted canary
//   and A/B).
// Gates are an HTTP server of this process (the controller runs on the same loopback).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import {
  PODINFO_DIR,
  eventually,
  podinfoCanary,
  startStack,
  type PodinfoOptions,
  type Stack,
} from '../../dev/stack.ts';
import { NEW_IMAGE, canaryEvents, routeWeights } from './helpers.ts';
import { join } from 'node:path';

let stack: Stack;
let gates: Server;
let gateUrl = '';
/** Per gate name: how many more calls it lets through (then it answers 403). */
const allowance = new Map<string, number>();

before(async () => {
  gates = createServer((req, res) => {
    const name = (req.url ?? '').slice(1);
    const left = allowance.get(name) ?? 0;
    allowance.set(name, left - 1);
    res.writeHead(left > 0 ? 200 : 403).end();
  });
  await new Promise<void>((r) => gates.listen(0, '127.0.0.1', r));
  gateUrl = `http://127.0.0.1:${(gates.address() as AddressInfo).port}`;
  stack = await startStack({ controllers: 1 });
});
after(async () => {
  await stack?.stop();
  await new Promise((r) => gates?.close(r));
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A confirm-traffic-increase / confirm-promotion hook on the local gate server, open for `calls` calls. */
function gate(name: string, type: string, calls: number) {
  allowance.set(name, calls);
  return { name, type, url: `${gateUrl}/${name}` };
}

async function route(ns: string): Promise<HTTPRouteLike> {
  return (await stack.kubeConfig.makeApiClient(k8s.CustomObjectsApi).getNamespacedCustomObject({
    group: 'gateway.networking.k8s.io',
    version: 'v1',
    namespace: ns,
    plural: 'httproutes',
    name: 'podinfo',
  })) as HTTPRouteLike;
}

interface HTTPRouteLike {
  spec: {
    rules: {
      matches?: { headers?: { name: string; value: string }[] }[];
      backendRefs: { name: string; weight: number }[];
      timeouts?: { request?: string };
    }[];
  };
}

async function patchCanary(ns: string, patch: object): Promise<void> {
  await stack.kubectl(['patch', '-n', ns, 'canary/podinfo', '--type=merge', '-p', JSON.stringify(patch)]);
}

/** Sets `spec.service.timeout: 15s` and waits for it on the HTTPRoute: the route then, and ms since the edit. */
async function editTimeout(ns: string): Promise<{ route: HTTPRouteLike; took: number }> {
  const editedAt = Date.now();
  await patchCanary(ns, { spec: { service: { timeout: '15s' } } });
  const edited = await eventually(
    'the timeout on the HTTPRoute',
    async () => {
      const now = await route(ns);
      return now.spec.rules[0]?.timeouts?.request === '15s' ? now : undefined;
    },
    30_000,
  );
  return { route: edited, took: Date.now() - editedAt };
}

async function setImage(ns: string): Promise<void> {
  await stack.kubectl(['set', 'image', '-n', ns, 'deploy/podinfo', `podinfod=${NEW_IMAGE}`]);
}

/** Ready endpoints of a Service, summed over its EndpointSlices (what kube-proxy would program). */
async function readyEndpoints(ns: string, service: string): Promise<number> {
  const slices = await stack.kubeConfig
    .makeApiClient(k8s.DiscoveryV1Api)
    .listNamespacedEndpointSlice({ namespace: ns, labelSelector: `kubernetes.io/service-name=${service}` });
  return slices.items.flatMap((s) => s.endpoints ?? []).filter((e) => e.conditions?.ready !== false).length;
}

describe('traffic safety (issue 18)', { concurrency: true }, () => {
  it('taking over a live Service: its EndpointSlices always list a ready endpoint (sampled every 100 ms)', async (t) => {
    const ns = await stack.createNamespace('takeover');
    const label = `e2e.fledge/${ns}`;
    const nodes = ['kwok-node-0', 'kwok-node-1'];
    // The target's pods may only run on nodes with the label: they do now, new pods (the primary's) cannot later.
    for (const n of nodes) await stack.kubectl(['label', 'node', n, `${label}=yes`, '--overwrite']);
    await stack.kubectl(['apply', '-n', ns, '-f', join(PODINFO_DIR, 'deployment.yaml')]);
    await stack.kubectl([
      'patch',
      '-n',
      ns,
      'deploy/podinfo',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { replicas: 2, template: { spec: { nodeSelector: { [label]: 'yes' } } } } }),
    ]);
    await stack.kubectl(['rollout', 'status', '-n', ns, 'deploy/podinfo', '--timeout=120s']);
    await stack.kubectl(
      ['apply', '-n', ns, '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'podinfo' },
        spec: { selector: { app: 'podinfo' }, ports: [{ name: 'http', port: 9898, targetPort: 9898 }] },
      }),
    );
    // The EndpointSlice controller serves Services with selectors even with --endpoint-reconciler-type=none.
    await eventually('2 ready endpoints of the live Service', async () =>
      (await readyEndpoints(ns, 'podinfo')) === 2 ? true : undefined,
    );
    for (const n of nodes) await stack.kubectl(['label', 'node', n, `${label}-`]);

    const samples: { at: number; ready: number; selector: string }[] = [];
    let sampling = true;
    const core = stack.kubeConfig.makeApiClient(k8s.CoreV1Api);
    const sampler = (async () => {
      // One sample per 100 ms slot (a slow read delays the next one, it never shifts the schedule).
      for (let next = Date.now(); sampling; next += 100) {
        await sleep(Math.max(0, next - Date.now()));
        const [ready, svc] = await Promise.all([
          readyEndpoints(ns, 'podinfo'),
          core.readNamespacedService({ name: 'podinfo', namespace: ns }),
        ]);
        samples.push({ at: Date.now(), ready, selector: svc.spec?.selector?.app ?? '' });
      }
    })();
    const start = Date.now();
    const opts: PodinfoOptions = { analysis: { interval: '1s' } };
    await stack.kubectl(['apply', '-f', '-'], JSON.stringify(podinfoCanary(ns, opts)));
    const primaryPods = async () =>
      (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=podinfo-primary' })).items.length;
    await eventually('primary pods created (and pending)', async () => ((await primaryPods()) > 0 ? true : undefined));
    // 25 s with a primary that cannot be scheduled, then the nodes take it.
    await sleep(Math.max(0, 25_000 - (Date.now() - start)));
    const unscheduledUntil = Date.now();
    for (const n of nodes) await stack.kubectl(['label', 'node', n, `${label}=yes`, '--overwrite']);
    await stack.waitForPhase(ns, 'Initialized', { timeoutMs: 120_000 });
    // Until the target is gone from the slices: the apex Service has moved to the primary's pods.
    await eventually('the target scaled to zero and out of the slices', async () => {
      const d = await stack.kubeConfig
        .makeApiClient(k8s.AppsV1Api)
        .readNamespacedDeployment({ name: 'podinfo', namespace: ns });
      return d.spec?.replicas === 0 && (d.status?.readyReplicas ?? 0) === 0 ? true : undefined;
    });
    await sleep(1000);
    sampling = false;
    await sampler;
    const empty = samples.filter((s) => s.ready === 0);
    assert.deepEqual(
      empty.map((s) => `${s.at - start} ms: selector ${s.selector}`),
      [],
      'the apex Service never lost its ready endpoints',
    );
    // Sampled on a 100 ms schedule; a loaded machine may delay a read, never by as long as a real gap would last.
    const gaps = samples.slice(1).map((s, i) => s.at - samples[i]!.at);
    assert.ok(samples.length > 250, `sampled ${samples.length} times`);
    assert.ok(Math.max(...gaps) < 1000, `largest gap between samples ${Math.max(...gaps)} ms`);
    const minReady = Math.min(...samples.map((s) => s.ready));
    t.diagnostic(`${samples.length} samples, largest gap ${Math.max(...gaps)} ms, fewest ready endpoints ${minReady}`);
    // The apex Service switched to the primary only after the primary could run.
    const switched = samples.find((s) => s.selector === 'podinfo-primary');
    assert.ok(switched && switched.at >= unscheduledUntil, 'apex switched after the primary was schedulable');
    assert.equal(samples.at(-1)?.selector, 'podinfo-primary');
    assert.deepEqual(await routeWeights(stack, ns), [
      ['podinfo-primary', 100],
      ['podinfo-canary', 0],
    ]);
  });

  it('an invalid spec mid-rollout: status keeps the route weight, the rollout holds, then rolls back at the deadline', async () => {
    const ns = await stack.createNamespace('invalid');
    const gateHook = gate(`${ns}-increase`, 'confirm-traffic-increase', 2);
    await stack.applyPodinfo(ns, {
      analysis: {
        interval: '2s',
        stepWeight: undefined,
        maxWeight: undefined,
        stepWeights: [10, 30, 60],
        webhooks: [gateHook],
      },
      spec: { progressDeadlineSeconds: 20 },
    });
    await setImage(ns);
    // The gate lets two increases through: the canary holds at 30 %.
    await eventually('route at 70/30', async () => ((await routeWeights(stack, ns))[1]?.[1] === 30 ? true : undefined));
    await eventually('status weight 30', async () =>
      (await stack.canary(ns)).status?.canaryWeight === 30 ? true : undefined,
    );
    const editedAt = Date.now();
    await patchCanary(ns, { spec: { analysis: { stepWeights: [30, 20] } } });
    await eventually('the invalid-spec event', async () =>
      (await canaryEvents(stack, ns)).some((e) => e.type === 'Warning' && e.message.startsWith('invalid spec'))
        ? true
        : undefined,
    );
    // Held: status says so and mirrors the route (today it says 0 while the route sends 30 %).
    await sleep(4000); // two intervals of holding; the checks below would fail on a status that drifts
    const held = await stack.canary(ns);
    assert.equal(held.status?.phase, 'Progressing');
    assert.equal(held.status?.canaryWeight, 30);
    assert.equal((await routeWeights(stack, ns))[1]?.[1], 30);
    const promoted = held.status?.conditions?.find((c) => c.type === 'Promoted');
    assert.equal(promoted?.reason, 'InvalidSpec');
    assert.match(promoted?.message ?? '', /^invalid spec: spec\.analysis\.stepWeights/);
    // The progress deadline (20 s) still applies: rolled back to the primary, canary scaled to zero.
    const failed = await stack.waitForPhase(ns, 'Failed', { timeoutMs: 90_000 });
    assert.ok(Date.now() - editedAt >= 20_000, 'not before the deadline');
    assert.equal(failed.status?.canaryWeight, 0);
    assert.deepEqual(await routeWeights(stack, ns), [
      ['podinfo-primary', 100],
      ['podinfo-canary', 0],
    ]);
    const d = await stack.kubeConfig
      .makeApiClient(k8s.AppsV1Api)
      .readNamespacedDeployment({ name: 'podinfo', namespace: ns });
    assert.equal(d.spec?.replicas, 0);
    assert.ok(
      (await canaryEvents(stack, ns)).some((e) =>
        e.message.includes('progress deadline exceeded spec invalid for more than 20s'),
      ),
    );
  });

  it('spec.service.timeout edited at weight 20 (interval 10 s) reaches the HTTPRoute within one interval, weights kept', async (t) => {
    const ns = await stack.createNamespace('timeout');
    const gateHook = gate(`${ns}-increase`, 'confirm-traffic-increase', 1);
    await stack.applyPodinfo(ns, {
      analysis: { interval: '10s', stepWeight: 20, maxWeight: 60, webhooks: [gateHook] },
    });
    await setImage(ns);
    await eventually(
      'route at 80/20',
      async () => ((await routeWeights(stack, ns))[1]?.[1] === 20 ? true : undefined),
      180_000,
    );
    assert.equal((await route(ns)).spec.rules[0]?.timeouts, undefined);
    const { route: r, took } = await editTimeout(ns);
    // One interval, plus the run time of the tick under way when the edit lands.
    t.diagnostic(`timeout on the HTTPRoute ${took} ms after the edit`);
    assert.ok(took <= 15_000, `took ${took} ms (interval 10 s)`);
    assert.deepEqual(
      r.spec.rules[0]?.backendRefs.map((b) => [b.name, b.weight]),
      [
        ['podinfo-primary', 80],
        ['podinfo-canary', 20],
      ],
    );
    assert.equal((await stack.canary(ns)).status?.canaryWeight, 20);
  });

  it('with no rollout open (Initialized), a spec.service.timeout edit reaches the HTTPRoute, weights and phase kept', async (t) => {
    const ns = await stack.createNamespace('idle-edit');
    await stack.applyPodinfo(ns, { analysis: { interval: '10s', stepWeight: 20, maxWeight: 60 } });
    assert.equal((await stack.canary(ns)).status?.phase, 'Initialized');
    assert.equal((await route(ns)).spec.rules[0]?.timeouts, undefined);
    const { route: r, took } = await editTimeout(ns);
    t.diagnostic(`timeout on the HTTPRoute ${took} ms after the edit (no rollout open)`);
    // The watcher starts a run for the revision already applied: no interval to wait for.
    assert.ok(took <= 10_000, `took ${took} ms`);
    assert.deepEqual(
      r.spec.rules[0]?.backendRefs.map((b) => [b.name, b.weight]),
      [
        ['podinfo-primary', 100],
        ['podinfo-canary', 0],
      ],
    );
    const canary = await stack.canary(ns);
    assert.equal(canary.status?.phase, 'Initialized');
    assert.equal(canary.status?.canaryWeight, 0);
  });

  it('an A/B canary at a closed confirm-promotion gate gets an analysis.match edit within one interval', async (t) => {
    const ns = await stack.createNamespace('abmatch');
    const match = (value: string) => [{ headers: { 'x-canary': { exact: value } } }];
    const gateHook = gate(`${ns}-promotion`, 'confirm-promotion', 0);
    await stack.applyPodinfo(ns, {
      analysis: {
        interval: '5s',
        stepWeight: undefined,
        maxWeight: undefined,
        iterations: 2,
        match: match('insider'),
        webhooks: [gateHook],
      },
    });
    await setImage(ns);
    await stack.waitForPhase(ns, 'WaitingPromotion', { timeoutMs: 120_000 });
    const headerValues = (r: HTTPRouteLike) =>
      r.spec.rules.flatMap((rule) => (rule.matches ?? []).flatMap((m) => (m.headers ?? []).map((h) => h.value)));
    const weightsBefore = (await route(ns)).spec.rules.map((rule) => rule.backendRefs.map((b) => b.weight));
    assert.deepEqual(headerValues(await route(ns)), ['insider']);
    const editedAt = Date.now();
    await patchCanary(ns, { spec: { analysis: { match: match('beta') } } });
    const r = await eventually(
      'the new match on the HTTPRoute',
      async () => {
        const now = await route(ns);
        return headerValues(now).includes('beta') ? now : undefined;
      },
      30_000,
    );
    const took = Date.now() - editedAt;
    // One interval, plus the run time of the tick under way when the edit lands (gate call, metric queries).
    t.diagnostic(`new match on the HTTPRoute ${took} ms after the edit`);
    assert.ok(took <= 9_500, `took ${took} ms (interval 5 s)`);
    assert.deepEqual(headerValues(r), ['beta']);
    assert.deepEqual(
      r.spec.rules.map((rule) => rule.backendRefs.map((b) => b.weight)),
      weightsBefore,
    );
    assert.equal((await stack.canary(ns)).status?.phase, 'WaitingPromotion');
  });
});
