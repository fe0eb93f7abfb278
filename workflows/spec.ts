// From a validated Canary to the RolloutSpec the workflow runs on: Flagger's defaults applied, durations in ms.
// Pure; used by the observe activity (real and scripted) so the workflow history carries only what it needs.

import type { AlertSpec, MetricSpec, RolloutSpec, WebhookSpec, WebhookType } from '../api/ports.ts';

/** Flagger's defaults (pkg/apis/flagger/v1beta1/canary.go). */
export const DEFAULT_INTERVAL_MS = 60_000;
export const DEFAULT_THRESHOLD = 1;
export const DEFAULT_PROGRESS_DEADLINE_SECONDS = 600;

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Go-style duration ("1m30s", "500ms") to milliseconds; undefined when malformed. A local helper so the workflow
 * bundle does not depend on the schema module's parser; it accepts the same syntax.
 */
export function durationMs(text: string): number | undefined {
  const parts = text.trim().match(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g);
  if (!parts || parts.join('') !== text.trim()) return undefined;
  let total = 0;
  for (const part of parts) {
    const [, num, unit] = /^(\d+(?:\.\d+)?)(\D+)$/.exec(part)!;
    total += Number(num) * UNIT_MS[unit!]!;
  }
  return total;
}

/** The subset of a Canary (Flagger field names) that drives a rollout; structural so any schema output fits. */
export interface CanaryLike {
  spec: {
    targetRef: { apiVersion?: string; kind: string; name: string };
    provider?: string;
    suspend?: boolean;
    skipAnalysis?: boolean;
    progressDeadlineSeconds?: number;
    analysis?: {
      interval?: string;
      threshold?: number;
      maxWeight?: number;
      stepWeight?: number;
      stepWeights?: number[];
      stepWeightPromotion?: number;
      iterations?: number;
      match?: unknown[];
      mirror?: boolean;
      mirrorWeight?: number;
      webhooks?: ({ name: string; type?: string; url: string } & Record<string, unknown>)[];
      metrics?: MetricSpec[];
      alerts?: { name: string; severity?: string; providerRef: { name: string; namespace?: string } }[];
    };
  };
}

export function toRolloutSpec(canary: CanaryLike): RolloutSpec {
  const s = canary.spec;
  const a = s.analysis ?? {};
  return {
    targetRef: s.targetRef,
    provider: s.provider,
    suspend: s.suspend ?? false,
    skipAnalysis: s.skipAnalysis ?? false,
    progressDeadlineSeconds: s.progressDeadlineSeconds ?? DEFAULT_PROGRESS_DEADLINE_SECONDS,
    analysis: {
      intervalMs: (a.interval && durationMs(a.interval)) || DEFAULT_INTERVAL_MS,
      threshold: a.threshold && a.threshold > 0 ? a.threshold : DEFAULT_THRESHOLD,
      maxWeight: a.maxWeight,
      stepWeight: a.stepWeight,
      stepWeights: a.stepWeights,
      stepWeightPromotion: a.stepWeightPromotion,
      iterations: a.iterations,
      match: (a.match ?? []).length > 0,
      mirror: a.mirror ?? false,
      mirrorWeight: a.mirrorWeight,
      webhooks: (a.webhooks ?? []).map(toWebhook),
      metrics: a.metrics ?? [],
      alerts: (a.alerts ?? []).map((al): AlertSpec => ({
        name: al.name,
        severity: (al.severity as AlertSpec['severity']) ?? 'info',
        providerRef: al.providerRef,
      })),
    },
  };
}

function toWebhook(hook: { name: string; type?: string; url: string } & Record<string, unknown>): WebhookSpec {
  return { ...hook, type: (hook.type || 'rollout') as WebhookType };
}

/** Flagger's strategy selection order: A/B needs match + iterations, blue/green iterations, else canary. */
export type Strategy = 'ab' | 'blue-green' | 'canary';

export function strategyOf(spec: RolloutSpec): Strategy {
  const it = spec.analysis.iterations ?? 0;
  if (spec.analysis.match && it > 0) return 'ab';
  if (it > 0) return 'blue-green';
  return 'canary';
}

export function hooksOfType(spec: RolloutSpec, type: WebhookType): WebhookSpec[] {
  return spec.analysis.webhooks.filter((h) => h.type === type);
}

/** Go-style text of an interval in ms, for metric windows ("1m", "30s", "500ms"). */
export function formatDuration(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
