// The texts the Temporal UI shows of a rollout (workflows/story.ts, worker/rollout-metadata.ts): summaries,
// current details by phase, static details by strategy, and what never goes in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initialState } from '../../workflows/state.ts';
import { toRolloutSpec } from '../../workflows/spec-from-canary.ts';
import { parseCanary } from '../../api/validate.ts';
import { analysisResult, analysisSummary, currentDetails, waitSummary, webhookSummary } from '../../workflows/story.ts';
import { rolloutMetadata, trafficSteps } from '../../worker/rollout-metadata.ts';
import { canaryRaw } from '../workflow/env.ts';

const ref = { namespace: 'test', name: 'podinfo' };
const rev = { hash: 'abc123', generation: 3 };

function specOf(analysis: Record<string, unknown>, spec: Record<string, unknown> = {}) {
  const parsed = parseCanary(canaryRaw('podinfo', analysis, spec));
  assert.ok(parsed.ok, JSON.stringify(parsed));
  return toRolloutSpec(parsed.canary);
}

test('traffic steps: stepWeight up to maxWeight without overshoot, or stepWeights as written', () => {
  assert.deepEqual(trafficSteps(specOf({ stepWeight: 20, maxWeight: 50 })), [20, 40, 50]);
  assert.deepEqual(trafficSteps(specOf({ stepWeight: 10, maxWeight: 30 })), [10, 20, 30]);
  assert.deepEqual(trafficSteps(specOf({ stepWeights: [1, 5, 25, 80] })), [1, 5, 25, 80]);
});

test('activity and timer summaries say what will be checked or waited for', () => {
  assert.equal(
    analysisSummary([
      { name: 'error-rate', thresholdRange: { max: 1 } },
      { name: 'success', thresholdRange: { min: 99 } },
      { name: 'latency', thresholdRange: { min: 0.1, max: 0.5 } },
      { name: 'legacy', threshold: 95 },
    ]),
    'analysis: error-rate ≤ 1, success ≥ 99, latency in [0.1, 0.5], legacy ≥ 95',
  );
  assert.equal(webhookSummary({ name: 'approve', type: 'confirm-promotion' }), 'gate confirm-promotion approve: open?');
  assert.equal(webhookSummary({ name: 'load', type: 'rollout' }), 'webhook rollout load');
  assert.equal(waitSummary(10_000, 'next analysis interval'), 'wait 10 s for the next analysis');
  assert.equal(
    waitSummary(60_000, 'next analysis interval (last check failed)'),
    'wait 1 min for the next analysis (last check failed)',
  );
  assert.equal(waitSummary(2_000, 'resume (paused by alice)'), 'wait 2 s for resume (paused by alice)');
});

test('analysis results: values against their bounds, failures marked', () => {
  assert.equal(
    analysisResult([
      { name: 'error-rate', value: 0.4, range: { max: 1 }, verdict: 'pass' },
      { name: 'latency', value: 0.712, range: { max: 0.5 }, verdict: 'fail' },
      { name: 'success', value: 97, range: { min: 99 }, verdict: 'fail' },
      { name: 'rps', value: null, range: {}, verdict: 'no-data' },
    ]),
    'error-rate 0.4 ≤ 1 ✓, latency 0.71 > 0.5 ✗, success 97 < 99 ✗, rps: no data (no-data)',
  );
});

test('current details: the controls that apply now, with their exact commands', () => {
  const state = initialState(ref, rev, 'new-revision');
  state.lastSpec = specOf({ stepWeight: 10, maxWeight: 50 });
  state.phase = 'Progressing';
  state.routes = { primary: 70, canary: 30, mirrored: false };
  state.step = 3;
  state.threshold = 2;
  state.waitingFor = 'approval from confirm-traffic-increase hook more';
  const progressing = currentDetails(state);
  assert.match(progressing, /^\*\*Progressing\*\* · weight 30 % \(primary 70 %\) · step 3 of 5 · failed checks 0\/2/);
  assert.match(progressing, /gate confirm-traffic-increase more: closed/);
  for (const c of ['promote', 'abort', 'pause'])
    assert.ok(
      progressing.includes(
        `\`temporal workflow update execute --workflow-id canary/test/podinfo --name ${c} --input '{"by":"<you>","reason":"<why>"}'\` or \`fledge ${c} podinfo -n test\``,
      ),
      c,
    );
  assert.doesNotMatch(progressing, /resume|retry/);

  state.paused = { by: 'alice' };
  assert.match(currentDetails(state), /paused by alice/);
  assert.match(currentDetails(state), /resume: /);
  assert.doesNotMatch(currentDetails(state), /promote: /);

  state.paused = undefined;
  state.phase = 'Failed';
  state.final = true;
  const failed = currentDetails(state);
  assert.match(failed, /retry: /);
  assert.doesNotMatch(failed, /(promote|abort|pause): /);
  state.phase = 'Succeeded';
  assert.doesNotMatch(currentDetails(state), /--name/);
});

test('static metadata: strategy, provider, steps and hooks by name; never a URL or its token', () => {
  const hook = {
    name: 'load',
    type: 'rollout',
    url: 'http://loadtester.test/?token=t0ps3cret',
    metadata: { cmd: 'x' },
  };
  const canary = canaryRaw('podinfo', { stepWeight: 25, maxWeight: 50, webhooks: [hook] });
  const m = rolloutMetadata(canary, ref, rev, 'new-revision');
  assert.equal(m.staticSummary, 'test/podinfo: canary rollout of revision abc123 (gatewayapi:v1)');
  assert.match(m.staticDetails, /canary weight 25 % → 50 %, one step every 1 s, then promote/);
  assert.match(m.staticDetails, /webhooks: load \(rollout\)/);
  assert.doesNotMatch(m.staticDetails, /token|t0ps3cret|http/);

  const bg = rolloutMetadata(canaryRaw('podinfo', { iterations: 4 }), ref, rev, 'bootstrap');
  assert.match(bg.staticSummary, /blue\/green rollout/);
  assert.match(bg.staticDetails, /4 analysis iterations every 1 s, then switch and promote/);

  const invalid = rolloutMetadata({ kind: 'Canary', spec: {} }, ref, rev, 'new-revision');
  assert.match(invalid.staticSummary, /spec invalid$/);
});
