// A STAND-IN for Knative Serving's controller: it runs no pods and carries no traffic. Through the real apiserver
// (with Knative's real Service and Revision CRDs, dev/fixtures.ts knativeCrdFiles) it only does the bookkeeping
// Knative's controller does, so fledge's knative provider can be driven end to end without Knative:
//   - a Knative Service whose `spec.template` is new gets a Revision `<service>-<00001…>` (owned by the Service,
//     labelled `serving.knative.dev/service`), whose status says Ready=True, or Ready=False when `revisionReady`
//     says so (reason ProgressDeadlineExceeded, as Knative reports a revision that never starts);
//   - the Service's status (status subresource): `latestCreatedRevisionName`, `latestReadyRevisionName`,
//     `observedGeneration`, a Ready condition, and `status.traffic` resolved from `spec.traffic` as Knative's route
//     does (`latestRevision: true` → the latest ready revision; no traffic block → 100 % to it).
import { createHash } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import type { KnativeService, TrafficTarget } from '../activities/routers/knative-service.ts';

const GROUP = 'serving.knative.dev';
const VERSION = 'v1';
/** The template hash a Revision was made from (the stand-in's own bookkeeping). */
const TEMPLATE_HASH = 'standin.fledge.dev/template-hash';

export interface KnativeStandinOptions {
  intervalMs?: number;
  /** Whether a new revision becomes ready (default: always); asked once, when it is created. */
  revisionReady?: (service: KnativeService, revision: string) => boolean;
}

export interface KnativeStandin {
  /** Revisions created so far, by `namespace/service`, oldest first. */
  revisions(namespace: string, service: string): string[];
  /** Every `spec.traffic` the stand-in reconciled, per `namespace/service`, as `<entry>,<entry>`: `latest=10,podinfo-00001=90`. */
  trafficLog(namespace: string, service: string): string[];
  stop(): Promise<void>;
}

interface RevisionRecord {
  name: string;
  hash: string;
  ready: boolean;
}

const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

function templateHash(svc: KnativeService): string {
  return createHash('sha256')
    .update(JSON.stringify(svc.spec?.template ?? {}))
    .digest('hex')
    .slice(0, 16);
}

/** `spec.traffic` as the log shows it: `latest=<percent>` or `<revision>=<percent>`, in order. */
export function describeTraffic(traffic: TrafficTarget[] | undefined): string {
  return (traffic ?? []).map((t) => `${t.latestRevision ? 'latest' : t.revisionName}=${t.percent ?? 0}`).join(',');
}

/** `status.traffic` for `spec.traffic`, with `latestRevision` resolved to `latestReady` (Knative's route). */
export function resolveTraffic(spec: TrafficTarget[] | undefined, latestReady: string): TrafficTarget[] {
  if (!spec?.length) return [{ latestRevision: true, revisionName: latestReady, percent: 100 }];
  return spec.map((t) =>
    t.latestRevision ? { ...t, revisionName: latestReady, latestRevision: true } : { ...t, latestRevision: false },
  );
}

/** Polls the Knative Services of every namespace and does Knative's bookkeeping for each new generation. */
export function startKnativeStandin(kc: k8s.KubeConfig, opts: KnativeStandinOptions = {}): KnativeStandin {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const known = new Map<string, RevisionRecord[]>();
  const traffic = new Map<string, string[]>();
  let running = true;

  async function createRevision(svc: KnativeService, records: RevisionRecord[], hash: string) {
    const { namespace, name } = svc.metadata;
    const revision = `${name}-${String(records.length + 1).padStart(5, '0')}`;
    const ready = opts.revisionReady?.(svc, revision) ?? true;
    const uid = (svc.metadata as { uid?: string }).uid;
    await custom
      .createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: 'revisions',
        body: {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: 'Revision',
          metadata: {
            name: revision,
            labels: { 'serving.knative.dev/service': name, 'serving.knative.dev/configuration': name },
            annotations: { [TEMPLATE_HASH]: hash },
            ...(uid
              ? {
                  ownerReferences: [
                    { apiVersion: `${GROUP}/${VERSION}`, kind: 'Service', name, uid, controller: true },
                  ],
                }
              : {}),
          },
          spec: (svc.spec?.template as { spec?: unknown } | undefined)?.spec ?? { containers: [] },
        },
      })
      .catch((err: unknown) => {
        if ((err as { code?: number }).code !== 409) throw err;
      });
    await custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace,
        plural: 'revisions',
        name: revision,
        body: {
          status: {
            observedGeneration: 1,
            conditions: [
              ready
                ? { type: 'Ready', status: 'True', lastTransitionTime: new Date().toISOString() }
                : {
                    type: 'Ready',
                    status: 'False',
                    reason: 'ProgressDeadlineExceeded',
                    message: 'Initial scale was never achieved (Knative stand-in)',
                    lastTransitionTime: new Date().toISOString(),
                  },
            ],
          },
        },
      },
      mergePatch,
    );
    records.push({ name: revision, hash, ready });
  }

  async function reconcile(svc: KnativeService): Promise<void> {
    const { namespace, name } = svc.metadata;
    const key = `${namespace}/${name}`;
    const records = known.get(key) ?? [];
    known.set(key, records);
    const hash = templateHash(svc);
    if (records.at(-1)?.hash !== hash) await createRevision(svc, records, hash);
    const latest = records.at(-1)!;
    const latestReady = [...records].reverse().find((r) => r.ready)?.name ?? '';
    await custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace,
        plural: 'services',
        name,
        body: {
          status: {
            observedGeneration: svc.metadata.generation ?? 1,
            latestCreatedRevisionName: latest.name,
            latestReadyRevisionName: latestReady,
            traffic: latestReady ? resolveTraffic(svc.spec?.traffic, latestReady) : [],
            conditions: [
              {
                type: 'Ready',
                status: latest.ready ? 'True' : 'False',
                lastTransitionTime: new Date().toISOString(),
              },
            ],
          },
        },
      },
      mergePatch,
    );
    traffic.set(key, [...(traffic.get(key) ?? []), describeTraffic(svc.spec?.traffic)]);
  }

  const pass = async () => {
    const list = (await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: 'services' })) as {
      items: KnativeService[];
    };
    for (const svc of list.items)
      if (svc.status?.observedGeneration !== (svc.metadata.generation ?? 1))
        await reconcile(svc).catch(() => undefined); // changed meanwhile: the next pass sees the newer generation
  };
  const loop = (async () => {
    while (running) {
      await pass().catch(() => undefined); // apiserver restarting or CRDs not there yet: try again
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
    }
  })();

  return {
    revisions: (namespace, service) => (known.get(`${namespace}/${service}`) ?? []).map((r) => r.name),
    trafficLog: (namespace, service) => [...(traffic.get(`${namespace}/${service}`) ?? [])],
    async stop() {
      running = false;
      await loop;
    },
  };
}
