// End to end on the whole product (test/harness/stack.ts): real apiserver + controller-manager + kwok, a real
// Temporal dev server, a real Prometheus, the real controller process and the real CLIs (kubectl, fledge,
// temporal). Each test has its own namespace; one stack serves the file.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { startStack, type Stack } from '../harness/stack.ts';

let stack: Stack;
before(async () => {
  stack = await startStack({ controllers: 1 });
});
after(async () => {
  await stack?.stop();
});

const NEW_IMAGE = 'ghcr.io/stefanprodan/podinfo:6.0.1';

async function primaryImage(ns: string): Promise<string | undefined> {
  const d = await stack.kubeConfig
    .makeApiClient(k8s.AppsV1Api)
    .readNamespacedDeployment({ name: 'podinfo-primary', namespace: ns });
  return d.spec?.template.spec?.containers[0]?.image;
}

async function routeWeights(ns: string): Promise<[string, number][]> {
  const route = (await stack.kubeConfig.makeApiClient(k8s.CustomObjectsApi).getNamespacedCustomObject({
    group: 'gateway.networking.k8s.io',
    version: 'v1',
    namespace: ns,
    plural: 'httproutes',
    name: 'podinfo',
  })) as { spec: { rules: { backendRefs: { name: string; weight: number }[] }[] } };
  return (route.spec.rules[0]?.backendRefs ?? []).map((b) => [b.name, b.weight]);
}

describe('rollouts', { concurrency: true }, () => {
  it('kubectl set image → Succeeded with the primary on the new image', async () => {
    const ns = await stack.createNamespace('promote');
    await stack.applyPodinfo(ns);
    await stack.kubectl(['set', 'image', '-n', ns, 'deploy/podinfo', `podinfod=${NEW_IMAGE}`]);
    await stack.waitForPhase(ns, 'Progressing');
    const wait = await stack.kubectl([
      'wait',
      '-n',
      ns,
      'canary/podinfo',
      '--for=condition=promoted',
      '--timeout=120s',
    ]);
    assert.match(wait, /condition met/);
    const c = await stack.waitForPhase(ns, 'Succeeded');
    assert.equal(c.status?.lastPromotedSpec, c.status?.lastAppliedSpec);
    assert.equal(await primaryImage(ns), NEW_IMAGE);
    assert.deepEqual(await routeWeights(ns), [
      ['podinfo-primary', 100],
      ['podinfo-canary', 0],
    ]);
  });
});
