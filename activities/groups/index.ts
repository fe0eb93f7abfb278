// The release group activities (docs/release-groups.md): membership and previous revision of a Canary at its
// start gate, the group's validation, status and events, restoring a member's target, and a member's outcome.
import { createHash } from 'node:crypto';
import { PatchStrategy, setHeaderOptions, type CoreV1Event, type V1Deployment } from '@kubernetes/client-node';
import { Context } from '@temporalio/activity';
import {
  RELEASE_GROUPS,
  RELEASE_GROUP_API_GROUP,
  RELEASE_GROUP_API_VERSION,
  RELEASE_GROUP_VERSION,
  planGroup,
} from '../../api/release-group.ts';
import type { CanaryRef } from '../../api/ports.ts';
import type {
  GroupActivities,
  GroupEvent,
  GroupRef,
  LoadGroupResult,
  MemberOf,
  MemberOfInput,
  MemberOutcome,
} from '../../workflows/group-messages.ts';
import type { ActivityDeps } from '../deps.ts';
import {
  CANARIES,
  GROUP,
  VERSION,
  isNotFound,
  makeKube,
  mergePatch,
  readOptional,
  statusCode,
  type Kube,
} from '../kubernetes/client.ts';
import { readCanary, type RawCanary } from '../kubernetes/canary.ts';
import { checksums } from '../kubernetes/configs.ts';
import { canaryEvent, createEvent } from '../kubernetes/status.ts';
import { readConfigs } from '../kubernetes/targets.ts';
import { revisionHash } from '../../worker/revision.ts';
import { templateOfRevision } from './previous.ts';

export type GroupActivitySet = GroupActivities & { memberOf(input: MemberOfInput): Promise<MemberOf> };

/** A ReleaseGroup as the apiserver returns it. */
export interface RawReleaseGroup {
  metadata: { name: string; namespace: string; uid: string; generation?: number };
  spec?: { members?: { name?: string; dependsOn?: string[] }[]; settleWindow?: string };
  status?: {
    conditions?: { type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string }[];
  };
}

const RG = { group: RELEASE_GROUP_API_GROUP, version: RELEASE_GROUP_VERSION, plural: RELEASE_GROUPS };
const EVENT_REASON = 'ReleaseGroup';
/** How long one memberOutcome call waits before it answers "not yet" (the child workflow calls again). */
const OUTCOME_WAIT_MS = 20_000;
const OUTCOME_POLL_MS = 500;

export function createGroupActivities(deps: ActivityDeps): GroupActivitySet {
  const kube = makeKube(deps.kube);
  const now = () => (deps.clock ? deps.clock() : new Date());

  async function listGroups(namespace: string): Promise<RawReleaseGroup[]> {
    try {
      const list = (await kube.custom.listNamespacedCustomObject({ ...RG, namespace })) as {
        items?: RawReleaseGroup[];
      };
      return (list.items ?? []).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    } catch (err) {
      // No ReleaseGroup CRD installed, or RBAC without it (an upgrade that kept the old rules): no groups.
      if (isNotFound(err) || statusCode(err) === 403) {
        if (statusCode(err) === 403)
          deps.log.warn({ namespace }, 'release groups not readable (RBAC): no Canary is gated');
        return [];
      }
      throw err;
    }
  }

  const readGroup = (g: GroupRef) =>
    readOptional(() => kube.custom.getNamespacedCustomObject({ ...RG, ...g }) as Promise<RawReleaseGroup>);

  const patchGroupStatus = (g: GroupRef, status: Record<string, unknown>) =>
    kube.custom.patchNamespacedCustomObjectStatus(
      { ...RG, ...g, body: { status }, fieldManager: 'fledge' },
      mergePatch,
    );

  return {
    async memberOf({ canary }) {
      const groups = await listGroups(canary.namespace);
      const group = groups.find((g) => g.spec?.members?.some((m) => m.name === canary.name));
      if (!group) return {};
      const raw = await readCanary(kube, canary);
      const hash = raw?.status?.lastPromotedSpec;
      if (!raw || !hash) return { group: group.metadata.name };
      return { group: group.metadata.name, previous: { hash, ...(await previousTemplate(kube, raw, hash)) } };
    },

    async loadGroup({ group }): Promise<LoadGroupResult> {
      const raw = await readGroup(group);
      if (!raw) return { found: false };
      const canaries = (await kube.custom.listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: CANARIES,
        namespace: group.namespace,
      })) as { items?: RawCanary[] };
      const names = (canaries.items ?? []).map((c) => c.metadata.name);
      const planned = planGroup(raw.spec, names);
      const at = now().toISOString();
      const message = planned.ok
        ? `${planned.plan.order.length} members in order ${planned.plan.order.join(' → ')}`
        : `rejected: ${planned.errors.join('; ')}`;
      const wanted = {
        type: 'Ready',
        status: planned.ok ? 'True' : 'False',
        reason: planned.ok ? 'Valid' : 'Invalid',
        message,
      };
      const old = raw.status?.conditions?.find((c) => c.type === 'Ready');
      const lastTransitionTime = old && old.status === wanted.status ? (old.lastTransitionTime ?? at) : at;
      await patchGroupStatus(group, {
        observedGeneration: raw.metadata.generation,
        conditions: [{ ...wanted, lastTransitionTime }],
        ...(planned.ok ? {} : { phase: 'Invalid', message }),
      });
      if (!planned.ok) {
        // One Warning per distinct problem (the name is a digest of it: a repeat is a 409, not a duplicate).
        const digest = createHash('sha256').update(message).digest('hex').slice(0, 12);
        await createEvent(
          kube,
          groupEvent(
            raw,
            `${raw.metadata.name}.invalid.${digest}`,
            { type: 'Warning', message: `ReleaseGroup ${message}` },
            now(),
          ),
        );
      }
      return planned.ok
        ? { found: true, generation: raw.metadata.generation, plan: planned.plan }
        : { found: true, generation: raw.metadata.generation, errors: planned.errors };
    },

    async writeGroupStatus({ group, status }) {
      try {
        await patchGroupStatus(group, status);
      } catch (err) {
        if (!isNotFound(err)) throw err; // a deleted group has no status to write
      }
    },

    async recordGroupEvents({ group, runId, firstSequence, events }) {
      const raw = await readGroup(group);
      if (!raw) return;
      for (const [i, e] of events.entries()) {
        const seq = firstSequence + i;
        await createEvent(kube, groupEvent(raw, `${group.name}.${runId}.${seq}`, e, now()));
        if (!e.member) continue;
        const canary = await readCanary(kube, { namespace: group.namespace, name: e.member });
        if (canary)
          await createEvent(kube, {
            ...canaryEvent(canary, `${e.member}.rg-${group.name}.${runId}.${seq}`, e, now()),
            reason: EVENT_REASON,
          });
      }
    },

    async restoreTarget({ canary, template, previousHash }) {
      const target = await targetOf(kube, canary);
      const configs = checksums(await readConfigs(kube, canary.namespace, target));
      const current = target.spec?.template;
      if (revisionHash(current, configs) === previousHash || revisionHash(current, {}) === previousHash)
        return { changed: false };
      // JSON patch replace: the whole template, so nothing of the failed revision's template stays behind.
      await kube.apps.patchNamespacedDeployment(
        {
          name: target.metadata!.name!,
          namespace: canary.namespace,
          body: [{ op: 'replace', path: '/spec/template', value: template }],
          fieldManager: 'fledge',
        },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      );
      return { changed: true };
    },

    async memberOutcome({ canary, hash, seen }): Promise<MemberOutcome> {
      const until = Date.now() + OUTCOME_WAIT_MS;
      let saw = seen;
      for (;;) {
        const raw = await readCanary(kube, canary);
        const st = raw?.status;
        if (!raw) return { phase: 'Failed', seen: saw, message: 'canary deleted' };
        if (st?.lastAppliedSpec === hash) {
          saw = true;
          if (st.phase === 'Succeeded' || st.phase === 'Failed')
            return { phase: st.phase, seen: true, message: conditionMessage(raw) };
        } else if (saw && st?.lastAppliedSpec)
          return { phase: 'Superseded', seen: true, message: `superseded by revision ${st.lastAppliedSpec}` };
        if (Date.now() > until) return { seen: saw };
        Context.current().heartbeat();
        await Context.current().sleep(OUTCOME_POLL_MS);
      }
    },
  };
}

function conditionMessage(raw: RawCanary): string | undefined {
  return raw.status?.conditions?.find((c) => c.type === 'Promoted')?.message;
}

async function targetOf(kube: Kube, canary: CanaryRef): Promise<V1Deployment> {
  const raw = await readCanary(kube, canary);
  const ref = raw?.spec?.targetRef as { kind?: string; name?: string } | undefined;
  if (!raw || ref?.kind !== 'Deployment' || !ref.name)
    throw new Error(`canary ${canary.name}.${canary.namespace}: only Deployment targets can be restored`);
  return kube.apps.readNamespacedDeployment({ name: ref.name, namespace: canary.namespace });
}

/** The target's pod template of revision `hash`, from its ReplicaSet history (Deployments only). */
async function previousTemplate(
  kube: Kube,
  raw: RawCanary,
  hash: string,
): Promise<{ template?: Record<string, unknown> }> {
  const ref = raw.spec?.targetRef as { kind?: string; name?: string } | undefined;
  if (ref?.kind !== 'Deployment' || !ref.name) return {};
  const target = await readOptional(() =>
    kube.apps.readNamespacedDeployment({ name: ref.name!, namespace: raw.metadata.namespace }),
  );
  if (!target?.metadata?.uid) return {};
  const configs = checksums(await readConfigs(kube, raw.metadata.namespace, target));
  const rss = await kube.apps.listNamespacedReplicaSet({ namespace: raw.metadata.namespace });
  const template = templateOfRevision(rss.items, target.metadata.uid, hash, configs);
  return template ? { template: template as unknown as Record<string, unknown> } : {};
}

function groupEvent(raw: RawReleaseGroup, name: string, e: GroupEvent, at: Date): CoreV1Event {
  return {
    metadata: { name, namespace: raw.metadata.namespace },
    involvedObject: {
      apiVersion: RELEASE_GROUP_API_VERSION,
      kind: 'ReleaseGroup',
      name: raw.metadata.name,
      namespace: raw.metadata.namespace,
      uid: raw.metadata.uid,
    },
    reason: EVENT_REASON,
    message: e.message,
    type: e.type,
    source: { component: 'fledge' },
    reportingComponent: 'fledge',
    reportingInstance: 'fledge',
    firstTimestamp: at,
    lastTimestamp: at,
    count: 1,
  };
}
