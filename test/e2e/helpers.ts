// Reads of the world the end-to-end tests assert on: the primary's image, the HTTPRoute's weights, the Canary's
// Events, and the Flagger weight gauge of a controller's /metrics.
import * as k8s from '@kubernetes/client-node';
import type { Stack } from '../../dev/stack.ts';

/** The image the podinfo fixture starts with, and the one the tests roll out. */
export const OLD_IMAGE = 'ghcr.io/stefanprodan/podinfo:6.0.0';
export const NEW_IMAGE = 'ghcr.io/stefanprodan/podinfo:6.0.1';

export async function deployment(stack: Stack, ns: string, name: string): Promise<k8s.V1Deployment> {
  return stack.kubeConfig.makeApiClient(k8s.AppsV1Api).readNamespacedDeployment({ name, namespace: ns });
}

export async function primaryImage(stack: Stack, ns: string): Promise<string | undefined> {
  return (await deployment(stack, ns, 'podinfo-primary')).spec?.template.spec?.containers[0]?.image;
}

/** [backend, weight] of the first rule of the podinfo HTTPRoute. */
export async function routeWeights(stack: Stack, ns: string): Promise<[string, number][]> {
  const route = (await stack.kubeConfig.makeApiClient(k8s.CustomObjectsApi).getNamespacedCustomObject({
    group: 'gateway.networking.k8s.io',
    version: 'v1',
    namespace: ns,
    plural: 'httproutes',
    name: 'podinfo',
  })) as { spec: { rules: { backendRefs: { name: string; weight: number }[] }[] } };
  return (route.spec.rules[0]?.backendRefs ?? []).map((b) => [b.name, b.weight]);
}

export const ALL_PRIMARY: [string, number][] = [
  ['podinfo-primary', 100],
  ['podinfo-canary', 0],
];

export interface CanaryEvent {
  name: string;
  message: string;
  type: string;
  count: number;
}

/**
 * The Canary's `Synced` Events in the order they were emitted: by time, then by the sequence number the
 * controller puts in each name (`<canary>.<run id>.<sequence>`; timestamps have one-second resolution).
 */
export async function canaryEvents(stack: Stack, ns: string, name = 'podinfo'): Promise<CanaryEvent[]> {
  const list = await stack.kubeConfig
    .makeApiClient(k8s.CoreV1Api)
    .listNamespacedEvent({ namespace: ns, fieldSelector: `reason=Synced,involvedObject.name=${name}` });
  const seq = (e: k8s.CoreV1Event) => Number(/\.(\d+)$/.exec(e.metadata?.name ?? '')?.[1] ?? 0);
  const time = (e: k8s.CoreV1Event) => new Date(e.firstTimestamp ?? e.eventTime ?? 0).getTime();
  return list.items
    .sort((a, b) => time(a) - time(b) || seq(a) - seq(b))
    .map((e) => ({
      name: e.metadata?.name ?? '',
      message: e.message ?? '',
      type: e.type ?? '',
      count: e.count ?? 1,
    }));
}

export async function eventMessages(stack: Stack, ns: string): Promise<string[]> {
  return (await canaryEvents(stack, ns)).map((e) => e.message);
}

/** flagger_canary_weight of one workload, from the Prometheus text of a controller's /metrics. */
export function weightGauge(metricsText: string, ns: string, workload: string): number | undefined {
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith('flagger_canary_weight{')) continue;
    if (!line.includes(`workload="${workload}"`) || !line.includes(`namespace="${ns}"`)) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

/**
 * Reads a value every `everyMs` until stop() and keeps each change, in order. The sampler never keeps the test
 * process alive: its timer is unref'd and it ends by itself after `maxMs`, so a test that fails before calling
 * stop() cannot leave its file running (the runner waits for every test file's process to exit).
 */
export function sampleChanges<T>(
  read: () => Promise<T | undefined>,
  { everyMs = 200, maxMs = 600_000 }: { everyMs?: number; maxMs?: number } = {},
): { stop(): Promise<T[]> } {
  const seen: T[] = [];
  let running = true;
  const until = Date.now() + maxMs;
  const loop = (async () => {
    while (running && Date.now() < until) {
      const v = await read().catch(() => undefined);
      if (v !== undefined && seen.at(-1) !== v) seen.push(v);
      await new Promise((r) => setTimeout(r, everyMs).unref());
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return seen;
    },
  };
}

/** Scrapes controller `i`'s weight gauge of `ns`/podinfo every 200 ms until stopped; keeps each change. */
export function recordWeights(stack: Stack, ns: string, i = 0): { stop(): Promise<number[]> } {
  return sampleChanges(async () => weightGauge(await stack.controllerMetrics(i), ns, 'podinfo'));
}
