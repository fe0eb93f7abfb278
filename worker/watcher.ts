// The watcher: informers on Canaries, Deployments, DaemonSets, Services (Service targets), ConfigMaps, Secrets and
// the Knative Services Canaries target (one watch each, started on first sight) turn cluster changes into workflow messages the moment they happen (Flagger polls). It keeps no state a restart
// could lose: revisions are fenced by an annotation on the Canary, duplicates are no-ops in the workflow, and a
// re-list replays everything.
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  ListWatch,
  Watch,
  makeInformer,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
  type V1ConfigMap,
  type V1Secret,
  type V1Service,
} from '@kubernetes/client-node';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { CanaryRef, Revision } from '../api/ports.ts';
import {
  CONTROL_NAMES,
  ROLLOUT_WORKFLOW,
  canaryDeletedSignal,
  canaryDeletingSignal,
  controlSignals,
  newRevisionSignal,
  rolloutSearchAttributes,
  rolloutWorkflowId,
  type ControlName,
} from '../workflows/controls.ts';
import type { RolloutInput } from '../workflows/rollout.ts';
import { CANARIES, GROUP, VERSION, describeError, makeKube, mergePatch } from '../activities/kubernetes/client.ts';
import { slimForCache } from './cache-slim.ts';
import type { RawCanary } from '../activities/kubernetes/canary.ts';
import {
  checksums,
  trackedConfigs,
  configRefsOf,
  configKey,
  type ConfigRef,
} from '../activities/kubernetes/configs.ts';
import { FINALIZER } from '../activities/kubernetes/finalizer.ts';
import type { ActivityDeps, AreaOptions } from '../activities/index.ts';
import { isWorkloadKind, type Workload } from '../activities/kubernetes/workload.ts';
import { rolloutMetadata } from './rollout-metadata.ts';
import {
  OBSERVED_ANNOTATION,
  decideRevision,
  formatMark,
  knativeState,
  parseMark,
  serviceState,
  type RevisionMark,
  type TargetState,
} from './revision.ts';
import { isServiceTarget } from '../activities/kubernetes/service-target.ts';
import { isKnativeService } from '../api/canary.ts';
import type { KnativeService } from '../activities/routers/knative-service.ts';
import { startGroupWatcher } from './group-watcher.ts';

export interface WatcherOptions {
  kube: KubeConfig;
  client: Client;
  taskQueue: string;
  log: Logger;
  /** Namespaces to watch; default all. */
  namespaces?: string[];
  /** Re-list a stream that has said nothing for this long; default 5 min. */
  watchdogMs?: number;
  /** Restart backoff after an informer error: first delay and cap; default 500 ms and 30 s. */
  backoffMs?: { initial: number; max: number };
  /**
   * The worker's activity options (componentSettings(config).activities); the watcher reads only `configTracking`
   * from them. It writes nothing of what fledge builds: finalizing a deleted Canary is the rollout workflow's last
   * step (the watcher signals `canaryDeleting`).
   */
  activities?: Omit<ActivityDeps & AreaOptions, 'kube' | 'log'>;
  /** First delay and cap of the retries of a `canaryDeleting` signal that failed (Temporal down); default 2 s and 60 s. */
  deletingBackoffMs?: { initial: number; max: number };
  /** Flagger's `-enable-config-tracking`: false ignores ConfigMap and Secret changes; default true. */
  configTracking?: boolean;
  /** Called after each signal, for metrics and tests. */
  onSignal?: (s: { canary: CanaryRef; signal: string; revision?: Revision; at: number }) => void;
}

export interface Watcher {
  /** Resolves once every informer has listed its objects and is watching. */
  synced: Promise<void>;
  /**
   * The Secrets watched now, `namespace/name`: only those a Canary's target references, none without config
   * tracking (the watcher never lists a namespace's Secrets).
   */
  watchedSecrets(): string[];
  stop(): Promise<void>;
}

/** `flagger.app/<control>: "true"` annotations; `flagger.app/canaryWeight: "0"` means abort (popular guides say so). */
const COMMAND_PREFIX = 'flagger.app/';
const WEIGHT_ANNOTATION = 'flagger.app/canaryWeight';
const BY = 'annotation';

type Kind = 'canary' | 'deployment' | 'daemonset' | 'service' | 'configmap' | 'secret';

export function startWatcher(opts: WatcherOptions): Watcher {
  const log = opts.log.child({ component: 'watcher' });
  const kube = makeKube(opts.kube);
  const tracking = (opts.configTracking ?? opts.activities?.configTracking) !== false;
  const deletingBackoff = opts.deletingBackoffMs ?? { initial: 2000, max: 60_000 };
  const deletingRetries = new Map<string, { timer: NodeJS.Timeout; delay: number }>();
  const namespaces = opts.namespaces?.length ? opts.namespaces : [undefined];
  const watches: ManagedInformer[] = [];
  const caches = new Map<Kind, ObjectCache<KubernetesObject>[]>();
  const queues = new Map<string, Promise<void>>();
  const canaryGenerations = new Map<string, number>();
  // Fences this watcher wrote, by Canary uid: the informer cache shows our own write only a moment later, and a
  // target event in between must not look like a first sight. Lost on restart, when the cache is complete anyway.
  const writtenMarks = new Map<string, RevisionMark>();
  let stopped = false;

  /** One chain per Canary: its events are handled in order, different Canaries in parallel. */
  function enqueue(ref: CanaryRef, what: string, work: () => Promise<void>): void {
    const key = `${ref.namespace}/${ref.name}`;
    const next = (queues.get(key) ?? Promise.resolve())
      .then(() => (stopped ? undefined : work()))
      .catch((err: unknown) => log.error({ canary: key, error: describeError(err) }, `${what} failed`));
    queues.set(key, next);
    void next.finally(() => {
      if (queues.get(key) === next) queues.delete(key);
    });
  }

  function get<T>(kind: Kind, namespace: string, name: string): T | undefined {
    if (kind === 'secret') return secretWatches.get(`${namespace}/${name}`)?.informer.get(name, namespace) as T;
    for (const c of caches.get(kind) ?? []) {
      const found = c.get(name, namespace);
      if (found) return found as unknown as T;
    }
    return undefined;
  }

  /** Cached objects of a kind, in one namespace or (without one) in all. */
  function list<T>(kind: Kind, namespace?: string): T[] {
    return (caches.get(kind) ?? []).flatMap((c) => c.list(namespace) as unknown as T[]);
  }

  // -------------------------------------------------------------------------------------------------------
  // Signals
  // -------------------------------------------------------------------------------------------------------

  /** What the Temporal UI shows of an execution this watcher starts (worker/rollout-metadata.ts). */
  const metadata = (c: RawCanary, ref: CanaryRef, revision: Revision, cause: string) =>
    rolloutMetadata(c, ref, revision, cause, opts.activities?.defaultProvider);

  async function signalWithStart(c: RawCanary, ref: CanaryRef, revision: Revision, cause: string): Promise<void> {
    const input: RolloutInput = { canary: ref, revision, cause };
    await opts.client.workflow.signalWithStart(ROLLOUT_WORKFLOW, {
      workflowId: rolloutWorkflowId(ref),
      taskQueue: opts.taskQueue,
      ...metadata(c, ref, revision, cause),
      typedSearchAttributes: rolloutSearchAttributes(ref, 'Pending', revision.hash),
      args: [input],
      signal: newRevisionSignal,
      signalArgs: [revision],
    });
    log.info({ canary: `${ref.name}.${ref.namespace}`, revision, cause }, 'rollout signalled');
    opts.onSignal?.({ canary: ref, signal: 'newRevision', revision, at: Date.now() });
  }

  /**
   * A Canary spec edit (new `metadata.generation`, same target revision) while no rollout is open: start a run for
   * the revision already applied. It re-derives the Services, the route and the primary's extras from the edited
   * spec, keeping the weights, and ends (workflows/tick.ts syncDerived). A running rollout applies the edit at its
   * own next tick, so an execution that is already running is left alone (WorkflowExecutionAlreadyStarted).
   */
  async function startForSpecEdit(ref: CanaryRef, c: RawCanary, generation: number): Promise<void> {
    const hash = c.status?.lastAppliedSpec;
    if (!hash) return; // never rolled out: the bootstrap run builds everything from the current spec anyway
    const revision: Revision = { hash, generation };
    const input: RolloutInput = { canary: ref, revision, cause: 'spec-edit' };
    try {
      await opts.client.workflow.start(ROLLOUT_WORKFLOW, {
        workflowId: rolloutWorkflowId(ref),
        taskQueue: opts.taskQueue,
        args: [input],
        workflowIdConflictPolicy: 'FAIL',
        ...metadata(c, ref, revision, 'spec-edit'),
        typedSearchAttributes: rolloutSearchAttributes(ref, 'Pending', revision.hash),
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return;
      throw err;
    }
    log.info({ canary: `${ref.name}.${ref.namespace}`, generation: c.metadata.generation }, 'spec edit: sync started');
    opts.onSignal?.({ canary: ref, signal: 'specEdit', revision, at: Date.now() });
  }

  async function signal(ref: CanaryRef, name: string, send: () => Promise<void>): Promise<void> {
    try {
      await send();
      opts.onSignal?.({ canary: ref, signal: name, at: Date.now() });
    } catch (err) {
      // Nothing running for this Canary: a control or a deletion has nothing to act on.
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      log.info({ canary: `${ref.name}.${ref.namespace}`, signal: name }, 'no rollout running; signal dropped');
    }
  }

  // -------------------------------------------------------------------------------------------------------
  // Canary events
  // -------------------------------------------------------------------------------------------------------

  async function onCanary(c: RawCanary): Promise<void> {
    const ref = refOf(c);
    if (c.metadata.deletionTimestamp) {
      if (c.metadata.finalizers?.includes(FINALIZER)) await signalDeletingOrRetry(c);
      return;
    }
    await runCommands(c, ref);
    const seen = canaryGenerations.get(c.metadata.uid);
    canaryGenerations.set(c.metadata.uid, c.metadata.generation ?? 0);
    // Status and annotation writes do not change the generation: only a new or edited spec is looked at here.
    if (seen !== undefined && seen === c.metadata.generation) return;
    await evaluate(c, seen !== undefined);
  }

  /**
   * `canaryDeleting` by signal-with-start (a Canary whose rollout ended gets a workflow that only finalizes): the
   * workflow is the one writer of routes, scaling and status, so it finalizes after the tick in flight.
   * Level-triggered: while the Canary is still being deleted with our finalizer, it is looked at again with backoff
   * (2 s doubling to 60 s) and signalled again, since no further event may come: a signal that failed (Temporal
   * unreachable), or one that reached a run in the moment it completed (a run that returned cannot act on it), or a
   * run that ended without finalizing would otherwise leave the finalizer for ever. Duplicates are no-ops in a
   * running workflow.
   */
  async function signalDeletingOrRetry(c: RawCanary): Promise<void> {
    const ref = refOf(c);
    const key = `${ref.namespace}/${ref.name}`;
    const pending = deletingRetries.get(key);
    if (pending) clearTimeout(pending.timer);
    const delay = pending ? Math.min(pending.delay * 2, deletingBackoff.max) : deletingBackoff.initial;
    try {
      const revision = { hash: c.status?.lastAppliedSpec ?? '', generation: 0 };
      const input: RolloutInput = { canary: ref, revision, cause: 'deleting' };
      await opts.client.workflow.signalWithStart(ROLLOUT_WORKFLOW, {
        workflowId: rolloutWorkflowId(ref),
        taskQueue: opts.taskQueue,
        args: [input],
        typedSearchAttributes: rolloutSearchAttributes(ref, 'Pending', revision.hash),
        staticSummary: `${ref.namespace}/${ref.name}: finalize the deleted Canary (restore the target)`,
        signal: canaryDeletingSignal,
        signalArgs: [],
      });
      log.info({ canary: `${ref.name}.${ref.namespace}`, recheckInMs: delay }, 'canary deletion signalled');
      opts.onSignal?.({ canary: ref, signal: 'canaryDeleting', at: Date.now() });
    } catch (err) {
      log.warn(
        { canary: `${ref.name}.${ref.namespace}`, error: describeError(err), retryInMs: delay },
        'canary deletion not signalled',
      );
    }
    if (stopped) return void deletingRetries.delete(key);
    const timer = setTimeout(() => {
      const now = get<RawCanary>('canary', ref.namespace, ref.name);
      if (now?.metadata.deletionTimestamp && now.metadata.finalizers?.includes(FINALIZER))
        enqueue(ref, 'deletion signal retry', () => signalDeletingOrRetry(now));
      else deletingRetries.delete(key);
    }, delay);
    timer.unref();
    deletingRetries.set(key, { timer, delay });
  }

  async function runCommands(c: RawCanary, ref: CanaryRef): Promise<void> {
    const annotations = c.metadata.annotations ?? {};
    const commands: { control: ControlName; annotation: string }[] = [];
    for (const control of CONTROL_NAMES)
      if (annotations[`${COMMAND_PREFIX}${control}`] === 'true')
        commands.push({ control, annotation: `${COMMAND_PREFIX}${control}` });
    if (annotations[WEIGHT_ANNOTATION] === '0') commands.push({ control: 'abort', annotation: WEIGHT_ANNOTATION });
    if (commands.length === 0) return;
    const handle = opts.client.workflow.getHandle(rolloutWorkflowId(ref));
    for (const { control, annotation } of commands) {
      await signal(ref, control, () => handle.signal(controlSignals[control], { by: BY, reason: annotation }));
    }
    // Delivered: remove the annotations, so a re-list does not deliver them again.
    const remove = Object.fromEntries(commands.map((x) => [x.annotation, null]));
    await patchCanary(c, { metadata: { annotations: remove } });
  }

  async function onCanaryDeleted(c: RawCanary): Promise<void> {
    canaryGenerations.delete(c.metadata.uid);
    pruneKnativeWatches();
    writtenMarks.delete(c.metadata.uid);
    const ref = refOf(c);
    clearTimeout(deletingRetries.get(`${ref.namespace}/${ref.name}`)?.timer);
    deletingRetries.delete(`${ref.namespace}/${ref.name}`);
    const handle = opts.client.workflow.getHandle(rolloutWorkflowId(ref));
    await signal(ref, 'canaryDeleted', () => handle.signal(canaryDeletedSignal));
  }

  // -------------------------------------------------------------------------------------------------------
  // Revisions
  // -------------------------------------------------------------------------------------------------------

  /** Is the Canary's target (with its configs) at a new revision? Then signal-with-start, and move the fence. */
  async function evaluate(c: RawCanary, specEdited = false): Promise<void> {
    const ref = refOf(c);
    const knative = knativeTargetOf(c);
    // Not listed yet (its first list brings us back), or no revision created yet (its status update will).
    if (knative && (!knative.synced || (knative.svc && !knative.svc.status?.latestCreatedRevisionName))) return;
    const service = knative ? undefined : serviceTargetOf(c);
    const target = knative ? knative.svc : (service ?? targetOf(c));
    const bootstrap = !c.status?.phase;
    if (!target) {
      // A new Canary whose target is missing still gets its workflow: it reports the problem on the Canary.
      if (bootstrap && !writtenMarks.has(c.metadata.uid) && !parseMark(mark(c)))
        await signalWithStart(c, ref, { hash: '', generation: 0 }, 'bootstrap');
      return;
    }
    const state = knative
      ? knativeState(target as KnativeService)
      : service
        ? serviceState(service)
        : await workloadState(c, target as Workload);
    const previous = writtenMarks.get(c.metadata.uid) ?? parseMark(mark(c));
    const decision = decideRevision(state, previous, bootstrap ? {} : (c.status ?? {}));
    if (decision.signal) await signalWithStart(c, ref, decision.revision, bootstrap ? 'bootstrap' : 'new-revision');
    else {
      log.debug({ canary: `${ref.name}.${ref.namespace}`, why: decision.why }, 'no new revision');
      if (specEdited && !bootstrap) await startForSpecEdit(ref, c, state.generation);
    }
    if (decision.mark && !sameMark(decision.mark, previous)) {
      await patchCanary(c, { metadata: { annotations: { [OBSERVED_ANNOTATION]: formatMark(decision.mark) } } });
      writtenMarks.set(c.metadata.uid, decision.mark);
    }
  }

  async function workloadState(c: RawCanary, target: Workload): Promise<TargetState> {
    if (tracking) await watchSecretsOf(c.metadata.namespace, target);
    const configs = tracking ? checksums(await trackedConfigs(target.spec?.template?.spec, (r) => configOf(c, r))) : {};
    return { generation: target.metadata?.generation ?? 0, template: target.spec?.template, configs };
  }

  /**
   * Secrets are watched one by one, only those a Canary's target references (a field selector on the name), and
   * only with config tracking on: the watcher never lists or caches the other Secrets of a namespace. Resolves once
   * each referenced Secret's watch has listed it, so a revision is never computed without it; Secrets no target
   * references any more are unwatched.
   */
  async function watchSecretsOf(namespace: string, target: Workload): Promise<void> {
    for (const ref of configRefsOf(target.spec?.template?.spec).values()) {
      const key = `${namespace}/${ref.name}`;
      if (ref.kind !== 'secret' || secretWatches.has(key) || stopped) continue;
      const fieldSelector = `metadata.name=${ref.name}`;
      const w = new ManagedInformer(
        opts.kube,
        `/api/v1/namespaces/${namespace}/secrets`,
        () => core.listNamespacedSecret({ namespace, fieldSelector }),
        { upsert: secretHandler, remove: secretHandler },
        log.child({ watch: `secret ${key}` }),
        { ...informerOptions(), fieldSelector },
      );
      secretWatches.set(key, w);
      await w.start();
    }
    const wanted = new Set<string>();
    for (const canary of list<RawCanary>('canary')) {
      const t = targetOf(canary);
      for (const ref of configRefsOf(t?.spec?.template?.spec).values())
        if (ref.kind === 'secret') wanted.add(`${canary.metadata.namespace}/${ref.name}`);
    }
    for (const ref of configRefsOf(target.spec?.template?.spec).values())
      if (ref.kind === 'secret') wanted.add(`${namespace}/${ref.name}`);
    for (const [key, w] of secretWatches)
      if (!wanted.has(key)) {
        secretWatches.delete(key);
        void w.stop();
      }
  }

  function targetOf(c: RawCanary): Workload | undefined {
    const ref = c.spec?.targetRef as { apiVersion?: string; kind?: string; name?: string } | undefined;
    if (!ref?.name || !ref.kind || !isWorkloadKind(ref.kind)) return undefined;
    return get<Workload>(ref.kind === 'Deployment' ? 'deployment' : 'daemonset', c.metadata.namespace, ref.name);
  }

  function configOf(c: RawCanary, r: ConfigRef): V1ConfigMap | V1Secret | undefined {
    return get(r.kind, c.metadata.namespace, r.name);
  }

  function canariesOf(namespace: string): RawCanary[] {
    return list<RawCanary>('canary', namespace).filter((c) => !c.metadata.deletionTimestamp);
  }

  /** The target of a Canary whose targetRef is a core Service (activities/kubernetes/service-target.ts). */
  function serviceTargetOf(c: RawCanary): V1Service | undefined {
    const ref = c.spec?.targetRef as { apiVersion?: string; kind?: string; name?: string } | undefined;
    if (!ref?.name || !isServiceTarget(ref)) return undefined;
    return get<V1Service>('service', c.metadata.namespace, ref.name);
  }

  /**
   * The Knative Service of a Canary that targets one, from its own watch (a field selector on the name, like the
   * Secrets): started here on first sight and not awaited, so a cluster without Knative's CRDs holds up nothing
   * (the watch retries with backoff and logs why). `synced`: the watch has listed, so a missing `svc` is missing.
   */
  function knativeTargetOf(c: RawCanary): { synced: boolean; svc: KnativeService | undefined } | undefined {
    const ref = c.spec?.targetRef as { apiVersion?: string; kind?: string; name?: string } | undefined;
    if (!ref?.name || !isKnativeService(ref)) return undefined;
    const namespace = c.metadata.namespace;
    const key = `${namespace}/${ref.name}`;
    let w = knativeWatches.get(key);
    if (!w && !stopped) {
      const fieldSelector = `metadata.name=${ref.name}`;
      const q = { group: 'serving.knative.dev', version: 'v1', plural: 'services', namespace };
      const handler = guard<KubernetesObject>('knative service', (o) => onKnativeService(o));
      w = new ManagedInformer(
        opts.kube,
        `/apis/serving.knative.dev/v1/namespaces/${namespace}/services`,
        () =>
          custom.listNamespacedCustomObject({ ...q, fieldSelector }) as Promise<KubernetesListObject<KubernetesObject>>,
        { upsert: handler, remove: handler },
        log.child({ watch: `knative service ${key}` }),
        { ...informerOptions(), fieldSelector },
      );
      knativeWatches.set(key, w);
      // Once listed, look again: a Service that does not exist sends no event.
      void w.start().then(() => onKnativeService({ metadata: { namespace, name: ref.name } }));
    }
    const svc = w?.informer.get(ref.name, namespace) as KnativeService | undefined;
    return { synced: Boolean(svc) || (w?.synced ?? false), svc };
  }

  function onKnativeService(o: KubernetesObject): void {
    const ns = o.metadata?.namespace ?? '';
    for (const c of canariesOf(ns)) {
      const ref = c.spec?.targetRef as { apiVersion?: string; kind?: string; name?: string } | undefined;
      if (isKnativeService(ref) && ref?.name === o.metadata?.name)
        enqueue(refOf(c), 'knative service change', () => evaluate(latest(c)));
    }
  }

  /** Stops the Knative Service watches no Canary targets any more. */
  function pruneKnativeWatches(): void {
    const wanted = new Set(
      list<RawCanary>('canary').flatMap((c) => {
        const ref = c.spec?.targetRef as { apiVersion?: string; kind?: string; name?: string } | undefined;
        return isKnativeService(ref) && ref?.name ? [`${c.metadata.namespace}/${ref.name}`] : [];
      }),
    );
    for (const [key, w] of knativeWatches)
      if (!wanted.has(key)) {
        knativeWatches.delete(key);
        void w.stop();
      }
  }

  function onTarget(kind: 'Deployment' | 'DaemonSet' | 'Service', w: KubernetesObject): void {
    const ns = w.metadata?.namespace ?? '';
    for (const c of canariesOf(ns)) {
      const ref = c.spec?.targetRef as { kind?: string; name?: string } | undefined;
      if (ref?.kind === kind && ref.name === w.metadata?.name && (kind !== 'Service' || isServiceTarget(ref)))
        enqueue(refOf(c), 'target change', () => evaluate(latest(c)));
    }
  }

  function onConfig(kind: 'configmap' | 'secret', obj: KubernetesObject): void {
    if (!tracking) return;
    const ns = obj.metadata?.namespace ?? '';
    const key = configKey({ kind, name: obj.metadata?.name ?? '' });
    for (const c of canariesOf(ns)) {
      const target = targetOf(c);
      if (target && configRefsOf(target.spec?.template?.spec).has(key))
        enqueue(refOf(c), 'config change', () => evaluate(latest(c)));
    }
  }

  /** The newest cached copy (a queued job may run after a later event updated the Canary). */
  function latest(c: RawCanary): RawCanary {
    return get<RawCanary>('canary', c.metadata.namespace, c.metadata.name) ?? c;
  }

  async function patchCanary(c: RawCanary, body: object): Promise<void> {
    await kube.custom.patchNamespacedCustomObject(
      {
        group: GROUP,
        version: VERSION,
        namespace: c.metadata.namespace,
        plural: CANARIES,
        name: c.metadata.name,
        body,
        fieldManager: 'fledge',
      },
      mergePatch,
    );
  }

  // -------------------------------------------------------------------------------------------------------
  // Informers
  // -------------------------------------------------------------------------------------------------------

  const secretWatches = new Map<string, ManagedInformer>();
  const knativeWatches = new Map<string, ManagedInformer>();
  const apps = opts.kube.makeApiClient(AppsV1Api);
  const core = opts.kube.makeApiClient(CoreV1Api);
  const custom = opts.kube.makeApiClient(CustomObjectsApi);

  function informerOptions(): InformerOptions {
    return { watchdogMs: opts.watchdogMs ?? 300_000, backoff: opts.backoffMs ?? { initial: 500, max: 30_000 } };
  }

  function watch(kind: Exclude<Kind, 'secret'>, namespace: string | undefined, on: Handlers): void {
    const { path, listFn } = source(kind, namespace, { apps, core, custom });
    const w = new ManagedInformer(opts.kube, path, listFn, on, log.child({ watch: path }), informerOptions());
    watches.push(w);
    caches.set(kind, [...(caches.get(kind) ?? []), w.informer]);
  }

  const guard =
    <T>(what: string, f: (o: T) => void) =>
    (o: T) => {
      try {
        f(o);
      } catch (err) {
        log.error({ error: describeError(err) }, `${what} handler failed`);
      }
    };

  const secretHandler = guard<KubernetesObject>('secret', (o) => onConfig('secret', o));
  for (const ns of namespaces) {
    watch('canary', ns, {
      upsert: guard<KubernetesObject>('canary', (o) => {
        const c = o as unknown as RawCanary;
        enqueue(refOf(c), 'canary event', () => onCanary(latest(c)));
      }),
      remove: guard<KubernetesObject>('canary delete', (o) => {
        const c = o as unknown as RawCanary;
        enqueue(refOf(c), 'canary deletion', () => onCanaryDeleted(c));
      }),
    });
    const target = (kind: 'Deployment' | 'DaemonSet') => guard<KubernetesObject>(kind, (o) => onTarget(kind, o));
    watch('deployment', ns, { upsert: target('Deployment'), remove: target('Deployment') });
    watch('daemonset', ns, { upsert: target('DaemonSet'), remove: target('DaemonSet') });
    const service = guard<KubernetesObject>('Service', (o) => onTarget('Service', o));
    watch('service', ns, { upsert: service, remove: service });
    // Configs matter only with config tracking; Secrets are watched one by one (watchSecretsOf).
    if (tracking) {
      const config = guard<KubernetesObject>('configmap', (o) => onConfig('configmap', o));
      watch('configmap', ns, { upsert: config, remove: config });
    }
  }

  // Targets and configs first, so the first Canary events find them in the caches.
  const order: ManagedInformer[] = [
    ...watches.filter((w) => !w.path.includes('/canaries')),
    ...watches.filter((w) => w.path.includes('/canaries')),
  ];
  // ReleaseGroups: their workflows are started and told of spec changes by a watcher of their own.
  const groups = startGroupWatcher({
    kube: opts.kube,
    client: opts.client,
    taskQueue: opts.taskQueue,
    log,
    namespaces: opts.namespaces,
  });
  const synced = (async () => {
    for (const w of order) await w.start();
    log.info({ informers: watches.length }, 'watcher synced');
  })();

  return {
    synced,
    watchedSecrets: () => [...secretWatches.keys()].sort(),
    async stop() {
      stopped = true;
      await groups.stop();
      for (const r of deletingRetries.values()) clearTimeout(r.timer);
      await Promise.all([...watches, ...secretWatches.values(), ...knativeWatches.values()].map((w) => w.stop()));
      await Promise.allSettled([...queues.values()]);
    },
  };
}

function refOf(c: RawCanary): CanaryRef {
  return { namespace: c.metadata.namespace, name: c.metadata.name };
}

function mark(c: RawCanary): string | undefined {
  return c.metadata.annotations?.[OBSERVED_ANNOTATION];
}

function sameMark(a: RevisionMark, b: RevisionMark | undefined): boolean {
  return Boolean(b) && a.generation === b!.generation && a.configs === b!.configs && a.hash === b!.hash;
}

interface Clients {
  apps: AppsV1Api;
  core: CoreV1Api;
  custom: CustomObjectsApi;
}

type ListFn = () => Promise<KubernetesListObject<KubernetesObject>>;

function source(kind: Exclude<Kind, 'secret'>, ns: string | undefined, c: Clients): { path: string; listFn: ListFn } {
  const scope = (api: string, plural: string) => (ns ? `${api}/namespaces/${ns}/${plural}` : `${api}/${plural}`);
  switch (kind) {
    case 'canary': {
      const q = { group: GROUP, version: VERSION, plural: CANARIES };
      return {
        path: scope(`/apis/${GROUP}/${VERSION}`, CANARIES),
        listFn: () =>
          (ns
            ? c.custom.listNamespacedCustomObject({ ...q, namespace: ns })
            : c.custom.listClusterCustomObject(q)) as Promise<KubernetesListObject<KubernetesObject>>,
      };
    }
    case 'deployment':
      return {
        path: scope('/apis/apps/v1', 'deployments'),
        listFn: () =>
          ns ? c.apps.listNamespacedDeployment({ namespace: ns }) : c.apps.listDeploymentForAllNamespaces(),
      };
    case 'daemonset':
      return {
        path: scope('/apis/apps/v1', 'daemonsets'),
        listFn: () => (ns ? c.apps.listNamespacedDaemonSet({ namespace: ns }) : c.apps.listDaemonSetForAllNamespaces()),
      };
    case 'service':
      return {
        path: scope('/api/v1', 'services'),
        listFn: () => (ns ? c.core.listNamespacedService({ namespace: ns }) : c.core.listServiceForAllNamespaces()),
      };
    case 'configmap':
      return {
        path: scope('/api/v1', 'configmaps'),
        listFn: () => (ns ? c.core.listNamespacedConfigMap({ namespace: ns }) : c.core.listConfigMapForAllNamespaces()),
      };
  }
}

interface InformerOptions {
  watchdogMs: number;
  backoff: { initial: number; max: number };
  /** Only the objects this field selector matches (e.g. `metadata.name=x`): list and watch both. */
  fieldSelector?: string;
}

interface Handlers {
  upsert: (o: KubernetesObject) => void;
  remove: (o: KubernetesObject) => void;
}

/**
 * A client-node informer that stays up: client-node stops an informer on any error but 410 Gone, so we restart it
 * with exponential backoff; and a watchdog restarts (re-lists) a stream that has been silent for too long.
 */
class ManagedInformer {
  readonly informer: Informer<KubernetesObject> & ObjectCache<KubernetesObject>;
  readonly path: string;
  private lastActivity = Date.now();
  private delay: number;
  private stopped = false;
  private failed = false;
  /** The first list succeeded: the cache holds every object there was. */
  synced = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly watchdog: NodeJS.Timeout;
  private readonly log: Logger;
  private readonly opts: InformerOptions;
  private ready!: () => void;
  private readonly readyPromise = new Promise<void>((r) => (this.ready = r));

  constructor(kc: KubeConfig, path: string, listFn: ListFn, on: Handlers, log: Logger, opts: InformerOptions) {
    this.path = path;
    this.log = log;
    this.opts = opts;
    this.delay = opts.backoff.initial;
    this.informer = opts.fieldSelector
      ? new ListWatch(path, new Watch(kc), listFn, false, undefined, opts.fieldSelector)
      : makeInformer(kc, path, listFn);
    const alive = () => {
      this.lastActivity = Date.now();
      this.delay = opts.backoff.initial;
    };
    this.informer.on('add', (o) => (alive(), on.upsert(slimForCache(o))));
    this.informer.on('update', (o) => (alive(), on.upsert(slimForCache(o))));
    this.informer.on('delete', (o) => (alive(), on.remove(o)));
    this.informer.on('connect', () => (this.lastActivity = Date.now()));
    this.informer.on('error', (err) => this.onError(err));
    this.watchdog = setInterval(() => this.checkSilence(), Math.max(1000, Math.floor(opts.watchdogMs / 4)));
    this.watchdog.unref();
  }

  /** Resolves after the first successful list; retries in the background until then. */
  async start(): Promise<void> {
    await this.attempt();
    await this.readyPromise;
  }

  private async attempt(): Promise<void> {
    if (this.stopped) return;
    this.failed = false;
    await this.informer.start();
    if (!this.failed) {
      this.synced = true;
      this.ready();
    }
  }

  private onError(err: unknown): void {
    this.failed = true;
    if (this.stopped) return;
    this.log.warn({ error: describeError(err), retryInMs: this.delay }, 'informer stopped; restarting');
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => void this.attempt().catch((e: unknown) => this.onError(e)), this.delay);
    this.delay = Math.min(this.delay * 2, this.opts.backoff.max);
  }

  private checkSilence(): void {
    if (this.stopped || this.failed || Date.now() - this.lastActivity < this.opts.watchdogMs) return;
    this.log.info({ silentMs: Date.now() - this.lastActivity }, 'watch silent; re-listing');
    this.lastActivity = Date.now();
    void this.informer
      .stop()
      .then(() => this.attempt())
      .catch((e: unknown) => this.onError(e));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    clearInterval(this.watchdog);
    await this.informer.stop();
  }
}
