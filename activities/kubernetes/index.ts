// The Kubernetes activities: observe, targets (primary, configs, HPA, scaling), services, status and events,
// and the finalizer. Each is idempotent: server-side apply or declarative merge patches, named events.
import type { V1DaemonSet, V1Deployment, V1Service } from '@kubernetes/client-node';
import type {
  CanaryEvent,
  CanaryRef,
  ObservePort,
  Observation,
  PromoteResult,
  Readiness,
  Revision,
  RecordEventsInput,
  Routes,
  ScaleInput,
  StatusPort,
  TargetInput,
  TargetsPort,
} from '../../api/ports.ts';
import { isKnativeService, type Canary } from '../../api/canary.ts';
import { parseCanary, parseCanaryForRouting } from '../../api/validate.ts';
import type { Provider } from '../../api/canary.ts';
import { toRolloutSpec } from '../../workflows/spec-from-canary.ts';
import type { ActivityDeps } from '../deps.ts';
import { describeError, makeKube, mergePatch, type Kube } from './client.ts';
import { canaryId, invalidSpec, loadCanary, readCanary, targetNotFound, type RawCanary } from './canary.ts';
import { specErrorMessage } from '../routers/index.ts';
import { checksums } from './configs.ts';
import { revisionHash } from '../../worker/revision.ts';
import { ensureFinalizer, finalizeCanary, type FinalizeOptions } from './finalizer.ts';
import { activityHeartbeat, awaitReadiness } from './await-readiness.ts';
import { reconcileServices, servicePlan } from './services.ts';
import {
  initializeServiceTarget,
  isServiceTarget,
  promoteServiceTarget,
  readService,
  serviceRevisionHash,
} from './service-target.ts';
import { createKnativeTarget } from './knative-target.ts';
import type { KnativeService } from '../routers/knative-service.ts';
import { pauseTargetScaledObject, readScaledObject, reconcilePrimaryScaledObject } from './scaledobject.ts';
import {
  canaryEvent,
  createEvent,
  eventName,
  nextCondition,
  patchStatus,
  problemEventName,
  statusPatch,
  trackedConfigsPatch,
} from './status.ts';
import {
  applyPrimary,
  readAutoscaler,
  readConfigs,
  readWorkload,
  reconcilePrimaryHpa,
  writePrimaryConfigs,
} from './targets.ts';
import {
  DEFAULT_SELECTOR_LABELS,
  SCALE_TO_ZERO_NODE_SELECTOR,
  isWorkloadKind,
  missingSelectorMessage,
  primaryName,
  readiness,
  replicasFromZero,
  selectorLabel,
  type Workload,
  type WorkloadKind,
} from './workload.ts';

export interface KubernetesActivityOptions {
  /** Current routes from the router (observe reports them); default: all traffic on the primary. */
  getRoutes?: (input: { canary: CanaryRef }) => Promise<Routes>;
  /**
   * Posts one new event to the canary's `event` webhooks (the webhooks activities implement it); best effort. `raw`:
   * the Canary as recordEvents read it, whose hooks (URLs) the refs of `input.eventHooks` name.
   */
  postEvent?: (input: RecordEventsInput, event: CanaryEvent, sequence: number, raw: RawCanary) => Promise<void>;
  /** finalizeCanary: the router's finalize (restore adopted routes), after the apex Service is reverted. */
  finalizeRoutes?: FinalizeOptions['finalizeRoutes'];
  /** finalizeCanary: posts the Terminating/Terminated events to the event webhooks; best effort. */
  postLifecycleEvent?: FinalizeOptions['postEvent'];
}

export interface KubernetesActivities extends ObservePort, TargetsPort, StatusPort {
  /** Apex, primary and canary Services (used by the kubernetes router's reconcileRoutes). */
  reconcileServices(input: { canary: CanaryRef }): Promise<void>;
  /**
   * revertOnDeletion of a Canary being deleted: Terminating event, target restored and ready, adopted apex Service
   * on the target, routes finalized, finalizer released (order in finalizer.ts). Idempotent; a no-op for a Canary
   * that is gone, not being deleted, or without the finalizer. The rollout workflow calls it as its last step.
   */
  finalizeCanary(input: { canary: CanaryRef }): Promise<void>;
}

const ALL_PRIMARY: Routes = { primary: 100, canary: 0, mirrored: false };

/** A Canary as read and validated. */
type Loaded = { raw: RawCanary; canary: Canary };

/** A Canary together with its resolved target, as most activities need it. */
interface Resolved {
  raw: RawCanary;
  canary: Canary;
  kind: WorkloadKind;
  target: Workload;
  selector: { label: string; value: string };
}

/** How many warning event names a worker remembers (a few per Canary spec at most). */
const WARNED_MAX = 10_000;

export function createKubernetesActivities(
  deps: ActivityDeps,
  options: KubernetesActivityOptions = {},
): KubernetesActivities {
  const kube: Kube = makeKube(deps.kube);
  const log = deps.log.child({ activities: 'kubernetes' });
  const now = () => (deps.clock ? deps.clock() : new Date());
  const labels = deps.selectorLabels ?? DEFAULT_SELECTOR_LABELS;
  const includeLabelPrefix = deps.includeLabelPrefix ?? [];
  /** Names of the warning events this process created (see reportWarnings), oldest first. */
  const warned = new Set<string>();

  /**
   * Canary, target and selector label, or a clear condition + Warning event and a non-retryable failure.
   * `routing`: accept a spec whose analysis is invalid (parseCanaryForRouting), for what a rollback needs.
   */
  async function resolve(ref: CanaryRef, routing = false, loaded?: Loaded): Promise<Resolved> {
    const { raw, canary } = loaded ?? (await load(ref, routing));
    const { kind, name } = canary.spec.targetRef;
    if (!isWorkloadKind(kind)) throw invalidSpec(`targetRef.kind ${kind} is not supported by fledge yet`);
    const target = await readWorkload(kube, kind, ref.namespace, name);
    if (!target) {
      const message = `${kind.toLowerCase()} ${name}.${ref.namespace} not found`;
      await reportProblem(raw, 'TargetNotFound', message);
      throw targetNotFound(message);
    }
    const selector = selectorLabel(target, labels);
    if (!selector) {
      const message = missingSelectorMessage(kind, target, labels);
      await reportProblem(raw, 'InvalidTarget', message);
      throw invalidSpec(message);
    }
    return { raw, canary, kind, target, selector };
  }

  /**
   * What the spec asks for that its provider cannot do and fledge therefore ignores (parseCanary's warnings, e.g.
   * `analysis.mirror is ignored for the nginx provider`): one Warning event per warning and Canary generation.
   * The event name is derived from both, so a repeat is a 409; `warned` spares the apiserver the repeats.
   */
  async function reportWarnings(raw: RawCanary, warnings: string[]): Promise<void> {
    for (const message of warnings) {
      const name = problemEventName(raw, message);
      if (warned.has(name)) continue;
      await createEvent(kube, canaryEvent(raw, name, { type: 'Warning', message }, now()));
      log.warn({ canary: canaryId(raw.metadata) }, message);
      if (warned.size >= WARNED_MAX) warned.delete(warned.values().next().value!);
      warned.add(name);
    }
  }

  /** A target problem: the Promoted condition says why (status False), and one Warning event per problem. */
  async function reportProblem(raw: RawCanary, reason: string, message: string): Promise<void> {
    log.warn({ canary: canaryId(raw.metadata), reason }, message);
    const conditions = nextCondition(raw.status?.conditions, { status: 'False', reason, message }, now());
    if (conditions) await patchStatus(kube, raw, { conditions });
    await createEvent(kube, canaryEvent(raw, problemEventName(raw, message), { type: 'Warning', message }, now()));
  }

  async function loadRoutingCanary(ref: CanaryRef): Promise<{ raw: RawCanary; canary: Canary }> {
    const raw = await readCanary(kube, ref);
    if (!raw) throw targetNotFound(`canary ${ref.name}.${ref.namespace} not found`);
    const parsed = parseCanaryForRouting(raw, { defaultProvider: deps.defaultProvider as Provider | undefined });
    if (!parsed.ok) throw invalidSpec(`invalid spec: ${specErrorMessage(parsed.errors)}`);
    return { raw, canary: parsed.canary };
  }

  /** Minimum replicas of the target's autoscaler: HPA minReplicas or ScaledObject minReplicaCount. */
  async function hpaMin(canary: Canary): Promise<number | undefined> {
    if (canary.spec.autoscalerRef?.kind === 'ScaledObject')
      return (await readScaledObject(kube, canary))?.spec?.minReplicaCount;
    return (await readAutoscaler(kube, canary))?.spec?.minReplicas;
  }

  /** Readiness of the primary (as read; undefined: absent) and of the canary (the target). */
  function readinessOf(r: Resolved, primary: Workload | undefined): { primary: Readiness; canary: Readiness } {
    const a = r.canary.spec.analysis;
    const deadline = r.canary.spec.progressDeadlineSeconds;
    return {
      primary: primary
        ? readiness(r.kind, primary, deadline, a.primaryReadyThreshold, now())
        : { ready: false, message: `${r.kind.toLowerCase()} ${primaryName(r.target.metadata!.name!)} not found` },
      canary: readiness(r.kind, r.target, deadline, a.canaryReadyThreshold, now()),
    };
  }

  async function writeTracked(r: Resolved, configs: Record<string, string>): Promise<void> {
    const current = r.raw.status?.trackedConfigs ?? {};
    const same =
      Object.keys(current).length === Object.keys(configs).length &&
      Object.entries(configs).every(([k, v]) => current[k] === v);
    if (!same) await patchStatus(kube, r.raw, { trackedConfigs: trackedConfigsPatch(r.raw, configs) });
  }

  /**
   * Primary and canary readiness of the Canary's target, whatever its kind; unknown when the target is missing.
   * A workload and its primary are read at the same time.
   */
  async function readinessOfTarget(raw: RawCanary, canary: Canary): Promise<Pick<Observation, 'primary' | 'canary'>> {
    const ref = { namespace: raw.metadata.namespace, name: raw.metadata.name };
    const { kind, name } = canary.spec.targetRef;
    if (isKnativeService(canary.spec.targetRef)) {
      const svc = await knative.read(ref.namespace, name);
      return svc ? knative.readiness(svc) : unknownReadiness(`knative service ${name} not found`);
    }
    if (isServiceTarget(canary.spec.targetRef)) return serviceReadiness(ref, name);
    if (!isWorkloadKind(kind)) return unknownReadiness(`${kind.toLowerCase()} ${name} not found`);
    const [target, primary] = await Promise.all([
      readWorkload(kube, kind, ref.namespace, name),
      readWorkload(kube, kind, ref.namespace, primaryName(name)),
    ]);
    const selector = target && selectorLabel(target, labels);
    if (!target || !selector) return unknownReadiness(`${kind.toLowerCase()} ${name} not found`);
    return readinessOf({ raw, canary, kind, target, selector }, primary);
  }

  /**
   * Write the primary from the target (its template only when new, or when promoting). `fence`: the revision hash
   * the workflow analysed; when the template and configs just read hash to something else, nothing is written and
   * the current revision is returned (the copy below is of exactly what was read, so what was checked is copied).
   */
  async function syncPrimary(r: Resolved, revision: string, init: boolean, fence?: string): Promise<Revision | void> {
    const ns = r.raw.metadata.namespace;
    // Independent reads in one round trip's time (a rollout's start waits on this activity).
    const [existing, hpa, so] = await Promise.all([
      readWorkload(kube, r.kind, ns, primaryName(r.target.metadata!.name!)),
      readAutoscaler(kube, r.canary),
      readScaledObject(kube, r.canary),
    ]);
    const copyTemplate = !init || !existing;
    const configs = copyTemplate && deps.configTracking !== false ? await readConfigs(kube, ns, r.target) : [];
    if (fence) {
      const current = revisionHash(r.target.spec?.template, checksums(configs));
      if (current !== fence) return { hash: current, generation: r.target.metadata?.generation ?? 0 };
    }
    await ensureFinalizer(kube, r.raw, r.canary.spec.revertOnDeletion);
    // Flagger's Initialize leaves an existing primary alone: it is only changed by a promotion.
    if (copyTemplate) {
      await writePrimaryConfigs(kube, r.raw, configs);
      await applyPrimary(
        kube,
        {
          ...r,
          configs,
          revision,
          includeLabelPrefix,
          hpaMinReplicas: hpa?.spec?.minReplicas ?? so?.spec?.minReplicaCount,
        },
        existing,
      );
      await writeTracked(r, checksums(configs));
    }
    const ref = r.canary.spec.autoscalerRef;
    if (hpa) await reconcilePrimaryHpa(kube, r.raw, hpa, r.target.metadata!.name!, init);
    else if (so && ref) await reconcilePrimaryScaledObject(kube, r.raw, so, ref, r.target.metadata!.name!, init);
    else if (ref) log.warn({ canary: canaryId(r.raw.metadata) }, `autoscaler ${ref.kind} ${ref.name} not found`);
  }

  /** The Canary, validated (`routing`: only what routing and a rollback need, parseCanaryForRouting). */
  async function load(ref: CanaryRef, routing = false): Promise<Loaded> {
    return routing ? loadRoutingCanary(ref) : loadCanary(kube, ref, deps.defaultProvider);
  }

  /**
   * The Canary and its target Service when `targetRef` is a core `v1` Service, else undefined (a workload target,
   * for resolve). A missing Service: the Promoted condition and a Warning say so, and a `TargetNotFound` failure.
   */
  async function resolveServiceTarget(
    ref: CanaryRef,
    { raw, canary }: Loaded,
  ): Promise<{ raw: RawCanary; canary: Canary; target: V1Service } | undefined> {
    if (!isServiceTarget(canary.spec.targetRef)) return undefined;
    const target = await readService(kube, ref.namespace, canary.spec.targetRef.name);
    if (!target) {
      const message = `service ${canary.spec.targetRef.name}.${ref.namespace} not found`;
      await reportProblem(raw, 'TargetNotFound', message);
      throw targetNotFound(message);
    }
    return { raw, canary, target };
  }

  const knative = createKnativeTarget(deps.kube);

  /**
   * The Canary and its Knative Service when `targetRef` is one (knative-target.ts), else undefined. A missing
   * Service: the Promoted condition and a Warning say so, and a `TargetNotFound` failure.
   */
  async function resolveKnative(ref: CanaryRef, { raw, canary }: Loaded): Promise<KnativeService | undefined> {
    if (!isKnativeService(canary.spec.targetRef)) return undefined;
    const svc = await knative.read(ref.namespace, canary.spec.targetRef.name);
    if (svc) return svc;
    const message = `knative service ${canary.spec.targetRef.name}.${ref.namespace} not found`;
    await reportProblem(raw, 'TargetNotFound', message);
    throw targetNotFound(message);
  }

  /** A Service target is always ready once it exists (Flagger's ServiceController.IsPrimaryReady/IsCanaryReady). */
  async function serviceReadiness(ref: CanaryRef, name: string): Promise<{ primary: Readiness; canary: Readiness }> {
    if (await readService(kube, ref.namespace, name)) return { primary: { ready: true }, canary: { ready: true } };
    return unknownReadiness(`service ${name} not found`);
  }

  /** Promotion of a Service target, fenced like a workload's: a spec changed since its analysis is not copied. */
  async function promoteService(s: { raw: RawCanary; target: V1Service }, revision: Revision): Promise<PromoteResult> {
    const hash = serviceRevisionHash(s.target.spec);
    if (revision.hash && hash !== revision.hash) {
      log.warn(
        { canary: canaryId(s.raw.metadata), analysed: revision.hash, current: hash },
        'target changed since its analysis; not promoted',
      );
      return { promoted: false, current: { hash, generation: s.target.metadata?.generation ?? 0 } };
    }
    await promoteServiceTarget(kube, s.raw, s.target, includeLabelPrefix);
    return { promoted: true };
  }

  async function checkReadiness({ canary }: TargetInput): Promise<{ primary: Readiness; canary: Readiness }> {
    const loaded = await load(canary);
    const ksvc = await resolveKnative(canary, loaded);
    if (ksvc) return knative.readiness(ksvc);
    const service = await resolveServiceTarget(canary, loaded);
    if (service) return serviceReadiness(canary, service.target.metadata!.name!);
    const r = await resolve(canary, false, loaded);
    const name = primaryName(r.target.metadata!.name!);
    return readinessOf(r, await readWorkload(kube, r.kind, r.raw.metadata.namespace, name));
  }

  return {
    async observe({ canary: ref }): Promise<Observation> {
      const raw = await readCanary(kube, ref);
      if (!raw) return notFound();
      const parseOptions = { defaultProvider: deps.defaultProvider as Provider | undefined };
      const parsed = parseCanary(raw, parseOptions);
      if (parsed.ok) await reportWarnings(raw, parsed.warnings);
      const status = { phase: raw.status?.phase, lastAppliedRevision: raw.status?.lastAppliedSpec };
      const generation = raw.metadata.generation;
      const spec = parsed.ok ? { ok: true as const, spec: toRolloutSpec(parsed.canary) } : parsed;
      // Routes and readiness come from the routing view: they stay observable when only the analysis is invalid.
      const view = parsed.ok ? { ok: true as const, canary: parsed.canary } : parseCanaryForRouting(raw, parseOptions);
      if (!view.ok) return { found: true, spec, ...unknownReadiness('invalid spec'), status, generation };
      // The route and the workloads are read at the same time (one round trip's wait instead of several).
      const [routes, ready] = await Promise.all([
        options.getRoutes ? options.getRoutes({ canary: ref }) : ALL_PRIMARY,
        readinessOfTarget(raw, view.canary),
      ]);
      return { found: true, spec, ...ready, routes, status, generation };
    },

    async initializePrimary({ canary, revision }: TargetInput) {
      const loaded = await load(canary);
      const ksvc = await resolveKnative(canary, loaded);
      if (ksvc) {
        await ensureFinalizer(kube, loaded.raw, loaded.canary.spec.revertOnDeletion);
        if (!(await knative.initialize(loaded.raw, ksvc, revision)))
          throw new Error(`knative service ${ksvc.metadata.name}.${canary.namespace} has no revision yet`);
        return;
      }
      const service = await resolveServiceTarget(canary, loaded);
      if (service) {
        await ensureFinalizer(kube, service.raw, service.canary.spec.revertOnDeletion);
        return initializeServiceTarget(kube, service.raw, service.canary, service.target);
      }
      const r = await resolve(canary, false, loaded);
      // The Services that select the two workloads move no traffic (the apex Service comes with reconcileRoutes), so
      // they are written alongside the primary.
      const spec = r.canary.spec.service;
      const plan = spec && servicePlan(r.raw, r.canary, r.selector, r.target.spec?.template?.spec?.containers);
      await Promise.all([
        syncPrimary(r, revision.hash, true),
        plan && reconcileServices(kube, r.raw, plan, { apex: false }),
      ]);
    },

    async promotePrimary({ canary, revision }: TargetInput): Promise<PromoteResult> {
      const loaded = await load(canary);
      const ksvc = await resolveKnative(canary, loaded);
      if (ksvc) return knative.promote(ksvc, revision);
      const service = await resolveServiceTarget(canary, loaded);
      if (service) return promoteService(service, revision);
      const r = await resolve(canary, false, loaded);
      // A revision without a hash (a target that was missing when the watcher looked) cannot be fenced.
      const current = await syncPrimary(r, revision.hash, false, revision.hash || undefined);
      if (!current) return { promoted: true };
      log.warn(
        { canary: canaryId(r.raw.metadata), analysed: revision.hash, current: current.hash },
        'target changed since its analysis; not promoted',
      );
      return { promoted: false, current };
    },

    async scaleCanary({ canary, direction }: ScaleInput) {
      // A Service target is not scaled; a new revision's "scale up" brings `<name>-canary` in line (Flagger's
      // Initialize runs at every tick), a rollback leaves it as it is.
      const loaded = await load(canary, true);
      // Knative scales its revisions itself (Flagger's ScaleToZero/ScaleFromZero are no-ops for it).
      if (await resolveKnative(canary, loaded)) return;
      const service = await resolveServiceTarget(canary, loaded);
      if (service) {
        if (direction === 'up') await initializeServiceTarget(kube, service.raw, service.canary, service.target);
        return;
      }
      // A rollback under a spec whose analysis turned invalid must still scale the canary down.
      const r = await resolve(canary, true, loaded);
      // KEDA would scale the canary back up: its ScaledObject is paused at 0 while no analysis runs (Flagger's
      // PauseTargetScaler / ResumeTargetScaler around ScaleToZero / ScaleFromZero).
      await pauseTargetScaledObject(kube, r.canary, direction === 'down');
      await scale(kube, r, direction === 'up' ? await upReplicas(r) : 0);
    },

    checkReadiness,

    async awaitReadiness(input) {
      return awaitReadiness({ check: checkReadiness }, input);
    },

    async reconcileServices({ canary }) {
      // A Service target has no generated Services (Flagger's KubernetesNoopRouter).
      const loaded = await load(canary);
      if ((await resolveKnative(canary, loaded)) || (await resolveServiceTarget(canary, loaded))) return;
      const r = await resolve(canary, false, loaded);
      if (!r.canary.spec.service) return;
      const plan = servicePlan(r.raw, r.canary, r.selector, r.target.spec?.template?.spec?.containers);
      await reconcileServices(kube, r.raw, plan);
    },

    async finalizeCanary({ canary }) {
      const raw = await readCanary(kube, canary);
      if (!raw) return;
      await finalizeCanary(kube, raw, {
        labels,
        log,
        now,
        defaultProvider: deps.defaultProvider,
        finalizeRoutes: options.finalizeRoutes,
        heartbeat: () => activityHeartbeat('waiting for the restored target'),
        postEvent: async (raw, event, key) => {
          await options.postLifecycleEvent?.(raw, event, key).catch((err: unknown) => {
            log.warn({ error: describeError(err) }, 'event webhook failed');
          });
        },
      });
    },

    async writeStatus({ canary, status, events }) {
      const raw = await readCanary(kube, canary);
      if (!raw) return;
      // The tick's events are stored before its status: whoever sees the status (`kubectl wait`, a watch) finds
      // the events that explain it. The event webhooks are posted after the status, so a slow one delays neither.
      const created = events ? await createEvents({ ...events, canary }, raw) : [];
      try {
        await patchStatus(kube, raw, statusPatch(raw, status, now()));
      } finally {
        // Also when the status write failed: a retry finds these events stored (409) and would not post them.
        if (events) await postEvents({ ...events, canary }, raw, created);
      }
    },

    recordEvents: async (input: RecordEventsInput) => {
      const raw = await readCanary(kube, input.canary);
      if (raw) await postEvents(input, raw, await createEvents(input, raw));
    },
  };

  /**
   * Stores the events, named by run id + sequence (a retry is a 409, not a second event), in order; returns the
   * indexes of the ones this call created.
   */
  async function createEvents(input: RecordEventsInput, raw: RawCanary): Promise<number[]> {
    const created: number[] = [];
    for (const [i, e] of input.events.entries()) {
      const name = eventName(raw.metadata.name, input.runId, input.firstSequence + i);
      if (await createEvent(kube, canaryEvent(raw, name, e, now()))) created.push(i);
    }
    return created;
  }

  /** Posts the events this call created to the event webhooks (a retried activity must not post twice). */
  async function postEvents(input: RecordEventsInput, raw: RawCanary, created: number[]): Promise<void> {
    if (!options.postEvent) return;
    for (const i of created) {
      await options.postEvent(input, input.events[i]!, input.firstSequence + i, raw).catch((err: unknown) => {
        log.warn({ error: describeError(err) }, 'event webhook failed');
      });
    }
  }

  async function upReplicas(r: Resolved): Promise<number> {
    if (r.kind !== 'Deployment') return 1;
    return replicasFromZero((r.target as V1Deployment).spec?.replicas, await hpaMin(r.canary));
  }
}

/** Deployments: spec.replicas. DaemonSets: Flagger's nodeSelector no node matches (0) or not (up). */
export async function scale(kube: Kube, r: { kind: WorkloadKind; target: Workload }, replicas: number) {
  const name = r.target.metadata!.name!;
  const namespace = r.target.metadata!.namespace!;
  if (r.kind === 'Deployment') {
    if ((r.target as V1Deployment).spec?.replicas === replicas) return;
    await kube.apps.patchNamespacedDeployment(
      { name, namespace, body: { spec: { replicas } }, fieldManager: 'fledge' },
      mergePatch,
    );
    return;
  }
  const selector = (r.target as V1DaemonSet).spec?.template?.spec?.nodeSelector ?? {};
  const down = replicas === 0;
  if ((selector[SCALE_TO_ZERO_NODE_SELECTOR] === 'true') === down) return;
  const body = {
    spec: { template: { spec: { nodeSelector: { [SCALE_TO_ZERO_NODE_SELECTOR]: down ? 'true' : null } } } },
  };
  await kube.apps.patchNamespacedDaemonSet({ name, namespace, body, fieldManager: 'fledge' }, mergePatch);
}

function unknownReadiness(message: string): { primary: Readiness; canary: Readiness } {
  return { primary: { ready: false, message }, canary: { ready: false, message } };
}

function notFound(): Observation {
  return {
    found: false,
    spec: { ok: false, errors: [{ path: '', message: 'canary not found' }] },
    ...unknownReadiness('canary not found'),
    routes: ALL_PRIMARY,
    status: {},
  };
}
