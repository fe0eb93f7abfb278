// The webhooks port: Flagger's eight hook types are one HTTP POST each; the workflow decides when to call which
// and what a failure means. Success is Flagger's rule, an HTTP status ≤ 202 (so 203–299 fail, deliberately).
//
// Retries of a gate hook are Temporal's, not a loop inside one attempt: each activity attempt sends one request
// (cut to the attempt's start-to-close timeout), a retryable failure (no answer, timeout, 5xx but 501, 429) throws
// a retryable ApplicationFailure with Flagger's backoff as the next retry delay, and the attempt number 1 + the
// hook's `retries` (at most MAX_WEBHOOK_RETRIES) returns the failure as the outcome. So a hook that keeps failing is
// exactly one failed check per call, in bounded time, and each attempt is visible in Temporal's pending activity.
import { ApplicationFailure, activityInfo } from '@temporalio/activity';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { MAX_WEBHOOK_RETRIES, parseDuration } from '../../api/canary.ts';
import type {
  CanaryEvent,
  CanaryPhase,
  CanaryRef,
  RecordEventsInput,
  Revision,
  WebhookInput,
  WebhookOutcome,
  WebhookRef,
  WebhookSpec,
  WebhooksPort,
} from '../../api/ports.ts';
import {
  activitySignal,
  backoffDelay,
  isRetryableResult,
  postJson,
  redactUrl,
  type PostOptions,
  type PostResult,
} from './http.ts';
import { eventPayload, hookPayload, type WebhookPayload } from './payload.ts';

export { checksumOf, eventPayload, hookPayload, type WebhookPayload } from './payload.ts';

export interface WebhookDeps {
  /** Reserved for hooks whose URL comes from a Secret; plain hooks need no cluster access. */
  kube?: KubeConfig;
  /**
   * The Canary's webhooks as written (URL, metadata, …), read at call time: the workflow only passes WebhookRefs
   * (name, type, URL digest), so URLs and metadata stay out of its history. Undefined when the Canary is gone; throws
   * (retryably) when it cannot be read. Without it, only full WebhookSpecs can be called.
   */
  resolveHooks?: (canary: CanaryRef) => Promise<WebhookSpec[] | undefined>;
  log?: Logger;
  /** Flagger's `-event-webhook`: receives every event of canaries that have no `event` hook of their own. */
  eventWebhook?: string;
  /** First retry delay (default 1 s, doubling up to `backoffMaxMs`, default 30 s: Flagger's); tests shorten them. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Clock for event timestamps (Unix ms). */
  now?: () => number;
}

/** The port's input plus an optional explicit de-duplication key (else derived from the activity context). */
export type CallWebhookInput = WebhookInput & { idempotencyKey?: string };

/** Flagger's success rule, kept for compatibility: 200, 201 and 202 pass; 203 and above fail. */
export function isSuccess(status: number): boolean {
  return status > 0 && status <= 202;
}

const DEFAULT_TIMEOUT = '10s';
/** Events are fire-and-forget for the rollout; a slow sink must not hold up the status projection. */
const DEFAULT_EVENT_TIMEOUT = '5s';

/** The error type of a webhook attempt that Temporal should retry (the outcome is not final yet). */
export const WEBHOOK_RETRY_ERROR = 'WebhookRetry';

/**
 * `callWebhook`: one POST of Flagger's payload, `{ ok, message }` with the response body as message.
 * Inside an activity: one request per attempt; a retryable failure before the last allowed attempt throws a
 * retryable ApplicationFailure (type `WebhookRetry`, next delay = Flagger's backoff), everything else is returned.
 * Outside an activity (tools, tests): the retries run in this call. Never throws for a bad URL or a 4xx.
 */
export function createWebhookActivities(deps: WebhookDeps = {}): WebhooksPort {
  return {
    async callWebhook(input: CallWebhookInput): Promise<WebhookOutcome> {
      const { canary, revision, phase } = input;
      const [hook] = await resolveHooks(deps, canary, [input.hook]);
      if (!hook) return { ok: false, message: missingHook(canary, input.hook) };
      const key = input.idempotencyKey ?? activityKey(hook.name);
      const payload = hookPayload(canary, revision, phase, hook);
      const attempt = activityAttempt();
      const label = { canary: `${canary.name}.${canary.namespace}`, hook: hook.name, type: hook.type };
      if (attempt === undefined) {
        const { outcome } = await send(deps, hook, payload, key, DEFAULT_TIMEOUT);
        deps.log?.info({ ...label, ok: outcome.ok }, 'webhook called');
        return outcome;
      }
      const attempts = 1 + retriesOf(hook);
      const { outcome, result } = await send(deps, { ...hook, retries: 0 }, payload, key, DEFAULT_TIMEOUT, {
        signal: activitySignal(),
        attempt,
      });
      if (!outcome.ok && result && isRetryableResult(result) && attempt < attempts) {
        const nextRetryDelay = backoffDelay(attempt - 1, deps.backoffBaseMs ?? 1000, deps.backoffMaxMs ?? 30_000);
        deps.log?.info({ ...label, attempt, of: attempts, nextRetryDelay }, 'webhook attempt failed, retrying');
        throw ApplicationFailure.create({
          type: WEBHOOK_RETRY_ERROR,
          message: `${outcomeOf(hook, { ...result, attempts: 1 }).message} (attempt ${attempt} of ${attempts})`,
          nextRetryDelay,
        });
      }
      deps.log?.info({ ...label, ok: outcome.ok, attempt }, 'webhook called');
      return outcome;
    },
  };
}

/** The hook's `retries`, capped at MAX_WEBHOOK_RETRIES. */
function retriesOf(hook: WebhookSpec): number {
  return typeof hook.retries === 'number' ? Math.min(Math.max(0, hook.retries), MAX_WEBHOOK_RETRIES) : 0;
}

/** The attempt number of the running activity; undefined outside one. */
function activityAttempt(): number | undefined {
  try {
    return activityInfo().attempt;
  } catch {
    return undefined;
  }
}

export interface PostEventInput {
  canary: CanaryRef;
  revision: Revision;
  phase: CanaryPhase;
  event: CanaryEvent;
  /**
   * The canary's `event` hooks (WebhookRefs are read from the Canary); when empty, the global event webhook (if
   * any) gets the event.
   */
  hooks: (WebhookRef | WebhookSpec)[];
  /** Stable per event (e.g. run id + sequence) so a retried projection can be de-duplicated by receivers. */
  idempotencyKey?: string;
  /** Unix ms; defaults to now. */
  timestamp?: number;
}

/** Posts one event to its hooks. Best effort, as in Flagger: failures are logged and returned, never thrown. */
export async function postEvent(deps: WebhookDeps, input: PostEventInput): Promise<WebhookOutcome[]> {
  const hooks = eventTargets(deps, await resolveHooks(deps, input.canary, input.hooks));
  const timestamp = input.timestamp ?? (deps.now ?? Date.now)();
  const outcomes: WebhookOutcome[] = [];
  // Sequential, so a receiver sees the events of one canary in the order they happened.
  for (const hook of hooks) {
    const payload = eventPayload(input.canary, input.revision, input.phase, hook, { ...input.event, timestamp });
    const key = input.idempotencyKey ? `${input.idempotencyKey}/${hook.name}` : undefined;
    const { outcome } = await send(deps, hook, payload, key, DEFAULT_EVENT_TIMEOUT);
    if (!outcome.ok) {
      deps.log?.warn(
        { canary: `${input.canary.name}.${input.canary.namespace}`, hook: hook.name, error: outcome.message },
        'error sending event to webhook',
      );
    }
    outcomes.push(outcome);
  }
  return outcomes;
}

/** All events of one `recordEvents` call, in order, each keyed by run id + sequence. */
export async function postEvents(
  deps: WebhookDeps,
  input: Pick<RecordEventsInput, 'canary' | 'runId' | 'firstSequence' | 'events' | 'eventHooks' | 'revision' | 'phase'>,
): Promise<void> {
  for (const [i, event] of input.events.entries()) {
    await postEvent(deps, {
      canary: input.canary,
      revision: input.revision,
      phase: input.phase,
      event,
      hooks: input.eventHooks,
      idempotencyKey: `canary/${input.canary.namespace}/${input.canary.name}/${input.runId}/event-${input.firstSequence + i}`,
    });
  }
}

/**
 * The hooks to call, as written in the Canary: a full WebhookSpec as given, a WebhookRef by name and type from the
 * Canary read now (resolveHooks). A ref the Canary no longer has (edited or deleted since) is left out.
 */
export async function resolveHooks(
  deps: WebhookDeps,
  canary: CanaryRef,
  hooks: (WebhookRef | WebhookSpec)[],
): Promise<WebhookSpec[]> {
  const refs = hooks.filter((h) => !isSpec(h));
  const written = refs.length > 0 && deps.resolveHooks ? ((await deps.resolveHooks(canary)) ?? []) : [];
  return hooks.flatMap((h) => {
    if (isSpec(h)) return [h];
    const found = written.find((w) => w.name === h.name && w.type === h.type);
    return found ? [found] : [];
  });
}

function isSpec(h: WebhookRef | WebhookSpec): h is WebhookSpec {
  return typeof (h as { url?: unknown }).url === 'string';
}

function missingHook(canary: CanaryRef, hook: WebhookRef | WebhookSpec): string {
  return `webhook ${hook.name} (${hook.type}) not found in canary ${canary.name}.${canary.namespace}`;
}

function eventTargets(deps: WebhookDeps, hooks: WebhookSpec[]): WebhookSpec[] {
  const own = hooks.filter((h) => h.type === 'event');
  if (own.length > 0 || !deps.eventWebhook) return own;
  return [{ name: 'events', type: 'event', url: deps.eventWebhook }];
}

/** One hook call (with its in-call retries, if any); `result` is absent when the hook could not be sent at all. */
async function send(
  deps: WebhookDeps,
  hook: WebhookSpec,
  payload: WebhookPayload,
  idempotencyKey: string | undefined,
  defaultTimeout: string,
  extra: { signal?: AbortSignal; attempt?: number } = {},
): Promise<{ outcome: WebhookOutcome; result?: PostResult }> {
  let options: PostOptions;
  try {
    options = postOptions(deps, hook, defaultTimeout);
    new URL(hook.url);
  } catch (err) {
    const message = `invalid webhook ${hook.name}: ${err instanceof Error ? err.message : String(err)}`;
    return { outcome: { ok: false, message } };
  }
  if (idempotencyKey) options.headers = { 'idempotency-key': idempotencyKey };
  options.signal = extra.signal;
  const result = await postJson(hook.url, payload, options);
  // Attempts made by Temporal retries count like attempts made in the call.
  if (extra.attempt !== undefined) result.attempts = extra.attempt;
  return { outcome: outcomeOf(hook, result), result };
}

function postOptions(deps: WebhookDeps, hook: WebhookSpec, defaultTimeout: string): PostOptions {
  // Flagger treats a timeout shorter than two characters ("", "5") as unset.
  const timeout = typeof hook.timeout === 'string' && hook.timeout.length >= 2 ? hook.timeout : defaultTimeout;
  return {
    timeoutMs: parseDuration(timeout),
    retries: retriesOf(hook),
    insecureTLS: hook.disableTLS === true,
    backoffBaseMs: deps.backoffBaseMs,
    backoffMaxMs: deps.backoffMaxMs,
  };
}

/** The response body is the message (Flagger's error text), so a gate can say why it said no. */
export function outcomeOf(hook: Pick<WebhookSpec, 'url'>, r: PostResult): WebhookOutcome {
  const tries = r.attempts > 1 ? ` (${r.attempts} attempts)` : '';
  if (r.status === 0) return { ok: false, message: `POST ${redactUrl(hook.url)}: ${r.error ?? 'no response'}${tries}` };
  const body = r.body.trim();
  if (isSuccess(r.status)) return { ok: true, message: body || `status ${r.status}` };
  return { ok: false, message: (body || `status ${r.status}`) + tries };
}

/**
 * Workflow id + run id + activity id + hook name: stable across retries of the same activity (Temporal keeps the
 * activity id), different for the next call of the same hook, so receivers can de-duplicate our at-least-once
 * deliveries. Outside an activity (tests, tools) there is no key.
 */
function activityKey(hookName: string): string | undefined {
  try {
    const info = activityInfo();
    const wf = info.workflowExecution;
    // Standalone activities (no workflow) have no execution to key on.
    return wf ? `${wf.workflowId}/${wf.runId}/${info.activityId}/${hookName}` : undefined;
  } catch {
    return undefined;
  }
}
