// Reliability of promotion, deletion and secrets, end to end on the whole product (dev/stack.ts: real apiserver,
// controller-manager and kwok, real Temporal dev server, real Prometheus, the real controller process):
//   - promotion copies the revision that was analysed: a `kubectl set image` between the last check (the
//     confirm-promotion gate) and the promotion never reaches the primary, analysis restarts for it instead;
//   - deleting a Canary mid-step has one writer: after the finalizer is released, no route, Service or
//     Deployment is written again (read from the etcd revisions of every write in the namespace);
//   - webhook URLs with tokens, webhook metadata and the value of a tracked Secret appear in no workflow history.
// The webhook receiver is this process; every hook URL carries a token and metadata, so every history is scanned.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { waitFor } from '../../dev/cluster.ts';
import { startStack, waitForCanary, type Stack } from '../../dev/stack.ts';
import { rolloutWorkflowId, statusQuery } from '../../workflows/controls.ts';
import { NEW_IMAGE, OLD_IMAGE, eventMessages } from './helpers.ts';

const THIRD_IMAGE = 'ghcr.io/stefanprodan/podinfo:6.0.2';
const FLEDGE_FINALIZER = 'finalizer.flagger.app';
const HOLD_FINALIZER = 'e2e.fledge.test/hold';
/** Secrets the histories must never hold. */
const URL_TOKEN = 'tok-e2e-url-5ecret-4b1d';
const META_VALUE = 'meta-e2e-5ecret-77c0';
const SECRET_VALUE = 'secret-e2e-data-5ecret-9e2a';

interface HookCall {
  ns: string;
  hook: string;
  checksum: string;
  phase: string;
}
type Behaviour = (call: HookCall, res: ServerResponse) => void | Promise<void>;

const calls: HookCall[] = [];
const behaviours = new Map<string, Behaviour>();
const receiver: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
  let data = '';
  req.on('data', (c) => (data += c));
  req.on('end', () => {
    const [, ns = '', hook = ''] = (req.url ?? '').split('?')[0]!.split('/');
    const body = JSON.parse(data || '{}') as { checksum?: string; phase?: string };
    const call = { ns, hook, checksum: body.checksum ?? '', phase: body.phase ?? '' };
    calls.push(call);
    const behaviour = behaviours.get(ns);
    if (!behaviour) return void res.end('ok');
    void Promise.resolve(behaviour(call, res)).catch((err: unknown) => {
      res.statusCode = 500;
      res.end(String(err));
    });
  });
});

/** A webhook of the Canary with a token in its URL and a secret in its metadata. */
function hook(ns: string, name: string, type: string): Record<string, unknown> {
  const port = (receiver.address() as AddressInfo).port;
  return {
    name,
    type,
    url: `http://127.0.0.1:${port}/${ns}/${name}?token=${URL_TOKEN}`,
    metadata: { apiKey: META_VALUE },
  };
}

let stack: Stack;
let connection: Connection;
let client: Client;
before(async () => {
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  stack = await startStack({ controllers: 1 });
  connection = await Connection.connect({ address: stack.temporalServer.address });
  client = new Client({ connection, namespace: stack.temporalServer.namespace });
});
after(async () => {
  await connection?.close();
  await stack?.stop();
  receiver.close();
  receiver.closeAllConnections();
});

interface Seen {
  kind: string;
  type: string;
  name: string;
  rv: number;
  obj: k8s.KubernetesObject & {
    metadata?: { generation?: number; finalizers?: string[]; deletionTimestamp?: string | Date };
    spec?: { template?: { spec?: { containers?: { image?: string }[] } } };
  };
}

/** Every write to the namespace's Deployments, Services, HTTPRoutes and Canaries, with its etcd revision. */
async function record(ns: string): Promise<{ seen: Seen[]; stop: () => void }> {
  const seen: Seen[] = [];
  const watch = new k8s.Watch(stack.kubeConfig);
  const paths: [string, string][] = [
    ['Deployment', `/apis/apps/v1/namespaces/${ns}/deployments`],
    ['Service', `/api/v1/namespaces/${ns}/services`],
    ['HTTPRoute', `/apis/gateway.networking.k8s.io/v1/namespaces/${ns}/httproutes`],
    ['Canary', `/apis/flagger.app/v1beta1/namespaces/${ns}/canaries`],
  ];
  const controllers = await Promise.all(
    paths.map(([kind, path]) =>
      watch.watch(
        path,
        {},
        (type: string, obj: Seen['obj']) =>
          seen.push({
            kind,
            type,
            name: obj.metadata?.name ?? '',
            rv: Number(obj.metadata?.resourceVersion ?? 0),
            obj,
          }),
        () => {},
      ),
    ),
  );
  return { seen, stop: () => controllers.forEach((c) => c.abort()) };
}

const imageOf = (s: Seen) => s.obj.spec?.template?.spec?.containers?.[0]?.image;

async function setImage(ns: string, image: string): Promise<void> {
  await stack.kubectl(['set', 'image', '-n', ns, 'deploy/podinfo', `podinfod=${image}`]);
}

async function workflowSignals(ns: string): Promise<string[]> {
  const history = await client.workflow.getHandle(rolloutWorkflowId({ namespace: ns, name: 'podinfo' })).fetchHistory();
  return (history.events ?? []).flatMap((e) => e.workflowExecutionSignaledEventAttributes?.signalName ?? []);
}

describe('reliability end to end', { concurrency: true }, () => {
  it('set image between the last check and promotion: the unanalysed template never reaches the primary, analysis restarts for it', async () => {
    const ns = await stack.createNamespace('fence');
    let first: string | undefined;
    behaviours.set(ns, async (call, res) => {
      if (call.hook !== 'promotion-gate') return void res.end('ok');
      if (first === undefined) {
        // The last check passed for the analysed revision; the target moves on before the promotion.
        first = call.checksum;
        await setImage(ns, THIRD_IMAGE);
        return void res.end('approved');
      }
      // The newer revision waits at the gate: it must not reach the primary before it is approved.
      res.statusCode = call.checksum === first ? 200 : 403;
      res.end(call.checksum === first ? 'approved' : 'closed');
    });
    await stack.applyPodinfo(ns, { analysis: { webhooks: [hook(ns, 'promotion-gate', 'confirm-promotion')] } });
    const rec = await record(ns);
    try {
      await setImage(ns, NEW_IMAGE);
      await waitFor(
        async () => calls.some((c) => c.ns === ns && c.hook === 'promotion-gate' && first && c.checksum !== first),
        'the newer revision analysed up to the promotion gate',
        180_000,
      );
    } finally {
      rec.stop();
    }
    const primary = rec.seen.filter((s) => s.kind === 'Deployment' && s.name === 'podinfo-primary');
    const images = [...new Set(primary.map(imageOf))];
    console.log(`primary images over the test: ${images.join(' → ')}`);
    assert.ok(!images.includes(THIRD_IMAGE), `the unanalysed template reached the primary: ${images.join(' → ')}`);
    assert.deepEqual(images, [OLD_IMAGE], 'the primary keeps the promoted revision');
    const messages = await eventMessages(stack, ns);
    assert.ok(
      messages.some((m) => m.startsWith('New revision detected! Restarting analysis')),
      messages.join('\n'),
    );
    const canary = await stack.canary(ns);
    assert.notEqual(canary.status?.lastAppliedSpec, first, 'the newer revision is the one under analysis');
  });

  it('deleting a Canary mid-step: once the finalizer is released no route, Service or Deployment is written again', async () => {
    const ns = await stack.createNamespace('delete');
    let hold: ((value: void) => void) | undefined;
    let held: Promise<void> | undefined;
    let holding = false;
    behaviours.set(ns, async (call, res) => {
      if (call.hook !== 'hold' || !holding) return void res.end('ok');
      holding = false;
      // The tick is in flight (this check); the Canary is deleted now.
      held = new Promise((r) => (hold = r));
      await held;
      res.end('ok');
    });
    await stack.applyPodinfo(ns, {
      // The held check must stay in flight until the deletion is known: longer than the default 10 s timeout.
      analysis: { webhooks: [{ ...hook(ns, 'hold', 'rollout'), timeout: '60s' }] },
      spec: { revertOnDeletion: true },
    });
    await waitForCanary(stack, ns, 'fledge finalizer', (c) =>
      Boolean((c as { metadata: { finalizers?: string[] } }).metadata.finalizers?.includes(FLEDGE_FINALIZER)),
    );
    // Another controller's finalizer keeps the Canary readable after fledge released its own.
    await stack.kubectl([
      'patch',
      'canary/podinfo',
      '-n',
      ns,
      '--type=json',
      '-p',
      JSON.stringify([{ op: 'add', path: '/metadata/finalizers/-', value: HOLD_FINALIZER }]),
    ]);
    await setImage(ns, NEW_IMAGE);
    await waitForCanary(stack, ns, 'mid-step', (c) => (c.status?.canaryWeight ?? 0) >= 10, { timeoutMs: 180_000 });
    const rec = await record(ns);
    let released = -1;
    try {
      holding = true;
      await waitFor(async () => held !== undefined, 'a rollout check in flight', 60_000);
      await stack.kubectl(['delete', '-n', ns, 'canary/podinfo', '--wait=false']);
      // Release the check once the deletion is known: fledge's finalizer gone, or the workflow told of it.
      await waitFor(
        async () =>
          rec.seen.some((s) => s.kind === 'Canary' && isReleased(s)) ||
          (await workflowSignals(ns)).includes('canaryDeleting'),
        'deletion seen by fledge',
        120_000,
      );
      hold!();
      // Until fledge released its finalizer and the rollout's workflow is closed: a later write would come from it.
      await waitFor(
        async () => {
          if (!rec.seen.some((s) => s.kind === 'Canary' && isReleased(s))) return false;
          const d = await client.workflow.getHandle(rolloutWorkflowId({ namespace: ns, name: 'podinfo' })).describe();
          return d.status.name !== 'RUNNING';
        },
        'finalizer released and rollout workflow closed',
        180_000,
      ).catch(async (err: unknown) => {
        const now = await stack.kubectl(['get', 'canary/podinfo', '-n', ns, '-o', 'jsonpath={.metadata.finalizers}']);
        throw new Error(`${String(err)}; finalizers now ${now}; the rollout: ${await lastSteps(ns)}`);
      });
      const finalized = rec.seen.filter((s) => s.kind === 'Canary' && isReleased(s)).sort((a, b) => a.rv - b.rv)[0];
      assert.ok(finalized);
      released = finalized.rv;
    } finally {
      rec.stop();
      await stack
        .kubectl(['patch', 'canary/podinfo', '-n', ns, '--type=merge', '-p', '{"metadata":{"finalizers":null}}'])
        .catch(() => undefined);
    }
    const later = rec.seen.filter((s) => s.rv > released && s.kind !== 'Canary');
    const previous = new Map<string, Seen>();
    for (const s of rec.seen.filter((x) => x.kind === 'Deployment' && x.rv <= released)) previous.set(s.name, s);
    const writes = later.filter((s) => {
      if (s.kind !== 'Deployment') return s.type !== 'DELETED';
      // The controller-manager keeps writing Deployment status; fledge's writes change the spec (generation).
      const before = previous.get(s.name);
      previous.set(s.name, s);
      if (s.type === 'DELETED' || !before) return false;
      if ((s.obj.metadata?.generation ?? 0) === (before.obj.metadata?.generation ?? 0)) return false;
      // The primary's HorizontalPodAutoscaler (kube-controller-manager, through the scale subresource) may still
      // resize it: a change of spec.replicas alone, owned by the HPA controller, is not fledge's.
      const owners = replicasOwners(s);
      const byHpa = owners.length > 0 && owners.every((m) => m === 'kube-controller-manager');
      return !(sameSpecButReplicas(before, s) && byHpa);
    });
    console.log(
      `finalizer released at rv ${released}; later writes: ${writes.map((w) => `${w.kind}/${w.name}@${w.rv} (spec.replicas owned by ${replicasOwners(w).join('+') || '-'})`).join(', ') || 'none'}`,
    );
    assert.deepEqual(
      writes.map((w) => `${w.kind}/${w.name} ${w.type}`),
      [],
      'no route, Service or Deployment written after finalize',
    );
  });

  it('a rollout with webhook tokens, metadata and a tracked Secret runs to Succeeded', async () => {
    const ns = await stack.createNamespace('secrets');
    await stack.applyPodinfo(ns, {
      analysis: {
        webhooks: ['pre-rollout', 'rollout', 'confirm-promotion', 'post-rollout', 'event'].map((t) => hook(ns, t, t)),
      },
    });
    await stack.kubectl([
      'create',
      'secret',
      'generic',
      'podinfo-token',
      '-n',
      ns,
      `--from-literal=token=${SECRET_VALUE}`,
    ]);
    const patch = {
      spec: {
        template: {
          spec: {
            containers: [{ name: 'podinfod', image: NEW_IMAGE, envFrom: [{ secretRef: { name: 'podinfo-token' } }] }],
          },
        },
      },
    };
    await stack.kubectl(['patch', 'deploy/podinfo', '-n', ns, '--type=strategic', '-p', JSON.stringify(patch)]);
    await stack.waitForPhase(ns, 'Succeeded', { timeoutMs: 180_000 });
    assert.ok(
      calls.some((c) => c.ns === ns && c.hook === 'event'),
      'the event hook was called',
    );
    assert.ok(
      calls.some((c) => c.ns === ns && c.hook === 'post-rollout'),
      'the post-rollout hook was called',
    );
  });
});

/** The closed rollout's status and its last steps (status query), for failure messages. */
async function lastSteps(ns: string): Promise<string> {
  const handle = client.workflow.getHandle(rolloutWorkflowId({ namespace: ns, name: 'podinfo' }));
  const d = await handle.describe();
  const view = await handle.query(statusQuery).catch((err: unknown) => ({ steps: [{ note: String(err) }] }));
  return `${d.status.name}: ${view.steps
    .slice(-12)
    .map((x) => x.note)
    .join(' | ')}`;
}

/** Two versions of a Deployment whose specs differ at most in `spec.replicas`. */
function sameSpecButReplicas(a: Seen, b: Seen): boolean {
  const strip = (x: Seen) => JSON.stringify({ ...(x.obj.spec ?? {}), replicas: undefined });
  return strip(a) === strip(b);
}

/** The field managers that own `spec.replicas` of this version (server-side field ownership, not status). */
function replicasOwners(s: Seen): string[] {
  type Entry = { manager?: string; fieldsV1?: { 'f:spec'?: Record<string, unknown> } };
  const fields = (s.obj.metadata as { managedFields?: Entry[] } | undefined)?.managedFields ?? [];
  return fields.filter((m) => m.fieldsV1?.['f:spec']?.['f:replicas'] !== undefined).map((m) => m.manager ?? '');
}

function isReleased(s: Seen): boolean {
  return Boolean(s.obj.metadata?.deletionTimestamp) && !s.obj.metadata?.finalizers?.includes(FLEDGE_FINALIZER);
}

describe('workflow histories', () => {
  it('no workflow history of this run holds a webhook URL token, webhook metadata or a Secret value', async () => {
    let scanned = 0;
    const found: string[] = [];
    for await (const wf of client.workflow.list()) {
      const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
      const text = textsOf(history).join('\n');
      scanned++;
      for (const secret of [URL_TOKEN, META_VALUE, SECRET_VALUE])
        if (text.includes(secret)) found.push(`${wf.workflowId} (${wf.runId}): ${secret}`);
    }
    console.log(`workflow histories scanned: ${scanned}`);
    assert.ok(scanned >= 3, `histories of the rollouts above (${scanned})`);
    assert.deepEqual(found, [], 'secrets in workflow history');
  });
});

/** Every string in a history, payload bytes (JSON-encoded arguments and results) decoded as UTF-8. */
function textsOf(value: unknown, out: string[] = []): string[] {
  if (value instanceof Uint8Array) out.push(Buffer.from(value).toString('utf8'));
  else if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) textsOf(v, out);
  else if (value !== null && typeof value === 'object')
    for (const v of Object.values(value as Record<string, unknown>)) textsOf(v, out);
  return out;
}
