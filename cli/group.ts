// `fledge group get <name> [-w]`: a ReleaseGroup's members as a dependency tree with each member's phase in the
// current (or last) group run, from the status the group workflow writes (docs/release-groups.md).
import * as k8s from '@kubernetes/client-node';
import {
  RELEASE_GROUPS,
  RELEASE_GROUP_API_GROUP,
  RELEASE_GROUP_VERSION,
  type GroupMemberStatus,
  type ReleaseGroupStatus,
} from '../api/release-group.ts';
import type { Io } from './commands.ts';
import { canaryRef, kubeError, refText, type CliContext } from './context.ts';

const RG = { group: RELEASE_GROUP_API_GROUP, version: RELEASE_GROUP_VERSION, plural: RELEASE_GROUPS };

export interface GroupGetOptions {
  watch?: boolean;
  interval?: string;
  output?: string;
  /** Stop a watch after this many refreshes (scripts and tests). */
  count?: string;
}

interface RawGroup {
  metadata?: { name?: string; namespace?: string };
  spec?: { members?: { name: string; dependsOn?: string[] }[]; settleWindow?: string };
  status?: ReleaseGroupStatus;
}

export async function groupGet(ctx: CliContext, io: Io, name: string, o: GroupGetOptions): Promise<number> {
  const ref = canaryRef(name, ctx);
  const api = ctx.kube().makeApiClient(k8s.CustomObjectsApi);
  const read = async () => {
    try {
      return (await api.getNamespacedCustomObject({ ...RG, ...ref })) as RawGroup;
    } catch (err) {
      throw kubeError(err, `release group ${refText(ref)}`);
    }
  };
  const show = (g: RawGroup) => (o.output === 'json' ? `${JSON.stringify(g, null, 2)}\n` : groupTree(g));
  if (!o.watch) {
    io.out(show(await read()));
    return 0;
  }
  const intervalMs = Number(o.interval ?? '2') * 1000;
  const limit = o.count ? Number(o.count) : Infinity;
  let stop = false;
  void io.interrupted.then(() => (stop = true));
  let last = '';
  for (let i = 0; i < limit && !stop; i++) {
    const view = show(await read());
    // A terminal is redrawn; a pipe gets each view that differs from the last one.
    if (io.isTTY) io.out(`\x1b[2J\x1b[H${view}`);
    else if (view !== last) io.out(`${view}\n`);
    last = view;
    if (i + 1 < limit) await Promise.race([io.sleep(intervalMs), io.interrupted]);
  }
  return 0;
}

/**
 * The group as a tree: each member under the dependency it waits for last (the deepest one), a member depending on
 * several listing the others as `also after`. Members come from the status when the group workflow wrote one,
 * else from the spec (phase `-`).
 */
export function groupTree(g: RawGroup): string {
  const st = g.status ?? {};
  const members: GroupMemberStatus[] = st.members?.length
    ? st.members
    : (g.spec?.members ?? []).map((m, order) => ({ name: m.name, dependsOn: m.dependsOn, order, phase: 'Idle' }));
  const ready = st.conditions?.find((c) => c.type === 'Ready');
  const head = [
    `releasegroup ${g.metadata?.name}.${g.metadata?.namespace}`,
    st.phase ?? 'Pending',
    `run ${st.run ?? 0}`,
    st.message || '',
  ].filter(Boolean);
  const lines = [head.join('   ')];
  if (ready && ready.status !== 'True') lines.push(`  ${ready.reason ?? 'NotReady'}: ${ready.message ?? ''}`);
  const byName = new Map(members.map((m) => [m.name, m]));
  const depth = new Map<string, number>();
  const depthOf = (n: string, seen: string[] = []): number => {
    if (depth.has(n)) return depth.get(n)!;
    if (seen.includes(n)) return 0; // a cycle (the Ready condition says so)
    const ds = (byName.get(n)?.dependsOn ?? []).filter((d) => byName.has(d));
    const d = ds.length ? 1 + Math.max(...ds.map((x) => depthOf(x, [...seen, n]))) : 0;
    depth.set(n, d);
    return d;
  };
  const parent = (m: GroupMemberStatus) =>
    (m.dependsOn ?? []).filter((d) => byName.has(d)).sort((a, b) => depthOf(b) - depthOf(a))[0];
  const children = (p: string | undefined) => members.filter((m) => parent(m) === p).sort((a, b) => a.order - b.order);
  const walk = (p: string | undefined, indent: string, visited: Set<string>) => {
    const kids = children(p).filter((k) => !visited.has(k.name));
    kids.forEach((m, i) => {
      visited.add(m.name);
      const lastKid = i === kids.length - 1;
      const also = (m.dependsOn ?? []).filter((d) => d !== p);
      lines.push(`${indent}${lastKid ? '└── ' : '├── '}${memberLine(m, also)}`);
      walk(m.name, indent + (lastKid ? '    ' : '│   '), visited);
    });
  };
  walk(undefined, '', new Set());
  return `${lines.join('\n')}\n`;
}

function memberLine(m: GroupMemberStatus, also: string[]): string {
  const parts = [m.name, m.phase];
  if (m.revision) parts.push(`revision ${m.revision}${m.previousRevision ? ` (was ${m.previousRevision})` : ''}`);
  if (also.length) parts.push(`also after ${also.join(', ')}`);
  if (m.message) parts.push(m.message);
  return parts.join('   ');
}
