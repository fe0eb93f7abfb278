// Canonical JSON and short hashes: the identity of pod templates and configs must not depend on key order or on
// fields that are present but empty (a client or apiserver upgrade that starts sending `env: []` is no change).
import { createHash } from 'node:crypto';

/** Drops null, undefined, "", {} and [] (recursively) and sorts object keys. `false` and `0` are kept: they mean something. */
export function canonical(value: unknown): unknown {
  if (Array.isArray(value)) {
    const items = value.map(canonical).filter((v) => v !== undefined);
    return items.length ? items : undefined;
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = canonical((value as Record<string, unknown>)[key]);
      if (v !== undefined) out[key] = v;
    }
    return Object.keys(out).length ? out : undefined;
  }
  if (value === null || value === undefined || value === '') return undefined;
  return value;
}

export function canonicalJson(value: unknown): string {
  return JSON.stringify(canonical(value) ?? null);
}

/** First 16 hex digits (64 bits) of the SHA-256 of the canonical JSON: plenty to tell revisions of one object apart. */
export function shortHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 16);
}
