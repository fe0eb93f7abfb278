// Connections of the CLI: Temporal from @temporalio/envconfig (the same TEMPORAL_* variables and config file as
// the worker and the `temporal` CLI) with --address/--temporal-namespace on top, Kubernetes from kubeconfig. Each
// is opened only when a command needs it, and failures become one clear line (CliError).
import { existsSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import {
  Client,
  Connection,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  isGrpcServiceError,
} from '@temporalio/client';
import { loadClientConfigProfile, toClientOptions } from '@temporalio/envconfig';
import type { CanaryRef } from '../api/ports.ts';

/** An error the CLI prints as `fledge: <message>` and exits with `code`. */
export class CliError extends Error {
  override name = 'CliError';
  readonly code: number;
  constructor(message: string, code = 1) {
    super(message);
    this.code = code;
  }
}

export interface GlobalOptions {
  address?: string;
  temporalNamespace?: string;
  profile?: string;
  namespace?: string;
  kubeconfig?: string;
  context?: string;
  /** Seconds to wait for the Temporal server to answer. */
  connectTimeout?: string;
}

export interface CliContext {
  env: Record<string, string | undefined>;
  opts: GlobalOptions;
  temporal(): Promise<{ client: Client; address: string; namespace: string }>;
  kube(): k8s.KubeConfig;
  /** Namespace for a canary: -n, else the kubeconfig context's, else `default`. */
  defaultNamespace(): string;
  close(): Promise<void>;
}

export function createContext(opts: GlobalOptions, env: Record<string, string | undefined>): CliContext {
  let temporal: Promise<{ client: Client; address: string; namespace: string }> | undefined;
  let kube: k8s.KubeConfig | undefined;
  const ctx: CliContext = {
    env,
    opts,
    temporal: () => (temporal ??= connectTemporal(opts, env)),
    kube: () => (kube ??= loadKube(opts, env)),
    defaultNamespace() {
      if (opts.namespace) return opts.namespace;
      try {
        const kc = ctx.kube();
        return kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
      } catch {
        return 'default';
      }
    },
    async close() {
      if (!temporal) return;
      try {
        await (await temporal).client.connection.close();
      } catch {
        // never connected
      }
    },
  };
  return ctx;
}

/**
 * Where the CLI's Temporal calls go, without connecting: --address/--temporal-namespace/--profile over
 * @temporalio/envconfig (TEMPORAL_* variables, config file), else 127.0.0.1:7233 and `default` (the controller's
 * embedded dev server). The controller's componentSettings(config).cli gives the options that reach its server.
 * Throws CliError (exit 2) for an unreadable Temporal configuration.
 */
export function temporalTarget(
  opts: Pick<GlobalOptions, 'address' | 'temporalNamespace' | 'profile'>,
  env: Record<string, string | undefined>,
): { address: string; namespace: string; connectionOptions: ReturnType<typeof toClientOptions>['connectionOptions'] } {
  const vars = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
  let profile;
  try {
    profile = loadClientConfigProfile({ profile: opts.profile, overrideEnvVars: vars });
  } catch (err) {
    throw new CliError(`Temporal client configuration: ${message(err)}`, 2);
  }
  const address = opts.address ?? profile.address ?? '127.0.0.1:7233';
  const namespace = opts.temporalNamespace ?? profile.namespace ?? 'default';
  const { connectionOptions } = toClientOptions({ ...profile, address });
  return { address, namespace, connectionOptions };
}

export async function connectTemporal(
  opts: GlobalOptions,
  env: Record<string, string | undefined>,
): Promise<{ client: Client; address: string; namespace: string }> {
  const { address, namespace, connectionOptions } = temporalTarget(opts, env);
  const timeoutMs = Number(opts.connectTimeout ?? '5') * 1000;
  try {
    const connection = await Connection.connect({ ...connectionOptions, connectTimeout: timeoutMs } as never);
    return { client: new Client({ connection, namespace }), address, namespace };
  } catch (err) {
    throw new CliError(`cannot reach Temporal at ${address}: ${firstLine(message(err))}`);
  }
}

function loadKube(opts: GlobalOptions, env: Record<string, string | undefined>): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  // KUBECONFIG may list several files; we read the first that exists (kubectl would merge them).
  const fromEnv = env.KUBECONFIG?.split(':').find((f) => f && existsSync(f));
  try {
    if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
    else if (fromEnv) kc.loadFromFile(fromEnv);
    else kc.loadFromDefault();
    if (opts.context) kc.setCurrentContext(opts.context);
  } catch (err) {
    throw new CliError(`kubeconfig: ${message(err)}`);
  }
  return kc;
}

/** `name`, or `namespace/name`, with the namespace from -n or the kubeconfig context. */
export function canaryRef(arg: string, ctx: Pick<CliContext, 'defaultNamespace'>): CanaryRef {
  const parts = arg.split('/');
  if (parts.length === 2 && parts[0] && parts[1]) return { namespace: parts[0], name: parts[1] };
  if (parts.length === 1 && arg) return { namespace: ctx.defaultNamespace(), name: arg };
  throw new CliError(`invalid canary ${JSON.stringify(arg)}: use NAME or NAMESPACE/NAME`, 2);
}

export function refText(ref: CanaryRef): string {
  return `${ref.namespace}/${ref.name}`;
}

/** The error of a Temporal call about one canary, as one line. */
export function temporalError(err: unknown, ref: CanaryRef, what: string, namespace: string): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof WorkflowNotFoundError || notFound(err))
    return new CliError(`no rollout of canary ${refText(ref)} in Temporal namespace ${namespace}`);
  if (err instanceof WorkflowUpdateFailedError)
    return new CliError(`cannot ${what} ${refText(ref)}: ${message(err.cause ?? err)}`);
  if (isGrpcServiceError(err) && (err.code === 14 || err.code === 4))
    return new CliError(`cannot reach Temporal: ${firstLine(err.details || err.message)}`);
  return new CliError(`cannot ${what} ${refText(ref)}: ${firstLine(message(err))}`);
}

function notFound(err: unknown): boolean {
  const e = err as { code?: number; cause?: { code?: number } };
  return e?.code === 5 || e?.cause?.code === 5;
}

/** The error of a Kubernetes call, as one line. */
export function kubeError(err: unknown, what: string): CliError {
  if (err instanceof CliError) return err;
  const code = (err as { code?: number }).code;
  if (code === 404) return new CliError(`${what} not found`);
  if (code === 403) return new CliError(`not allowed to read ${what} (RBAC)`);
  const server = (err as { cause?: { address?: string } }).cause?.address;
  return new CliError(
    `cannot read ${what} from Kubernetes${server ? ` at ${server}` : ''}: ${firstLine(message(err))}`,
  );
}

export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}
