// Istio router (Flagger's default provider): VirtualService `<service>` and DestinationRules `<service>-primary` /
// `<service>-canary` (networking.istio.io/v1beta1, as Flagger v1.44 writes them), written by server-side apply
// with field manager `fledge`, so re-applying the same routes is a no-op.
//
// Ownership follows Flagger: objects fledge creates carry a controller reference to the Canary; an existing
// VirtualService is taken over, its spec kept in `flagger.kubernetes.io/original-configuration` (or, like Flagger,
// in kubectl's last-applied annotation when it has one) and restored on finalize.
import { randomBytes } from 'node:crypto';
import { KubernetesObjectApi } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import type { Canary } from '../../api/canary.ts';
import type { Routes } from '../../api/ports.ts';
import { serviceNames } from '../../api/validate.ts';
import { FAILURE, statusCode } from './errors.ts';
import { ANNOTATIONS, cookiesFromAnnotations, nextSessionCookies } from './httproute.ts';
import type { OwnerReference } from './httproute.ts';
import { canaryOwner, namespaceOf } from './object-meta.ts';
import { FIELD_MANAGER, serverSideApply } from './router.ts';
import type { Router, RouterDeps } from './router.ts';
import {
  ISTIO_API_VERSION,
  KUBECTL_LAST_APPLIED,
  ORIGINAL_CONFIGURATION,
  buildDestinationRule,
  buildVirtualService,
  readVirtualServiceRoutes,
} from './virtualservice.ts';
import type { DestinationRule, VirtualService, VirtualServiceSpec } from './virtualservice.ts';

const ALL_TO_PRIMARY: Routes = { primary: 100, canary: 0, mirrored: false };

type Stored<T> = T & { metadata: { managedFields?: unknown[]; uid?: string } };

export function createIstioRouter(deps: RouterDeps): Router {
  const objects = KubernetesObjectApi.makeApiClient(deps.kube);
  const random = deps.random ?? randomCookieValue;

  async function read<T>(kind: string, canary: Canary, name: string): Promise<Stored<T> | undefined> {
    const header = { apiVersion: ISTIO_API_VERSION, kind, metadata: { name, namespace: namespaceOf(canary) } };
    try {
      return (await objects.read(header)) as unknown as Stored<T>;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }
  const readVs = (canary: Canary) => read<VirtualService>('VirtualService', canary, serviceNames(canary).apex);

  async function apply<T>(object: T): Promise<T> {
    return serverSideApply(objects, object);
  }

  /** Flagger's reconcileDestinationRule: host and trafficPolicy; the owner only on rules fledge created. */
  async function reconcileDestinationRule(canary: Canary, host: string): Promise<void> {
    const current = await read<DestinationRule>('DestinationRule', canary, host);
    const owner = !current || ownedBy(current, canary) ? canaryOwner(canary) : undefined;
    await apply(buildDestinationRule(canary, host, owner));
  }

  /** Writes the VirtualService for `routes`, keeping ownership, adoption and session cookies of the stored one. */
  async function write(canary: Canary, current: Stored<VirtualService> | undefined, routes: Routes): Promise<Routes> {
    const owned = current === undefined || ownedBy(current, canary);
    const adopting = current !== undefined && !managedByFledge(current, canary);
    const annotations = current?.metadata.annotations ?? {};
    let originalConfiguration: string | undefined;
    if (adopting) {
      // Flagger: kubectl's last-applied annotation already holds the user's spec; otherwise keep a copy.
      if (annotations[KUBECTL_LAST_APPLIED] === undefined) originalConfiguration = JSON.stringify(current.spec);
    } else if (!owned) originalConfiguration = annotations[ORIGINAL_CONFIGURATION];
    const cookies = nextSessionCookies(canary, routes.canary, cookiesFromAnnotations(annotations), random);
    const owner = owned ? canaryOwner(canary) : undefined;
    const vs = buildVirtualService({
      canary,
      routes,
      cookies,
      ...(owner ? { owner } : {}),
      ...(originalConfiguration !== undefined ? { originalConfiguration } : {}),
    });
    if (adopting)
      deps.log?.info({ virtualService: `${namespaceOf(canary)}/${vs.metadata.name}` }, 'adopting VirtualService');
    const stored = await apply(vs);
    return readVirtualServiceRoutes(stored, canary) ?? ALL_TO_PRIMARY;
  }

  return {
    async reconcile(canary) {
      const names = serviceNames(canary);
      await reconcileDestinationRule(canary, names.canary);
      await reconcileDestinationRule(canary, names.primary);
      const current = await readVs(canary);
      // Keep the weights in force: reconcile runs at every initialization, also mid-rollout after a restart.
      const routes =
        current && managedByFledge(current, canary)
          ? (readVirtualServiceRoutes(current, canary) ?? ALL_TO_PRIMARY)
          : ALL_TO_PRIMARY;
      return write(canary, current, routes);
    },

    async setRoutes(canary, primary, canaryWeight, mirrored) {
      return write(canary, await readVs(canary), { primary, canary: canaryWeight, mirrored });
    },

    async getRoutes(canary) {
      const vs = await readVs(canary);
      // observe runs before the first reconcile creates the VirtualService: nothing goes to the canary yet.
      if (!vs) return ALL_TO_PRIMARY;
      // A VirtualService reconcile has not taken over yet routes nothing to the canary either.
      if (!managedByFledge(vs, canary)) return ALL_TO_PRIMARY;
      const routes = readVirtualServiceRoutes(vs, canary);
      if (routes) return routes;
      const { apex } = serviceNames(canary);
      throw ApplicationFailure.retryable(
        `VirtualService ${apex}.${namespaceOf(canary)} does not contain routes for ${apex}-primary and ${apex}-canary`,
        FAILURE.routeNotReady,
      );
    },

    async finalize(canary) {
      const vs = await readVs(canary);
      if (vs && managedByFledge(vs, canary)) await finalizeVirtualService(canary, vs);
      // Flagger leaves its DestinationRules to garbage collection through the owner reference; fledge deletes
      // the ones it created right away, like the VirtualService.
      const names = serviceNames(canary);
      for (const host of [names.primary, names.canary]) {
        const rule = await read<DestinationRule>('DestinationRule', canary, host);
        if (rule && ownedBy(rule, canary)) await objects.delete(rule as unknown as KubernetesObject);
      }
    },
  };

  async function finalizeVirtualService(canary: Canary, vs: Stored<VirtualService>): Promise<void> {
    const where = `${namespaceOf(canary)}/${vs.metadata.name}`;
    if (ownedBy(vs, canary)) {
      await objects.delete(vs as unknown as KubernetesObject);
      deps.log?.info({ virtualService: where }, 'deleted VirtualService');
      return;
    }
    const spec = originalSpec(vs);
    if (!spec) {
      deps.log?.warn({ virtualService: where }, 'original configuration not found, unable to revert');
      return;
    }
    await objects.replace(restored(vs, spec) as unknown as KubernetesObject, undefined, undefined, FIELD_MANAGER);
    deps.log?.info({ virtualService: where }, 'restored adopted VirtualService');
  }
}

/** Flagger's Finalize: the spec from kubectl's last-applied annotation, else from original-configuration. */
export function originalSpec(vs: VirtualService): VirtualServiceSpec | undefined {
  const a = vs.metadata.annotations ?? {};
  const kubectl = a[KUBECTL_LAST_APPLIED];
  if (kubectl !== undefined) return (JSON.parse(kubectl) as { spec?: VirtualServiceSpec }).spec;
  const original = a[ORIGINAL_CONFIGURATION];
  return original !== undefined ? (JSON.parse(original) as VirtualServiceSpec) : undefined;
}

/** The stored VirtualService with its pre-adoption spec, without fledge's annotations and the saved copy. */
function restored(vs: Stored<VirtualService>, spec: VirtualServiceSpec): VirtualService {
  const annotations = Object.fromEntries(
    Object.entries(vs.metadata.annotations ?? {}).filter(
      ([k]) => !k.startsWith('fledge.app/') && k !== ORIGINAL_CONFIGURATION,
    ),
  );
  const { managedFields: _managed, ...metadata } = vs.metadata;
  void _managed;
  return { ...vs, metadata: { ...metadata, annotations }, spec };
}

/** Managed: fledge wrote it (its marker annotation) or it belongs to the Canary (created by fledge or Flagger). */
function managedByFledge(vs: Stored<VirtualService>, canary: Canary): boolean {
  return vs.metadata.annotations?.[ANNOTATIONS.canary] !== undefined || ownedBy(vs, canary);
}

function ownedBy(object: { metadata: { ownerReferences?: OwnerReference[] } }, canary: Canary): boolean {
  const uid = canaryUid(canary);
  return uid !== undefined && (object.metadata.ownerReferences ?? []).some((o) => o.controller && o.uid === uid);
}

function canaryUid(canary: Canary): string | undefined {
  const uid = (canary.metadata as { uid?: unknown }).uid;
  return typeof uid === 'string' && uid ? uid : undefined;
}

const ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** Flagger's randSeq: an opaque cookie value. */
function randomCookieValue(): string {
  return [...randomBytes(32)].map((b) => ALPHANUMERIC[b % ALPHANUMERIC.length]).join('');
}
