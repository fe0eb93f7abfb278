// End to end on the whole product (dev/stack.ts): a real apiserver + controller-manager + kwok, a real
// Temporal dev server, a real Prometheus scraping a steerable exporter, the gateway stand-in (no data plane),
// the real controller process (`node worker/main.ts --mode all`) and the real command-line tools: kubectl, the
// `fledge` CLI and the `temporal` CLI. One stack serves the file; each test has its own namespace and runs
// concurrently with the others. Every wait is on a condition, never a fixed sleep.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PODINFO_DIR, eventually, podinfoCanary, startStack, waitForCanary, type Stack } from '../../dev/stack.ts';
import {
  ALL_PRIMARY,
  NEW_IMAGE,
  canaryEvents,
  OLD_IMAGE,
  deployment,
  eventMessages,
  primaryImage,
  recordWeights,
  routeWeights,
} from './helpers.ts';

let stack: Stack;
before(async () => {
  stack = await startStack({ controllers: 1 });
});
after(async () => {
  await stack?.stop();
});

/** `kubectl set image` of the podinfo target; returns the time just before, for `fledge status --since`. */
async function setImage(ns: string, image = NEW_IMAGE): Promise<string> {
  const since = new Date(Date.now() - 1000).toISOString();
  await stack.kubectl(['set', 'image', '-n', ns, 'deploy/podinfo', `podinfod=${image}`]);
  return since;
}

function fledgeStatus(ns: string, since?: string) {
  return stack.fledge(['status', 'podinfo', '-n', ns, '--timeout', '240', ...(since ? ['--since', since] : [])], {
    timeoutMs: 260_000,
  });
}

describe('canary rollouts end to end', { concurrency: true }, () => {
  it('kubectl set image → Succeeded with the primary on the new image; kubectl wait, fledge status 0, /metrics weights', async () => {
    const ns = await stack.createNamespace('succeed');
    await stack.applyPodinfo(ns);
    assert.equal(await primaryImage(stack, ns), OLD_IMAGE);
    const weights = recordWeights(stack, ns);
    const since = await setImage(ns);
    // CI's way: block until this rollout (not an earlier one) ends.
    const status = fledgeStatus(ns, since);
    await stack.waitForPhase(ns, 'Progressing');
    // Promoted turns Unknown while progressing; kubectl wait returns once it is True again.
    const waited = await stack.kubectl([
      'wait',
      '-n',
      ns,
      'canary/podinfo',
      '--for=condition=promoted',
      '--timeout=180s',
    ]);
    assert.match(waited, /condition met/);
    const canary = await stack.waitForPhase(ns, 'Succeeded');
    assert.equal(canary.status?.lastPromotedSpec, canary.status?.lastAppliedSpec);
    assert.equal(canary.status?.conditions?.find((c) => c.type === 'Promoted')?.status, 'True');
    assert.equal(await primaryImage(stack, ns), NEW_IMAGE);
    assert.deepEqual(await routeWeights(stack, ns), ALL_PRIMARY);
    assert.equal((await deployment(stack, ns, 'podinfo')).spec?.replicas, 0, 'canary scaled down');

    const r = await status;
    assert.equal(r.code, 0, `fledge status: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /Succeeded/);
    const again = await fledgeStatus(ns);
    assert.equal(again.code, 0, again.stderr);

    const messages = await eventMessages(stack, ns);
    const advances = messages.filter((m) => m.startsWith('Advance '));
    assert.deepEqual(
      advances,
      [10, 20, 30].map((w) => `Advance podinfo.${ns} canary weight ${w}`),
    );
    assert.ok(messages.includes(`Promotion completed! Scaling down podinfo.${ns}`), messages.join('\n'));

    // The controller's /metrics followed the rollout: the canary weight rose step by step, then went back to 0.
    const seen = await weights.stop();
    const rising = seen.slice(seen.indexOf(0) + 1, seen.lastIndexOf(0));
    assert.ok(rising.length >= 2, `flagger_canary_weight changes seen: ${seen.join(' → ')}`);
    assert.deepEqual(
      rising,
      [...rising].sort((a, b) => a - b),
      `weights only rise: ${seen.join(' → ')}`,
    );
    assert.ok(
      rising.every((w) => [10, 20, 30].includes(w)),
      seen.join(' → '),
    );
    assert.equal(seen.at(-1), 0, 'weight back to 0 after promotion');
  });

  it('a version whose metrics fail → Failed, 100% primary, fledge status 1', async () => {
    const ns = await stack.createNamespace('fail');
    await stack.applyPodinfo(ns);
    // The new version answers half of its requests with 5xx.
    stack.metrics.set(ns, 'podinfo', { successRate: 50 });
    await stack.metrics.converged(ns, 'podinfo');
    const since = await setImage(ns);
    const status = fledgeStatus(ns, since);
    await stack.waitForPhase(ns, 'Progressing');
    const canary = await stack.waitForPhase(ns, 'Failed');
    assert.equal(canary.status?.canaryWeight, 0);
    assert.deepEqual(await routeWeights(stack, ns), ALL_PRIMARY);
    assert.equal(await primaryImage(stack, ns), OLD_IMAGE, 'the primary still runs the old version');
    assert.equal((await deployment(stack, ns, 'podinfo')).spec?.replicas, 0, 'canary scaled down');
    const messages = await eventMessages(stack, ns);
    assert.ok(
      messages.includes(`Halt podinfo.${ns} advancement success rate 50.00% < 99%`),
      `a failed check says what failed:\n${messages.join('\n')}`,
    );
    assert.ok(messages.includes(`Rolling back podinfo.${ns} failed checks threshold reached 2`), messages.join('\n'));
    assert.ok(messages.includes(`Canary failed! Scaling down podinfo.${ns}`), messages.join('\n'));

    const r = await status;
    assert.equal(r.code, 1, `fledge status: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout + r.stderr, /Failed/);
    assert.equal((await fledgeStatus(ns)).code, 1);
  });

  it('temporal workflow update execute --name promote promotes a running rollout', async () => {
    const ns = await stack.createNamespace('tpromote');
    // Long steps: the rollout sits at each weight for 8 s, far from its max weight of 50 %.
    await stack.applyPodinfo(ns, { analysis: { interval: '8s', maxWeight: 50 } });
    await setImage(ns);
    await waitForCanary(stack, ns, 'canary weight 10', (c) => c.status?.canaryWeight === 10);
    const r = await stack.temporal([
      'workflow',
      'update',
      'execute',
      '--name',
      'promote',
      '--workflow-id',
      `canary/${ns}/podinfo`,
      '--input',
      '{"by":"e2e","reason":"release train"}',
    ]);
    assert.equal(r.code, 0, r.stderr);
    // The update answers once the tick that acted on it is over: applied, and the phase it left.
    assert.match(r.stdout, /accepted:true applied:true control:promote .*phase:Promoting/);
    await stack.waitForPhase(ns, 'Succeeded', { timeoutMs: 180_000 });
    assert.equal(await primaryImage(stack, ns), NEW_IMAGE);
    assert.deepEqual(await routeWeights(stack, ns), ALL_PRIMARY);
    const messages = await eventMessages(stack, ns);
    assert.ok(messages.includes('Promotion requested by e2e: release train'), messages.join('\n'));
    assert.ok(!messages.some((m) => m.endsWith('canary weight 50')), 'promoted before the max weight');
    const history = await stack.fledge(['history', 'podinfo', '-n', ns]);
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, /Succeeded\s.*\se2e\s/, history.stdout);
  });

  it('fledge abort rolls a running rollout back: Failed, 100% primary', async () => {
    const ns = await stack.createNamespace('abort');
    await stack.applyPodinfo(ns, { analysis: { interval: '8s', maxWeight: 50 } });
    await setImage(ns);
    await waitForCanary(stack, ns, 'canary weight 10', (c) => c.status?.canaryWeight === 10);
    const r = await stack.fledge(['abort', 'podinfo', '-n', ns, '--reason', 'latency on dashboards']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /abort requested by e2e/);
    const canary = await stack.waitForPhase(ns, 'Failed');
    assert.equal(canary.status?.canaryWeight, 0);
    assert.deepEqual(await routeWeights(stack, ns), ALL_PRIMARY);
    assert.equal(await primaryImage(stack, ns), OLD_IMAGE);
    const messages = await eventMessages(stack, ns);
    assert.ok(
      messages.includes(`Rolling back podinfo.${ns} aborted by e2e: latency on dashboards`),
      messages.join('\n'),
    );
    // A second abort is refused by the workflow's validator, with its reason.
    const again = await stack.fledge(['abort', 'podinfo', '-n', ns]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^fledge: cannot abort/);
    assert.equal((await fledgeStatus(ns)).code, 1);
  });

  it('a Canary applied before its Deployment is initialized on the Deployment revision; nothing rolls out', async () => {
    const ns = await stack.createNamespace('canary-first');
    stack.metrics.set(ns, 'podinfo', {});
    await stack.kubectl(
      ['apply', '-f', '-'],
      JSON.stringify(podinfoCanary(ns, { spec: { autoscalerRef: undefined } })),
    );
    // The controller has the Canary and reports its missing target.
    await eventually('the missing target reported', async () =>
      (await eventMessages(stack, ns)).some((m) => m === `deployment podinfo.${ns} not found`) ? true : undefined,
    );
    await stack.kubectl(['apply', '-n', ns, '-f', join(PODINFO_DIR, 'deployment.yaml')]);
    const canary = await stack.waitForPhase(ns, 'Initialized');
    assert.ok(canary.status?.lastAppliedSpec, 'the Deployment revision is recorded');
    // The rollout workflow ends with the initialization (`temporal workflow result` waits for the chain's last run):
    // a rollout of the same template as a new revision would end it Succeeded instead.
    const result = await stack.temporal(['workflow', 'result', '--workflow-id', `canary/${ns}/podinfo`, '-o', 'json'], {
      timeoutMs: 120_000,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /"phase":\s*"Initialized"/, result.stdout);
    const after = await stack.canary(ns);
    assert.equal(after.status?.phase, 'Initialized');
    assert.equal(after.status?.lastAppliedSpec, canary.status?.lastAppliedSpec);
    const messages = await eventMessages(stack, ns);
    assert.ok(!messages.some((m) => m.startsWith('New revision detected')), messages.join('\n'));
    assert.equal((await deployment(stack, ns, 'podinfo')).spec?.replicas, 0, 'the target stays scaled down');
  });

  it('a Canary invalid from the start: condition InvalidSpec and a Warning event; once fixed it initializes', async () => {
    const ns = await stack.createNamespace('invalid-new');
    // iterations with stepWeight: two strategies at once, which the schema accepts and fledge refuses.
    await stack.applyPodinfo(ns, { analysis: { iterations: 3 }, wait: false });
    const held = await waitForCanary(stack, ns, 'the InvalidSpec condition', (c) =>
      Boolean(c.status?.conditions?.some((x) => x.type === 'Promoted' && x.reason === 'InvalidSpec')),
    );
    const promoted = held.status?.conditions?.find((x) => x.type === 'Promoted');
    assert.match(promoted?.message ?? '', /^invalid spec: .*iterations/);
    assert.equal(held.status?.phase, 'Initializing');
    // The Warning event is recorded right after the status write that carries the condition.
    await eventually('the Warning event with the same text', async () =>
      (await canaryEvents(stack, ns)).some((e) => e.type === 'Warning' && e.message === promoted?.message)
        ? true
        : undefined,
    );
    await stack.kubectl([
      'patch',
      '-n',
      ns,
      'canary/podinfo',
      '--type=json',
      '-p',
      '[{"op":"remove","path":"/spec/analysis/iterations"}]',
    ]);
    const fixed = await stack.waitForPhase(ns, 'Initialized');
    assert.equal(fixed.status?.conditions?.find((x) => x.type === 'Promoted')?.reason, 'Initialized');
  });
});
