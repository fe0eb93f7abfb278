// ReleaseGroup (fledge.dev/v1alpha1): Canaries of one namespace released together, in dependency order, with
// compensation when a member fails (docs/release-groups.md). fledge's own kind: Flagger has no equivalent.
import { z } from 'zod';
import { DURATION_REGEX, ObjectMetaSchema, durationProblem, parseDuration } from './canary.ts';

export const RELEASE_GROUP_API_GROUP = 'fledge.dev';
export const RELEASE_GROUP_VERSION = 'v1alpha1';
export const RELEASE_GROUP_API_VERSION = `${RELEASE_GROUP_API_GROUP}/${RELEASE_GROUP_VERSION}`;
export const RELEASE_GROUPS = 'releasegroups';
/** Settle window when the spec names none: revisions of members that arrive within it form one group run. */
export const DEFAULT_SETTLE_WINDOW = '30s';

const settleWindow = z
  .string()
  .regex(DURATION_REGEX, { error: (iss) => durationProblem(iss.input), abort: true })
  .refine((s) => durationProblem(s) === undefined, { error: (iss) => durationProblem(iss.input) });

export const ReleaseGroupMemberSchema = z
  .object({
    name: z.string().min(1).meta({ description: 'Name of a Canary in the namespace of the ReleaseGroup' }),
    dependsOn: z
      .array(z.string().min(1))
      .optional()
      .meta({ description: 'Members that must have Succeeded in a group run before this member starts' }),
  })
  .meta({ description: 'A Canary of the group and the members it depends on' });

export const ReleaseGroupSpecSchema = z
  .object({
    members: z.array(ReleaseGroupMemberSchema).min(1).meta({ description: 'Canaries released together' }),
    settleWindow: settleWindow.optional().meta({
      description: `Members whose new revisions arrive within this window of each other (Go duration; default ${DEFAULT_SETTLE_WINDOW}) are rolled out in one group run`,
    }),
  })
  .meta({ description: 'ReleaseGroupSpec: members, their dependencies and the settle window.' });
export type ReleaseGroupSpec = z.infer<typeof ReleaseGroupSpecSchema>;

/** Per-member state of the current (or last) group run, written by the group workflow. */
export const GROUP_MEMBER_PHASES = [
  'Idle',
  'Held',
  'Released',
  'Succeeded',
  'Failed',
  'Aborted',
  'Compensating',
  'Compensated',
  'CompensationFailed',
] as const;
export type GroupMemberPhase = (typeof GROUP_MEMBER_PHASES)[number];

export const GROUP_PHASES = [
  'Idle',
  'Settling',
  'Progressing',
  'Compensating',
  'Succeeded',
  'Failed',
  'Invalid',
] as const;
export type GroupPhase = (typeof GROUP_PHASES)[number];

const MemberStatusSchema = z.object({
  name: z.string(),
  dependsOn: z.array(z.string()).optional(),
  /** Position in the dependency order (0 first). */
  order: z.int(),
  phase: z.enum(GROUP_MEMBER_PHASES),
  revision: z.string().optional(),
  previousRevision: z.string().optional(),
  message: z.string().optional(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
});
export type GroupMemberStatus = z.infer<typeof MemberStatusSchema>;

export const ReleaseGroupStatusSchema = z.object({
  phase: z.enum(GROUP_PHASES).optional(),
  run: z.int().optional(),
  message: z.string().optional(),
  observedGeneration: z.int().optional(),
  members: z.array(MemberStatusSchema).optional(),
  conditions: z
    .array(
      z.object({
        type: z.string(),
        status: z.string(),
        reason: z.string().optional(),
        message: z.string().optional(),
        lastTransitionTime: z.string().optional(),
      }),
    )
    .optional(),
  workflowId: z.string().optional(),
});
export type ReleaseGroupStatus = z.infer<typeof ReleaseGroupStatusSchema>;

export const ReleaseGroupSchema = z
  .object({
    apiVersion: z.literal(RELEASE_GROUP_API_VERSION).default(RELEASE_GROUP_API_VERSION),
    kind: z.literal('ReleaseGroup').default('ReleaseGroup'),
    metadata: ObjectMetaSchema,
    spec: ReleaseGroupSpecSchema,
    status: ReleaseGroupStatusSchema.optional().catch(undefined),
  })
  .meta({ description: 'ReleaseGroup: Canaries rolled out together in dependency order, compensated on failure.' });
export type ReleaseGroup = z.infer<typeof ReleaseGroupSchema>;

/** A validated group as the workflow needs it: members in dependency order, settle window in ms. */
export interface GroupPlan {
  /** Member names, topologically sorted (a member after everything it depends on; ties by spec order). */
  order: string[];
  dependsOn: Record<string, string[]>;
  settleMs: number;
}

export type GroupPlanResult = { ok: true; plan: GroupPlan } | { ok: false; errors: string[] };

/**
 * Validates a ReleaseGroup spec (as read from the apiserver) against the Canaries of its namespace: schema,
 * duplicate members, dependencies on non-members, unknown Canaries and dependency cycles. Pure; each error is one
 * human sentence (the condition message and the Warning event).
 */
export function planGroup(rawSpec: unknown, canaries: readonly string[]): GroupPlanResult {
  const parsed = ReleaseGroupSpecSchema.safeParse(rawSpec);
  if (!parsed.success)
    return { ok: false, errors: parsed.error.issues.map((i) => `spec.${i.path.join('.')}: ${i.message}`) };
  const spec = parsed.data;
  const errors: string[] = [];
  const names = spec.members.map((m) => m.name);
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) errors.push(`member ${n} is listed twice`);
    seen.add(n);
  }
  const known = new Set(canaries);
  for (const n of seen) if (!known.has(n)) errors.push(`member ${n}: no Canary of that name in the namespace`);
  const dependsOn: Record<string, string[]> = {};
  for (const m of spec.members) {
    dependsOn[m.name] = [...new Set(m.dependsOn ?? [])];
    for (const d of dependsOn[m.name]!)
      if (!seen.has(d)) errors.push(`member ${m.name} depends on ${d}, which is not a member`);
  }
  if (errors.length) return { ok: false, errors };
  const order = topoOrder(names, dependsOn);
  if (!order.ok) return { ok: false, errors: [`dependency cycle: ${order.cycle.join(' → ')}`] };
  return {
    ok: true,
    plan: { order: order.order, dependsOn, settleMs: parseDuration(spec.settleWindow ?? DEFAULT_SETTLE_WINDOW) },
  };
}

/** Kahn's algorithm, stable in the given order; on a cycle, one cycle's members (first repeated at the end). */
export function topoOrder(
  names: readonly string[],
  dependsOn: Record<string, readonly string[]>,
): { ok: true; order: string[] } | { ok: false; cycle: string[] } {
  const order: string[] = [];
  const done = new Set<string>();
  while (order.length < names.length) {
    const next = names.find((n) => !done.has(n) && (dependsOn[n] ?? []).every((d) => done.has(d)));
    if (next === undefined)
      return {
        ok: false,
        cycle: findCycle(
          names.filter((n) => !done.has(n)),
          dependsOn,
        ),
      };
    order.push(next);
    done.add(next);
  }
  return { ok: true, order };
}

function findCycle(left: readonly string[], dependsOn: Record<string, readonly string[]>): string[] {
  // Every member left depends on another member left: walking dependencies must revisit one.
  const path: string[] = [];
  let at = left[0]!;
  while (!path.includes(at)) {
    path.push(at);
    at = (dependsOn[at] ?? []).find((d) => left.includes(d)) ?? at;
  }
  return [...path.slice(path.indexOf(at)), at];
}
