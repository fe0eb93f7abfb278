// Which observer measures a canary's builtin metrics: by the Canary's provider (or the worker's default mesh
// provider), with Flagger's fallback to Istio. Adding an observer is one file and one line here.
import type { Observer } from './observer.ts';
import { appmesh } from './appmesh.ts';
import { contour } from './contour.ts';
import { gatewayapi } from './gatewayapi.ts';
import { istio } from './istio.ts';
import { knative } from './knative.ts';
import { kubernetes } from './kubernetes.ts';
import { linkerd } from './linkerd.ts';
import { nginx } from './nginx.ts';
import { osm } from './osm.ts';
import { traefik } from './traefik.ts';

export type { Observer };

const OBSERVERS: Record<string, Observer> = {
  appmesh,
  contour,
  gatewayapi,
  istio,
  knative,
  kubernetes,
  linkerd,
  nginx,
  osm,
  traefik,
};

/** Flagger's default mesh provider, and its observer for providers it has no queries for. */
export const DEFAULT_OBSERVER = istio;

export function observerFor(provider: string | undefined): Observer {
  if (!provider) return DEFAULT_OBSERVER;
  // Versioned names share the observer of their family: "gatewayapi:v1" → "gatewayapi".
  const family = provider.split(':')[0]!;
  return OBSERVERS[provider] ?? OBSERVERS[family] ?? DEFAULT_OBSERVER;
}

export function observerNames(): string[] {
  return Object.keys(OBSERVERS).sort();
}
