// Reading a Canary for an activity: raw object, validated spec, owner reference, and the two non-retryable
// failures the workflow knows (TargetNotFound, InvalidSpec).
import { ApplicationFailure } from '@temporalio/common';
import type { V1OwnerReference } from '@kubernetes/client-node';
import type { CanaryRef } from '../../api/ports.ts';
import type { Canary } from '../../api/canary.ts';
import type { CanaryStatus } from '../../api/status.ts';
import { parseCanary } from '../../api/validate.ts';
import type { Provider } from '../../api/canary.ts';
import { CANARIES, GROUP, VERSION, readOptional, type Kube } from './client.ts';

/** A Canary as the apiserver returns it (status and metadata untouched by defaults). */
export interface RawCanary {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation?: number;
    resourceVersion?: string;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string;
  };
  spec?: Record<string, unknown>;
  status?: CanaryStatus;
}

export async function readCanary(kube: Kube, ref: CanaryRef): Promise<RawCanary | undefined> {
  return readOptional(
    () =>
      kube.custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: ref.namespace,
        plural: CANARIES,
        name: ref.name,
      }) as Promise<RawCanary>,
  );
}

export function invalidSpec(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, 'InvalidSpec');
}

export function targetNotFound(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, 'TargetNotFound');
}

/** The Canary with defaults applied, or an InvalidSpec failure naming every problem. */
export function validCanary(raw: RawCanary, defaultProvider?: string): Canary {
  const parsed = parseCanary(raw, { defaultProvider: defaultProvider as Provider | undefined });
  if (!parsed.ok) throw invalidSpec(`invalid spec: ${parsed.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  return parsed.canary;
}

export async function loadCanary(kube: Kube, ref: CanaryRef, defaultProvider?: string) {
  const raw = await readCanary(kube, ref);
  if (!raw) throw targetNotFound(`canary ${ref.name}.${ref.namespace} not found`);
  return { raw, canary: validCanary(raw, defaultProvider) };
}

/** Controller owner reference, so garbage collection removes what fledge created when the Canary goes. */
export function ownerRef(raw: RawCanary): V1OwnerReference {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'Canary',
    name: raw.metadata.name,
    uid: raw.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function canaryId(ref: CanaryRef): string {
  return `${ref.name}.${ref.namespace}`;
}
