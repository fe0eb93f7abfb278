import { z } from 'zod';

/** Canary phases, spelled as Flagger writes them to `.status.phase`. */
export const CANARY_PHASES = [
  'Initializing',
  'Initialized',
  'Waiting',
  'Progressing',
  'WaitingPromotion',
  'Promoting',
  'Finalising',
  'Succeeded',
  'Failed',
  'Terminating',
  'Terminated',
] as const;
export type CanaryPhase = (typeof CANARY_PHASES)[number];

/** Flagger's one condition type; its reason mirrors the phase. */
export const CanaryConditionSchema = z.object({
  type: z.string().meta({ description: 'Type of this condition (Flagger writes Promoted)' }),
  status: z.string().meta({ description: 'True, False or Unknown' }),
  reason: z.string(),
  message: z.string().optional(),
  lastUpdateTime: z.string().optional(),
  lastTransitionTime: z.string().optional(),
});
export type CanaryCondition = z.infer<typeof CanaryConditionSchema>;

/** Result of the last run of one metric check (fledge addition). */
export const CanaryStatusMetricSchema = z.object({
  name: z.string(),
  value: z.number().optional().meta({ description: 'Last observed value; absent when the query returned no data' }),
  passed: z.boolean().optional(),
  message: z.string().optional(),
  lastCheckTime: z.string().optional(),
});
export type CanaryStatusMetric = z.infer<typeof CanaryStatusMetricSchema>;

const count = z.int().min(0);

export const CanaryStatusSchema = z
  .object({
    // Flagger accepts the empty phase on a freshly created object.
    phase: z
      .enum(['', ...CANARY_PHASES])
      .optional()
      .meta({ description: 'Analysis phase of this canary' }),
    failedChecks: count.optional(),
    canaryWeight: z.number().optional(),
    iterations: count.optional(),
    trackedConfigs: z.record(z.string(), z.string()).optional(),
    lastAppliedSpec: z.string().optional(),
    lastPromotedSpec: z.string().optional(),
    lastTransitionTime: z.string().optional(),
    sessionAffinityCookie: z.string().optional(),
    primarySessionAffinityCookie: z.string().optional(),
    previousSessionAffinityCookie: z.string().optional(),
    conditions: z.array(CanaryConditionSchema).optional(),
    // fledge additions: where to find the rollout in Temporal, and what it last saw.
    workflowId: z.string().optional().meta({ description: 'Temporal workflow id of the rollout (fledge)' }),
    runId: z.string().optional().meta({ description: 'Temporal run id of the current rollout (fledge)' }),
    step: count.optional().meta({ description: 'Analysis step of the current rollout (fledge)' }),
    metrics: z.array(CanaryStatusMetricSchema).optional().meta({ description: 'Last metric check results (fledge)' }),
  })
  .meta({ description: 'CanaryStatus defines the observed state of a canary.' });
export type CanaryStatus = z.infer<typeof CanaryStatusSchema>;
