// Kubernetes label selector matching (matchLabels and matchExpressions), pure. The semantics of
// k8s.io/apimachinery pkg/apis/meta/v1 LabelSelector: every requirement must hold; an empty selector matches all.
import type { LabelSelector } from '../../api/delivery-policy.ts';

export function selects(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const r of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, r.key);
    const values = r.values ?? [];
    switch (r.operator) {
      case 'In':
        if (!has || !values.includes(labels[r.key]!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(labels[r.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

/**
 * `app=podinfo,tier=web` (equality only, as `fledge freeze --selector` takes it) → matchLabels. Throws on a term
 * that is not `key=value`.
 */
export function parseSelector(text: string): LabelSelector {
  const matchLabels: Record<string, string> = {};
  for (const term of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^([A-Za-z0-9./_-]+)==?([A-Za-z0-9._-]*)$/.exec(term);
    if (!m) throw new Error(`selector term ${JSON.stringify(term)}: use key=value[,key=value]`);
    matchLabels[m[1]!] = m[2]!;
  }
  return Object.keys(matchLabels).length ? { matchLabels } : {};
}
