// Questions the tick asks of a RolloutSpec. Pure and tiny: this module is part of the workflow bundle.

import type { RolloutSpec, WebhookRef, WebhookType } from '../api/ports.ts';

/** Flagger's strategy selection order: A/B needs match + iterations, blue/green iterations, else canary. */
export type Strategy = 'ab' | 'blue-green' | 'canary';

export function strategyOf(spec: RolloutSpec): Strategy {
  const it = spec.analysis.iterations ?? 0;
  if (spec.analysis.match && it > 0) return 'ab';
  if (it > 0) return 'blue-green';
  return 'canary';
}

export function hooksOfType(spec: RolloutSpec, type: WebhookType): WebhookRef[] {
  return spec.analysis.webhooks.filter((h) => h.type === type);
}

/** Go-style text of an interval in ms, for metric windows ("1m", "30s", "500ms"). */
export function formatDuration(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
