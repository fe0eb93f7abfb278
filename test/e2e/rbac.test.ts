// The controller with exactly the chart's permissions, end to end: the chart's RBAC and ServiceAccount are
// rendered with the real helm binary, applied to the real apiserver, and the real controller process
// (`node worker/main.ts`) runs with a token of that ServiceAccount (dev/rbac.ts, the stack's
// `controllerKubeconfig`) through a full rollout on the dev stack: first bound to the ClusterRole, then, in a
// second stack, to the Roles of the namespaced mode (`rbac.scope=namespace`, one watched namespace). A verb
// missing from the chart fails the rollout and shows up as a 403 in the controller's log.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chartIdentity, type ChartIdentity } from '../../dev/rbac.ts';
import { startStack, type Stack } from '../../dev/stack.ts';
import { ALL_PRIMARY, NEW_IMAGE, OLD_IMAGE, deployment, eventMessages, primaryImage, routeWeights } from './helpers.ts';

/** kubectl with the controller's own kubeconfig: who it is, and what it may do. */
async function asController(stack: Stack, identity: ChartIdentity, args: string[]): Promise<string> {
  return stack.kubectl(['--kubeconfig', identity.kubeconfigPath, ...args]);
}

async function canI(stack: Stack, identity: ChartIdentity, args: string[]): Promise<boolean> {
  return asController(stack, identity, ['auth', 'can-i', ...args]).then(
    () => true,
    () => false,
  );
}

/** podinfo rolled out to the new image by the controller: Succeeded, primary on it, all traffic on the primary. */
async function fullRollout(stack: Stack, ns: string): Promise<void> {
  await stack.applyPodinfo(ns);
  assert.equal(await primaryImage(stack, ns), OLD_IMAGE);
  await stack.kubectl(['set', 'image', '-n', ns, 'deploy/podinfo', `podinfod=${NEW_IMAGE}`]);
  await stack.waitForPhase(ns, 'Progressing');
  const canary = await stack.waitForPhase(ns, 'Succeeded', { timeoutMs: 180_000 });
  assert.equal(canary.status?.lastPromotedSpec, canary.status?.lastAppliedSpec);
  assert.equal(await primaryImage(stack, ns), NEW_IMAGE);
  assert.deepEqual(await routeWeights(stack, ns), ALL_PRIMARY);
  assert.equal((await deployment(stack, ns, 'podinfo')).spec?.replicas, 0, 'canary scaled down');
  const messages = await eventMessages(stack, ns);
  assert.ok(messages.includes(`Promotion completed! Scaling down podinfo.${ns}`), messages.join('\n'));
}

/** No request of the controller was refused: client-node errors carry the status (HTTP 403 / Forbidden). */
function assertNoForbidden(stack: Stack): void {
  for (const c of stack.controllers) {
    const refused = readFileSync(c.logFile, 'utf8')
      .split('\n')
      .filter((l) => /forbidden|HTTP-Code: 403|HTTP 403|"code":403/i.test(l));
    assert.deepEqual(refused.slice(0, 5), [], `controller ${c.index} got 403s`);
  }
}

describe("bound to the chart's ClusterRole (rbac.scope=cluster)", () => {
  let stack: Stack;
  let identity: ChartIdentity;
  before(async () => {
    stack = await startStack({
      controllerKubeconfig: async (cluster, dir) => {
        identity = await chartIdentity(cluster, dir, { scope: 'cluster' });
        return identity.kubeconfigPath;
      },
    });
  });
  after(async () => {
    await stack?.stop();
  });

  it('the controller is the ServiceAccount, with no more than the chart grants', async () => {
    assert.match(await asController(stack, identity, ['auth', 'whoami']), new RegExp(identity.user));
    assert.equal(await canI(stack, identity, ['list', 'canaries.flagger.app', '--all-namespaces']), true);
    assert.equal(await canI(stack, identity, ['get', 'pods', '-n', 'default']), false);
    assert.equal(await canI(stack, identity, ['delete', 'deployments.apps', '-n', 'default']), false);
  });

  it('kubectl set image → Succeeded, with no request refused', async () => {
    const ns = await stack.createNamespace('rbac-cluster');
    await fullRollout(stack, ns);
    assertNoForbidden(stack);
  });
});

describe('bound to Roles in the watched namespace only (rbac.scope=namespace)', () => {
  const watched = 'rbac-watched';
  let stack: Stack;
  let identity: ChartIdentity;
  before(async () => {
    stack = await startStack({
      controllerEnv: { FLEDGE_NAMESPACE: watched },
      controllerKubeconfig: async (cluster, dir) => {
        identity = await chartIdentity(cluster, dir, { scope: 'namespace', namespaces: [watched] });
        return identity.kubeconfigPath;
      },
    });
  });
  after(async () => {
    await stack?.stop();
  });

  it('nothing cluster-wide: the Role allows the watched namespace and no other', async () => {
    assert.ok(!/ClusterRole/.test(identity.manifests), 'no ClusterRole rendered');
    assert.equal(await canI(stack, identity, ['watch', 'canaries.flagger.app', '-n', watched]), true);
    assert.equal(await canI(stack, identity, ['create', 'httproutes.gateway.networking.k8s.io', '-n', watched]), true);
    assert.equal(await canI(stack, identity, ['list', 'canaries.flagger.app', '--all-namespaces']), false);
    assert.equal(await canI(stack, identity, ['get', 'secrets', '-n', 'default']), false);
  });

  it('kubectl set image → Succeeded, with no request refused', async () => {
    await fullRollout(stack, watched);
    assertNoForbidden(stack);
  });
});
