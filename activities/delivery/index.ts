// The delivery activity: which DeliveryPolicies (fledge.dev/v1alpha1) select a Canary, and what they say at the
// instant the workflow asks about (activities/delivery/windows.ts). One list of the namespace's policies and one
// read of the Canary's labels per call; the workflow calls it before a rollout starts and at each analysis tick.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  DELIVERY_GROUP,
  DELIVERY_POLICIES,
  DELIVERY_VERSION,
  DeliveryPolicySpecSchema,
  type DeliveryPort,
  type DeliveryVerdict,
} from '../../api/delivery-policy.ts';
import type { CanaryRef } from '../../api/ports.ts';
import { isNotFound, makeKube, type Kube } from '../kubernetes/client.ts';
import { readCanary } from '../kubernetes/canary.ts';
import { selects } from './selector.ts';
import { evaluate, type NamedPolicy } from './windows.ts';

export type { DeliveryPort } from '../../api/delivery-policy.ts';

interface RawPolicy {
  metadata?: { name?: string; namespace?: string };
  spec?: unknown;
}

/**
 * The DeliveryPolicies of `namespace` that select the Canary with `labels`, parsed; invalid ones are returned
 * apart (`<ns>/<name>: <error>`) and ignored. No CRD installed (404 on the list) = no policies.
 */
export async function selectingPolicies(
  kube: Kube,
  namespace: string,
  labels: Record<string, string>,
): Promise<{ policies: NamedPolicy[]; invalid: string[] }> {
  let items: RawPolicy[];
  try {
    const list = (await kube.custom.listNamespacedCustomObject({
      group: DELIVERY_GROUP,
      version: DELIVERY_VERSION,
      namespace,
      plural: DELIVERY_POLICIES,
    })) as { items?: RawPolicy[] };
    items = list.items ?? [];
  } catch (err) {
    if (isNotFound(err)) return { policies: [], invalid: [] };
    throw err;
  }
  const policies: NamedPolicy[] = [];
  const invalid: string[] = [];
  for (const item of items) {
    const id = `${item.metadata?.namespace ?? namespace}/${item.metadata?.name ?? '?'}`;
    const parsed = DeliveryPolicySpecSchema.safeParse(item.spec ?? {});
    if (!parsed.success) {
      invalid.push(`${id}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      continue;
    }
    if (selects(parsed.data.selector, labels)) policies.push({ id, spec: parsed.data });
  }
  policies.sort((a, b) => a.id.localeCompare(b.id));
  return { policies, invalid };
}

/** The verdict of the policies selecting `canary` at `at`; a Canary that is gone has no labels (empty selectors only). */
export async function checkDelivery(kube: Kube, canary: CanaryRef, at: number): Promise<DeliveryVerdict> {
  const raw = await readCanary(kube, canary);
  const labels = (raw?.metadata as { labels?: Record<string, string> } | undefined)?.labels ?? {};
  const { policies, invalid } = await selectingPolicies(kube, canary.namespace, labels);
  const verdict = evaluate(policies, at);
  return invalid.length ? { ...verdict, invalid } : verdict;
}

/**
 * `checkDelivery` as an activity. Errors (apiserver down) propagate and the activity is retried; the workflow
 * treats a check that fails through its attempts as "no policy" (it never holds a rollout on an outage).
 */
export function createDeliveryActivities(deps: { kube: KubeConfig; log?: Logger }): DeliveryPort {
  const kube = makeKube(deps.kube);
  return {
    async checkDelivery({ canary, at }) {
      const verdict = await checkDelivery(kube, canary, at);
      if (verdict.invalid?.length)
        deps.log?.warn(
          { canary: `${canary.name}.${canary.namespace}`, invalid: verdict.invalid },
          'invalid DeliveryPolicy ignored',
        );
      return verdict;
    },
  };
}
