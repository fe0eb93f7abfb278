// Config tracking (Flagger's ConfigTracker): ConfigMaps and Secrets a pod template references through volumes,
// projected volumes, env and envFrom (containers and init containers) are checksummed; a changed checksum is a new
// revision; promotion copies them to `<name>-primary` and points the primary pod spec at the copies.
import type { V1ConfigMap, V1PodSpec, V1Secret } from '@kubernetes/client-node';
import { shortHash } from './canonical.ts';

export type ConfigKind = 'configmap' | 'secret';
export type ConfigObject = V1ConfigMap | V1Secret;

export interface ConfigRef {
  kind: ConfigKind;
  name: string;
  /** Every reference is `optional: true`: a missing object is fine. */
  optional: boolean;
}

/** A tracked config as found in the cluster. Never logged or returned whole: Secrets' data stays here. */
export interface TrackedConfig {
  ref: ConfigRef;
  checksum: string;
  object: ConfigObject;
}

export const CONFIG_TRACKING_ANNOTATION = 'flagger.app/config-tracking';
export const PRIMARY_SUFFIX = '-primary';

/** Registry and service-account secrets belong to the pod's identity, not to its configuration (as in Flagger). */
const TRACKED_SECRET_TYPES = new Set([
  'Opaque',
  'kubernetes.io/basic-auth',
  'kubernetes.io/ssh-auth',
  'kubernetes.io/tls',
]);

export function configKey(ref: Pick<ConfigRef, 'kind' | 'name'>): string {
  return `${ref.kind}/${ref.name}`;
}

/** All ConfigMaps and Secrets a pod spec references, keyed `configmap/<name>` / `secret/<name>` (Flagger's keys). */
export function configRefsOf(spec: V1PodSpec | undefined): Map<string, ConfigRef> {
  const refs = new Map<string, ConfigRef>();
  const add = (kind: ConfigKind, name: string | undefined, optional: boolean | undefined) => {
    if (!name) return;
    const key = configKey({ kind, name });
    const seen = refs.get(key);
    // A name referenced once as required is required.
    refs.set(key, { kind, name, optional: (seen?.optional ?? true) && Boolean(optional) });
  };
  for (const v of spec?.volumes ?? []) {
    add('configmap', v.configMap?.name, v.configMap?.optional);
    add('secret', v.secret?.secretName, v.secret?.optional);
    for (const s of v.projected?.sources ?? []) {
      add('configmap', s.configMap?.name, s.configMap?.optional);
      add('secret', s.secret?.name, s.secret?.optional);
    }
  }
  for (const c of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]) {
    for (const e of c.env ?? []) {
      add('configmap', e.valueFrom?.configMapKeyRef?.name, e.valueFrom?.configMapKeyRef?.optional);
      add('secret', e.valueFrom?.secretKeyRef?.name, e.valueFrom?.secretKeyRef?.optional);
    }
    for (const e of c.envFrom ?? []) {
      add('configmap', e.configMapRef?.name, e.configMapRef?.optional);
      add('secret', e.secretRef?.name, e.secretRef?.optional);
    }
  }
  return refs;
}

/** Opted out with `flagger.app/config-tracking: disabled`, or a Secret type that is not configuration. */
export function isTrackable(kind: ConfigKind, obj: ConfigObject): boolean {
  if (obj.metadata?.annotations?.[CONFIG_TRACKING_ANNOTATION] === 'disabled') return false;
  if (kind === 'secret') return TRACKED_SECRET_TYPES.has((obj as V1Secret).type ?? 'Opaque');
  return true;
}

export function configChecksum(obj: ConfigObject): string {
  return shortHash({ data: obj.data, binaryData: (obj as V1ConfigMap).binaryData });
}

export type ConfigLookup = (ref: ConfigRef) => Promise<ConfigObject | undefined> | ConfigObject | undefined;

/** The tracked configs of a pod spec, read through `lookup` (the API in activities, informer caches in the watcher). */
export async function trackedConfigs(spec: V1PodSpec | undefined, lookup: ConfigLookup): Promise<TrackedConfig[]> {
  const out: TrackedConfig[] = [];
  for (const ref of configRefsOf(spec).values()) {
    const object = await lookup(ref);
    // Missing configs are not tracked (Flagger logs and skips them): the pod will report the problem itself.
    if (!object || !isTrackable(ref.kind, object)) continue;
    out.push({ ref, checksum: configChecksum(object), object });
  }
  return out.sort((a, b) => configKey(a.ref).localeCompare(configKey(b.ref)));
}

/** `{ "configmap/x": checksum }`, Flagger's `.status.trackedConfigs`. */
export function checksums(configs: TrackedConfig[]): Record<string, string> {
  return Object.fromEntries(configs.map((c) => [configKey(c.ref), c.checksum]));
}

/** The pod spec with every tracked config renamed to its `-primary` copy (Flagger's ApplyPrimaryConfigs). */
export function withPrimaryConfigs(spec: V1PodSpec, tracked: Iterable<string>): V1PodSpec {
  const keys = new Set(tracked);
  const out = structuredClone(spec);
  const rename = (kind: ConfigKind, name: string | undefined) =>
    name !== undefined && keys.has(configKey({ kind, name })) ? `${name}${PRIMARY_SUFFIX}` : name;
  for (const v of out.volumes ?? []) {
    if (v.configMap) v.configMap.name = rename('configmap', v.configMap.name);
    if (v.secret) v.secret.secretName = rename('secret', v.secret.secretName);
    for (const s of v.projected?.sources ?? []) {
      if (s.configMap) s.configMap.name = rename('configmap', s.configMap.name);
      if (s.secret) s.secret.name = rename('secret', s.secret.name);
    }
  }
  for (const c of [...(out.initContainers ?? []), ...(out.containers ?? [])]) {
    for (const e of c.env ?? []) {
      const cm = e.valueFrom?.configMapKeyRef;
      if (cm) cm.name = rename('configmap', cm.name) ?? cm.name;
      const sk = e.valueFrom?.secretKeyRef;
      if (sk) sk.name = rename('secret', sk.name) ?? sk.name;
    }
    for (const e of c.envFrom ?? []) {
      if (e.configMapRef) e.configMapRef.name = rename('configmap', e.configMapRef.name);
      if (e.secretRef) e.secretRef.name = rename('secret', e.secretRef.name);
    }
  }
  return out;
}
