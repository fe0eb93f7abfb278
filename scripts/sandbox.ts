// The local sandbox (README's main command): a Temporal dev server with its Web UI, a simulated
// Kubernetes cluster (real apiserver, controller-manager, scheduler, kwok nodes) and the fledge
// controller connected to both. Ctrl-C stops everything.
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, freePort, spawnServer, type Server } from '../test/harness/proc.ts';
import { startTemporal, type TemporalServer } from '../test/harness/temporal.ts';
import { startCluster, type Cluster } from '../test/harness/cluster.ts';

async function portOr(preferred: number): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => void freePort().then(resolve));
    srv.listen(preferred, '127.0.0.1', () => srv.close(() => resolve(preferred)));
  });
}

async function main(): Promise<void> {
  const stateDir = join(REPO_ROOT, '.fledge', 'sandbox');
  mkdirSync(stateDir, { recursive: true });
  // Filled in as each part comes up, so Ctrl-C during start-up stops what is already running.
  const parts: { temporal?: TemporalServer; cluster?: Cluster; controller?: Server } = {};
  const stop = async () => {
    console.log('\nstopping the sandbox ...');
    await parts.controller?.stop();
    await parts.cluster?.stop();
    await parts.temporal?.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());

  console.log('starting Temporal dev server (with Web UI) ...');
  const temporal = (parts.temporal = await startTemporal({
    ui: true,
    port: await portOr(7233),
    uiPort: await portOr(8233),
    namespace: 'default',
    dbFile: join(stateDir, 'temporal.sqlite'),
  }));
  console.log('starting the simulated cluster (etcd, kube-apiserver, controller-manager, scheduler, kwok) ...');
  const cluster = (parts.cluster = await startCluster({ controllers: true, nodes: 3 }));
  const kubeconfig = join(stateDir, 'kubeconfig');
  copyFileSync(cluster.kubeconfigPath, kubeconfig);

  const controller = (parts.controller = spawnServer({
    name: 'fledge controller',
    bin: process.execPath,
    args: [join(REPO_ROOT, 'worker', 'main.ts')],
    logFile: join(stateDir, 'controller.log'),
    env: { TEMPORAL_ADDRESS: temporal.address, TEMPORAL_NAMESPACE: temporal.namespace, KUBECONFIG: kubeconfig },
  }));
  console.log(`
fledge sandbox is up.
  Temporal:      ${temporal.address} (namespace ${temporal.namespace})
  Temporal UI:   ${temporal.uiUrl}
  Kubernetes:    export KUBECONFIG=${kubeconfig}
  Controller log: ${controller.logFile}   (tail -f it)

Try:
  kubectl --kubeconfig ${kubeconfig} get nodes
  temporal --address ${temporal.address} workflow list

Ctrl-C stops everything.`);
  const code = await controller.exited;
  console.log(`controller exited with code ${code}; see ${controller.logFile}`);
  await stop();
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
