// Shared fixtures of the Kubernetes integration tests: the podinfo Deployment and HPA of Flagger's kustomize
// example, a Canary for it, and small helpers around the activities.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import * as k8s from '@kubernetes/client-node';
import YAML from 'yaml';
import { podinfoFixtureDir } from '../../dev/fixtures.ts';

export const PODINFO_DIR = podinfoFixtureDir();
export const quietLog = pino({ level: process.env.FLEDGE_TEST_LOG ?? 'silent' });

export function podinfoDeployment(): k8s.V1Deployment {
  return YAML.parse(readFileSync(join(PODINFO_DIR, 'deployment.yaml'), 'utf8')) as k8s.V1Deployment;
}

export function podinfoHpa(): k8s.V2HorizontalPodAutoscaler {
  return YAML.parse(readFileSync(join(PODINFO_DIR, 'hpa.yaml'), 'utf8')) as k8s.V2HorizontalPodAutoscaler;
}

export function canaryManifest(namespace: string, spec: Record<string, unknown> = {}, name = 'podinfo'): object {
  return {
    apiVersion: 'flagger.app/v1beta1',
    kind: 'Canary',
    metadata: { name, namespace },
    spec: {
      provider: 'kubernetes',
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' },
      progressDeadlineSeconds: 60,
      service: { port: 9898, portDiscovery: true },
      analysis: { interval: '10s', threshold: 2, iterations: 2 },
      ...spec,
    },
  };
}

export function kubeClients(kc: k8s.KubeConfig) {
  return {
    apps: kc.makeApiClient(k8s.AppsV1Api),
    core: kc.makeApiClient(k8s.CoreV1Api),
    autoscaling: kc.makeApiClient(k8s.AutoscalingV2Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
  };
}

export async function readCanaryObject(kc: k8s.KubeConfig, namespace: string, name = 'podinfo') {
  return (await kc.makeApiClient(k8s.CustomObjectsApi).getNamespacedCustomObject({
    group: 'flagger.app',
    version: 'v1beta1',
    namespace,
    plural: 'canaries',
    name,
  })) as {
    metadata: { resourceVersion: string; annotations?: Record<string, string>; finalizers?: string[] };
    status?: Record<string, unknown> & {
      conditions?: { type: string; status: string; reason: string; message?: string }[];
    };
  };
}

export async function createCanary(kc: k8s.KubeConfig, manifest: object): Promise<void> {
  const m = manifest as { metadata: { namespace: string } };
  await kc.makeApiClient(k8s.CustomObjectsApi).createNamespacedCustomObject({
    group: 'flagger.app',
    version: 'v1beta1',
    namespace: m.metadata.namespace,
    plural: 'canaries',
    body: manifest,
  });
}

export async function syncedEvents(kc: k8s.KubeConfig, namespace: string): Promise<k8s.CoreV1Event[]> {
  const list = await kc.makeApiClient(k8s.CoreV1Api).listNamespacedEvent({ namespace, fieldSelector: 'reason=Synced' });
  return list.items;
}
