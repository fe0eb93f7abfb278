// What the metric activities read from the apiserver: the Canary (for the template model and the builtin
// metrics' provider and metrics server), MetricTemplates and their credential Secrets. Nothing read here is
// returned to the workflow.
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { MetricTemplateSpecSchema, type MetricTemplateSpec } from '../../api/metric-template.ts';
import type { CanaryRef } from '../../api/ports.ts';
import { isKnativeService } from '../../api/canary.ts';
import { errorText } from './errors.ts';

/** The parts of a Canary that metric analysis needs, with Flagger's fallbacks applied. */
export interface CanaryFacts {
  ref: CanaryRef;
  target: string;
  service: string;
  ingress: string;
  route: string;
  provider?: string;
  metricsServer?: string;
}

/** A template or Secret that does not exist: a failed check (as in Flagger), not an infrastructure error. */
export class NotFoundError extends Error {
  override name = 'NotFoundError';
}

export interface KubeReader {
  canary(ref: CanaryRef): Promise<CanaryFacts>;
  template(namespace: string, name: string): Promise<MetricTemplateSpec>;
  secretData(namespace: string, name: string): Promise<Record<string, string>>;
}

export function createKubeReader(kube: KubeConfig): KubeReader {
  const custom = kube.makeApiClient(CustomObjectsApi);
  const core = kube.makeApiClient(CoreV1Api);
  const flagger = { group: 'flagger.app', version: 'v1beta1' };

  return {
    async canary(ref) {
      const raw = await get(`Canary ${ref.namespace}/${ref.name}`, () =>
        custom.getNamespacedCustomObject({ ...flagger, namespace: ref.namespace, plural: 'canaries', name: ref.name }),
      ).catch((err: unknown) => {
        if (err instanceof NotFoundError) throw ApplicationFailure.nonRetryable(err.message, 'CanaryNotFound');
        throw err;
      });
      const facts = canaryFacts(ref, raw);
      // A Knative target's canary is its latest created revision: builtin metrics select it by `route` (Flagger
      // sets the model's Route to LatestCreatedRevisionName).
      if (!isKnativeService((raw as RawCanary)?.spec?.targetRef)) return facts;
      const svc = (await get(`Knative Service ${ref.namespace}/${facts.target}`, () =>
        custom.getNamespacedCustomObject({
          group: 'serving.knative.dev',
          version: 'v1',
          namespace: ref.namespace,
          plural: 'services',
          name: facts.target,
        }),
      )) as { status?: { latestCreatedRevisionName?: string } };
      return { ...facts, route: svc.status?.latestCreatedRevisionName || facts.route };
    },
    async template(namespace, name) {
      const raw = (await get(`metrictemplates.flagger.app "${name}"`, () =>
        custom.getNamespacedCustomObject({ ...flagger, namespace, plural: 'metrictemplates', name }),
      )) as { spec?: unknown };
      const parsed = MetricTemplateSpecSchema.safeParse(raw.spec);
      if (!parsed.success) {
        const issues = parsed.error.issues.map((i) => `spec.${i.path.join('.')}: ${i.message}`).join('; ');
        throw new NotFoundError(`invalid MetricTemplate: ${issues}`);
      }
      return parsed.data;
    },
    async secretData(namespace, name) {
      const secret = await get(`secrets "${name}"`, () => core.readNamespacedSecret({ namespace, name }));
      const data: Record<string, string> = {};
      for (const [k, v] of Object.entries(secret.data ?? {})) data[k] = Buffer.from(v, 'base64').toString('utf8');
      return data;
    },
  };
}

/** 404 → NotFoundError; any other failure is the apiserver's problem: retryable. */
async function get<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if ((err as { code?: unknown })?.code === 404) throw new NotFoundError(`${what} not found`);
    throw ApplicationFailure.retryable(`reading ${what} failed: ${errorText(err)}`, 'KubeApiError');
  }
}

interface RawCanary {
  spec?: {
    provider?: string;
    metricsServer?: string;
    targetRef?: { apiVersion?: string; kind?: string; name?: string };
    service?: { name?: string };
    ingressRef?: { name?: string };
    routeRef?: { name?: string };
  };
}

/** Read leniently: observe validates the spec; metrics only need a few names. */
export function canaryFacts(ref: CanaryRef, raw: unknown): CanaryFacts {
  const spec = (raw as RawCanary)?.spec ?? {};
  const target = spec.targetRef?.name ?? ref.name;
  return {
    ref,
    target,
    service: spec.service?.name || target,
    ingress: spec.ingressRef?.name || target,
    route: spec.routeRef?.name || target,
    ...(spec.provider && { provider: spec.provider }),
    ...(spec.metricsServer && { metricsServer: spec.metricsServer }),
  };
}
