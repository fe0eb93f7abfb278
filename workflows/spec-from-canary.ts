// From a validated Canary to the RolloutSpec the workflow runs on: defaults applied by the schema, strategy
// derived with Flagger's precedence, durations in ms. Used by observe activities (real and scripted), not by
// the workflow itself, so the schema code stays out of the workflow bundle.

import { parseDuration, type Canary } from '../api/canary.ts';
import { deriveStrategy } from '../api/validate.ts';
import type { RolloutSpec, WebhookRef } from '../api/ports.ts';
import { urlDigest } from '../api/digest.ts';

export function toRolloutSpec(canary: Pick<Canary, 'spec'>): RolloutSpec {
  const s = canary.spec;
  const a = s.analysis;
  const plan = deriveStrategy(s);
  return {
    targetRef: { apiVersion: s.targetRef.apiVersion, kind: s.targetRef.kind, name: s.targetRef.name },
    provider: s.provider,
    suspend: s.suspend,
    skipAnalysis: s.skipAnalysis,
    progressDeadlineSeconds: s.progressDeadlineSeconds,
    analysis: {
      // No 10 s floor (Flagger has one): short intervals are what make fast tests and fast rollouts possible.
      intervalMs: parseDuration(a.interval),
      threshold: a.threshold,
      maxWeight: a.maxWeight,
      stepWeight: a.stepWeight,
      stepWeights: a.stepWeights,
      stepWeightPromotion: a.stepWeightPromotion,
      iterations: plan.iterations || undefined,
      match: plan.strategy === 'ab-testing',
      mirror: plan.mirrored,
      mirrorWeight: a.mirrorWeight,
      // Never the URL or the metadata: this spec lands in workflow history (WebhookRef).
      webhooks: a.webhooks.map((h): WebhookRef => ({
        name: h.name,
        type: h.type,
        urlDigest: urlDigest(h.url),
        ...(h.muteAlert === undefined ? {} : { muteAlert: h.muteAlert }),
      })),
      metrics: a.metrics.map((m) => ({ ...m })),
      alerts: a.alerts.map((al) => ({ name: al.name, severity: al.severity, providerRef: al.providerRef })),
    },
  };
}
