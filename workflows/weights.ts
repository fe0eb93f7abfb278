// Traffic weights of the canary strategy, as Flagger computes them (scheduler.go), with one deliberate fix:
// a step never overshoots maxWeight (Flagger goes 20→40→60 for stepWeight 20 / maxWeight 50; we go 20→40→50).

import type { Routes } from '../api/ports.ts';

export const TOTAL_WEIGHT = 100;

export interface WeightSpec {
  maxWeight?: number;
  stepWeight?: number;
  stepWeights?: number[];
}

/** The canary weight at which analysis stops and promotion starts. */
export function maxWeight(spec: WeightSpec): number {
  const steps = spec.stepWeights ?? [];
  const last = steps[steps.length - 1];
  if (last !== undefined) return Math.min(TOTAL_WEIGHT, last);
  if (spec.maxWeight && spec.maxWeight > 0) return spec.maxWeight;
  return TOTAL_WEIGHT;
}

/** How much to add to the canary weight at this step; 0 means "no progressive traffic" (not a canary strategy). */
export function nextStepWeight(spec: WeightSpec, canaryWeight: number): number {
  const steps = spec.stepWeights ?? [];
  if ((spec.stepWeight ?? 0) > 0 || steps.length === 0) return spec.stepWeight ?? 0;
  const room = TOTAL_WEIGHT - canaryWeight;
  // At 100 only promotion is left; any positive step moves the canary there (same as the last stepWeight step).
  if (room === 0) return 1;
  if (canaryWeight === 0) return Math.min(room, steps[0]!);
  for (let i = 0; i < steps.length - 1; i++) {
    if (steps[i] === canaryWeight) return Math.min(room, steps[i + 1]! - canaryWeight);
  }
  return room;
}

/**
 * Routes after one traffic step of the canary strategy, from `current`. With mirroring, the first step mirrors
 * traffic at canary weight 0 and the second one shifts real traffic (Flagger's mirror pre-step).
 */
export function advanceCanary(spec: WeightSpec & { mirror: boolean }, current: Routes): Routes {
  const step = nextStepWeight(spec, current.canary);
  const max = maxWeight(spec);
  if (spec.mirror && current.canary === 0) {
    if (!current.mirrored) return { primary: TOTAL_WEIGHT, canary: 0, mirrored: true };
    const canary = Math.min(step, max);
    return { primary: TOTAL_WEIGHT - canary, canary, mirrored: false };
  }
  const canary = Math.min(current.canary + step, max, TOTAL_WEIGHT);
  return { primary: Math.max(TOTAL_WEIGHT - canary, 0), canary, mirrored: false };
}

/**
 * Routes after one step of gradual promotion (stepWeightPromotion): the primary gains, the canary loses.
 * Returns null when promotion shifts everything at once (no stepWeightPromotion).
 */
export function promotionShift(stepWeightPromotion: number | undefined, current: Routes): Routes {
  if (!stepWeightPromotion || stepWeightPromotion <= 0 || current.canary <= 0) {
    return { primary: TOTAL_WEIGHT, canary: 0, mirrored: false };
  }
  const primary = Math.min(current.primary + stepWeightPromotion, TOTAL_WEIGHT);
  const canary = Math.max(current.canary - stepWeightPromotion, 0);
  return { primary, canary, mirrored: false };
}

export const ALL_TO_PRIMARY: Routes = { primary: TOTAL_WEIGHT, canary: 0, mirrored: false };
export const ALL_TO_CANARY: Routes = { primary: 0, canary: TOTAL_WEIGHT, mirrored: false };

export function sameRoutes(a: Routes, b: Routes): boolean {
  return a.primary === b.primary && a.canary === b.canary && a.mirrored === b.mirrored;
}
