// Pure builders of the Skipper provider: the user's Ingress (spec.ingressRef) plus the weights to put in force →
// the `<ingress>-canary` Ingress fledge applies, and the routes a stored canary Ingress puts in force. No I/O here.
//
// Object shapes follow Flagger v1.44 pkg/router/skipper.go: the canary Ingress copies the user's Ingress; every
// path whose backend is the apex Service is switched to `<apex>-primary` and a copy of it naming `<apex>-canary`
// is appended to the rule's paths. Traffic moves with `zalando.org/backend-weights`; the `Weight(100)` predicate
// makes Skipper prefer the canary Ingress's routes over the user's, and `False()` (at canary weight 0) disables
// them again. The user's Ingress is never written.

import type { Canary } from '../../api/canary.ts';
import type { Routes } from '../../api/ports.ts';
import { serviceNames } from '../../api/validate.ts';
import { RouteSpecError } from './httproute.ts';
import type { OwnerReference } from './httproute.ts';
import type { Ingress } from './ingress.ts';
import { FLUX_ANNOTATIONS, MANAGED_ANNOTATION } from './object-meta.ts';

export const SKIPPER_PREDICATE = 'zalando.org/skipper-predicate';
export const SKIPPER_BACKEND_WEIGHTS = 'zalando.org/backend-weights';
/** Lifts the canary Ingress's routes above the user's (Flagger's canaryRouteWeight). */
export const ROUTE_WEIGHT = 'Weight(100)';
/** Turns the canary Ingress's routes off once the canary gets no traffic (Flagger's canaryRouteDisable). */
export const ROUTE_DISABLE = 'False()';

/**
 * `insert` first, then the predicates of `raw` (split on `&&`, trimmed) without empty ones and without
 * Weight(100)/False(), joined by ` && `. Flagger pkg/router/skipper.go insertPredicate.
 */
export function insertPredicate(raw: string | undefined, insert: string): string {
  const rest = (raw ?? '')
    .split('&&')
    .map((p) => p.trim())
    .filter((p) => p !== '' && p !== ROUTE_WEIGHT && p !== ROUTE_DISABLE);
  return [insert, ...rest].join(' && ');
}

/**
 * The backend-weights annotation value: JSON of `{<apex>-canary: canary, <apex>-primary: primary}`, keys sorted as
 * Go's json.Marshal writes a map (Flagger makeAnnotations).
 */
export function backendWeights(canary: Canary, primaryWeight: number, canaryWeight: number): string {
  const names = serviceNames(canary);
  const weights: Record<string, number> = { [names.primary]: primaryWeight, [names.canary]: canaryWeight };
  const sorted = Object.fromEntries(Object.entries(weights).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return JSON.stringify(sorted);
}

/**
 * The user's Ingress spec with each path naming the apex Service switched to `<apex>-primary`, and a copy of that
 * path naming `<apex>-canary` appended to its rule (after the rule's own paths, in order). defaultBackend is left
 * alone. A RouteSpecError when no path names the apex Service.
 */
export function skipperSpec(canary: Canary, ingress: Ingress): NonNullable<Ingress['spec']> {
  const names = serviceNames(canary);
  const spec = JSON.parse(JSON.stringify(ingress.spec ?? {})) as NonNullable<Ingress['spec']>;
  let found = false;
  for (const rule of spec.rules ?? []) {
    if (!rule.http) continue;
    const added: typeof rule.http.paths = [];
    for (const path of rule.http.paths)
      if (path.backend.service?.name === names.apex) {
        path.backend.service.name = names.primary;
        const copy = JSON.parse(JSON.stringify(path)) as typeof path;
        copy.backend.service!.name = names.canary;
        added.push(copy);
        found = true;
      }
    rule.http.paths.push(...added);
  }
  if (!found) throw new RouteSpecError(`backend ${names.apex} not found in ingress ${ingress.metadata.name}`);
  return spec;
}

export interface BuildSkipperIngressInput {
  canary: Canary;
  /** The user's Ingress (spec.ingressRef) as stored. */
  ingress: Ingress;
  primaryWeight: number;
  canaryWeight: number;
  /** Put False() first in the predicate (Flagger's SetRoutes at canary weight 0); else Weight(100). */
  disabled: boolean;
  owner?: OwnerReference;
}

/**
 * The whole `<ingress>-canary` Ingress to server-side apply: the user's labels and annotations (without kubectl's
 * last-applied-configuration), Flux's opt-outs, the backend weights and the predicate (the user's predicates after
 * Weight(100), or after False() when disabled).
 */
export function buildSkipperIngress(input: BuildSkipperIngressInput): Ingress {
  const { canary, ingress } = input;
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(ingress.metadata.annotations ?? {}))
    if (k !== 'kubectl.kubernetes.io/last-applied-configuration' && k !== MANAGED_ANNOTATION) annotations[k] = v;
  Object.assign(annotations, FLUX_ANNOTATIONS);
  annotations[SKIPPER_BACKEND_WEIGHTS] = backendWeights(canary, input.primaryWeight, input.canaryWeight);
  const weighted = insertPredicate(annotations[SKIPPER_PREDICATE], ROUTE_WEIGHT);
  annotations[SKIPPER_PREDICATE] = input.disabled ? insertPredicate(weighted, ROUTE_DISABLE) : weighted;
  annotations[MANAGED_ANNOTATION] = canary.metadata.name;
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: {
      name: `${ingress.metadata.name}-canary`,
      namespace: canary.metadata.namespace ?? 'default',
      ...(ingress.metadata.labels ? { labels: { ...ingress.metadata.labels } } : {}),
      annotations,
      ...(input.owner ? { ownerReferences: [input.owner] } : {}),
    },
    spec: skipperSpec(canary, ingress),
  };
}

/** Whether a stored canary Ingress has its routes turned off (False() in its predicate). */
export function isDisabled(ingress: Ingress): boolean {
  return (ingress.metadata.annotations?.[SKIPPER_PREDICATE] ?? '').split('&&').some((p) => p.trim() === ROUTE_DISABLE);
}

/**
 * Routes a stored canary Ingress puts in force (Flagger's GetRoutes): the primary's and the canary's integer
 * weights from backend-weights; never mirrored. A RouteSpecError when the annotation is missing, is not JSON, or
 * lacks an integer weight for either Service.
 */
export function routesOfSkipperIngress(canary: Canary, ingress: Ingress): Routes {
  const raw = ingress.metadata.annotations?.[SKIPPER_BACKEND_WEIGHTS];
  const where = `ingress ${ingress.metadata.name}`;
  if (raw === undefined) throw new RouteSpecError(`${where} has no ${SKIPPER_BACKEND_WEIGHTS} annotation`);
  let weights: Record<string, unknown>;
  try {
    weights = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    throw new RouteSpecError(`${where}: ${SKIPPER_BACKEND_WEIGHTS} is not JSON: ${raw}`);
  }
  const names = serviceNames(canary);
  const weight = (svc: string): number => {
    const w = weights?.[svc];
    if (typeof w !== 'number' || !Number.isInteger(w))
      throw new RouteSpecError(`${where}: ${SKIPPER_BACKEND_WEIGHTS} has no integer weight for ${svc}`);
    return w;
  };
  return { primary: weight(names.primary), canary: weight(names.canary), mirrored: false };
}
