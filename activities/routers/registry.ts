// Routers by provider name: one for every provider Flagger v1.44 has. Names Flagger never had are a validation
// error: never a silent fallback to some other router.
import { ApplicationFailure } from '@temporalio/common';
import { SUPPORTED_LIST } from '../../api/canary.ts';
import { createApisixRouter } from './apisix.ts';
import { createAppMeshRouter } from './appmesh.ts';
import { FAILURE } from './errors.ts';
import { createContourRouter } from './contour.ts';
import { createGatewayApiRouter } from './gateway-api.ts';
import { createGlooRouter } from './gloo.ts';
import { createIstioRouter } from './istio.ts';
import { createKnativeRouter } from './knative.ts';
import { createKubernetesRouter } from './kubernetes.ts';
import { createSkipperRouter } from './skipper.ts';
import { createKumaRouter } from './kuma.ts';
import { createSmiRouter } from './smi.ts';
import { createNginxRouter } from './nginx.ts';
import type { Router, RouterDeps } from './router.ts';
import { createTraefikRouter } from './traefik.ts';

const FACTORIES = {
  apisix: (deps: RouterDeps) => createApisixRouter(deps),
  appmesh: (deps: RouterDeps) => createAppMeshRouter({ ...deps, version: 'v1beta1' }),
  'appmesh:v1beta2': (deps: RouterDeps) => createAppMeshRouter({ ...deps, version: 'v1beta2' }),
  'gatewayapi:v1': (deps: RouterDeps) => createGatewayApiRouter({ ...deps, version: 'v1' }),
  'gatewayapi:v1beta1': (deps: RouterDeps) => createGatewayApiRouter({ ...deps, version: 'v1beta1' }),
  // Flagger's alias of the newest Gateway API version it knows.
  gatewayapi: (deps: RouterDeps) => createGatewayApiRouter({ ...deps, version: 'v1' }),
  gloo: (deps: RouterDeps) => createGlooRouter(deps),
  istio: (deps: RouterDeps) => createIstioRouter(deps),
  knative: (deps: RouterDeps) => createKnativeRouter(deps),
  kubernetes: (deps: RouterDeps) => createKubernetesRouter(deps),
  kuma: (deps: RouterDeps) => createKumaRouter(deps),
  // SMI TrafficSplit versions as Flagger's factory maps them: linkerd → v1alpha1, osm → v1alpha2.
  linkerd: (deps: RouterDeps) => createSmiRouter({ ...deps, version: 'v1alpha1' }),
  osm: (deps: RouterDeps) => createSmiRouter({ ...deps, version: 'v1alpha2' }),
  'smi:v1alpha1': (deps: RouterDeps) => createSmiRouter({ ...deps, version: 'v1alpha1' }),
  'smi:v1alpha2': (deps: RouterDeps) => createSmiRouter({ ...deps, version: 'v1alpha2' }),
  'smi:v1alpha3': (deps: RouterDeps) => createSmiRouter({ ...deps, version: 'v1alpha3' }),
  nginx: (deps: RouterDeps) => createNginxRouter(deps),
  contour: (deps: RouterDeps) => createContourRouter(deps),
  skipper: (deps: RouterDeps) => createSkipperRouter(deps),
  traefik: (deps: RouterDeps) => createTraefikRouter(deps),
} satisfies Record<string, (deps: RouterDeps) => Router>;

export type RouterName = keyof typeof FACTORIES;
export const ROUTER_NAMES = Object.keys(FACTORIES) as RouterName[];

export function isRouterName(name: string): name is RouterName {
  return Object.hasOwn(FACTORIES, name);
}

/** The router of a provider; throws a non-retryable ApplicationFailure (InvalidSpec) for an unknown name. */
export function routerFor(provider: string, deps: RouterDeps): Router {
  if (isRouterName(provider)) return FACTORIES[provider](deps);
  throw ApplicationFailure.nonRetryable(
    `unknown provider "${provider}" (supported: ${SUPPORTED_LIST})`,
    FAILURE.invalidSpec,
  );
}
