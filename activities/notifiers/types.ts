// What every notifier gets (Flagger's notifier.Interface Post arguments) and what it produces: one HTTP request.
import type { AlertSeverity } from '../../api/ports.ts';

/** A name/value line under the message (Flagger's notifier.Field), e.g. Target or Traffic routing. */
export interface Field {
  name: string;
  value: string;
}

export interface Alert {
  /** Canary name (Flagger calls it the workload). */
  workload: string;
  namespace: string;
  message: string;
  fields: Field[];
  severity: AlertSeverity;
}

/** Where and as whom to post; resolved from the AlertProvider, its Secret or the global flags. */
export interface Destination {
  url: string;
  username: string;
  channel: string;
  proxy?: string;
  /** Slack API token, sent as a bearer token. Never logged. */
  token?: string;
}

export interface OutgoingMessage {
  url: string;
  body: unknown;
  headers?: Record<string, string>;
}

/** Builds the provider's wire format; pure, so payloads can be tested without a network. */
export type MessageBuilder = (dest: Destination, alert: Alert) => OutgoingMessage;

export function subject(alert: Alert): string {
  return `${alert.workload}.${alert.namespace}`;
}
