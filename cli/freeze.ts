// `fledge freeze` and `fledge unfreeze`: declare and end delivery freezes (DeliveryPolicy, fledge.dev/v1alpha1;
// docs/delivery-windows.md). A freeze is an entry of a DeliveryPolicy (default name `fledge-freeze`) in the
// namespace; `unfreeze` ends the freezes in force by setting their `until` to now (the entry stays as a record).
// Both then signal `deliveryPolicyChanged` to the rollouts of the namespace, so a held rollout checks at once
// instead of at the end of its timer.
import * as k8s from '@kubernetes/client-node';
import { DURATION_REGEX, parseDuration } from '../api/canary.ts';
import {
  DELIVERY_API_VERSION,
  DELIVERY_GROUP,
  DELIVERY_POLICIES,
  DELIVERY_VERSION,
  FREEZE_POLICIES,
  type Freeze,
  type LabelSelector,
} from '../api/delivery-policy.ts';
import { parseSelector, selects } from '../activities/delivery/selector.ts';
import { deliveryPolicyChangedSignal } from '../workflows/delivery.ts';
import { rolloutWorkflowId } from '../workflows/controls.ts';
import { defaultActor, type Io } from './commands.ts';
import { CliError, kubeError, message, type CliContext } from './context.ts';

export const DEFAULT_FREEZE_POLICY = 'fledge-freeze';
const API = { group: DELIVERY_GROUP, version: DELIVERY_VERSION, plural: DELIVERY_POLICIES };

export interface FreezeOptions {
  until: string;
  reason: string;
  policy?: string;
  selector?: string;
  name?: string;
  by?: string;
}

interface RawPolicy {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec: { selector?: LabelSelector; freezes?: Freeze[]; [key: string]: unknown };
}

/** `--until`: an RFC 3339 time, or a Go duration (`15m`, `2h`) from now. Returns ms; usage error (exit 2) otherwise. */
export function untilTime(until: string, now = Date.now()): number {
  if (DURATION_REGEX.test(until)) return now + parseDuration(until);
  const t = Date.parse(until);
  if (Number.isNaN(t) || !/^\d{4}-\d{2}-\d{2}T/.test(until))
    throw new CliError(`--until ${JSON.stringify(until)}: use a time (RFC 3339) or a duration like 2h`, 2);
  return t;
}

/** A policy with `freeze` added (a freeze of the same name is replaced); pure. */
export function withFreeze(
  policy: RawPolicy | undefined,
  name: string,
  ns: string,
  freeze: Freeze,
  selector?: LabelSelector,
): RawPolicy {
  const base: RawPolicy = policy ?? {
    apiVersion: DELIVERY_API_VERSION,
    kind: 'DeliveryPolicy',
    metadata: { name, namespace: ns },
    spec: {},
  };
  const freezes = (base.spec.freezes ?? []).filter((f) => !freeze.name || f.name !== freeze.name);
  return {
    ...base,
    spec: { ...base.spec, ...(selector ? { selector } : {}), freezes: [...freezes, freeze] },
  };
}

/** The policy with every freeze in force at `now` ended (until = now); pure. Returns the names ended. */
export function endFreezes(policy: RawPolicy, now: number): { policy: RawPolicy; ended: string[] } {
  const ended: string[] = [];
  const at = new Date(now).toISOString();
  const freezes = (policy.spec.freezes ?? []).map((f, i) => {
    const from = f.from ? Date.parse(f.from) : -Infinity;
    if (!(from <= now && now < Date.parse(f.until))) return f;
    ended.push(f.name ?? `#${i}`);
    return { ...f, until: at };
  });
  return { policy: { ...policy, spec: { ...policy.spec, freezes } }, ended };
}

async function readPolicy(api: k8s.CustomObjectsApi, namespace: string, name: string): Promise<RawPolicy | undefined> {
  try {
    return (await api.getNamespacedCustomObject({ ...API, namespace, name })) as RawPolicy;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw kubeError(err, `DeliveryPolicy ${namespace}/${name}`);
  }
}

/** Read-modify-write of one policy, retried on a conflict (someone else wrote it in between). */
async function update(
  ctx: CliContext,
  name: string,
  change: (current: RawPolicy | undefined) => RawPolicy | undefined,
): Promise<RawPolicy | undefined> {
  const api = ctx.kube().makeApiClient(k8s.CustomObjectsApi);
  const namespace = ctx.defaultNamespace();
  for (let attempt = 0; ; attempt++) {
    const current = await readPolicy(api, namespace, name);
    const next = change(current);
    if (!next) return undefined;
    try {
      if (current) await api.replaceNamespacedCustomObject({ ...API, namespace, name, body: next });
      else await api.createNamespacedCustomObject({ ...API, namespace, body: next });
      return next;
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === 409 && attempt < 3) continue;
      throw kubeError(err, `DeliveryPolicy ${namespace}/${name}`);
    }
  }
}

/**
 * Tell the rollouts of the Canaries `selector` selects that a policy changed (`deliveryPolicyChanged`); best
 * effort: without Temporal the held rollouts check again when their timer ends. Returns how many were told.
 */
async function wakeRollouts(ctx: CliContext, io: Io, selector: LabelSelector | undefined): Promise<number> {
  const namespace = ctx.defaultNamespace();
  try {
    const api = ctx.kube().makeApiClient(k8s.CustomObjectsApi);
    const list = (await api.listNamespacedCustomObject({
      group: 'flagger.app',
      version: 'v1beta1',
      namespace,
      plural: 'canaries',
    })) as { items?: { metadata?: { name?: string; labels?: Record<string, string> } }[] };
    const names = (list.items ?? [])
      .filter((c) => selects(selector, c.metadata?.labels ?? {}))
      .map((c) => c.metadata?.name ?? '');
    const { client } = await ctx.temporal();
    let told = 0;
    for (const name of names) {
      const handle = client.workflow.getHandle(rolloutWorkflowId({ namespace, name }));
      told += await handle.signal(deliveryPolicyChangedSignal).then(
        () => 1,
        () => 0, // no rollout running for this Canary
      );
    }
    return told;
  } catch (err) {
    io.err(`fledge: rollouts not told (${message(err)}); held ones check again when their timer ends\n`);
    return 0;
  }
}

export async function freeze(ctx: CliContext, io: Io, o: FreezeOptions): Promise<number> {
  const now = Date.now();
  const until = untilTime(o.until, now);
  if (until <= now) throw new CliError(`--until ${o.until} is not in the future`, 2);
  const action = o.policy ?? 'hold';
  if (!(FREEZE_POLICIES as readonly string[]).includes(action))
    throw new CliError(`--policy ${action}: use hold or rollback`, 2);
  let selector: LabelSelector | undefined;
  try {
    selector = o.selector === undefined ? undefined : parseSelector(o.selector);
  } catch (err) {
    throw new CliError(`--selector: ${message(err)}`, 2);
  }
  const name = o.name ?? DEFAULT_FREEZE_POLICY;
  const namespace = ctx.defaultNamespace();
  const entry: Freeze = {
    name: `cli-${new Date(now)
      .toISOString()
      .replace(/[-:]|\.\d+Z$/g, '')
      .toLowerCase()}`,
    from: new Date(now).toISOString(),
    until: new Date(until).toISOString(),
    reason: o.reason,
    policy: action as Freeze['policy'],
    by: o.by ?? defaultActor(ctx.env),
  };
  const written = await update(ctx, name, (current) => withFreeze(current, name, namespace, entry, selector));
  const scope = written?.spec.selector?.matchLabels
    ? Object.entries(written.spec.selector.matchLabels)
        .map(([k, v]) => `${k}=${v}`)
        .join(',')
    : 'every canary';
  io.out(
    `frozen ${namespace} (${scope}) until ${entry.until} by ${entry.by}: ${entry.reason} ` +
      `[DeliveryPolicy ${namespace}/${name}, freeze ${entry.name}, policy ${action}]\n`,
  );
  await wakeRollouts(ctx, io, written?.spec.selector);
  return 0;
}

export async function unfreeze(ctx: CliContext, io: Io, o: { name?: string }): Promise<number> {
  const name = o.name ?? DEFAULT_FREEZE_POLICY;
  const namespace = ctx.defaultNamespace();
  let ended: string[] = [];
  const written = await update(ctx, name, (current) => {
    if (!current) throw new CliError(`no DeliveryPolicy ${namespace}/${name}`);
    const r = endFreezes(current, Date.now());
    ended = r.ended;
    return ended.length ? r.policy : undefined;
  });
  if (!written) {
    io.out(`no freeze in force in DeliveryPolicy ${namespace}/${name}\n`);
    return 0;
  }
  const told = await wakeRollouts(ctx, io, written.spec.selector);
  io.out(`ended ${ended.join(', ')} in DeliveryPolicy ${namespace}/${name}; ${told} rollout(s) told\n`);
  return 0;
}
