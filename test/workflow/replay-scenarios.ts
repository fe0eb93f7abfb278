// The scenarios of the replay corpus (test/histories/): each one a real rollout on the scripted world, recorded as
// `<strategy>-<covers>-<run>.json` (one file per run of a continue-as-new chain). This list is the corpus manifest:
// test/workflow/replay.test.ts checks that it covers every strategy, control and failure path in REQUIRED and that
// the committed files are exactly the ones these scenarios write. Re-record with scripts/record-histories.sh.
import type { WorkflowHandle } from '@temporalio/client';
import type { WorldCanary, WorldCanaryInit } from '../scripted/world.ts';
import { controlSignals, newRevisionSignal } from '../../workflows/controls.ts';
import type { RolloutOptions } from '../../workflows/rollout.ts';
import { canaryRaw, hook, metric, routeTrail, waitUntil } from './env.ts';

/** What the corpus must cover, each at least once (issue 20 item 8). */
export const REQUIRED = {
  strategies: ['canary', 'ab', 'bluegreen', 'canary-mirror', 'skip-analysis', 'step-weights', 'step-weight-promotion'],
  controls: ['promote', 'abort', 'pause-resume', 'retry', 'annotation-signal'],
  failures: ['failed-checks', 'progress-deadline', 'gate-failed', 'new-revision', 'invalid-spec', 'infra-fault'],
} as const;

/** Other paths a scenario may be named after: a plain successful run, a run long enough to continue as new. */
export const OTHER_PATHS = ['succeeded', 'continue-as-new'] as const;

export type Strategy = (typeof REQUIRED.strategies)[number];
export type Covers =
  (typeof REQUIRED.controls)[number] | (typeof REQUIRED.failures)[number] | (typeof OTHER_PATHS)[number];

export interface Scenario {
  strategy: Strategy;
  covers: Covers;
  /** The world canary: its Canary object plus scripted readiness, metric values, hook outcomes and faults. */
  init: (name: string) => WorldCanaryInit;
  /** Rollout options over the recording defaults (maxTicksPerRun 6, retryWindowMs 1: a Failed run ends at once). */
  options?: RolloutOptions;
  /** Acts on the running rollout (controls, signals, spec edits); returns when done acting. */
  drive?: (handle: WorkflowHandle, world: WorldCanary) => Promise<void>;
  /** The phase the rollout must end in, so a scenario that stops exercising its path fails. */
  phase: 'Succeeded' | 'Failed';
  /** The route trail (routeTrail) the rollout must have taken. */
  routes?: string[];
}

/** Corpus file prefix of a scenario (also the canary name, so scenarios running at once never share one). */
export function scenarioFile(s: Pick<Scenario, 'strategy' | 'covers'>): string {
  return `${s.strategy}-${s.covers}`;
}

const by = { by: 'replay', reason: 'corpus' };

async function routesReach(world: WorldCanary, last: string): Promise<void> {
  await waitUntil(`routes ${last}`, () => routeTrail(world.log.routes).at(-1) === last);
}

export const SCENARIOS: readonly Scenario[] = [
  // --- canary weights: every control and most failure paths ---
  {
    strategy: 'canary',
    covers: 'promote',
    init: (name) => ({ raw: canaryRaw(name, { interval: '500ms', stepWeight: 10, maxWeight: 50 }) }),
    drive: async (handle, world) => {
      await routesReach(world, '90/10');
      await handle.executeUpdate('promote', { args: [by] });
    },
    phase: 'Succeeded',
    routes: ['90/10', '100/0'],
  },
  {
    strategy: 'canary',
    covers: 'abort',
    init: (name) => ({ raw: canaryRaw(name, { interval: '500ms', stepWeight: 25, maxWeight: 50 }) }),
    drive: async (handle, world) => {
      await routesReach(world, '75/25');
      await handle.executeUpdate('abort', { args: [by] });
    },
    phase: 'Failed',
    routes: ['75/25', '100/0'],
  },
  {
    // Gates too: confirm-rollout and confirm-promotion closed once, a rollout hook, metrics.
    strategy: 'canary',
    covers: 'pause-resume',
    init: (name) => ({
      raw: canaryRaw(name, {
        interval: '500ms',
        stepWeight: 25,
        maxWeight: 50,
        metrics: [metric('error-rate', 1)],
        webhooks: [hook('approve', 'confirm-rollout'), hook('ship', 'confirm-promotion'), hook('load', 'rollout')],
      }),
      hooks: { approve: [false, true], ship: [false, true] },
    }),
    drive: async (handle, world) => {
      await routesReach(world, '75/25');
      await handle.executeUpdate('pause', { args: [by] });
      await handle.executeUpdate('resume', { args: [by] });
    },
    phase: 'Succeeded',
    routes: ['75/25', '50/50', '100/0'],
  },
  {
    strategy: 'canary',
    covers: 'retry',
    init: (name) => ({ raw: canaryRaw(name, { interval: '500ms', stepWeight: 25, maxWeight: 50 }) }),
    options: { retryWindowMs: 120_000 },
    drive: async (handle, world) => {
      await routesReach(world, '75/25');
      await handle.executeUpdate('abort', { args: [by] });
      await waitUntil('Failed', () => world.status.phase === 'Failed');
      await handle.executeUpdate('retry', { args: [by] });
    },
    phase: 'Succeeded',
    routes: ['75/25', '100/0', '75/25', '50/50', '100/0'],
  },
  {
    // What the watcher sends for a `flagger.app/promote: "true"` annotation (worker/watcher.ts): a promote signal.
    strategy: 'canary',
    covers: 'annotation-signal',
    init: (name) => ({ raw: canaryRaw(name, { interval: '500ms', stepWeight: 10, maxWeight: 50 }) }),
    drive: async (handle, world) => {
      await routesReach(world, '90/10');
      await handle.signal(controlSignals.promote, { by: 'annotation', reason: 'flagger.app/promote' });
    },
    phase: 'Succeeded',
    routes: ['90/10', '100/0'],
  },
  {
    strategy: 'canary',
    covers: 'failed-checks',
    init: (name) => ({
      raw: canaryRaw(name, { interval: '500ms', stepWeight: 20, metrics: [metric('error-rate', 1)] }),
      metrics: { 'error-rate': [0, 5] },
    }),
    phase: 'Failed',
  },
  {
    strategy: 'canary',
    covers: 'progress-deadline',
    init: (name) => ({
      raw: canaryRaw(name, { interval: '500ms', stepWeight: 10 }, { progressDeadlineSeconds: 2 }),
      canary: { scaled: 'down', ready: true, readyAfterScaleUp: false, message: 'waiting for rollout to finish' },
    }),
    phase: 'Failed',
    routes: [],
  },
  {
    // A failing pre-rollout gate: each failure a failed check, rolled back at the threshold.
    strategy: 'canary',
    covers: 'gate-failed',
    init: (name) => ({
      raw: canaryRaw(name, {
        interval: '500ms',
        stepWeight: 10,
        threshold: 2,
        webhooks: [hook('db-migrate', 'pre-rollout')],
      }),
      hooks: { 'db-migrate': [false] },
    }),
    phase: 'Failed',
    routes: [],
  },
  {
    strategy: 'canary',
    covers: 'new-revision',
    init: (name) => ({ raw: canaryRaw(name, { interval: '500ms', stepWeight: 25, maxWeight: 50 }) }),
    drive: async (handle, world) => {
      await routesReach(world, '50/50');
      await handle.signal(newRevisionSignal, { hash: 'rev-3', generation: 3 });
    },
    phase: 'Succeeded',
    routes: ['75/25', '50/50', '100/0', '75/25', '50/50', '100/0'],
  },
  {
    // The production-shaped start: a Canary whose object has a metadata.generation not synced by this execution
    // yet, so the rollout's start syncs the spec (primary extras, Services, routes) along with the scale-up.
    strategy: 'canary',
    covers: 'succeeded',
    init: (name) => {
      const raw = canaryRaw(name, { interval: '500ms', stepWeight: 25, maxWeight: 50 });
      (raw.metadata as Record<string, unknown>).generation = 3;
      return { raw };
    },
    phase: 'Succeeded',
    routes: ['75/25', '50/50', '100/0'],
  },
  {
    strategy: 'canary',
    covers: 'invalid-spec',
    init: (name) => ({ raw: canaryRaw(name, { interval: '500ms', stepWeight: 25, maxWeight: 50 }) }),
    drive: async (_handle, world) => {
      await routesReach(world, '75/25');
      const analysis = (world.raw.spec as { analysis: Record<string, unknown> }).analysis;
      analysis.iterations = 3; // with stepWeight: two strategies at once
      await waitUntil('invalid spec reported', () =>
        Boolean(world.status.projection?.message.startsWith('invalid spec:')),
      );
      delete analysis.iterations;
    },
    phase: 'Succeeded',
    routes: ['75/25', '50/50', '100/0'],
  },
  {
    // Observe, metrics and route writes failing for a while: retried, never counted as failed checks.
    strategy: 'canary',
    covers: 'infra-fault',
    init: (name) => ({
      raw: canaryRaw(name, { interval: '500ms', stepWeight: 50, threshold: 1, metrics: [metric('error-rate', 1)] }),
      faults: { observe: 1, runMetrics: 2, setRoutes: 1 },
    }),
    phase: 'Succeeded',
    routes: ['50/50', '0/100', '100/0'],
  },
  // --- the other strategies ---
  {
    strategy: 'ab',
    covers: 'continue-as-new',
    init: (name) => ({
      raw: canaryRaw(name, { interval: '500ms', iterations: 8, match: [{ headers: { x: { exact: 'y' } } }] }),
    }),
    phase: 'Succeeded',
    routes: ['0/100', '100/0'],
  },
  {
    strategy: 'bluegreen',
    covers: 'failed-checks',
    init: (name) => ({
      raw: canaryRaw(name, { interval: '500ms', iterations: 4, metrics: [metric('error-rate', 1)] }),
      metrics: { 'error-rate': [0, 5] },
    }),
    phase: 'Failed',
  },
  {
    strategy: 'bluegreen',
    covers: 'abort',
    init: (name) => ({ raw: canaryRaw(name, { interval: '500ms', iterations: 20, mirror: true }) }),
    drive: async (handle, world) => {
      await routesReach(world, '100/0m');
      await handle.executeUpdate('abort', { args: [by] });
    },
    phase: 'Failed',
    routes: ['100/0m', '100/0'],
  },
  {
    strategy: 'canary-mirror',
    covers: 'succeeded',
    init: (name) => ({ raw: canaryRaw(name, { interval: '500ms', stepWeight: 25, maxWeight: 50, mirror: true }) }),
    phase: 'Succeeded',
    routes: ['100/0m', '75/25', '50/50', '100/0'],
  },
  {
    strategy: 'skip-analysis',
    covers: 'succeeded',
    init: (name) => ({ raw: canaryRaw(name, { interval: '500ms', stepWeight: 10 }, { skipAnalysis: true }) }),
    phase: 'Succeeded',
    routes: [],
  },
  {
    strategy: 'step-weights',
    covers: 'pause-resume',
    init: (name) => ({ raw: canaryRaw(name, { interval: '500ms', stepWeights: [1, 2, 10, 80] }) }),
    drive: async (handle, world) => {
      await routesReach(world, '98/2');
      await handle.executeUpdate('pause', { args: [by] });
      await handle.executeUpdate('resume', { args: [by] });
    },
    phase: 'Succeeded',
  },
  {
    // A new revision while the primary is shifted back gradually: finishes, then rolls the new one out.
    strategy: 'step-weight-promotion',
    covers: 'new-revision',
    init: (name) => ({ raw: canaryRaw(name, { interval: '500ms', stepWeight: 50, stepWeightPromotion: 25 }) }),
    drive: async (handle, world) => {
      await waitUntil('Promoting', () => world.log.phases.includes('Promoting'));
      await handle.signal(newRevisionSignal, { hash: 'rev-3', generation: 3 });
    },
    phase: 'Succeeded',
  },
];
