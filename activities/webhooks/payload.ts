// Flagger's webhook payload (CanaryWebhookPayload): what every receiver written for Flagger — the loadtester,
// custom gates, event sinks — parses.
import type { CanaryPhase, CanaryRef, Revision, WebhookSpec } from '../../api/ports.ts';

export interface WebhookPayload {
  name: string;
  namespace: string;
  phase: CanaryPhase;
  checksum: string;
  /** Omitted when empty, as Go's `json:"metadata,omitempty"` does. */
  metadata?: Record<string, string>;
}

/**
 * Flagger hashes `.status.lastAppliedSpec` + tracked config checksums. fledge's revision hash already covers the
 * pod template and the tracked configs, so it is the checksum: the same revision always sends the same value,
 * and receivers can use it to tell a new revision from a retry of the old one.
 */
export function checksumOf(revision: Revision): string {
  return revision.hash;
}

export function hookPayload(
  canary: CanaryRef,
  revision: Revision,
  phase: CanaryPhase,
  hook: WebhookSpec,
): WebhookPayload {
  const payload: WebhookPayload = {
    name: canary.name,
    namespace: canary.namespace,
    phase,
    checksum: checksumOf(revision),
  };
  if (hook.metadata && Object.keys(hook.metadata).length > 0) payload.metadata = { ...hook.metadata };
  return payload;
}

export interface EventFields {
  message: string;
  /** Kubernetes event type, `Normal` or `Warning`. */
  type: string;
  /** Unix milliseconds. */
  timestamp: number;
}

/** Event payload: the event in metadata; the hook's own metadata is added but never overrides those keys. */
export function eventPayload(
  canary: CanaryRef,
  revision: Revision,
  phase: CanaryPhase,
  hook: Pick<WebhookSpec, 'metadata'>,
  event: EventFields,
): WebhookPayload {
  const metadata: Record<string, string> = {
    eventMessage: event.message,
    eventType: event.type,
    timestamp: String(event.timestamp),
  };
  for (const [k, v] of Object.entries(hook.metadata ?? {})) if (!(k in metadata)) metadata[k] = v;
  return { name: canary.name, namespace: canary.namespace, phase, checksum: checksumOf(revision), metadata };
}
