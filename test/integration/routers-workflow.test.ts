// The real routes activities inside a real rollout workflow: Temporal dev server, bundled workflow, in-process
// worker, a real kube-apiserver with the Gateway API CRDs, and a stand-in gateway controller that accepts every
// route generation. Workloads, metrics and status stay scripted. The HTTPRoute weights stored in the apiserver
// are recorded after every step.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import type { HTTPRoute } from '../../activities/routers/httproute.ts';
import {
  NAMESPACE,
  canaryRaw,
  runToEnd,
  seedInitialized,
  startRollout,
  waitUntil,
  type TestEnv,
} from '../workflow/env.ts';
import { GATEWAY_REFS_REQUIRED } from '../../api/canary.ts';
import { acceptHttpRoutes, isNotFound, routerHarness } from './router-harness.ts';

const harness = routerHarness('routers');
/** Weights of the stored HTTPRoute after every setRoutes, per canary: "80/20", "100/0m" (mirrored). */
const { stored, describers } = harness;
let custom: k8s.CustomObjectsApi;
let env: TestEnv;
/** What a gateway controller does: accept each new generation of every route through the status subresource. */
let gateway: { stop(): Promise<void> } | undefined;

const HTTPROUTES = { group: 'gateway.networking.k8s.io', version: 'v1', namespace: NAMESPACE, plural: 'httproutes' };

async function readRoute(name: string): Promise<HTTPRoute> {
  return (await custom.getNamespacedCustomObject({ ...HTTPROUTES, name })) as HTTPRoute;
}

function describeRoute(route: HTTPRoute, name: string): string {
  const rule = route.spec.rules[0];
  const weight = (svc: string) => rule?.backendRefs.find((b) => b.name === svc)?.weight;
  const mirrored = rule?.filters?.some((f) => f.type === 'RequestMirror') ? 'm' : '';
  return `${weight(`${name}-primary`)}/${weight(`${name}-canary`)}${mirrored}`;
}

before(async () => {
  await harness.start();
  ({ custom, env } = harness);
  gateway = acceptHttpRoutes(custom, 'example.com/gateway-controller');
});

after(async () => {
  await gateway?.stop();
  await harness.stop();
});

/** Stores the Canary; its HTTPRoute's weights are recorded after every setRoutes. */
async function createCanary(raw: Record<string, unknown>): Promise<void> {
  const { name } = raw.metadata as { name: string };
  describers.set(name, async () => describeRoute(await readRoute(name), name));
  await harness.createCanary(raw);
}

describe('Gateway API routes in a real workflow run', { concurrency: true }, () => {
  it('a weighted canary walks the HTTPRoute to max weight and ends Succeeded at 100/0', async () => {
    const name = 'gw-canary';
    const raw = canaryRaw(name, { interval: '300ms', stepWeight: 20, maxWeight: 60 });
    await createCanary(raw);
    seedInitialized(env, { raw });
    const { result } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(stored.get(name), ['80/20', '60/40', '40/60', '100/0']);
    assert.equal(describeRoute(await readRoute(name), name), '100/0');
  });

  it('a mirrored canary records the mirror step and moves on (Flagger stalls at weight 0)', async () => {
    const name = 'gw-mirror';
    const raw = canaryRaw(name, { interval: '300ms', stepWeight: 50, maxWeight: 50, mirror: true });
    await createCanary(raw);
    seedInitialized(env, { raw });
    const { result } = await runToEnd(env, name);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(stored.get(name), ['100/0m', '50/50', '100/0']);
  });

  it("a gatewayapi:v1 canary without gatewayRefs gets Flagger's error text as an event, and no route", async () => {
    const name = 'gw-norefs';
    const raw = canaryRaw(name, { interval: '300ms', stepWeight: 50 }, { service: { port: 80 } });
    await createCanary(raw);
    const world = seedInitialized(env, { raw });
    const handle = await startRollout(env, name);
    await waitUntil('the invalid-spec event', () =>
      world.log.events.some((e) => e.type === 'Warning' && e.message.includes(GATEWAY_REFS_REQUIRED)),
    );
    await handle.terminate('test done');
    await assert.rejects(readRoute(name), isNotFound);
  });
});
