// Metadata helpers shared by the routers: the Canary's namespace, its controller reference, Flux's opt-outs, fledge's marker.
import type { Canary } from '../../api/canary.ts';
import type { OwnerReference } from './httproute.ts';

/**
 * Annotations Flagger adds to every routing object it writes so Flux neither reverts nor reports drift on them
 * (Flagger pkg/router/util.go filterMetadata).
 */
export const FLUX_ANNOTATIONS: Readonly<Record<string, string>> = {
  'kustomize.toolkit.fluxcd.io/reconcile': 'disabled',
  'helm.toolkit.fluxcd.io/driftDetection': 'disabled',
};

/** Marks an object fledge manages (value: the Canary's name); absent on objects fledge never took over. */
export const MANAGED_ANNOTATION = 'fledge.app/canary';

/** Namespace of the Canary (and of every object its router writes). */
export function namespaceOf(canary: Canary): string {
  return canary.metadata.namespace ?? 'default';
}

/** Controller reference to the Canary (objects it owns go with it, as Flagger's setOwnerRefs); none without a uid. */
export function canaryOwner(canary: Canary): OwnerReference | undefined {
  const uid = (canary.metadata as { uid?: unknown }).uid;
  if (typeof uid !== 'string' || !uid) return undefined;
  return {
    apiVersion: canary.apiVersion,
    kind: 'Canary',
    name: canary.metadata.name,
    uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** The metadata the ownership helpers read (any routing object). */
interface Marked {
  metadata: { annotations?: Record<string, string>; ownerReferences?: { kind?: string; uid?: string }[] };
}

/** fledge manages the object (created or took it over): it carries MANAGED_ANNOTATION. */
export function isManaged(object: Marked): boolean {
  return object.metadata.annotations?.[MANAGED_ANNOTATION] !== undefined;
}

/** fledge manages the object for this Canary: MANAGED_ANNOTATION names it (what finalize may delete). */
export function isManagedFor(object: Marked, canary: Canary): boolean {
  return object.metadata.annotations?.[MANAGED_ANNOTATION] === canary.metadata.name;
}

/** The object has an owner reference to this Canary (by uid), so fledge may keep or set the controller reference. */
export function isOwnedBy(object: Marked, canary: Canary): boolean {
  const uid = (canary.metadata as { uid?: unknown }).uid;
  return (object.metadata.ownerReferences ?? []).some((o) => o.kind === 'Canary' && o.uid === uid);
}
