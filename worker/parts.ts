// The parts of the process that other modules provide, loaded in one place: the activities
// (`activities/index.ts` → createActivities(deps)), the watcher (`worker/watcher.ts` → startWatcher(opts)) and
// the load tester (`worker/loadtester.ts`). They are loaded by path at run time so the process still starts (and
// says what is missing) while one of them is being written; the shapes below are what main.ts relies on.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { RolloutActivities } from '../api/ports.ts';

/** What createActivities receives (a superset of activities/deps.ts ActivityDeps). */
export interface ActivityDepsLike {
  kube: KubeConfig;
  log: Logger;
  clock?: () => Date;
  http?: typeof fetch;
  selectorLabels?: string[];
  includeLabelPrefix?: string[];
  defaultProvider?: string;
  metricsServer?: string;
  clusterName?: string;
  eventWebhook?: string;
  configTracking?: boolean;
  noCrossNamespaceRefs?: boolean;
  /** Flagger's global Slack/Teams notifier (activities/notifiers GlobalNotifier). */
  globalNotifier?: {
    slackUrl?: string;
    slackUser?: string;
    slackChannel?: string;
    slackProxyUrl?: string;
    msteamsUrl?: string;
    msteamsProxyUrl?: string;
  };
}

export interface WatcherOptionsLike {
  kube: KubeConfig;
  client: Client;
  /** Temporal namespace and task queue the rollouts start on. */
  namespace: string;
  taskQueue: string;
  /** Kubernetes namespaces to watch; empty: all. */
  namespaces: string[];
  configTracking: boolean;
  selectorLabels: string[];
  log: Logger;
}

export interface WatcherHandle {
  /** Resolves (or returns true) once every informer listed its objects. */
  synced: Promise<unknown> | (() => boolean) | boolean;
  stop(): Promise<void> | void;
}

export interface LoadTesterHandle {
  stop?(): Promise<void> | void;
  close?(): Promise<void> | void;
}

export interface Parts {
  createActivities?: (deps: ActivityDepsLike) => RolloutActivities;
  startWatcher?: (opts: WatcherOptionsLike) => WatcherHandle | Promise<WatcherHandle>;
  startLoadTester?: (opts: { host: string; port: number; log: Logger }) => LoadTesterHandle | Promise<LoadTesterHandle>;
}

async function load(relative: string): Promise<Record<string, unknown> | undefined> {
  const url = new URL(relative, import.meta.url);
  if (!existsSync(fileURLToPath(url))) return undefined;
  return (await import(url.href)) as Record<string, unknown>;
}

function fn<T>(mod: Record<string, unknown> | undefined, ...names: string[]): T | undefined {
  for (const n of names) if (typeof mod?.[n] === 'function') return mod[n] as T;
  return undefined;
}

export async function loadParts(): Promise<Parts> {
  const [activities, watcher, loadtester] = await Promise.all([
    load('../activities/index.ts'),
    load('./watcher.ts'),
    load('./loadtester.ts'),
  ]);
  return {
    createActivities: fn(activities, 'createActivities'),
    startWatcher: fn(watcher, 'startWatcher'),
    startLoadTester: fn(loadtester, 'startLoadTester', 'startLoadtester', 'start'),
  };
}

/** Adapts the watcher's `synced` (a promise, a function or a flag) to a readiness check. */
export function syncedCheck(handle: WatcherHandle): () => boolean {
  const s = handle.synced;
  if (typeof s === 'function') return s;
  if (typeof s === 'boolean') return () => s;
  let done = false;
  void Promise.resolve(s).then(
    () => (done = true),
    () => {},
  );
  return () => done;
}
