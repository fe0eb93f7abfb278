// Real traffic end to end: the whole product (dev/stack.ts) with Traefik as the Gateway API data plane
// (`gateway: 'traefik'`): pods are podinfo work-alikes on their IPs inside the harness's network namespace, and
// every request goes host → loopback forwarder → Traefik → the Service's EndpointSlices → a pod. Traefik, not a
// stand-in, marks the HTTPRoutes fledge writes Accepted and ResolvedRefs, which fledge's readiness gate waits for.
//
// A confirm-traffic-increase webhook served by this file holds the canary at each weight until the split has been
// measured, so each measurement sees one weight. The rollback test's load comes from fledge's load tester (run in
// the namespace, dev/loadtester.ts) through a `hey` rollout webhook, and Prometheus (in the namespace as well)
// scrapes Traefik and the pods.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, createServer, request, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { GATEWAY, startStack, eventually, type Stack } from '../../dev/stack.ts';
import { isLoopback, nonLoopbackListeners } from '../../dev/listeners.ts';
import { TRAEFIK_CONTROLLER_NAME, TRAEFIK_WEB_PORT, traefikServices } from '../../dev/traefik.ts';
import { startNetnsLoadTester, type NetnsLoadTester } from '../../dev/loadtester.ts';
import { NEW_IMAGE, OLD_IMAGE, eventMessages, primaryImage, routeWeights } from './helpers.ts';

let stack: Stack;
let loadtester: NetnsLoadTester;
let gate: HttpServer;
let gateUrl = '';
/** Per namespace: how many more times the gate answers 200 (Infinity: always). */
const allowance = new Map<string, number>();
const agent = new Agent({ keepAlive: true, maxSockets: 8 });

before(async () => {
  gate = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const ns = (JSON.parse(body || '{}') as { namespace?: string }).namespace ?? '';
      const left = allowance.get(ns) ?? 0;
      if (left > 0) allowance.set(ns, left - 1);
      res.writeHead(left > 0 ? 200 : 403).end();
    });
  });
  await new Promise<void>((r) => gate.listen(0, '127.0.0.1', r));
  gateUrl = `http://127.0.0.1:${(gate.address() as AddressInfo).port}/gate`;
  stack = await startStack({ controllers: 1, gateway: 'traefik' });
  loadtester = await startNetnsLoadTester(stack.podNetwork!);
});
after(async () => {
  agent.destroy();
  await loadtester?.stop();
  await stack?.stop();
  await new Promise((r) => gate?.close(r));
});

interface RouteStatus {
  metadata: { generation?: number };
  status?: {
    parents?: {
      controllerName: string;
      conditions?: { type: string; status: string; observedGeneration?: number }[];
    }[];
  };
}

async function route(ns: string): Promise<RouteStatus> {
  return (await stack.kubeConfig.makeApiClient(k8s.CustomObjectsApi).getNamespacedCustomObject({
    group: 'gateway.networking.k8s.io',
    version: 'v1',
    namespace: ns,
    plural: 'httproutes',
    name: 'podinfo',
  })) as RouteStatus;
}

/** Traefik's parent status of the route's current generation: Accepted and ResolvedRefs both True. */
function traefikAccepted(r: RouteStatus): boolean {
  const parents = r.status?.parents ?? [];
  return (
    parents.length > 0 &&
    parents.every(
      (p) =>
        p.controllerName === TRAEFIK_CONTROLLER_NAME &&
        ['Accepted', 'ResolvedRefs'].every((t) =>
          p.conditions?.some(
            (c) => c.type === t && c.status === 'True' && c.observedGeneration === r.metadata.generation,
          ),
        ),
    )
  );
}

/**
 * The weights Traefik routes `ns`'s podinfo route with now, from its API: { primary, canary } (a backend Traefik
 * left out counts 0), or undefined while it has no weighted service for the route or a weighted backend has no
 * endpoint yet.
 */
async function appliedWeights(ns: string): Promise<{ primary: number; canary: number } | undefined> {
  const services = await traefikServices(stack.traefik!);
  // Children are named without the provider suffix the service list carries.
  const byName = new Map(services.map((s) => [s.name.replace(/@.*$/, ''), s]));
  for (const s of services) {
    const children = s.weighted?.services ?? [];
    const weightOf = (svc: string) => children.find((c) => c.name.includes(`${ns}-${svc}-`))?.weight ?? 0;
    if (!children.some((c) => c.name.includes(`${ns}-podinfo-primary-`))) continue;
    const served = children.every(
      (c) => (c.weight ?? 1) === 0 || (byName.get(c.name.replace(/@.*$/, ''))?.loadBalancer?.servers?.length ?? 0) > 0,
    );
    return served ? { primary: weightOf('podinfo-primary'), canary: weightOf('podinfo-canary') } : undefined;
  }
  return undefined;
}

/**
 * One GET of `/` through the gateway with these headers (`host` selects the route: each test's Canary has its
 * own host, so concurrent tests do not share a route); resolves with the answering version or `status <code>`.
 */
function get(headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`${stack.traefik?.url}/`, { agent, headers, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () =>
        resolve(
          res.statusCode === 200 ? (JSON.parse(body) as { version: string }).version : `status ${res.statusCode}`,
        ),
      );
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** Sends `n` GETs through the gateway (8 at a time); counts answers by podinfo version. */
async function split(n: number, headers: Record<string, string>): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const key = await get(headers);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return counts;
}

/** Spec of the stack's podinfo Canary with its own host (the route's hostname). */
function service(host: string): Record<string, unknown> {
  return { service: { port: 9898, targetPort: 9898, gatewayRefs: [{ ...GATEWAY }], hosts: [host] } };
}

describe('real traffic through Traefik', { concurrency: true }, () => {
  it('10→50 canary: at each weight step 1,000 requests split within ±5 points; Traefik accepts every route', async () => {
    const ns = await stack.createNamespace('weights');
    const host = { host: `${ns}.example.com` };
    await stack.applyPodinfo(ns, {
      spec: service(host.host),
      analysis: {
        interval: '2s',
        stepWeight: 10,
        maxWeight: 50,
        webhooks: [{ name: 'hold', type: 'confirm-traffic-increase', url: gateUrl, timeout: '5s' }],
      },
    });
    await eventually('route accepted by Traefik', async () => traefikAccepted(await route(ns)) || undefined);
    await eventually(
      'Traefik routes to the primary',
      async () => (await appliedWeights(ns))?.primary === 100 || undefined,
    ).catch(async (err) => {
      throw new Error(`${err}; Traefik services: ${JSON.stringify(await traefikServices(stack.traefik!))}`);
    });
    // Before the rollout every request reaches the primary (6.0.0).
    assert.deepEqual([...(await split(200, host))], [['6.0.0', 200]]);
    await stack.kubectl(['set', 'image', '-n', ns, 'deploy/podinfo', `podinfod=${NEW_IMAGE}`]);
    await stack.waitForPhase(ns, 'Progressing');
    for (const weight of [10, 20, 30, 40, 50]) {
      allowance.set(ns, 1);
      await eventually(
        `canary weight ${weight} written and accepted by Traefik`,
        async () => {
          const w = new Map(await routeWeights(stack, ns)).get('podinfo-canary');
          return (w === weight && traefikAccepted(await route(ns))) || undefined;
        },
        60_000,
      );
      await eventually(`Traefik routes with canary weight ${weight}`, async () => {
        const applied = await appliedWeights(ns);
        return (applied?.canary === weight && applied.primary === 100 - weight) || undefined;
      });
      const counts = await split(1000, host);
      const canary = counts.get('6.0.1') ?? 0;
      const primary = counts.get('6.0.0') ?? 0;
      assert.equal(canary + primary, 1000, `every request answered by a version: ${JSON.stringify([...counts])}`);
      const share = canary / 10;
      assert.ok(Math.abs(share - weight) <= 5, `weight ${weight}: canary got ${share}% of 1,000 requests`);
    }
    allowance.set(ns, Infinity);
    await stack.waitForPhase(ns, 'Succeeded');
    await eventually('promoted route accepted by Traefik', async () => traefikAccepted(await route(ns)) || undefined);
    // The primary's pods roll to the new version; once Traefik has their endpoints, only 6.0.1 answers.
    await eventually('only the new version answers', async () => {
      const counts = await split(100, host);
      return (counts.get('6.0.1') === 100 && counts.size === 1) || undefined;
    });
  });

  it('A/B: 200 requests with the header or the cookie all reach the canary, 200 without only the primary', async () => {
    const ns = await stack.createNamespace('ab');
    const host = { host: `${ns}.example.com` };
    await stack.applyPodinfo(ns, {
      spec: service(host.host),
      analysis: {
        interval: '2s',
        iterations: 2,
        stepWeight: undefined,
        maxWeight: undefined,
        match: [
          { headers: { 'x-canary': { exact: 'insider' } } },
          { headers: { cookie: { regex: '^(.*?;)?(canary=always)(;.*)?$' } } },
        ],
        webhooks: [{ name: 'hold', type: 'confirm-promotion', url: gateUrl, timeout: '5s' }],
      },
    });
    await stack.kubectl(['set', 'image', '-n', ns, 'deploy/podinfo', `podinfod=${NEW_IMAGE}`]);
    await stack.waitForPhase(ns, 'Progressing');
    await eventually('the A/B route accepted by Traefik', async () => {
      const r = (await route(ns)) as RouteStatus & { spec: { rules: unknown[] } };
      return (r.spec.rules.length >= 2 && traefikAccepted(r)) || undefined;
    });
    // Traefik applies a configuration shortly after it writes the status: wait until a matching request is routed.
    await eventually('Traefik routes the header to the canary', async () =>
      (await get({ ...host, 'x-canary': 'insider' })) === '6.0.1' ? true : undefined,
    );
    assert.deepEqual([...(await split(200, { ...host, 'x-canary': 'insider' }))], [['6.0.1', 200]]);
    assert.deepEqual([...(await split(200, { ...host, cookie: 'canary=always' }))], [['6.0.1', 200]]);
    const plain = await split(200, host);
    assert.deepEqual([...plain], [['6.0.0', 200]], `route: ${JSON.stringify((await route(ns)) as object)}`);
    assert.deepEqual(
      [...(await split(200, { ...host, 'x-canary': 'outsider', cookie: 'canary=never' }))],
      [['6.0.0', 200]],
    );
    allowance.set(ns, Infinity);
    await stack.waitForPhase(ns, 'Succeeded');
  });

  it('nothing of the stack listens on a non-loopback address of the host namespace', async () => {
    assert.ok(isLoopback('127.0.0.1') && isLoopback('[::1]') && !isLoopback('0.0.0.0') && !isLoopback('*'));
    // The gateway answers through its forwarder, so the stack is up with Traefik, relays and pod processes.
    assert.equal((await fetch(`${stack.traefik?.adminUrl}/ping`)).status, 200);
    const ns = await stack.createNamespace('listen');
    await stack.applyPodinfo(ns, { spec: service(`${ns}.example.com`) });
    await eventually('pod processes of the namespace', async () =>
      stack.podRunner?.running().some((k) => k.startsWith(`${ns}/`)) ? true : undefined,
    );
    assert.deepEqual(nonLoopbackListeners(), []);
  });

  it("--random-error pods are rolled back on the 5xx rate Traefik measured of the load tester's hey; Prometheus scrapes the pods", async () => {
    const ns = await stack.createNamespace('errors');
    const host = { host: `${ns}.example.com` };
    // A MetricTemplate over Traefik's own series, as a Traefik user writes it: the canary Service's 5xx share.
    // `or on() vector(0)`: before the canary has traffic there is no series; that is not an error.
    const selector = 'service=~"{{ namespace }}-{{ target }}-canary-.*"';
    await stack.kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'flagger.app/v1beta1',
        kind: 'MetricTemplate',
        metadata: { name: 'traefik-error-rate', namespace: ns },
        spec: {
          provider: { type: 'prometheus', address: stack.prometheus.url },
          query:
            `(sum(rate(traefik_service_requests_total{${selector},code=~"5.."}[{{ interval }}])) / ` +
            `sum(rate(traefik_service_requests_total{${selector}}[{{ interval }}])) * 100) or on() vector(0)`,
        },
      }),
    );
    await stack.applyPodinfo(ns, {
      spec: service(host.host),
      analysis: {
        interval: '3s',
        threshold: 1,
        stepWeight: 10,
        maxWeight: 50,
        metrics: [
          {
            name: 'error-rate',
            templateRef: { name: 'traefik-error-rate' },
            interval: '10s',
            thresholdRange: { max: 5 },
          },
        ],
        // The only load of the rollout, as a Flagger user writes it for a gateway: the load tester runs `hey`
        // against the Gateway's address with the route's host (the load tester runs beside Traefik, in the
        // namespace), 2 workers × 10 requests a second.
        webhooks: [
          {
            name: 'load-test',
            type: 'rollout',
            url: `${loadtester.url}/`,
            timeout: '5s',
            metadata: { cmd: `hey -z 1m -q 10 -c 2 -host ${host.host} http://127.0.0.1:${TRAEFIK_WEB_PORT}/` },
          },
        ],
      },
    });
    // The new version and podinfo's --random-error flag, in one change of the pod template.
    const container = {
      name: 'podinfod',
      image: NEW_IMAGE,
      command: ['./podinfo', '--port=9898', '--port-metrics=9797', '--random-error=true'],
    };
    await stack.kubectl([
      'patch',
      '-n',
      ns,
      'deploy/podinfo',
      '--type=strategic',
      '-p',
      JSON.stringify({ spec: { template: { spec: { containers: [container] } } } }),
    ]);
    const canary = await stack.waitForPhase(ns, 'Failed', { timeoutMs: 120_000 });
    assert.equal(canary.status?.canaryWeight, 0);
    assert.equal(await primaryImage(stack, ns), OLD_IMAGE, 'the primary still runs the old version');
    // The events of a tick are written beside its status, not before it: wait for the rollback's.
    const messages = await eventually('the Canary failed! event', async () => {
      const m = await eventMessages(stack, ns);
      return m.some((e) => e.startsWith('Canary failed!')) ? m : undefined;
    });
    const halt = messages
      .map((m) => /^Halt podinfo\.\S+ advancement error-rate (\d+\.\d\d) > 5$/.exec(m))
      .find(Boolean);
    assert.ok(halt, `a Warning with the measured error rate:\n${messages.join('\n')}`);
    const rate = Number(halt[1]);
    // podinfo --random-error fails each request with probability 1/3, independently. The check that halts is the
    // first one above the threshold, and at weight 10 the canary gets about two of hey's requests a second, so its
    // rate() covers a handful of requests (Prometheus also drops the first increment of a 5xx series born inside
    // the window): a share of such a small sample can be anywhere up to 100 %, so above the threshold (the halt
    // proves it) and a valid percentage is all the measurement supports. That the 5xx came from the canary pods,
    // and none from the primary, is asserted on the pods' own counters below.
    assert.ok(rate > 5 && rate <= 100, `measured error rate ${rate}%`);
    // Prometheus scraped the pods themselves (discovered through the apiserver, on their IPs): podinfo's own
    // request counters, labelled with namespace and pod, show the canary pods' 5xx and the primary's none.
    const pods = await podRequests(ns);
    const canaryPod = /^podinfo-[0-9a-z]+-[0-9a-z]+$/;
    const errorsOf = (re: RegExp) =>
      pods.filter((p) => re.test(p.pod) && p.status === '500').reduce((n, p) => n + p.value, 0);
    assert.ok(errorsOf(canaryPod) > 0, `canary pods' 5xx in Prometheus: ${JSON.stringify(pods)}`);
    assert.equal(errorsOf(/^podinfo-primary-/), 0, JSON.stringify(pods));
    assert.ok(
      pods.some((p) => p.pod.startsWith('podinfo-primary-') && p.status === '200' && p.value > 0),
      `primary pods' requests in Prometheus: ${JSON.stringify(pods)}`,
    );
    // After the rollback every request reaches the primary again, which still runs the old version.
    await eventually('only the old version answers', async () => {
      const counts = await split(50, host);
      return (counts.get('6.0.0') === 50 && counts.size === 1) || undefined;
    });
  });
});

/**
 * podinfo's `http_requests_total` of `ns`'s pods as Prometheus last scraped them in the past 10 minutes (pods
 * that are gone included): one entry per pod and status code.
 */
async function podRequests(ns: string): Promise<{ pod: string; status: string; value: number }[]> {
  const query = `last_over_time(http_requests_total{kubernetes_namespace="${ns}"}[10m])`;
  const res = await fetch(`${stack.prometheus.url}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = (await res.json()) as {
    data?: { result?: { metric: Record<string, string>; value: [number, string] }[] };
  };
  return (body.data?.result ?? []).map((r) => ({
    pod: r.metric.kubernetes_pod_name ?? '',
    status: r.metric.status ?? '',
    value: Number(r.value[1]),
  }));
}
