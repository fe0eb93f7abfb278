// The webhooks port: Flagger's eight hook types are one HTTP POST each; the workflow decides when to call which
// and what a failure means. Success is Flagger's rule, an HTTP status ≤ 202 (so 203–299 fail, deliberately).
import { activityInfo } from '@temporalio/activity';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { parseDuration } from '../../api/canary.ts';
import type {
  CanaryEvent,
  CanaryPhase,
  CanaryRef,
  RecordEventsInput,
  Revision,
  WebhookInput,
  WebhookOutcome,
  WebhookSpec,
  WebhooksPort,
} from '../../api/ports.ts';
import { postJson, redactUrl, type PostOptions, type PostResult } from './http.ts';
import { eventPayload, hookPayload, type WebhookPayload } from './payload.ts';

export { checksumOf, eventPayload, hookPayload, type WebhookPayload } from './payload.ts';

export interface WebhookDeps {
  /** Reserved for hooks whose URL comes from a Secret; plain hooks need no cluster access. */
  kube?: KubeConfig;
  log?: Logger;
  /** Flagger's `-event-webhook`: receives every event of canaries that have no `event` hook of their own. */
  eventWebhook?: string;
  /** First retry delay (default 1 s, doubling up to 30 s); tests shorten it. */
  backoffBaseMs?: number;
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

export function createWebhookActivities(deps: WebhookDeps = {}): WebhooksPort {
  return {
    async callWebhook(input: CallWebhookInput): Promise<WebhookOutcome> {
      const { canary, revision, hook, phase } = input;
      const key = input.idempotencyKey ?? activityKey(hook.name);
      const payload = hookPayload(canary, revision, phase, hook);
      const outcome = await send(deps, hook, payload, key, DEFAULT_TIMEOUT);
      deps.log?.info(
        { canary: `${canary.name}.${canary.namespace}`, hook: hook.name, type: hook.type, ok: outcome.ok },
        'webhook called',
      );
      return outcome;
    },
  };
}

export interface PostEventInput {
  canary: CanaryRef;
  revision: Revision;
  phase: CanaryPhase;
  event: CanaryEvent;
  /** The canary's `event` hooks; when empty, the global event webhook (if any) gets the event. */
  hooks: WebhookSpec[];
  /** Stable per event (e.g. run id + sequence) so a retried projection can be de-duplicated by receivers. */
  idempotencyKey?: string;
  /** Unix ms; defaults to now. */
  timestamp?: number;
}

/** Posts one event to its hooks. Best effort, as in Flagger: failures are logged and returned, never thrown. */
export async function postEvent(deps: WebhookDeps, input: PostEventInput): Promise<WebhookOutcome[]> {
  const hooks = eventTargets(deps, input.hooks);
  const timestamp = input.timestamp ?? (deps.now ?? Date.now)();
  const outcomes: WebhookOutcome[] = [];
  // Sequential, so a receiver sees the events of one canary in the order they happened.
  for (const hook of hooks) {
    const payload = eventPayload(input.canary, input.revision, input.phase, hook, { ...input.event, timestamp });
    const key = input.idempotencyKey ? `${input.idempotencyKey}/${hook.name}` : undefined;
    const outcome = await send(deps, hook, payload, key, DEFAULT_EVENT_TIMEOUT);
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

function eventTargets(deps: WebhookDeps, hooks: WebhookSpec[]): WebhookSpec[] {
  const own = hooks.filter((h) => h.type === 'event');
  if (own.length > 0 || !deps.eventWebhook) return own;
  return [{ name: 'events', type: 'event', url: deps.eventWebhook }];
}

async function send(
  deps: WebhookDeps,
  hook: WebhookSpec,
  payload: WebhookPayload,
  idempotencyKey: string | undefined,
  defaultTimeout: string,
): Promise<WebhookOutcome> {
  let options: PostOptions;
  try {
    options = postOptions(deps, hook, defaultTimeout);
    new URL(hook.url);
  } catch (err) {
    return { ok: false, message: `invalid webhook ${hook.name}: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (idempotencyKey) options.headers = { 'idempotency-key': idempotencyKey };
  const result = await postJson(hook.url, payload, options);
  return outcomeOf(hook, result);
}

function postOptions(deps: WebhookDeps, hook: WebhookSpec, defaultTimeout: string): PostOptions {
  // Flagger treats a timeout shorter than two characters ("", "5") as unset.
  const timeout = typeof hook.timeout === 'string' && hook.timeout.length >= 2 ? hook.timeout : defaultTimeout;
  return {
    timeoutMs: parseDuration(timeout),
    retries: typeof hook.retries === 'number' ? hook.retries : 0,
    insecureTLS: hook.disableTLS === true,
    backoffBaseMs: deps.backoffBaseMs,
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
