// Kubernetes pieces shared by the benchmarks on the dev stack (bench/rollout.ts, bench/side-by-side.ts): the podinfo
// Deployment renamed per canary, the Gateway API Canary, `kubectl set image`, and a watch that timestamps what the
// apiserver shows (route weights, Canary phases and failed checks, target replicas).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import YAML from 'yaml';
import { GATEWAY, PODINFO_DIR, podinfoCanary, type Stack } from '../dev/stack.ts';

export const now = () => performance.now();
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let imageSeq = 0;
/** A new podinfo image tag each call. */
export const nextImage = () => `ghcr.io/stefanprodan/podinfo:6.${Math.floor(++imageSeq / 100)}.${imageSeq % 100}`;

/** podinfo renamed (labels and selector too, so several live in one namespace), without its HPA. */
export function deployment(name: string, minReadySeconds: number): k8s.V1Deployment {
  const d = YAML.parse(readFileSync(join(PODINFO_DIR, 'deployment.yaml'), 'utf8')) as k8s.V1Deployment;
  d.metadata = { ...d.metadata, name, labels: { app: name } };
  d.spec!.minReadySeconds = minReadySeconds;
  d.spec!.replicas = 1;
  d.spec!.selector = { matchLabels: { app: name } };
  d.spec!.template.metadata = { ...d.spec!.template.metadata, labels: { app: name } };
  return d;
}

/** Creates the Deployment and the stack's Gateway API Canary (no autoscaler) with `analysis` merged in. */
export async function applyCanary(
  stack: Stack,
  namespace: string,
  name: string,
  opts: { analysis: Record<string, unknown>; minReadySeconds: number; spec?: Record<string, unknown> },
): Promise<void> {
  stack.metrics.set(namespace, name, {});
  await stack.kubeConfig
    .makeApiClient(k8s.AppsV1Api)
    .createNamespacedDeployment({ namespace, body: deployment(name, opts.minReadySeconds) });
  const canary = podinfoCanary(namespace, { name, analysis: opts.analysis, spec: opts.spec }) as {
    spec: Record<string, unknown>;
  };
  delete canary.spec.autoscalerRef;
  await stack.kubectl(['apply', '-f', '-'], JSON.stringify(canary));
}

/**
 * The stack's gateway as a fully spelled-out parentRef. Flagger v1.44 compares its desired HTTPRoute with the stored
 * one without the apiserver's defaults: a parentRef without `group` and `kind` differs on every reconcile, so it
 * rewrites the route each tick, resetting the weights to 100/0, and never gets past the first step.
 */
export const FULL_GATEWAY_REF = { group: 'gateway.networking.k8s.io', kind: 'Gateway', ...GATEWAY };

/** What `kubectl set image` sends: a JSON patch of the first container's image. */
export async function setImage(stack: Stack, namespace: string, name: string, image: string): Promise<void> {
  await stack.kubeConfig.makeApiClient(k8s.AppsV1Api).patchNamespacedDeployment(
    {
      namespace,
      name,
      body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: image }],
    },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
  );
}

interface RouteObj {
  metadata: { name: string };
  spec?: { rules?: { backendRefs?: { name: string; weight?: number }[] }[] };
}
export interface CanaryObj {
  metadata: { name: string; namespace: string };
  status?: { phase?: string; failedChecks?: number };
}
interface DeploymentObj {
  metadata: { name: string };
  spec?: { replicas?: number };
}

/** Watches a namespace's HTTPRoutes, Canaries and Deployments; callers wait for a predicate on what was seen. */
export class NamespaceWatch {
  private waiters: { check: () => boolean }[] = [];
  /** route name → [time, canary weight] of every change. */
  readonly weights = new Map<string, [number, number][]>();
  /** canary name → [time, phase] of every change. */
  readonly phases = new Map<string, [number, string][]>();
  /** canary name → [time, failedChecks] of every change. */
  readonly failedChecks = new Map<string, [number, number][]>();
  /** deployment name → [time, spec.replicas] of every change. */
  readonly replicas = new Map<string, [number, number][]>();
  private aborts: AbortController[] = [];

  private readonly kc: k8s.KubeConfig;
  private readonly namespace: string;

  constructor(kc: k8s.KubeConfig, namespace: string) {
    this.kc = kc;
    this.namespace = namespace;
  }

  async start(): Promise<void> {
    const w = new k8s.Watch(this.kc);
    const ns = this.namespace;
    const on = <T>(path: string, handle: (obj: T, t: number) => void) =>
      w.watch(
        path,
        {},
        (_type, obj: T) => {
          handle(obj, now());
          this.waiters = this.waiters.filter((x) => !x.check());
        },
        () => undefined,
      );
    const record = <V>(map: Map<string, [number, V][]>, key: string, t: number, v: V) => {
      const list = map.get(key) ?? [];
      if (list.length === 0 || list.at(-1)![1] !== v) list.push([t, v]);
      map.set(key, list);
    };
    this.aborts.push(
      await on<RouteObj>(`/apis/gateway.networking.k8s.io/v1/namespaces/${ns}/httproutes`, (r, t) => {
        const refs = r.spec?.rules?.[0]?.backendRefs ?? [];
        record(this.weights, r.metadata.name, t, refs.find((b) => b.name.endsWith('-canary'))?.weight ?? 0);
      }),
      await on<CanaryObj>(`/apis/flagger.app/v1beta1/namespaces/${ns}/canaries`, (c, t) => {
        record(this.phases, c.metadata.name, t, c.status?.phase ?? '');
        record(this.failedChecks, c.metadata.name, t, c.status?.failedChecks ?? 0);
      }),
      await on<DeploymentObj>(`/apis/apps/v1/namespaces/${ns}/deployments`, (d, t) => {
        record(this.replicas, d.metadata.name, t, d.spec?.replicas ?? 1);
      }),
    );
  }

  /** Resolves with the result of `find` once it is defined (checked on every event). */
  until<T>(find: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
      const check = () => {
        const v = find();
        if (v === undefined) return false;
        clearTimeout(timer);
        resolve(v);
        return true;
      };
      if (!check()) this.waiters.push({ check });
    });
  }

  /** Time of the first change after t0 of `map[key]` whose value satisfies `pred`. */
  firstAfter<V>(map: Map<string, [number, V][]>, key: string, t0: number, pred: (v: V) => boolean): number | undefined {
    return map.get(key)?.find(([t, v]) => t >= t0 && pred(v))?.[0];
  }

  firstWeightAfter(name: string, t0: number): number | undefined {
    return this.firstAfter(this.weights, name, t0, (w) => w > 0);
  }

  phaseAfter(name: string, t0: number, phases: string[]): [number, string] | undefined {
    return this.phases.get(name)?.find(([t, p]) => t >= t0 && phases.includes(p));
  }

  stop(): void {
    for (const a of this.aborts) a.abort();
  }
}
