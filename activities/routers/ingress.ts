// Pure builders of the NGINX provider: the user's Ingress (spec.ingressRef) plus the routes to put in force → the
// `<ingress>-canary` Ingress fledge applies, and the routes a stored canary Ingress puts in force. No I/O here.
//
// Object shapes follow Flagger v1.44 pkg/router/ingress.go: the canary Ingress is a copy of the user's Ingress
// (labels, annotations, the whole spec with ingressClassName) whose backends naming the apex Service point at
// `<apex>-canary`; the user's Ingress is never written. Traffic moves through ingress-nginx's canary annotations.

import type { Canary, HttpMatch } from '../../api/canary.ts';
import type { Routes } from '../../api/ports.ts';
import { serviceNames } from '../../api/validate.ts';
import { RouteSpecError } from './httproute.ts';
import type { OwnerReference } from './httproute.ts';
import { FLUX_ANNOTATIONS, MANAGED_ANNOTATION } from './object-meta.ts';

/** Flagger's `-ingress-annotations-prefix` default. */
export const DEFAULT_ANNOTATIONS_PREFIX = 'nginx.ingress.kubernetes.io';

/** The subset of networking.k8s.io/v1 Ingress fledge reads and writes. */
export interface IngressBackend {
  service?: { name: string; port?: { number?: number; name?: string } };
  resource?: Record<string, unknown>;
}
export interface IngressRule {
  host?: string;
  http?: { paths: { path?: string; pathType: string; backend: IngressBackend }[] };
}
export interface Ingress {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'Ingress';
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
  };
  spec?: {
    ingressClassName?: string;
    defaultBackend?: IngressBackend;
    tls?: { hosts?: string[]; secretName?: string }[];
    rules?: IngressRule[];
  };
}

/** `<ingressRef.name>-canary` (Flagger's canary Ingress name). */
export function canaryIngressName(canary: Canary): string {
  return `${requireIngressRef(canary)}-canary`;
}

/** spec.ingressRef.name; a RouteSpecError (non-retryable InvalidSpec) when the Canary has none. */
export function requireIngressRef(canary: Canary): string {
  const name = canary.spec.ingressRef?.name;
  if (!name) throw new RouteSpecError('spec.ingressRef is required with provider nginx (the Ingress to clone)');
  return name;
}

/** `<prefix>/<suffix>`, e.g. `nginx.ingress.kubernetes.io/canary-weight`. */
export function nginxAnnotation(prefix: string, suffix: string): string {
  return `${prefix}/${suffix}`;
}

/**
 * The header/cookie selection of an A/B test (Flagger's SetRoutes): a header named `cookie` with an exact value
 * becomes canary-by-cookie (the cookie's name); any other header becomes canary-by-header with its exact value
 * (canary-by-header-value) or regex (canary-by-header-pattern). Later matches and headers win, as in Flagger's
 * loop (which only has one of each in practice).
 */
export function headerSelection(match: HttpMatch[]): {
  cookie?: string;
  header?: string;
  value?: string;
  pattern?: string;
} {
  let cookie = '';
  let header = '';
  let value = '';
  let pattern = '';
  for (const m of match)
    for (const [name, sm] of Object.entries(m.headers ?? {})) {
      if (name === 'cookie') cookie = sm.exact ?? '';
      else {
        header = name;
        value = sm.exact ?? '';
        pattern = sm.regex ?? '';
      }
    }
  return {
    ...(cookie ? { cookie } : {}),
    ...(header ? { header } : {}),
    ...(value ? { value } : {}),
    ...(pattern ? { pattern } : {}),
  };
}

/**
 * The canary Ingress annotations for `canaryWeight` (0–100): the user's annotations without any
 * `<prefix>/canary*` key and kubectl's last-applied-configuration, Flux's opt-outs, `canary: "true"` and
 * `canary-weight` (the weight; `"0"` at 0 and in A/B tests, where weight > 0 adds the header/cookie annotations
 * instead). Flagger pkg/router/ingress.go makeAnnotations/makeHeaderAnnotations.
 */
export function canaryAnnotations(
  userAnnotations: Record<string, string> | undefined,
  prefix: string,
  canaryWeight: number,
  match: HttpMatch[],
): Record<string, string> {
  const a = (suffix: string) => nginxAnnotation(prefix, suffix);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(userAnnotations ?? {}))
    if (
      !k.includes(a('canary')) &&
      k !== 'kubectl.kubernetes.io/last-applied-configuration' &&
      k !== MANAGED_ANNOTATION
    )
      out[k] = v;
  Object.assign(out, FLUX_ANNOTATIONS);
  out[a('canary')] = 'true';
  out[a('canary-weight')] = '0';
  if (canaryWeight <= 0) return out;
  if (match.length === 0) {
    out[a('canary-weight')] = String(canaryWeight);
    return out;
  }
  const s = headerSelection(match);
  if (s.cookie) out[a('canary-by-cookie')] = s.cookie;
  if (s.header) out[a('canary-by-header')] = s.header;
  if (s.value) out[a('canary-by-header-value')] = s.value;
  if (s.pattern) out[a('canary-by-header-pattern')] = s.pattern;
  return out;
}

/**
 * The user's Ingress spec with every path backend naming the apex Service switched to `<apex>-canary`
 * (defaultBackend is left alone, as in Flagger). A RouteSpecError when no path names the apex Service.
 */
export function canarySpec(canary: Canary, ingress: Ingress): NonNullable<Ingress['spec']> {
  const { apex, canary: canaryService } = serviceNames(canary);
  const spec = JSON.parse(JSON.stringify(ingress.spec ?? {})) as NonNullable<Ingress['spec']>;
  let found = false;
  for (const rule of spec.rules ?? [])
    for (const path of rule.http?.paths ?? [])
      if (path.backend.service?.name === apex) {
        path.backend.service.name = canaryService;
        found = true;
      }
  if (!found) throw new RouteSpecError(`backend ${apex} not found in ingress ${ingress.metadata.name}`);
  return spec;
}

export interface BuildCanaryIngressInput {
  canary: Canary;
  /** The user's Ingress (spec.ingressRef) as stored. */
  ingress: Ingress;
  prefix: string;
  canaryWeight: number;
  owner?: OwnerReference;
}

/** The whole `<ingress>-canary` Ingress to server-side apply. */
export function buildCanaryIngress(input: BuildCanaryIngressInput): Ingress {
  const { canary, ingress, prefix } = input;
  const annotations = canaryAnnotations(
    ingress.metadata.annotations,
    prefix,
    input.canaryWeight,
    canary.spec.analysis.match,
  );
  annotations[MANAGED_ANNOTATION] = canary.metadata.name;
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: {
      name: canaryIngressName(canary),
      namespace: canary.metadata.namespace ?? 'default',
      ...(ingress.metadata.labels ? { labels: { ...ingress.metadata.labels } } : {}),
      annotations,
      ...(input.owner ? { ownerReferences: [input.owner] } : {}),
    },
    spec: canarySpec(canary, ingress),
  };
}

/**
 * Routes a stored canary Ingress puts in force (Flagger's GetRoutes): in an A/B test a canary-by-cookie or
 * canary-by-header annotation means 0/100; otherwise canary-weight (absent: 0), primary 100 minus it. Never
 * mirrored. A RouteSpecError when canary-weight is not an integer.
 */
export function routesOfCanaryIngress(ingress: Ingress, prefix: string, match: HttpMatch[]): Routes {
  const annotations = ingress.metadata.annotations ?? {};
  if (match.length > 0) {
    const selected = [nginxAnnotation(prefix, 'canary-by-cookie'), nginxAnnotation(prefix, 'canary-by-header')];
    if (selected.some((k) => k in annotations)) return { primary: 0, canary: 100, mirrored: false };
  }
  const raw = annotations[nginxAnnotation(prefix, 'canary-weight')];
  const weight = raw === undefined ? 0 : Number(raw);
  if (!Number.isInteger(weight))
    throw new RouteSpecError(`failed to convert ${raw} to int (${ingress.metadata.name} canary-weight)`);
  return { primary: 100 - weight, canary: weight, mirrored: false };
}
