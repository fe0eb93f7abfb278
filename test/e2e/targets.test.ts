// End to end (dev/stack.ts, with KEDA's ScaledObject CRD installed) for the targets beyond a plain Deployment:
// a Canary whose targetRef is a core Service (Flagger's ServiceController: copies only) and a Canary whose
// autoscalerRef is a KEDA ScaledObject. Both roll out through the real controller, watcher and workflow to
// Succeeded; the `-primary` copies fledge writes are read back from the apiserver.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { startStack, type Stack } from '../../dev/stack.ts';
import { kedaCrdFiles } from '../../dev/fixtures.ts';
import { ALL_PRIMARY, NEW_IMAGE, primaryImage, routeWeights, sampleChanges } from './helpers.ts';
import type { ScaledObject } from '../../activities/kubernetes/scaledobject.ts';

let stack: Stack;
before(async () => {
  stack = await startStack({ controllers: 1, crds: kedaCrdFiles() });
});
after(async () => {
  await stack?.stop();
});

const PAUSED = 'autoscaling.keda.sh/paused-replicas';

async function service(ns: string, name: string): Promise<k8s.V1Service> {
  return stack.kubeConfig.makeApiClient(k8s.CoreV1Api).readNamespacedService({ name, namespace: ns });
}

async function scaledObject(ns: string, name: string): Promise<ScaledObject> {
  return (await stack.kubeConfig.makeApiClient(k8s.CustomObjectsApi).getNamespacedCustomObject({
    group: 'keda.sh',
    version: 'v1alpha1',
    namespace: ns,
    plural: 'scaledobjects',
    name,
  })) as ScaledObject;
}

describe('Service and KEDA targets end to end', { concurrency: true }, () => {
  it('targetRef kind Service: -canary and -primary copies, a selector change promoted to the primary', async () => {
    const ns = await stack.createNamespace('svc');
    await stack.kubectl(
      ['apply', '-n', ns, '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'podinfo', labels: { team: 'a' } },
        spec: { selector: { app: 'podinfo' }, ports: [{ name: 'http', port: 9898, targetPort: 9898 }] },
      }),
    );
    await stack.applyPodinfo(ns, {
      spec: { targetRef: { apiVersion: 'v1', kind: 'Service', name: 'podinfo' }, autoscalerRef: undefined },
    });
    const target = await service(ns, 'podinfo');
    const primary = await service(ns, 'podinfo-primary');
    const canary = await service(ns, 'podinfo-canary');
    for (const copy of [primary, canary]) {
      assert.deepEqual(copy.spec?.selector, { app: 'podinfo' });
      assert.equal(copy.metadata?.ownerReferences?.[0]?.kind, 'Canary');
      assert.equal(copy.metadata?.labels?.team, 'a');
      assert.notEqual(copy.spec?.clusterIP, target.spec?.clusterIP, 'a copy has its own cluster IP');
    }
    // The target Service is the user's: fledge generated nothing over it and did not adopt it.
    assert.deepEqual(target.spec?.selector, { app: 'podinfo' });
    assert.equal(target.metadata?.ownerReferences, undefined);
    // A Service target is not scaled: no -primary Deployment.
    await assert.rejects(primaryImage(stack, ns), /404|not found/i);

    await stack.kubectl([
      'patch',
      '-n',
      ns,
      'service/podinfo',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { selector: { app: 'podinfo', track: 'v2' } } }),
    ]);
    await stack.waitForPhase(ns, 'Progressing');
    assert.deepEqual((await service(ns, 'podinfo-canary')).spec?.selector, { app: 'podinfo', track: 'v2' });
    assert.deepEqual((await service(ns, 'podinfo-primary')).spec?.selector, { app: 'podinfo' }, 'not yet');
    const done = await stack.waitForPhase(ns, 'Succeeded', { timeoutMs: 180_000 });
    const promoted = await service(ns, 'podinfo-primary');
    assert.deepEqual(promoted.spec?.selector, { app: 'podinfo', track: 'v2' });
    assert.equal(promoted.spec?.clusterIP, primary.spec?.clusterIP, 'the primary keeps its cluster IP');
    assert.equal(promoted.metadata?.ownerReferences?.[0]?.kind, 'Canary');
    assert.equal(done.status?.lastPromotedSpec, done.status?.lastAppliedSpec);
    assert.deepEqual(await routeWeights(stack, ns), ALL_PRIMARY);
  });

  it('autoscalerRef kind ScaledObject: a -primary ScaledObject on the primary, the target paused between rollouts', async () => {
    const ns = await stack.createNamespace('keda');
    const query = 'sum(rate(http_requests_total{deployment="podinfo"}[1m]))';
    await stack.kubectl(
      ['apply', '-n', ns, '-f', '-'],
      JSON.stringify({
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        metadata: { name: 'podinfo-so' },
        spec: {
          scaleTargetRef: { name: 'podinfo' },
          minReplicaCount: 1,
          maxReplicaCount: 3,
          triggers: [
            { type: 'prometheus', name: 'rps', metadata: { serverAddress: 'http://p:9090', query, threshold: '5' } },
          ],
        },
      }),
    );
    await stack.applyPodinfo(ns, {
      spec: { autoscalerRef: { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', name: 'podinfo-so' } },
    });
    const primary = await scaledObject(ns, 'podinfo-so-primary');
    assert.equal(primary.spec?.scaleTargetRef?.name, 'podinfo-primary');
    assert.equal(primary.spec?.triggers?.[0]?.metadata?.query, query.replace('"podinfo"', '"podinfo-primary"'));
    assert.equal(primary.spec?.maxReplicaCount, 3);
    assert.equal(primary.metadata?.annotations?.[PAUSED], undefined, 'the primary keeps scaling');
    assert.equal((await scaledObject(ns, 'podinfo-so')).metadata?.annotations?.[PAUSED], '0', 'canary paused');

    // A change of the target's ScaledObject reaches the primary's at the next promotion.
    await stack.kubectl([
      'patch',
      '-n',
      ns,
      'scaledobject/podinfo-so',
      '--type=merge',
      '-p',
      '{"spec":{"maxReplicaCount":4}}',
    ]);
    const paused = sampleChanges(
      async () => (await scaledObject(ns, 'podinfo-so')).metadata?.annotations?.[PAUSED] ?? 'none',
      {
        everyMs: 100,
      },
    );
    await stack.kubectl(['set', 'image', '-n', ns, 'deploy/podinfo', `podinfod=${NEW_IMAGE}`]);
    await stack.waitForPhase(ns, 'Succeeded', { timeoutMs: 180_000 });
    const seen = await paused.stop();
    // Resumed for the analysis (KEDA may scale the canary), paused again once the canary is scaled to zero.
    assert.deepEqual(seen.slice(0, 2), ['0', 'none'], `paused annotation over the rollout: ${seen.join(' → ')}`);
    assert.equal((await scaledObject(ns, 'podinfo-so')).metadata?.annotations?.[PAUSED], '0');
    assert.equal(await primaryImage(stack, ns), NEW_IMAGE);
    const promoted = await scaledObject(ns, 'podinfo-so-primary');
    assert.equal(promoted.spec?.scaleTargetRef?.name, 'podinfo-primary');
    assert.equal(promoted.spec?.maxReplicaCount, 4);
  });

  it('targetRef kind Service with the kubernetes provider: blue/green copies only, the target Service untouched', async () => {
    const ns = await stack.createNamespace('svc-k8s');
    const spec = { selector: { app: 'podinfo' }, ports: [{ name: 'http', port: 9898, targetPort: 9898 }] };
    await stack.kubectl(
      ['apply', '-n', ns, '-f', '-'],
      JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'podinfo' }, spec }),
    );
    await stack.applyPodinfo(ns, {
      analysis: { iterations: 2, stepWeight: undefined, maxWeight: undefined, metrics: [] },
      spec: {
        provider: 'kubernetes',
        service: { port: 9898 },
        targetRef: { apiVersion: 'v1', kind: 'Service', name: 'podinfo' },
        autoscalerRef: undefined,
      },
    });
    const selector = JSON.stringify({ spec: { selector: { app: 'podinfo', track: 'v2' } } });
    await stack.kubectl(['patch', '-n', ns, 'service/podinfo', '--type=merge', '-p', selector]);
    await stack.waitForPhase(ns, 'Progressing');
    const done = await stack.waitForPhase(ns, 'Succeeded', { timeoutMs: 120_000 });
    assert.equal(done.status?.canaryWeight, 0);
    assert.deepEqual((await service(ns, 'podinfo-primary')).spec?.selector, { app: 'podinfo', track: 'v2' });
    const target = await service(ns, 'podinfo');
    assert.deepEqual(target.spec?.selector, { app: 'podinfo', track: 'v2' }, 'the selector the user set');
    assert.equal(target.metadata?.annotations?.['fledge.app/primary-selector'], undefined);
    assert.equal(target.metadata?.ownerReferences, undefined);
  });
});
