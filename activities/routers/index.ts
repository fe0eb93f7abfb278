// The routes activities (RoutesPort): read the Canary from the apiserver, validate it with the api/ schema, pick
// the router of its provider and act. Invalid specs and unsupported providers fail without retries.
import { CustomObjectsApi } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import { GATEWAY_REFS_REQUIRED } from '../../api/canary.ts';
import type { Canary, Provider } from '../../api/canary.ts';
import type { CanaryRef, Routes, RoutesPort, SetRoutesInput } from '../../api/ports.ts';
import { parseCanary, parseCanaryForRouting } from '../../api/validate.ts';
import type { ValidationError } from '../../api/validate.ts';
import { FAILURE, statusCode, toFailure } from './errors.ts';
import { routerFor } from './registry.ts';
import type { Router, RouterDeps } from './router.ts';

export type { Router, RouterDeps } from './router.ts';
export { routerFor, ROUTER_NAMES } from './registry.ts';

const ALL_TO_PRIMARY: Routes = { primary: 100, canary: 0, mirrored: false };

export interface RoutesDeps {
  kube: KubeConfig;
  log?: Logger;
  /** Provider of Canaries that name none (Flagger's `-mesh-provider`); default kubernetes. */
  defaultProvider?: string;
  /** See RouterDeps.allowUnreportedParents. */
  allowUnreportedParents?: boolean;
  /** See RouterDeps.random. */
  random?: () => string;
  /** See RouterDeps.ingressAnnotationsPrefix. */
  ingressAnnotationsPrefix?: string;
  /** See RouterDeps.ingressClass. */
  ingressClass?: string;
  /** See RouterDeps.selectorLabels. */
  selectorLabels?: readonly string[];
}

export interface RoutesActivities extends RoutesPort {
  /**
   * RoutesPort.reconcileRoutes; given `services` (the write of the Services the router switches between), that too:
   * at the same time, unless the router reads or writes those Services itself (Router.readsServices), then first.
   */
  reconcileRoutes(input: { canary: CanaryRef }, services?: () => Promise<void>): Promise<Routes>;
  /** Undo fledge's routing for a deleted Canary (restore an adopted route, delete a created one). */
  finalizeRoutes(input: { canary: CanaryRef }): Promise<void>;
}

export function createRoutesActivities(deps: RoutesDeps): RoutesActivities {
  const custom = deps.kube.makeApiClient(CustomObjectsApi);
  const parseOptions = deps.defaultProvider ? { defaultProvider: deps.defaultProvider as Provider } : {};
  const routerDeps: RouterDeps = {
    kube: deps.kube,
    ...(deps.log ? { log: deps.log } : {}),
    ...(deps.allowUnreportedParents !== undefined ? { allowUnreportedParents: deps.allowUnreportedParents } : {}),
    ...(deps.random ? { random: deps.random } : {}),
    ...(deps.ingressAnnotationsPrefix ? { ingressAnnotationsPrefix: deps.ingressAnnotationsPrefix } : {}),
    ...(deps.ingressClass ? { ingressClass: deps.ingressClass } : {}),
    ...(deps.selectorLabels ? { selectorLabels: deps.selectorLabels } : {}),
  };

  async function loadCanary(ref: CanaryRef): Promise<Canary> {
    const parsed = await readCanary(ref);
    if (!parsed.ok) throw ApplicationFailure.nonRetryable(specErrorMessage(parsed.errors), FAILURE.invalidSpec);
    return parsed.canary;
  }

  async function readCanary(ref: CanaryRef): Promise<ReturnType<typeof parseCanary>> {
    return parseCanary(await readRaw(ref), parseOptions);
  }

  /** The routing view of the Canary (see parseCanaryForRouting): valid even when only its analysis is broken. */
  async function loadRoutingCanary(ref: CanaryRef): Promise<Canary> {
    const parsed = parseCanaryForRouting(await readRaw(ref), parseOptions);
    if (!parsed.ok) throw ApplicationFailure.nonRetryable(specErrorMessage(parsed.errors), FAILURE.invalidSpec);
    return parsed.canary;
  }

  async function readRaw(ref: CanaryRef): Promise<unknown> {
    let raw: unknown;
    try {
      raw = await custom.getNamespacedCustomObject({
        group: 'flagger.app',
        version: 'v1beta1',
        namespace: ref.namespace,
        plural: 'canaries',
        name: ref.name,
      });
    } catch (err) {
      if (statusCode(err) === 404)
        throw ApplicationFailure.nonRetryable(`Canary ${ref.namespace}/${ref.name} not found`, FAILURE.canaryNotFound);
      throw err;
    }
    return raw;
  }

  /** The Canary's router: its spec.provider, kubernetes when it names none. */
  const routerOf = (canary: Canary): Router => routerFor(canary.spec.provider ?? 'kubernetes', routerDeps);

  /** Picks the Canary's router, runs `act` and maps failures for Temporal. */
  async function run<T>(canary: Canary, what: string, act: (r: Router, c: Canary) => Promise<T>): Promise<T> {
    const router = routerOf(canary);
    try {
      return await act(router, canary);
    } catch (err) {
      throw toFailure(err, `${what} ${canary.metadata.namespace}/${canary.metadata.name}`);
    }
  }

  const withRouter = async <T>(ref: CanaryRef, what: string, act: (r: Router, c: Canary) => Promise<T>) =>
    run(await loadCanary(ref), what, act);

  return {
    async reconcileRoutes({ canary }, services?: () => Promise<void>): Promise<Routes> {
      const reconcile = (c: Canary) => run(c, 'reconcile routes of', (r, cc) => r.reconcile(cc));
      if (!services) return reconcile(await loadCanary(canary));
      // A Canary that cannot be loaded goes the ordered way, so it fails as it always did (Services first).
      const loaded = await loadCanary(canary).catch(() => undefined);
      if (!loaded || routerOf(loaded).readsServices) {
        await services();
        return reconcile(loaded ?? (await loadCanary(canary)));
      }
      const [, routes] = await Promise.all([services(), reconcile(loaded)]);
      return routes;
    },
    // setRoutes and getRoutes work on the routing view: a spec whose analysis turned invalid mid-rollout must
    // still report the weights in force (status mirrors the route) and let a rollback restore the primary.
    setRoutes: async ({ canary, routes }: SetRoutesInput): Promise<Routes> =>
      run(await loadRoutingCanary(canary), 'set routes of', (r, c) =>
        r.setRoutes(c, routes.primary, routes.canary, routes.mirrored),
      ),
    async getRoutes({ canary }): Promise<Routes> {
      // observe reports an invalid spec as a condition and event: reading routes must not fail it first. observe
      // does not ask when even the routing view is invalid (it reports the routes as unknown then).
      const parsed = parseCanaryForRouting(await readRaw(canary), parseOptions);
      if (!parsed.ok) return ALL_TO_PRIMARY;
      return run(parsed.canary, 'get routes of', (r, c) => r.getRoutes(c));
    },
    finalizeRoutes: ({ canary }): Promise<void> => withRouter(canary, 'finalize routes of', (r, c) => r.finalize(c)),
  };
}

/** Flagger's own error texts (e.g. the gatewayRefs one) come first and verbatim, so alerts and runbooks match. */
export function specErrorMessage(errors: ValidationError[]): string {
  return errors.map((e) => (e.message === GATEWAY_REFS_REQUIRED ? e.message : `${e.path}: ${e.message}`)).join('; ');
}
