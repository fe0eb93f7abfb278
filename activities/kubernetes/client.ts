// Typed API clients and the three ways fledge writes: server-side apply (field manager `fledge`), JSON merge
// patch, and create-if-absent. client-node 2.x patches default to JSON-patch, so every patch names its type.
import {
  ApiException,
  AppsV1Api,
  AutoscalingV2Api,
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import type { Dispatcher } from 'undici';

export const FIELD_MANAGER = 'fledge';
export const GROUP = 'flagger.app';
export const VERSION = 'v1beta1';
export const CANARIES = 'canaries';

export interface Kube {
  apps: AppsV1Api;
  core: CoreV1Api;
  autoscaling: AutoscalingV2Api;
  custom: CustomObjectsApi;
  objects: KubernetesObjectApi;
}

export function makeKube(kc: KubeConfig): Kube {
  return {
    apps: kc.makeApiClient(AppsV1Api),
    core: kc.makeApiClient(CoreV1Api),
    autoscaling: kc.makeApiClient(AutoscalingV2Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    objects: KubernetesObjectApi.makeApiClient(kc),
  };
}

/** Deadline of one apiserver request made by an activity (watches do not go through this path). */
export const KUBE_REQUEST_TIMEOUT_MS = 30_000;

/**
 * The same KubeConfig, but every API request it authenticates also gets a deadline. Without one, an apiserver
 * call that never answers hangs the activity until its start-to-close timeout (minutes); with one it fails fast
 * and the activity's retry policy tries again.
 */
export function withRequestTimeout(kc: KubeConfig, ms = KUBE_REQUEST_TIMEOUT_MS): KubeConfig {
  const timed = Object.create(kc) as KubeConfig;
  timed.applySecurityAuthentication = async (context) => {
    await kc.applySecurityAuthentication(context);
    context.setSignal(AbortSignal.timeout(ms));
  };
  return timed;
}

/** How long one pooled connection set serves before a fresh one (re-read certificates) takes over. */
export const KUBE_DISPATCHER_MAX_AGE_MS = 5 * 60_000;
const POOLED = Symbol('fledge.kube.pooled');

/**
 * The same KubeConfig, but its API requests share connections. client-node 2.x builds a new undici Agent for every
 * request it authenticates (`applySecurityAuthentication` → `createDispatcher`), so each apiserver call opened a new
 * TLS connection: a handshake's round trips and CPU on both ends, per request. Here the first Agent is kept and
 * handed to the requests that follow (keep-alive, one pool per apiserver), and replaced by the next fresh one after
 * `maxAgeMs`, so rotated client certificates or CA files (read again by client-node for each request) are picked up
 * within that time; the replaced Agent closes once its requests have ended. Wrapping twice is wrapping once.
 */
export function withConnectionReuse(kc: KubeConfig, maxAgeMs = KUBE_DISPATCHER_MAX_AGE_MS): KubeConfig {
  if ((kc as { [POOLED]?: true })[POOLED]) return kc;
  const pooled = Object.create(kc) as KubeConfig & { [POOLED]: true };
  pooled[POOLED] = true;
  let current: { dispatcher: Dispatcher; server: string | undefined; since: number } | undefined;
  pooled.applySecurityAuthentication = async (context) => {
    await kc.applySecurityAuthentication(context);
    const fresh = context.getDispatcher();
    if (!fresh) return; // plain HTTP: fetch's global dispatcher, already pooled
    const server = kc.getCurrentCluster()?.server;
    const now = Date.now();
    if (current && current.server === server && now - current.since < maxAgeMs) {
      context.setDispatcher(current.dispatcher);
      return;
    }
    const replaced = current?.dispatcher;
    current = { dispatcher: fresh, server, since: now };
    // close() lets the requests already sent on it finish.
    replaced?.close().catch(() => undefined);
  };
  return pooled;
}

export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export function statusCode(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const code = (err as { code?: unknown; statusCode?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

export const isNotFound = (err: unknown) => statusCode(err) === 404;
export const isConflict = (err: unknown) => statusCode(err) === 409;

/** Reads, returning undefined for 404 (any other error is an infrastructure error and propagates). */
export async function readOptional<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Server-side apply: idempotent, and a no-op apply leaves resourceVersion alone. */
export async function apply<T extends KubernetesObject>(kube: Kube, obj: T): Promise<T> {
  return kube.objects.patch(obj, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
}

/** Creates, treating "already exists" as done (the caller's next apply converges the rest). */
export async function createIfAbsent<T extends KubernetesObject>(kube: Kube, obj: T): Promise<boolean> {
  try {
    await kube.objects.create(obj, undefined, undefined, FIELD_MANAGER);
    return true;
  } catch (err) {
    if (isConflict(err)) return false;
    throw err;
  }
}

/** A short description of an API error without its body (bodies can echo object data). */
export function describeError(err: unknown): string {
  if (err instanceof ApiException) {
    const body = err.body as { message?: unknown } | string | undefined;
    const message = typeof body === 'object' && body && typeof body.message === 'string' ? body.message : '';
    return `HTTP ${err.code}${message ? `: ${message}` : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}
