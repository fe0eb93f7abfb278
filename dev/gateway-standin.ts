// A STAND-IN for a Gateway API implementation: it carries no traffic, it only does what a gateway controller
// does to route status — accept each new generation of every HTTPRoute (status.parents[].conditions
// Accepted=True with observedGeneration), so fledge's readiness gate on getRoutes can pass. The sandbox and
// the end-to-end tests use it where no real gateway (Traefik, Envoy Gateway, …) runs; the README says so.
import * as k8s from '@kubernetes/client-node';

export const STANDIN_CONTROLLER_NAME = 'fledge.dev/gateway-standin';

interface RouteLike {
  metadata: { name: string; namespace: string; generation?: number };
  spec: { parentRefs?: Record<string, unknown>[] };
  status?: { parents?: { conditions?: { observedGeneration?: number }[] }[] };
}

const group = 'gateway.networking.k8s.io';

export interface GatewayStandin {
  /** Number of route generations accepted so far. */
  accepted(): number;
  stop(): Promise<void>;
}

function acceptedAt(route: RouteLike): boolean {
  const generation = route.metadata.generation ?? 1;
  const parents = route.status?.parents ?? [];
  return (
    parents.length === (route.spec.parentRefs ?? []).length &&
    parents.every((p) => p.conditions?.some((c) => c.observedGeneration === generation))
  );
}

function acceptance(route: RouteLike) {
  const generation = route.metadata.generation ?? 1;
  return {
    parents: (route.spec.parentRefs ?? []).map((parentRef) => ({
      parentRef,
      controllerName: STANDIN_CONTROLLER_NAME,
      conditions: [
        {
          type: 'Accepted',
          status: 'True',
          reason: 'Accepted',
          message: 'Accepted by the fledge gateway stand-in (no data plane)',
          observedGeneration: generation,
          lastTransitionTime: new Date().toISOString(),
        },
      ],
    })),
  };
}

/** Polls HTTPRoutes in every namespace (both served versions share storage) and accepts new generations. */
export function startGatewayStandin(kc: k8s.KubeConfig, { intervalMs = 200 } = {}): GatewayStandin {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  let running = true;
  let count = 0;
  const pass = async () => {
    const list = (await custom.listClusterCustomObject({ group, version: 'v1', plural: 'httproutes' })) as {
      items: RouteLike[];
    };
    for (const route of list.items.filter((r) => !acceptedAt(r))) {
      await custom
        .patchNamespacedCustomObjectStatus(
          {
            group,
            version: 'v1',
            plural: 'httproutes',
            namespace: route.metadata.namespace,
            name: route.metadata.name,
            body: { status: acceptance(route) },
          },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        )
        .then(() => count++)
        .catch(() => undefined); // a newer generation arrived meanwhile: the next pass accepts it
    }
  };
  const loop = (async () => {
    while (running) {
      await pass().catch(() => undefined); // apiserver restarting or CRDs not there yet: try again
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    accepted: () => count,
    async stop() {
      running = false;
      await loop;
    },
  };
}
