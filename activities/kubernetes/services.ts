// The apex, primary and canary ClusterIP Services (Flagger's KubernetesDefaultRouter): apex and primary select
// the primary pods, canary the target's. An existing apex Service is adopted: only its selector and ports change.
import type { V1Container, V1Service, V1ServicePort } from '@kubernetes/client-node';
import type { Canary } from '../../api/canary.ts';
import { serviceNames } from '../../api/validate.ts';
import { PRIMARY_SUFFIX } from './configs.ts';
import { apply, readOptional, type Kube } from './client.ts';
import type { RawCanary } from './canary.ts';
import { ownerRef } from './canary.ts';
import { PRIMARY_SELECTOR_ANNOTATION } from '../routers/kubernetes.ts';

/** Sidecars whose ports port discovery leaves out (as Flagger does). */
const MESH_SIDECARS = new Set(['istio-proxy', 'envoy', 'linkerd-proxy', 'appmesh-envoy']);

type ServiceSpec = NonNullable<Canary['spec']['service']>;

export function servicePorts(svc: ServiceSpec, containers: V1Container[] | undefined): V1ServicePort[] {
  const main: V1ServicePort = {
    name: svc.portName,
    protocol: 'TCP',
    port: svc.port,
    targetPort: (svc.targetPort ?? svc.port) as unknown as V1ServicePort['targetPort'],
  };
  if (svc.appProtocol) main.appProtocol = svc.appProtocol;
  const ports = [main];
  if (!svc.portDiscovery) return ports;
  for (const c of containers ?? []) {
    if (MESH_SIDECARS.has(c.name)) continue;
    (c.ports ?? []).forEach((p, i) => {
      const isMain =
        svc.targetPort === undefined
          ? p.containerPort === svc.port
          : typeof svc.targetPort === 'number'
            ? p.containerPort === svc.targetPort
            : p.name === svc.targetPort;
      if (isMain) return;
      const name = p.name || `tcp-${c.name}-${i}`;
      if (ports.some((q) => q.name === name || q.port === p.containerPort)) return;
      ports.push({
        name,
        protocol: 'TCP',
        port: p.containerPort,
        targetPort: p.containerPort as unknown as V1ServicePort['targetPort'],
      });
    });
  }
  return ports;
}

export interface ServicePlan {
  apex: V1Service;
  primary: V1Service;
  canary: V1Service;
}

/** The three Services as fledge wants them; `label`/`value` are the target's selector label and value. */
export function servicePlan(
  raw: RawCanary,
  canary: Canary,
  selector: { label: string; value: string },
  containers: V1Container[] | undefined,
): ServicePlan {
  const svc = canary.spec.service as ServiceSpec;
  const names = serviceNames(canary);
  const ports = servicePorts(svc, containers);
  const unmanaged = svc.unmanagedMetadata ?? {};
  const build = (
    name: string,
    value: string,
    meta: { labels?: Record<string, string>; annotations?: Record<string, string> } | undefined,
    headless: boolean,
  ): V1Service => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace: raw.metadata.namespace,
      labels: without({ ...meta?.labels, [selector.label]: name }, unmanaged.labels),
      annotations: without({ ...meta?.annotations }, unmanaged.annotations),
      ownerReferences: [ownerRef(raw)],
    },
    spec: {
      type: 'ClusterIP',
      ...(headless ? { clusterIP: 'None' } : {}),
      selector: { [selector.label]: value },
      ports,
      ...(svc.trafficDistribution ? { trafficDistribution: svc.trafficDistribution } : {}),
    },
  });
  const primaryValue = `${selector.value}${PRIMARY_SUFFIX}`;
  return {
    apex: build(names.apex, primaryValue, svc.apex, false),
    primary: build(names.primary, primaryValue, svc.primary, Boolean(svc.headless)),
    canary: build(names.canary, selector.value, svc.canary, Boolean(svc.headless)),
  };
}

function without(map: Record<string, string>, keys: string[] | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(map).filter(([k]) => !keys?.includes(k)));
}

export function isOwnedBy(obj: { metadata?: { ownerReferences?: { uid?: string }[] } }, uid: string): boolean {
  return Boolean(obj.metadata?.ownerReferences?.some((o) => o.uid === uid));
}

/**
 * Apply the Services of the plan. `apex: false` applies only `-primary` and `-canary`, which move no traffic
 * (initialization before the primary is ready). The apex Service is applied in two forms:
 * - someone else created it: only its selector and ports change (it keeps metadata, owner and cluster IP);
 * - it points at the canary (the kubernetes provider's blue/green, marked by the saved primary selector): its
 *   selector stays as it is, so re-deriving Services after a spec edit never moves traffic. The selector is
 *   the router's (setRoutes) to change.
 */
export async function reconcileServices(
  kube: Kube,
  raw: RawCanary,
  plan: ServicePlan,
  opts: { apex?: boolean } = {},
): Promise<void> {
  if (opts.apex !== false) await reconcileApex(kube, raw, plan.apex);
  await Promise.all([apply(kube, plan.primary), apply(kube, plan.canary)]);
}

async function reconcileApex(kube: Kube, raw: RawCanary, apex: V1Service): Promise<void> {
  const existing = await readOptional(() =>
    kube.core.readNamespacedService({ name: apex.metadata?.name ?? '', namespace: raw.metadata.namespace }),
  );
  const onCanary = existing?.metadata?.annotations?.[PRIMARY_SELECTOR_ANNOTATION] !== undefined;
  const selector = onCanary ? existing?.spec?.selector : apex.spec?.selector;
  if (existing && !isOwnedBy(existing, raw.metadata.uid)) {
    await apply(kube, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: apex.metadata?.name, namespace: raw.metadata.namespace },
      spec: { selector, ports: apex.spec?.ports },
    } as V1Service);
    return;
  }
  await apply(kube, { ...apex, spec: { ...apex.spec, selector } });
}
