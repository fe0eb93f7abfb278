// Shared by the chaos scenarios (test/chaos/*.chaos.ts, run by test/chaos/main.ts through scripts/chaos.sh): a
// seeded random source, a watch that records every weight the HTTPRoutes take, and lanes that run one rollout after
// another on the podinfo fixture of the stack (dev/stack.ts).
import * as k8s from '@kubernetes/client-node';
import { waitFor } from '../../dev/cluster.ts';
import type { CanaryObject, PodinfoOptions, Stack } from '../../dev/stack.ts';
import { canaryEvents, primaryImage, routeWeights, type CanaryEvent } from '../e2e/helpers.ts';

/** What one scenario reports for the summary table (and docs/reliability.md). */
export interface ScenarioResult {
  scenario: string;
  runs: number;
  passed: number;
  ms: number;
  /** One line per failed run: what differed. */
  failures: string[];
  /** Figures worth printing under the table (kills, restarts, slowest run …). */
  notes: string[];
}

export interface ChaosContext {
  stack: Stack;
  routes: RouteRecorder;
  /** Uniform in [0, 1), from the seed. */
  random: () => number;
  /** Unix ms after which a scenario starts no new run. */
  deadline: number;
  /** Prints one progress line. */
  log: (line: string) => void;
}

/** mulberry32: a small, well-mixed 32-bit PRNG, so a seed reproduces the kill schedule of a run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface RouteObject {
  metadata: { namespace: string; name: string; resourceVersion: string };
  spec?: { rules?: { backendRefs?: { name: string; weight?: number }[] }[] };
}

/** `primary/canary` weights of the first rule of a podinfo HTTPRoute, e.g. `90/10`. */
function weightsOf(route: RouteObject): string | undefined {
  const refs = route.spec?.rules?.[0]?.backendRefs ?? [];
  const p = refs.find((r) => r.name.endsWith('-primary'))?.weight;
  const c = refs.find((r) => r.name.endsWith('-canary'))?.weight;
  return p === undefined && c === undefined ? undefined : `${p ?? 0}/${c ?? 0}`;
}

/**
 * Every weight each `podinfo` HTTPRoute takes, from a watch on all namespaces (no polling gap can hide a step),
 * consecutive duplicates dropped. A broken watch is resumed from the last resourceVersion seen.
 */
export class RouteRecorder {
  private readonly seen = new Map<string, string[]>();
  private resourceVersion = '';
  private stopped = false;
  private request: { abort(): void } | undefined;
  private readonly kc: k8s.KubeConfig;
  private constructor(kc: k8s.KubeConfig) {
    this.kc = kc;
  }

  static async start(kc: k8s.KubeConfig): Promise<RouteRecorder> {
    const r = new RouteRecorder(kc);
    const list = (await kc.makeApiClient(k8s.CustomObjectsApi).listClusterCustomObject({
      group: 'gateway.networking.k8s.io',
      version: 'v1',
      plural: 'httproutes',
    })) as { metadata: { resourceVersion: string }; items: RouteObject[] };
    for (const item of list.items) r.record(item);
    r.resourceVersion = list.metadata.resourceVersion;
    await r.watch();
    return r;
  }

  private record(route: RouteObject): void {
    if (route.metadata.name !== 'podinfo') return;
    const w = weightsOf(route);
    if (w === undefined) return;
    const list = this.seen.get(route.metadata.namespace) ?? [];
    if (list.at(-1) !== w) list.push(w);
    this.seen.set(route.metadata.namespace, list);
  }

  private async watch(): Promise<void> {
    const resume = () => {
      if (!this.stopped) setTimeout(() => void this.watch().catch(resume), 200);
    };
    this.request = await new k8s.Watch(this.kc).watch(
      '/apis/gateway.networking.k8s.io/v1/httproutes',
      { resourceVersion: this.resourceVersion, allowWatchBookmarks: true },
      (type: string, obj: RouteObject) => {
        if (obj?.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
        if (type === 'ADDED' || type === 'MODIFIED') this.record(obj);
      },
      () => resume(),
    );
  }

  /** Position to read a rollout's sequence from: the weights in force now are its first entry. */
  mark(namespace: string): number {
    return Math.max(0, (this.seen.get(namespace)?.length ?? 0) - 1);
  }

  /** The weights since `mark`, deduplicated. */
  since(namespace: string, mark: number): string[] {
    return (this.seen.get(namespace) ?? []).slice(mark);
  }

  last(namespace: string): string | undefined {
    return this.seen.get(namespace)?.at(-1);
  }

  stop(): void {
    this.stopped = true;
    this.request?.abort();
  }
}

/** What a rollout is compared on: the route sequence and the final state. */
export interface RolloutObservation {
  routes: string[];
  phase: string;
  /** `new` when the primary runs the image the rollout set, else the image it runs. */
  primary: string;
  /** Final weights of the HTTPRoute, `primary/canary`. */
  weights: string;
  failedChecks: number;
  ms: number;
  events: CanaryEvent[];
}

/** The comparable part of an observation, as one line. */
export function outcomeKey(o: RolloutObservation): string {
  return `routes ${o.routes.join(' → ')}; ${o.phase}, primary ${o.primary}, weights ${o.weights}`;
}

/** Creates a namespace with podinfo and its Canary (Initialized, traffic converged); the lane rolls out there. */
export async function setUpLane(stack: Stack, prefix: string, opts: PodinfoOptions): Promise<string> {
  const ns = await stack.createNamespace(prefix);
  await stack.applyPodinfo(ns, opts);
  return ns;
}

/**
 * One rollout: `kubectl set image` to `image`, then waits for the end (Succeeded with that image on the primary,
 * or Failed) and for the route watch to have seen the final weights. Rejects after `timeoutMs`.
 */
export async function rollOut(
  stack: Stack,
  routes: RouteRecorder,
  ns: string,
  image: string,
  timeoutMs: number,
): Promise<RolloutObservation> {
  const start = Date.now();
  const mark = routes.mark(ns);
  await stack.kubectl(['set', 'image', '-n', ns, 'deploy/podinfo', `podinfod=${image}`]);
  let last: CanaryObject | undefined;
  let primary: string | undefined;
  try {
    await waitFor(
      async () => {
        last = await stack.canary(ns);
        const phase = last.status?.phase;
        if (phase === 'Failed') return true;
        if (phase !== 'Succeeded') return false;
        primary = await primaryImage(stack, ns);
        return primary === image;
      },
      `${ns}: rollout of ${image}`,
      timeoutMs,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; status ${JSON.stringify(last?.status)}`, { cause: err });
  }
  primary ??= await primaryImage(stack, ns);
  const now = await routeWeights(stack, ns);
  const weightOf = (suffix: string) => now.find(([name]) => name.endsWith(suffix))?.[1] ?? 0;
  const weights = `${weightOf('-primary')}/${weightOf('-canary')}`;
  await waitFor(async () => routes.last(ns) === weights, `${ns}: route watch at ${weights}`, 30_000);
  return {
    routes: routes.since(ns, mark),
    phase: last?.status?.phase ?? '?',
    primary: primary === image ? 'new' : (primary ?? '?'),
    weights,
    failedChecks: last?.status?.failedChecks ?? 0,
    ms: Date.now() - start,
    events: await canaryEvents(stack, ns),
  };
}

/** `podinfo:6.0.<n>`-style tags, distinct per rollout of a lane. */
export function imageFor(n: number): string {
  return `ghcr.io/stefanprodan/podinfo:6.1.${n}`;
}

/** Median and maximum of durations in ms, as `12.3 s / 45.6 s`. */
export function medianMax(ms: number[]): string {
  if (ms.length === 0) return '-';
  const s = [...ms].sort((a, b) => a - b);
  const median = s[Math.floor((s.length - 1) / 2)]!;
  return `${(median / 1000).toFixed(1)} s / ${(s.at(-1)! / 1000).toFixed(1)} s`;
}
