// Two controller processes (`node worker/main.ts --mode all`) on one cluster and one Temporal namespace, with no
// leader election: both watchers see `kubectl set image` and both workers poll the task queue, yet the rollout
// runs once — one workflow per canary id — so every step's Event on the Canary appears exactly once, in order.
import { readFileSync } from 'node:fs';
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, type Stack } from '../../dev/stack.ts';
import { ALL_PRIMARY, NEW_IMAGE, canaryEvents, primaryImage, routeWeights } from './helpers.ts';

let stack: Stack;
before(async () => {
  stack = await startStack({ controllers: 2 });
});
after(async () => {
  await stack?.stop();
});

it('two controllers, one rollout: each step once, in order', async (t) => {
  const ns = await stack.createNamespace('ha');
  await stack.applyPodinfo(ns, { analysis: { stepWeight: 10, maxWeight: 50 } });
  await stack.kubectl(['set', 'image', '-n', ns, 'deploy/podinfo', `podinfod=${NEW_IMAGE}`]);
  await stack.waitForPhase(ns, 'Progressing');
  await stack.waitForPhase(ns, 'Succeeded', { timeoutMs: 180_000 });
  assert.equal(await primaryImage(stack, ns), NEW_IMAGE);
  assert.deepEqual(await routeWeights(stack, ns), ALL_PRIMARY);

  const events = await canaryEvents(stack, ns);
  const all = events.map((e) => `${e.message} (x${e.count})`).join('\n');
  const advances = events.filter((e) => e.message.startsWith('Advance '));
  assert.deepEqual(
    advances.map((e) => e.message),
    [10, 20, 30, 40, 50].map((w) => `Advance podinfo.${ns} canary weight ${w}`),
    all,
  );
  for (const once of [
    `Initialization done! podinfo.${ns}`,
    `New revision detected! Scaling up podinfo.${ns}`,
    `Starting canary analysis for podinfo.${ns}`,
    `Promotion completed! Scaling down podinfo.${ns}`,
  ])
    assert.equal(events.filter((e) => e.message === once).length, 1, `${once}\n${all}`);
  assert.ok(
    events.every((e) => e.count === 1),
    `no event repeated:\n${all}`,
  );

  // Both processes were up and serving the whole time; which watchers signalled the revision is up to them
  // (a watcher that sees the other's revision mark first may stay quiet), so it is reported, not asserted.
  const signalled = stack.controllers.filter((c) =>
    readFileSync(c.logFile, 'utf8')
      .split('\n')
      .some((l) => l.includes('"rollout signalled"') && l.includes(`"canary":"podinfo.${ns}"`)),
  );
  assert.ok(signalled.length >= 1, stack.controllerLogs());
  t.diagnostic(`controllers whose watcher signalled the rollout: ${signalled.map((c) => c.index).join(', ')}`);
  for (const i of [0, 1]) {
    const text = await stack.controllerMetrics(i);
    assert.match(text, /^flagger_info\{/m, `controller ${i} /metrics`);
  }
});
