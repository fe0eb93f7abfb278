// Runs a process as the identity the Helm chart gives the controller, on a dev cluster: renders the chart's RBAC
// and ServiceAccount with the real helm binary (scripts/build-helm.sh), applies them to the real apiserver, mints a
// ServiceAccount token through the TokenRequest API (`kubectl create token`) and writes a kubeconfig for it. The
// stack's `controllerKubeconfig` option uses it so the controllers run with exactly the chart's permissions
// instead of the cluster admin's.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor, type Cluster } from './cluster.ts';
import { REPO_ROOT } from './proc.ts';

const run = promisify(execFile);

export const CHART_DIR = join(REPO_ROOT, 'deploy', 'chart');

export interface ChartIdentityOptions {
  /** The chart's `rbac.scope`: one ClusterRole, or a Role in each of `namespaces`. */
  scope: 'cluster' | 'namespace';
  /** Watched namespaces (the chart's `namespace` value); created when missing. Required for scope `namespace`. */
  namespaces?: string[];
  /** Helm release name (default `fl`) and namespace (default `fledge-system`). */
  release?: string;
  releaseNamespace?: string;
}

export interface ChartIdentity {
  /** Kubeconfig authenticating as the chart's ServiceAccount. */
  kubeconfigPath: string;
  /** `system:serviceaccount:<release namespace>:<service account>`. */
  user: string;
  /** The RBAC and ServiceAccount manifests that were applied. */
  manifests: string;
}

let helmPath: Promise<string> | undefined;

/** The helm binary built by scripts/build-helm.sh (FLEDGE_HELM_BIN or PATH win there), built once per process. */
export function helmBinary(): Promise<string> {
  helmPath ??= run('bash', [join(REPO_ROOT, 'scripts', 'build-helm.sh')], { maxBuffer: 8 << 20 }).then(
    ({ stdout }) => /^FLEDGE_HELM_BIN=(.+)$/m.exec(stdout)?.[1] ?? 'helm',
  );
  return helmPath;
}

/** `helm template` of the chart's RBAC and ServiceAccount for the given scope (rejects with helm's stderr). */
export async function renderChartRbac(opts: ChartIdentityOptions): Promise<string> {
  const args = [
    'template',
    opts.release ?? 'fl',
    CHART_DIR,
    '--namespace',
    opts.releaseNamespace ?? 'fledge-system',
    // Required by the chart; unused by these two templates.
    '--set',
    'temporal.address=unused:7233',
    '--set',
    `rbac.scope=${opts.scope}`,
    ...(opts.namespaces?.length ? ['--set', `namespace=${opts.namespaces.join('\\,')}`] : []),
    '--show-only',
    'templates/rbac.yaml',
    '--show-only',
    'templates/serviceaccount.yaml',
  ];
  try {
    return (await run(await helmBinary(), args, { maxBuffer: 32 << 20 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`helm ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}`, { cause: err });
  }
}

/**
 * Applies the chart's RBAC for `opts` to `cluster` and returns a kubeconfig (written into `dir`) of its
 * ServiceAccount, with a token valid for 24 h. Creates the release namespace and the watched namespaces (waiting
 * for their `default` ServiceAccount, which pods need) when missing.
 */
export async function chartIdentity(cluster: Cluster, dir: string, opts: ChartIdentityOptions): Promise<ChartIdentity> {
  const releaseNamespace = opts.releaseNamespace ?? 'fledge-system';
  const release = opts.release ?? 'fl';
  for (const ns of [releaseNamespace, ...(opts.namespaces ?? [])]) {
    await cluster.kubectl(['create', 'namespace', ns]).catch((err: Error) => {
      if (!/AlreadyExists/.test(err.message)) throw err;
    });
  }
  for (const ns of opts.namespaces ?? []) {
    await waitFor(
      async () =>
        cluster.kubectl(['get', 'serviceaccount', 'default', '-n', ns]).then(
          () => true,
          () => false,
        ),
      `default ServiceAccount in ${ns}`,
    );
  }
  const manifests = await renderChartRbac(opts);
  await cluster.kubectl(['apply', '--server-side', '-f', '-'], manifests);
  const serviceAccount = release.includes('fledge') ? release : `${release}-fledge`;
  const token = (
    await cluster.kubectl(['create', 'token', serviceAccount, '-n', releaseNamespace, '--duration', '24h'])
  ).trim();
  const kubeconfigPath = join(dir, `${serviceAccount}-${opts.scope}.kubeconfig`);
  const ca = readFileSync(join(cluster.dir, 'ca.crt')).toString('base64');
  writeFileSync(
    kubeconfigPath,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'dev', cluster: { server: cluster.server, 'certificate-authority-data': ca } }],
      users: [{ name: serviceAccount, user: { token } }],
      contexts: [{ name: 'dev', context: { cluster: 'dev', user: serviceAccount, namespace: releaseNamespace } }],
      'current-context': 'dev',
    }),
    { mode: 0o600 },
  );
  return { kubeconfigPath, user: `system:serviceaccount:${releaseNamespace}:${serviceAccount}`, manifests };
}
