// A real Kubernetes control plane on loopback: etcd + kube-apiserver, and on request
// kube-controller-manager + kube-scheduler + kwok (simulated nodes), so Deployments really roll out.
import { execFile, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import {
  REPO_ROOT,
  binary,
  freePort,
  makeTempDir,
  removeTempDir,
  spawnServer,
  waitReady,
  type Server,
} from './proc.ts';
import { gatewayApiCrdFiles, kwokStagesYaml } from './fixtures.ts';

const run = promisify(execFile);

export interface ClusterOptions {
  /** Start kube-controller-manager, kube-scheduler and kwok with simulated nodes. */
  controllers?: boolean;
  /** Number of simulated nodes (with controllers). */
  nodes?: number;
  /** Extra CRD files or folders to install besides ours and the Gateway API standard channel. */
  crds?: string[];
  /** Install the Gateway API CRDs (default true). */
  gatewayApi?: boolean;
  /**
   * Who makes Running pods Ready: kwok at once (default), or `runner`: kwok leaves them not Ready and the pod
   * runner (dev/pod-runner.ts) sets Ready once a pod's process listens.
   */
  podReadiness?: 'kwok' | 'runner';
}

export interface Cluster {
  readonly dir: string;
  readonly server: string;
  readonly kubeconfigPath: string;
  readonly kubeConfig: k8s.KubeConfig;
  /**
   * CA (PEM file) of the client cert the apiserver presents when it proxies to an aggregated API server
   * (`APIService`), CN `front-proxy-client`; such a server trusts the X-Remote-User/-Group headers of that caller.
   */
  readonly frontProxyCaFile: string;
  /** Runs kubectl against this cluster; rejects with stderr on a non-zero exit. */
  kubectl(args: string[], input?: string): Promise<string>;
  /** Creates a fresh namespace (one per test). */
  createNamespace(prefix?: string): Promise<string>;
  /**
   * Stops kube-apiserver (SIGTERM), keeping etcd and everything else running: an apiserver outage. Resolves once
   * the process has exited.
   */
  stopApiserver(): Promise<void>;
  /**
   * Starts kube-apiserver again on the same address and etcd; resolves once it answers /readyz. With
   * `controllers`, the controller-manager, scheduler and kwok are restarted too, as kubelet restarts the static
   * pods of a control plane (they may have given up on the apiserver while it was gone).
   */
  startApiserver(): Promise<void>;
  stop(): Promise<void>;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A throwaway CA, a serving cert for 127.0.0.1/localhost and a service-account signing key. */
function writePki(dir: string): void {
  const days = '3';
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'], dir);
  openssl(
    ['req', '-x509', '-new', '-key', 'ca.key', '-out', 'ca.crt', '-days', days, '-subj', '/CN=fledge-test-ca'],
    dir,
  );
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'apiserver.key'], dir);
  openssl(['req', '-new', '-key', 'apiserver.key', '-out', 'apiserver.csr', '-subj', '/CN=kube-apiserver'], dir);
  writeFileSync(
    join(dir, 'san.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc\n',
  );
  openssl(
    ['x509', '-req', '-in', 'apiserver.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'].concat([
      '-out',
      'apiserver.crt',
      '-days',
      days,
      '-extfile',
      'san.ext',
    ]),
    dir,
  );
  openssl(['genrsa', '-out', 'sa.key', '2048'], dir);
  openssl(['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
  // API aggregation (kubeadm's layout): a front-proxy CA of its own and the client cert the apiserver presents to
  // aggregated API servers, which trust it through kube-system/extension-apiserver-authentication.
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'front-proxy-ca.key'], dir);
  openssl(
    ['req', '-x509', '-new', '-key', 'front-proxy-ca.key', '-out', 'front-proxy-ca.crt', '-days', days].concat([
      '-subj',
      '/CN=fledge-test-front-proxy-ca',
    ]),
    dir,
  );
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'front-proxy-client.key'], dir);
  openssl(
    [
      'req',
      '-new',
      '-key',
      'front-proxy-client.key',
      '-out',
      'front-proxy-client.csr',
      '-subj',
      '/CN=front-proxy-client',
    ],
    dir,
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'front-proxy-client.csr',
      '-CA',
      'front-proxy-ca.crt',
      '-CAkey',
      'front-proxy-ca.key',
    ].concat(['-CAcreateserial', '-out', 'front-proxy-client.crt', '-days', days]),
    dir,
  );
}

function writeKubeconfig(path: string, server: string, caFile: string, token: string): void {
  const ca = readFileSync(caFile).toString('base64');
  writeFileSync(
    path,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      `- name: fledge-test`,
      `  cluster: { server: "${server}", certificate-authority-data: "${ca}" }`,
      'users:',
      `- name: admin`,
      `  user: { token: "${token}" }`,
      'contexts:',
      `- name: fledge-test`,
      `  context: { cluster: fledge-test, user: admin, namespace: default }`,
      'current-context: fledge-test',
      '',
    ].join('\n'),
  );
}

/** GET an https endpoint of a local component; any TLS cert is fine, it is ours and on loopback. */
function httpsStatus(url: string, token?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { rejectUnauthorized: false, headers: token ? { authorization: `Bearer ${token}` } : {}, timeout: 2000 },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

async function startEtcd(dir: string): Promise<{ server: Server; url: string }> {
  const [client, peer] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${client}`;
  const server = spawnServer({
    name: 'etcd',
    bin: binary('etcd'),
    logFile: join(dir, 'etcd.log'),
    args: [
      `--data-dir=${join(dir, 'etcd-data')}`,
      `--listen-client-urls=${url}`,
      `--advertise-client-urls=${url}`,
      `--listen-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-cluster=default=http://127.0.0.1:${peer}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
  });
  await waitReady(server, async () => (await fetch(`${url}/health`)).ok);
  return { server, url };
}

async function startApiserver(
  dir: string,
  etcdUrl: string,
  token: string,
  fixedPort?: number,
): Promise<{ server: Server; url: string; port: number }> {
  const port = fixedPort ?? (await freePort());
  writeFileSync(join(dir, 'tokens.csv'), `${token},admin,admin-uid,"system:masters"\n`);
  const server = spawnServer({
    name: 'kube-apiserver',
    bin: binary('kube-apiserver'),
    logFile: join(dir, 'kube-apiserver.log'),
    args: [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${port}`,
      `--tls-cert-file=${join(dir, 'apiserver.crt')}`,
      `--tls-private-key-file=${join(dir, 'apiserver.key')}`,
      `--client-ca-file=${join(dir, 'ca.crt')}`,
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      '--authorization-mode=Node,RBAC',
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      // Loopback addresses may not be published in Endpoints/EndpointSlices.
      '--endpoint-reconciler-type=none',
      '--allow-privileged=true',
      '--enable-priority-and-fairness=false',
      '--profiling=false',
      `--cert-dir=${dir}`,
      // API aggregation: APIServices proxy with this client cert and the X-Remote-* identity headers.
      `--requestheader-client-ca-file=${join(dir, 'front-proxy-ca.crt')}`,
      '--requestheader-allowed-names=front-proxy-client',
      '--requestheader-username-headers=X-Remote-User',
      '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      `--proxy-client-cert-file=${join(dir, 'front-proxy-client.crt')}`,
      `--proxy-client-key-file=${join(dir, 'front-proxy-client.key')}`,
    ],
  });
  const url = `https://127.0.0.1:${port}`;
  await waitReady(server, async () => (await httpsStatus(`${url}/readyz`, token)) === 200, { timeoutMs: 90_000 });
  return { server, url, port };
}

function kwokStagesFile(dir: string, readyByKwok: boolean): string {
  const path = join(dir, 'kwok-stages.yaml');
  writeFileSync(path, kwokStagesYaml({ readyByKwok }));
  return path;
}

async function startControllers(
  dir: string,
  kubeconfig: string,
  url: string,
  token: string,
  readyByKwok = true,
): Promise<Server[]> {
  const [kcmPort, schedPort, kwokPort] = [await freePort(), await freePort(), await freePort()];
  const kcm = spawnServer({
    name: 'kube-controller-manager',
    bin: binary('kube-controller-manager'),
    logFile: join(dir, 'kube-controller-manager.log'),
    args: [
      `--kubeconfig=${kubeconfig}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${kcmPort}`,
      `--service-account-private-key-file=${join(dir, 'sa.key')}`,
      `--root-ca-file=${join(dir, 'ca.crt')}`,
      '--use-service-account-credentials=false',
      '--allocate-node-cidrs=false',
      // Fast enough feedback for tests without hammering a 2-core machine.
      '--concurrent-deployment-syncs=5',
      '--concurrent-replicaset-syncs=5',
      '--node-monitor-grace-period=60s',
    ],
  });
  const scheduler = spawnServer({
    name: 'kube-scheduler',
    bin: binary('kube-scheduler'),
    logFile: join(dir, 'kube-scheduler.log'),
    args: [
      `--kubeconfig=${kubeconfig}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${schedPort}`,
    ],
  });
  const kwok = spawnServer({
    name: 'kwok',
    bin: binary('kwok'),
    logFile: join(dir, 'kwok.log'),
    args: [
      `--kubeconfig=${kubeconfig}`,
      '--manage-all-nodes=false',
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      '--cidr=10.244.0.1/16',
      '--node-ip=10.244.0.1',
      '--node-lease-duration-seconds=40',
      `--config=${kwokStagesFile(dir, readyByKwok)}`,
      `--server-address=127.0.0.1:${kwokPort}`,
    ],
  });
  const servers = [kcm, scheduler, kwok];
  await waitReady(kcm, async () => (await httpsStatus(`https://127.0.0.1:${kcmPort}/healthz`)) === 200);
  await waitReady(scheduler, async () => (await httpsStatus(`https://127.0.0.1:${schedPort}/healthz`)) === 200);
  await waitReady(kwok, async () => (await fetch(`http://127.0.0.1:${kwokPort}/healthz`)).ok);
  void url;
  void token;
  return servers;
}

function fakeNode(name: string): k8s.V1Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        type: 'kwok',
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
      },
    },
    spec: {},
    status: {
      allocatable: { cpu: '32', memory: '256Gi', pods: '110' },
      capacity: { cpu: '32', memory: '256Gi', pods: '110' },
    },
  };
}

export function crdFiles(opts: ClusterOptions): string[] {
  const files: string[] = [];
  const ours = join(REPO_ROOT, 'crds');
  if (existsSync(ours)) files.push(...yamlIn(ours));
  if (opts.gatewayApi !== false) {
    files.push(...gatewayApiCrdFiles());
  }
  for (const extra of opts.crds ?? [])
    files.push(...(extra.endsWith('.yaml') || extra.endsWith('.yml') ? [extra] : yamlIn(extra)));
  return files;
}

function yamlIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort()
    .map((f) => join(dir, f));
}

export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const dir = makeTempDir('cluster');
  const servers: Server[] = [];
  const stopAll = async () => {
    for (const s of servers.reverse()) await s.stop();
  };
  try {
    writePki(dir);
    const token = randomBytes(24).toString('hex');
    const etcd = await startEtcd(dir);
    servers.push(etcd.server);
    let api = await startApiserver(dir, etcd.url, token);
    servers.push(api.server);
    const kubeconfigPath = join(dir, 'admin.kubeconfig');
    writeKubeconfig(kubeconfigPath, api.url, join(dir, 'ca.crt'), token);
    const kubectl = async (args: string[], input?: string): Promise<string> => {
      const p = run(binary('kubectl'), ['--kubeconfig', kubeconfigPath, ...args], { maxBuffer: 64 << 20 });
      if (input !== undefined) {
        p.child.stdin?.end(input);
      }
      try {
        return (await p).stdout;
      } catch (err) {
        const e = err as { stderr?: string; message: string };
        throw new Error(`kubectl ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}`, { cause: err });
      }
    };
    const files = crdFiles(opts);
    if (files.length) {
      await kubectl(['apply', '--server-side', '--force-conflicts', ...files.flatMap((f) => ['-f', f])]);
      await kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
    }
    let controllers: Server[] = [];
    if (opts.controllers) {
      controllers = await startControllers(dir, kubeconfigPath, api.url, token, opts.podReadiness !== 'runner');
      servers.push(...controllers);
      const nodes = opts.nodes ?? 3;
      const kc = new k8s.KubeConfig();
      kc.loadFromFile(kubeconfigPath);
      const core = kc.makeApiClient(k8s.CoreV1Api);
      for (let i = 0; i < nodes; i++) await core.createNode({ body: fakeNode(`kwok-node-${i}`) });
      // Pods need the namespace's default ServiceAccount, which the controller-manager creates.
      await waitFor(async () => {
        await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' });
        const list = await core.listNode();
        return list.items.every((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      }, 'nodes Ready and default ServiceAccount created');
    }
    const kubeConfig = new k8s.KubeConfig();
    kubeConfig.loadFromFile(kubeconfigPath);
    let nsSeq = 0;
    return {
      dir,
      server: api.url,
      kubeconfigPath,
      kubeConfig,
      frontProxyCaFile: join(dir, 'front-proxy-ca.crt'),
      kubectl,
      async createNamespace(prefix = 'test') {
        const name = `${prefix}-${process.pid}-${++nsSeq}`;
        const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
        await core.createNamespace({ body: { metadata: { name } } });
        if (opts.controllers) {
          await waitFor(async () => {
            await core.readNamespacedServiceAccount({ name: 'default', namespace: name });
            return true;
          }, `default ServiceAccount in ${name}`);
        }
        return name;
      },
      async stopApiserver() {
        await api.server.stop();
      },
      async startApiserver() {
        // Controllers stop first: a controller-manager that saw the apiserver come back would find every node's
        // lease older than its grace period and mark the nodes and their pods NotReady; a fresh one gives the
        // nodes a new grace period, in which kwok renews their leases.
        for (const c of controllers) {
          await c.stop();
          servers.splice(servers.indexOf(c), 1);
        }
        const next = await startApiserver(dir, etcd.url, token, api.port);
        servers[servers.indexOf(api.server)] = next.server;
        api = next;
        if (controllers.length === 0) return;
        controllers = await startControllers(dir, kubeconfigPath, api.url, token, opts.podReadiness !== 'runner');
        servers.push(...controllers);
      },
      async stop() {
        await stopAll();
        if (!process.env.FLEDGE_KEEP_TEMP) removeTempDir(dir);
      },
    };
  } catch (err) {
    await stopAll();
    if (!process.env.FLEDGE_KEEP_TEMP) removeTempDir(dir);
    throw err;
  }
}

/**
 * Polls until `check` returns true (errors count as "not yet"), every 250 ms for at most `timeoutMs`. Throws
 * "timed out after … waiting for <what>": `what` may be a function, called only then, so the message can describe
 * the state that kept the check false.
 */
export async function waitFor(
  check: () => Promise<boolean>,
  what: string | (() => Promise<string> | string),
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const described = typeof what === 'string' ? what : await Promise.resolve(what()).catch((e: unknown) => `? (${e})`);
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${described}${last ? ` (last error: ${last})` : ''}`);
}
