// How router failures reach Temporal: a spec that cannot work is non-retryable, everything else is retried.
import { ApplicationFailure } from '@temporalio/common';
import { RouteSpecError } from './httproute.ts';

/** Failure types the workflow (and operators reading history) can tell apart. */
export const FAILURE = {
  invalidSpec: 'InvalidSpec',
  canaryNotFound: 'CanaryNotFound',
  routeRejected: 'RouteRejected',
  routeNotReady: 'RouteNotReady',
  routeNotFound: 'RouteNotFound',
} as const;

/** HTTP status of a client-node ApiException, if that is what `err` is. */
export function statusCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** The apiserver's own explanation (Status.message) of a failed call, else the error text. */
export function apiMessage(err: unknown): string {
  const body = (err as { body?: unknown } | null)?.body;
  if (typeof body === 'string') {
    try {
      const parsed = JSON.parse(body) as { message?: string };
      if (parsed.message) return parsed.message;
    } catch {
      return body;
    }
  }
  if (body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string')
    return (body as { message: string }).message;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Maps an error of a router call to what the activity throws. The apiserver rejecting our object (400/422)
 * means the spec cannot be routed as written: retrying would only repeat the rejection.
 */
export function toFailure(err: unknown, what: string): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof RouteSpecError)
    return ApplicationFailure.nonRetryable(`${what}: ${err.message}`, FAILURE.invalidSpec);
  const code = statusCode(err);
  if (code === 400 || code === 422)
    return ApplicationFailure.nonRetryable(
      `${what}: rejected by the apiserver: ${apiMessage(err)}`,
      FAILURE.routeRejected,
    );
  if (code !== undefined) return new Error(`${what}: ${code} ${apiMessage(err)}`, { cause: err });
  return err;
}
