// What each `fledge` command does. Canaries are read from the apiserver; the live state of a rollout comes from
// its workflow's `status` query; controls are the workflow's updates (validated, so a refusal is printed);
// history is Temporal visibility plus each run's event history (who promoted).
import { hostname, userInfo } from 'node:os';
import * as k8s from '@kubernetes/client-node';
import { WorkflowUpdateStage, isGrpcServiceError, type Client, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter, defineSearchAttributeKey, type Payload } from '@temporalio/common';
import { DURATION_REGEX, parseDuration } from '../api/canary.ts';
import type { CanaryRef } from '../api/ports.ts';
import {
  controlSignals,
  controlUpdates,
  rolloutWorkflowId,
  statusQuery,
  type ControlName,
  type StatusView,
} from '../workflows/controls.ts';
import { CliError, canaryRef, kubeError, message, refText, temporalError, type CliContext } from './context.ts';
import { canaryTable, describeView, historyTable, liveView, type CanaryRow, type HistoryRow } from './render.ts';

export interface Io {
  out(s: string): void;
  err(s: string): void;
  isTTY: boolean;
  /** Resolves when the user interrupts (Ctrl-C); live views stop then. */
  interrupted: Promise<void>;
  sleep(ms: number): Promise<void>;
}

const CANARIES = { group: 'flagger.app', version: 'v1beta1', plural: 'canaries' };
const PHASE = defineSearchAttributeKey('FledgePhase', 'KEYWORD');
const REVISION = defineSearchAttributeKey('FledgeRevision', 'KEYWORD');
const FINAL: readonly string[] = ['Succeeded', 'Failed', 'Initialized'];

// ---------------------------------------------------------------------------------------------------------
// Reading canaries and their live status
// ---------------------------------------------------------------------------------------------------------

interface RawCanary {
  metadata?: { name?: string; namespace?: string };
  spec?: {
    suspend?: boolean;
    analysis?: {
      interval?: string;
      mirror?: boolean;
      stepWeight?: number;
      stepWeights?: number[];
      maxWeight?: number;
      threshold?: number;
    };
  };
  status?: {
    phase?: string;
    canaryWeight?: number;
    failedChecks?: number;
    lastTransitionTime?: string;
    step?: number;
  };
}

export function rowOf(raw: RawCanary): CanaryRow {
  const a = raw.spec?.analysis ?? {};
  const s = raw.status ?? {};
  return {
    namespace: raw.metadata?.namespace ?? '',
    name: raw.metadata?.name ?? '',
    phase: s.phase ?? '',
    weight: s.canaryWeight ?? 0,
    failedChecks: s.failedChecks ?? 0,
    threshold: a.threshold,
    suspended: raw.spec?.suspend ?? false,
    interval: a.interval,
    mirror: a.mirror ?? false,
    stepWeight: a.stepWeight,
    stepWeights: a.stepWeights,
    maxWeight: a.maxWeight,
    lastTransitionTime: s.lastTransitionTime,
    step: s.step,
  };
}

/** The workflow's live view wins over `.status`, which trails it by one projection. */
export function overlay(row: CanaryRow, live: StatusView | undefined): CanaryRow {
  if (!live) return row;
  return {
    ...row,
    phase: live.phase,
    weight: live.weights.canary,
    failedChecks: live.failedChecks,
    threshold: live.threshold,
    step: live.step,
    waitingFor: live.waitingFor,
    paused: live.paused,
    live,
  };
}

async function readCanaries(ctx: CliContext, name: string | undefined, all: boolean): Promise<RawCanary[]> {
  const api = ctx.kube().makeApiClient(k8s.CustomObjectsApi);
  const namespace = ctx.defaultNamespace();
  if (name) {
    const ref = canaryRef(name, ctx);
    try {
      return [(await api.getNamespacedCustomObject({ ...CANARIES, ...ref })) as RawCanary];
    } catch (err) {
      throw kubeError(err, `canary ${refText(ref)}`);
    }
  }
  try {
    const list = all
      ? await api.listClusterCustomObject(CANARIES)
      : await api.listNamespacedCustomObject({ ...CANARIES, namespace });
    return ((list as { items?: RawCanary[] }).items ?? []).sort(byRef);
  } catch (err) {
    throw kubeError(err, all ? 'canaries' : `canaries in ${namespace}`);
  }
}

function byRef(a: RawCanary, b: RawCanary): number {
  const key = (c: RawCanary) => `${c.metadata?.namespace}/${c.metadata?.name}`;
  return key(a).localeCompare(key(b));
}

/** The `status` query of the canary's running workflow; undefined when none runs or Temporal does not answer. */
export async function liveStatus(client: Client, ref: CanaryRef): Promise<StatusView | undefined> {
  const handle = client.workflow.getHandle(rolloutWorkflowId(ref));
  try {
    const d = await handle.describe();
    if (d.status.name !== 'RUNNING') return undefined;
    return await client.connection.withDeadline(Date.now() + 5000, () => handle.query(statusQuery));
  } catch {
    return undefined;
  }
}

async function rows(ctx: CliContext, io: Io, name: string | undefined, all: boolean): Promise<CanaryRow[]> {
  const raws = await readCanaries(ctx, name, all);
  let client: Client | undefined;
  try {
    client = (await ctx.temporal()).client;
  } catch (err) {
    // The apiserver's view is still worth showing; say why the live columns are empty.
    io.err(`fledge: ${message(err)}; showing .status only\n`);
  }
  return Promise.all(
    raws.map(async (raw) => {
      const row = rowOf(raw);
      return client ? overlay(row, await liveStatus(client, row)) : row;
    }),
  );
}

// ---------------------------------------------------------------------------------------------------------
// get / list (and -w)
// ---------------------------------------------------------------------------------------------------------

export interface GetOptions {
  allNamespaces?: boolean;
  output?: string;
  watch?: boolean;
  interval?: string;
  /** Stop a watch after this many refreshes (scripts and tests). */
  count?: string;
}

export async function get(ctx: CliContext, io: Io, name: string | undefined, o: GetOptions): Promise<number> {
  const all = Boolean(o.allNamespaces) && !name;
  if (!o.watch) {
    io.out(render(await rows(ctx, io, name, all), name, o, all));
    return 0;
  }
  const intervalMs = Number(o.interval ?? '2') * 1000;
  const limit = o.count ? Number(o.count) : Infinity;
  let stop = false;
  void io.interrupted.then(() => (stop = true));
  for (let i = 0; i < limit && !stop; i++) {
    const view = render(await rows(ctx, io, name, all), name, o, all);
    io.out(io.isTTY ? `\x1b[2J\x1b[H${view}` : `${view}\n`);
    if (i + 1 < limit) await Promise.race([io.sleep(intervalMs), io.interrupted]);
  }
  return 0;
}

function render(list: CanaryRow[], name: string | undefined, o: GetOptions, all: boolean): string {
  if (o.output === 'json') return JSON.stringify(name ? list[0] : list, null, 2) + '\n';
  if (name && o.watch) return list.map((r) => liveView(r)).join('\n');
  if (list.length === 0) return 'No canaries found.\n';
  return canaryTable(list, { wide: o.output === 'wide', allNamespaces: all });
}

// ---------------------------------------------------------------------------------------------------------
// status: block until the rollout ends (for CI)
// ---------------------------------------------------------------------------------------------------------

export interface StatusOptions {
  timeout?: string;
  interval?: string;
  /** Ignore the outcome of runs started before this (ISO time or a Go duration ago, e.g. 2m). */
  since?: string;
}

/** `--since`: an ISO time, or a Go duration (`90s`, `2m`) before now. */
export function sinceTime(since: string | undefined, now = Date.now()): number | undefined {
  if (!since) return undefined;
  if (DURATION_REGEX.test(since)) return now - parseDuration(since);
  const t = Date.parse(since);
  if (Number.isNaN(t))
    throw new CliError(`--since ${JSON.stringify(since)}: use a time (RFC 3339) or a duration like 2m`, 2);
  return t;
}

export async function status(ctx: CliContext, io: Io, name: string, o: StatusOptions): Promise<number> {
  const ref = canaryRef(name, ctx);
  const { client, namespace } = await ctx.temporal();
  const deadline = o.timeout ? Date.now() + Number(o.timeout) * 1000 : Infinity;
  const intervalMs = Number(o.interval ?? '2') * 1000;
  const since = sinceTime(o.since);
  let last = '';
  let sawActive = false;
  for (;;) {
    let phase = await currentPhase(client, ref, namespace, since);
    // With --since, an outcome of a run older than that is not the answer, unless we saw that run still active.
    if (FINAL.includes(phase.phase)) {
      if (since !== undefined && !sawActive && phase.startedAt < since)
        phase = { ...phase, phase: 'Pending', text: `waiting for a rollout after --since (latest: ${phase.text})` };
    } else sawActive = true;
    const line = `${ref.name}.${ref.namespace}   ${phase.text}`;
    if (line !== last) io.out(`${line}\n`);
    last = line;
    if (phase.phase === 'Succeeded' || phase.phase === 'Initialized') return 0;
    if (phase.phase === 'Failed') return 1;
    if (Date.now() > deadline) throw new CliError(`timed out waiting for ${refText(ref)} (phase ${phase.phase})`);
    const interrupted = await Promise.race([io.sleep(intervalMs).then(() => false), io.interrupted.then(() => true)]);
    if (interrupted) return 130;
  }
}

/** Phase of the latest run: the live query when it runs, else the search attribute the run ended with. */
async function currentPhase(
  client: Client,
  ref: CanaryRef,
  namespace: string,
  since?: number,
): Promise<{ phase: string; text: string; startedAt: number }> {
  const handle = client.workflow.getHandle(rolloutWorkflowId(ref));
  let d;
  try {
    d = await handle.describe();
  } catch (err) {
    // With --since the rollout may simply not exist yet (a brand-new Canary): keep waiting.
    const e = temporalError(err, ref, 'read the status of', namespace);
    if (since !== undefined && e.message.startsWith('no rollout'))
      return { phase: 'Pending', text: 'no rollout yet', startedAt: 0 };
    throw e;
  }
  const startedAt = d.startTime.getTime();
  if (d.status.name === 'RUNNING') {
    try {
      const s = await client.connection.withDeadline(Date.now() + 10_000, () => handle.query(statusQuery));
      const text = `${s.phase}${s.paused ? ' (paused)' : ''}   weight ${s.weights.canary}%   step ${s.step}   waiting for ${s.waitingFor || '-'}`;
      return { phase: s.phase, text, startedAt };
    } catch {
      // No worker answers right now: fall back to the search attribute.
    }
  }
  const phase = d.typedSearchAttributes.get(PHASE) ?? 'Unknown';
  return { phase, text: phase, startedAt };
}

// ---------------------------------------------------------------------------------------------------------
// promote / abort / pause / resume / retry
// ---------------------------------------------------------------------------------------------------------

export interface ControlOptions {
  reason?: string;
  by?: string;
  signal?: boolean;
  timeout?: string;
}

export function defaultActor(env: Record<string, string | undefined>): string {
  if (env.FLEDGE_USER) return env.FLEDGE_USER;
  let user = env.USER ?? 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (containers)
  }
  return `${user}@${hostname()}`;
}

/** gRPC status DEADLINE_EXCEEDED: the call's own deadline passed. */
const DEADLINE_EXCEEDED = 4;

export async function control(
  ctx: CliContext,
  io: Io,
  name: ControlName,
  canary: string,
  o: ControlOptions,
): Promise<number> {
  const ref = canaryRef(canary, ctx);
  const { client, namespace } = await ctx.temporal();
  const input = { by: o.by ?? defaultActor(ctx.env), ...(o.reason ? { reason: o.reason } : {}) };
  const handle = client.workflow.getHandle(rolloutWorkflowId(ref));
  try {
    if (o.signal) {
      await handle.signal(controlSignals[name], input);
      io.out(`${name} signal sent to ${refText(ref)}\n`);
      return 0;
    }
    const seconds = Number(o.timeout ?? '30');
    const deadline = Date.now() + seconds * 1000;
    // Accepted (validator passed) first, then the answer: promote and abort answer once the rollout acted on them.
    const update = await client.connection.withDeadline(deadline, () =>
      handle.startUpdate(controlUpdates[name], { args: [input], waitForStage: WorkflowUpdateStage.ACCEPTED }),
    );
    try {
      const result = await client.connection.withDeadline(deadline, () => update.result());
      io.out(`${refText(ref)}: ${result.message} (phase ${result.phase})\n`);
    } catch (err) {
      if (!isGrpcServiceError(err) || err.code !== DEADLINE_EXCEEDED) throw err;
      io.out(
        `${refText(ref)}: ${name} accepted, not applied within ${seconds}s; it still stands ` +
          `(fledge status ${refText(ref)} shows what became of it)\n`,
      );
    }
    return 0;
  } catch (err) {
    throw temporalError(err, ref, name, namespace);
  }
}

// ---------------------------------------------------------------------------------------------------------
// history / describe
// ---------------------------------------------------------------------------------------------------------

export interface HistoryOptions {
  limit?: string;
  output?: string;
}

export async function history(ctx: CliContext, io: Io, canary: string, o: HistoryOptions): Promise<number> {
  const ref = canaryRef(canary, ctx);
  const { client, namespace } = await ctx.temporal();
  const limit = Number(o.limit ?? '20');
  const out: HistoryRow[] = [];
  try {
    const query = `WorkflowId = '${rolloutWorkflowId(ref).replace(/'/g, "\\'")}'`;
    for await (const ex of client.workflow.list({ query, pageSize: limit })) {
      const facts = await runFacts(client.workflow.getHandle(ex.workflowId, ex.runId));
      out.push({
        runId: ex.runId,
        start: ex.startTime,
        close: ex.closeTime,
        revision: ex.typedSearchAttributes.get(REVISION) ?? facts.revision,
        cause: facts.cause,
        result: ex.typedSearchAttributes.get(PHASE) ?? '',
        status: ex.status.name,
        promotedBy: facts.promotedBy,
      });
      if (out.length >= limit) break;
    }
  } catch (err) {
    throw temporalError(err, ref, 'read the history of', namespace);
  }
  if (out.length === 0) throw new CliError(`no rollout of canary ${refText(ref)} in Temporal namespace ${namespace}`);
  io.out(o.output === 'json' ? JSON.stringify(out, null, 2) + '\n' : historyTable(out));
  return 0;
}

export interface RunFacts {
  revision: string;
  cause: string;
  promotedBy: string[];
  controls: { at: string; name: string; by: string; reason?: string; via: 'update' | 'signal' }[];
}

/** What a run's event history says: its input (revision, cause) and the controls people sent, with who. */
export async function runFacts(handle: WorkflowHandle): Promise<RunFacts> {
  const facts: RunFacts = { revision: '', cause: '', promotedBy: [], controls: [] };
  const h = await handle.fetchHistory();
  for (const e of h.events ?? []) {
    const at = eventTime(e.eventTime);
    const started = e.workflowExecutionStartedEventAttributes;
    if (started) {
      const input = decode(started.input?.payloads?.[0]) as { revision?: { hash?: string }; cause?: string };
      facts.revision = input?.revision?.hash ?? '';
      facts.cause = input?.cause ?? '';
    }
    const update = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input;
    if (update?.name) addControl(facts, at, update.name, update.args?.payloads?.[0], 'update');
    const signal = e.workflowExecutionSignaledEventAttributes;
    if (signal?.signalName) addControl(facts, at, signal.signalName, signal.input?.payloads?.[0], 'signal');
  }
  return facts;
}

const CONTROLS: readonly string[] = ['promote', 'abort', 'pause', 'resume', 'retry'];

function addControl(
  facts: RunFacts,
  at: string,
  name: string,
  payload: Payload | undefined | null,
  via: 'update' | 'signal',
) {
  if (!CONTROLS.includes(name)) return;
  const input = decode(payload) as { by?: string; reason?: string } | undefined;
  const by = input?.by ?? '?';
  facts.controls.push({ at, name, by, reason: input?.reason, via });
  if (name === 'promote' && !facts.promotedBy.includes(by)) facts.promotedBy.push(by);
}

function decode(p: Payload | undefined | null): unknown {
  if (!p) return undefined;
  try {
    return defaultPayloadConverter.fromPayload(p as Payload);
  } catch {
    return undefined;
  }
}

function eventTime(t: { seconds?: unknown; nanos?: number | null } | null | undefined): string {
  if (!t) return '';
  const ms = Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
  return new Date(ms).toISOString();
}

export interface DescribeOptions {
  run?: string;
  output?: string;
}

export async function describe(ctx: CliContext, io: Io, canary: string, o: DescribeOptions): Promise<number> {
  const ref = canaryRef(canary, ctx);
  const { client, namespace } = await ctx.temporal();
  const handle = client.workflow.getHandle(rolloutWorkflowId(ref), o.run);
  let runId: string;
  try {
    runId = (await handle.describe()).runId;
  } catch (err) {
    throw temporalError(err, ref, 'describe', namespace);
  }
  let view: StatusView | undefined;
  try {
    view = await client.connection.withDeadline(Date.now() + 10_000, () => handle.query(statusQuery));
  } catch (err) {
    io.err(`fledge: status query not answered (${message(err).split('\n')[0]}); showing the recorded controls\n`);
  }
  const facts = await runFacts(client.workflow.getHandle(rolloutWorkflowId(ref), runId));
  if (o.output === 'json') {
    io.out(JSON.stringify({ runId, status: view, ...facts }, null, 2) + '\n');
    return 0;
  }
  if (view) io.out(describeView(ref, runId, view));
  io.out(controlsText(facts));
  return 0;
}

function controlsText(f: RunFacts): string {
  const head = `Started by:    ${f.cause || '-'} (revision ${f.revision || '-'})\n`;
  if (f.controls.length === 0) return `${head}Controls:      none\n`;
  const lines = f.controls.map(
    (c) => `  ${c.at}  ${c.name} by ${c.by}${c.reason ? ` (${c.reason})` : ''} via ${c.via}`,
  );
  return `${head}Controls:\n${lines.join('\n')}\n`;
}
