// The local sandbox (README's main command), on the end-to-end stack (dev/stack.ts):
//
//   - a Temporal dev server with its Web UI (127.0.0.1:7233 and :8233 when free), namespace `default`,
//   - a simulated Kubernetes cluster: real etcd, kube-apiserver, controller-manager, scheduler, kwok nodes,
//   - the fledge controller process (`node worker/main.ts`), supervised as a Deployment's pod would be: when it
//     dies (`kill -9` it mid-rollout) it is started again after a short backoff and the rollout carries on,
//   - a real Prometheus scraping a local exporter whose request counters make analysis pass (steerable: see
//     the printed `curl`),
//   - as root: real Traefik v3.6 as the Gateway API data plane, in a network namespace of the sandbox's own, with
//     each pod served by a podinfo work-alike on its IP (dev/netns.ts, dev/pod-runner.ts, dev/traefik.ts); the
//     printed `curl` goes through a loopback forwarder and shows which version answered. The Canary also checks a
//     MetricTemplate over Traefik's 5xx share, so a version started with `--random-error` really rolls back.
//     Without root: the gateway STAND-IN, not a real gateway: it carries no traffic, only marks HTTPRoutes Accepted,
//   - Flagger's podinfo fixture in namespace `test` with a Gateway API Canary, Initialized.
//
// It prints how to trigger, watch, promote and abort a rollout. Ctrl-C stops everything. The end-to-end test
// test/e2e/sandbox-supervision.test.ts starts the same sandbox through startSandbox() on free ports.
import { mkdirSync, rmSync, copyFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { join, relative } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { waitFor } from '../dev/cluster.ts';
import { REPO_ROOT, binary, describeExit, freePort } from '../dev/proc.ts';
import { writeSandboxEnv } from '../dev/sandbox-env.ts';
import { GATEWAY, METRIC_WINDOW, startStack, type Stack } from '../dev/stack.ts';
import type { SupervisionOptions } from '../dev/supervisor.ts';
import { isEntrypoint } from '../worker/entry.ts';

/** Namespace of the sandbox's podinfo and its Canary. */
export const NAMESPACE = 'test';
const NEW_IMAGE = 'ghcr.io/stefanprodan/podinfo:6.0.1';
/** Slow enough to watch and to send controls by hand: 5 steps of 10 %, 10 s apart (about 1.5 minutes). */
export const ANALYSIS = { interval: '10s', stepWeight: 10, maxWeight: 50, threshold: 3 };
/** The Host of the sandbox Canary's HTTPRoute (with Traefik). */
export const HOST = 'podinfo.test';

/**
 * The MetricTemplate `traefik-error-rate` (percentage of 5xx answers of the canary Service in Traefik's
 * `traefik_service_requests_total`; 0 while the canary has no traffic) on the stack's Prometheus.
 */
export function traefikErrorRateTemplate(namespace: string, prometheusUrl: string): object {
  const selector = 'service=~"{{ namespace }}-{{ target }}-canary-.*"';
  return {
    apiVersion: 'flagger.app/v1beta1',
    kind: 'MetricTemplate',
    metadata: { name: 'traefik-error-rate', namespace },
    spec: {
      provider: { type: 'prometheus', address: prometheusUrl },
      query:
        `(sum(rate(traefik_service_requests_total{${selector},code=~"5.."}[{{ interval }}])) / ` +
        `sum(rate(traefik_service_requests_total{${selector}}[{{ interval }}])) * 100) or on() vector(0)`,
    },
  };
}

/** The Canary's metrics with Traefik: the two builtins (the steerable exporter) and Traefik's real 5xx share. */
const TRAEFIK_METRICS = [
  { name: 'request-success-rate', interval: METRIC_WINDOW, thresholdRange: { min: 99 } },
  { name: 'request-duration', interval: METRIC_WINDOW, thresholdRange: { max: 500 } },
  { name: 'error-rate', templateRef: { name: 'traefik-error-rate' }, interval: '30s', thresholdRange: { max: 5 } },
];

/** `preferred` when nothing listens there on 127.0.0.1, else a free port. */
async function portOr(preferred: number): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => void freePort().then(resolve));
    srv.listen(preferred, '127.0.0.1', () => srv.close(() => resolve(preferred)));
  });
}

/** Single-quotes a word for the printed shell commands when it needs it. */
function sh(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** `POST /traffic?successRate=80&durationMs=50`: steer the exporter of test/podinfo (to make analysis fail). */
function startTrafficControl(stack: Stack, port: number) {
  const server = createHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/traffic' || req.method !== 'POST') {
      res.statusCode = 404;
      res.end('POST /traffic?successRate=N&durationMs=N[&namespace=test&name=podinfo]\n');
      return;
    }
    const num = (k: string) => (url.searchParams.has(k) ? Number(url.searchParams.get(k)) : undefined);
    const traffic = { successRate: num('successRate') ?? 100, durationMs: num('durationMs') ?? 50 };
    if (!Number.isFinite(traffic.successRate) || !Number.isFinite(traffic.durationMs)) {
      res.statusCode = 400;
      res.end('successRate and durationMs must be numbers\n');
      return;
    }
    const ns = url.searchParams.get('namespace') ?? NAMESPACE;
    const name = url.searchParams.get('name') ?? 'podinfo';
    stack.metrics.set(ns, name, traffic);
    res.end(`${ns}/${name}: success rate ${traffic.successRate} %, duration ${traffic.durationMs} ms\n`);
  });
  return new Promise<typeof server>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

async function createNamespace(stack: Stack, name: string): Promise<void> {
  const core = stack.kubeConfig.makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name } } });
  // Pods need the default ServiceAccount, which the controller-manager creates.
  await waitFor(
    async () => Boolean(await core.readNamespacedServiceAccount({ name: 'default', namespace: name })),
    `default ServiceAccount in ${name}`,
  );
}

export interface SandboxOptions {
  /** Temporal frontend and Web UI ports (main(): 7233 and 8233 when free). Default: free ports. */
  temporalPort?: number;
  uiPort?: number;
  /** Port of the traffic control (`POST /traffic`); main(): 9099 when free. Default: a free port. */
  controlPort?: number;
  /** How the controller is restarted when it dies (dev/supervisor.ts; its defaults: 1 s doubling to 30 s). */
  supervise?: SupervisionOptions;
  /** The gateway: real Traefik (default as root: it needs a network namespace) or the stand-in (default otherwise). */
  gateway?: 'traefik' | 'standin';
}

export interface Sandbox {
  readonly stack: Stack;
  /** http://127.0.0.1:PORT of the traffic control. */
  readonly controlUrl: string;
  /** Stops the traffic control and the whole stack. */
  stop(): Promise<void>;
}

/**
 * The sandbox without its printout: the stack with one supervised controller, the Temporal UI and namespace
 * `default`, three kwok nodes, podinfo with the Gateway API Canary of ANALYSIS in namespace `test` (Initialized,
 * healthy traffic converged in Prometheus) and the traffic control. `onStack` receives the stack as soon as it runs,
 * so a caller interrupted during the rest of the start-up can stop it.
 */
export async function startSandbox(opts: SandboxOptions = {}, onStack?: (stack: Stack) => void): Promise<Sandbox> {
  const stack = await startStack({
    controllers: 1,
    nodes: 3,
    ui: true,
    temporal: { port: opts.temporalPort, uiPort: opts.uiPort, namespace: 'default' },
    supervise: opts.supervise ?? true,
    gateway: opts.gateway ?? (process.getuid?.() === 0 ? 'traefik' : 'standin'),
  });
  onStack?.(stack);
  try {
    await createNamespace(stack, NAMESPACE);
    if (stack.traefik) {
      await stack.kubectl(
        ['apply', '-f', '-'],
        JSON.stringify(traefikErrorRateTemplate(NAMESPACE, stack.prometheus.url)),
      );
      await stack.applyPodinfo(NAMESPACE, {
        analysis: { ...ANALYSIS, metrics: TRAEFIK_METRICS },
        spec: { service: { port: 9898, targetPort: 9898, gatewayRefs: [{ ...GATEWAY }], hosts: [HOST] } },
        traffic: { successRate: 100 },
      });
    } else {
      await stack.applyPodinfo(NAMESPACE, { analysis: ANALYSIS, traffic: { successRate: 100 } });
    }
    const control = await startTrafficControl(stack, opts.controlPort ?? (await freePort()));
    return {
      stack,
      controlUrl: `http://127.0.0.1:${(control.address() as { port: number }).port}`,
      async stop() {
        await new Promise<void>((r) => control.close(() => r()));
        await stack.stop();
      },
    };
  } catch (err) {
    await stack.stop();
    throw err;
  }
}

async function main(): Promise<void> {
  const stateDir = join(REPO_ROOT, '.fledge', 'sandbox');
  mkdirSync(stateDir, { recursive: true });
  const kubeconfig = join(stateDir, 'kubeconfig');
  const envFile = join(stateDir, 'env.sh');
  // Filled in once up, so Ctrl-C during start-up stops what is already running.
  const parts: { stack?: Stack } = {};
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping the sandbox ...');
    await parts.stack?.stop();
    rmSync(kubeconfig, { force: true });
    rmSync(envFile, { force: true });
    rmSync(join(stateDir, 'bin'), { recursive: true, force: true });
    // Still starting: the harness kills every server it spawned when this process exits (process.on('exit')).
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  const port = await portOr(7233);
  const uiPort = await portOr(8233);
  console.log(
    'starting: Temporal dev server + Web UI, simulated cluster (etcd, kube-apiserver, controller-manager, ' +
      'scheduler, kwok), Prometheus, gateway (Traefik as root, else a stand-in), fledge controller ... (about a minute)',
  );
  const sandbox = await startSandbox(
    {
      temporalPort: port,
      uiPort,
      controlPort: await portOr(9099),
      supervise: { log: (line) => console.error(`[supervisor] ${line}`) },
    },
    (stack) => {
      parts.stack = stack;
      copyFileSync(stack.kubeconfigPath, kubeconfig);
      console.log(`applying podinfo and its Gateway API Canary in namespace ${NAMESPACE}, waiting for Initialized ...`);
    },
  );
  if (stopping) return;
  const { stack, controlUrl } = sandbox;

  const temporal = stack.temporalServer;
  const controller = stack.controllers[0]!;
  const kubectl = binary('kubectl');
  const temporalBin = binary('temporal');
  const node = process.execPath;
  const fledgeCli = relative(process.cwd(), join(REPO_ROOT, 'cli', 'fledge.ts')) || 'cli/fledge.ts';
  // fledge's defaults are 127.0.0.1:7233 and `default`: only a different port needs TEMPORAL_ADDRESS.
  const fledgeEnv = [`KUBECONFIG=${sh(kubeconfig)}`];
  if (temporal.address !== '127.0.0.1:7233') fledgeEnv.push(`TEMPORAL_ADDRESS=${temporal.address}`);
  const fledge = (args: string) => `${fledgeEnv.join(' ')} ${sh(node)} ${sh(fledgeCli)} ${args}`;
  const wf = `canary/${NAMESPACE}/podinfo`;
  const tctl = (name: string, reason: string) =>
    `${sh(temporalBin)} workflow update execute --address ${temporal.address} --namespace ${temporal.namespace} \\\n` +
    `      --workflow-id ${wf} --name ${name} --input ${sh(JSON.stringify({ by: 'you', reason }))}`;

  writeSandboxEnv({
    stateDir,
    kubeconfig,
    temporalAddress: temporal.address,
    temporalNamespace: temporal.namespace,
    node,
    fledgeCli: join(REPO_ROOT, 'cli', 'fledge.ts'),
    temporalBin,
    kubectl,
  });

  const traefik = stack.traefik;
  const curl = traefik ? `curl -s -H 'Host: ${HOST}' ${traefik.url}/` : '';
  const gatewayLines = traefik
    ? `  Gateway           Traefik v3.6 (real traffic, in the sandbox's own network namespace); which version answers:
                      ${curl}
                    Traefik's metrics: ${traefik.adminUrl}/metrics (scraped by Prometheus)`
    : '  Gateway           a STAND-IN, not a real gateway: it only marks each HTTPRoute Accepted, no traffic flows';
  const failing = JSON.stringify({
    spec: {
      template: {
        spec: {
          containers: [
            {
              name: 'podinfod',
              image: 'ghcr.io/stefanprodan/podinfo:6.0.2',
              command: ['./podinfo', '--port=9898', '--port-metrics=9797', '--random-error=true'],
            },
          ],
        },
      },
    },
  });
  const realFailure = traefik
    ? `Roll out a version that really fails (podinfo --random-error: a third of its answers are 5xx), with load:
  ${sh(kubectl)} --kubeconfig ${sh(kubeconfig)} -n ${NAMESPACE} patch deployment/podinfo -p ${sh(failing)}
  while sleep 0.05; do ${curl} -o /dev/null -w '%{http_code}\\n'; done
  (the analysis measures Traefik's 5xx share of the canary and rolls back; the Warning event carries the rate)

`
    : '';
  console.log(`
fledge sandbox is up.
  Temporal          ${temporal.address}, namespace ${temporal.namespace}
  Temporal Web UI   ${temporal.uiUrl}/namespaces/${temporal.namespace}/workflows
  Kubernetes        kubeconfig ${kubeconfig}  (simulated nodes: pods are scheduled and Ready${stack.traefik ? '; each serves a podinfo work-alike on its IP' : ', nothing runs'})
  Canary            ${NAMESPACE}/podinfo: Gateway API (HTTPRoute on Gateway gateways/gateway), interval ${ANALYSIS.interval},
                    step ${ANALYSIS.stepWeight} % up to ${ANALYSIS.maxWeight} %, builtin request-success-rate and request-duration${traefik ? ",\n                    and error-rate: a MetricTemplate over Traefik's 5xx share of the canary" : ''}
${gatewayLines}
  Metrics           Prometheus ${stack.prometheus.url} scraping a local exporter (healthy: analysis passes)${traefik ? ',\n                    Traefik and every pod annotated prometheus.io/scrape (its podinfo /metrics)' : ''}
  Controller        ${controller.url}/metrics, log ${controller.logFile}
                    supervised like a Deployment's pod: kill -9 it mid-rollout and it comes back, the rollout carries on

Trigger a rollout:
  ${sh(kubectl)} --kubeconfig ${sh(kubeconfig)} -n ${NAMESPACE} set image deployment/podinfo podinfod=${NEW_IMAGE}
  (next time another tag, e.g. :6.0.2; each new pod template is a new rollout)

Watch it:
  ${fledge(`get podinfo -n ${NAMESPACE} -w`)}
  ${temporal.uiUrl}/namespaces/${temporal.namespace}/workflows/${encodeURIComponent(wf)}
  ${sh(kubectl)} --kubeconfig ${sh(kubeconfig)} -n ${NAMESPACE} get canary podinfo -w

Promote or abort it while it runs, with the temporal CLI:
  ${tctl('promote', 'looks good')}
  ${tctl('abort', 'not today')}
or with fledge:
  ${fledge(`promote podinfo -n ${NAMESPACE} --reason 'looks good'`)}
  ${fledge(`abort podinfo -n ${NAMESPACE} --reason 'not today'`)}
  ${fledge(`history podinfo -n ${NAMESPACE}`)}

${realFailure}Make the analysis fail (80 % success), then healthy again:
  curl -X POST '${controlUrl}/traffic?successRate=80'
  curl -X POST '${controlUrl}/traffic?successRate=100'

Kill the controller mid-rollout (it is restarted within seconds; the rollout resumes at the step it was at):
  kill -9 $(pgrep -f ${sh(`worker/main.ts --mode all --listen-address 127.0.0.1 --port ${new URL(controller.url).port}`)})

Shortcut: source ${relative(process.cwd(), envFile) || envFile}   (sets KUBECONFIG, TEMPORAL_*, and PATH with fledge,
          kubectl-fledge, kubectl and temporal: then \`fledge get podinfo -n ${NAMESPACE} -w\`, \`kubectl fledge get -A\`)

Ctrl-C stops everything.`);

  // Restarts are the supervisor's business (it logs each one); only a controller that cannot come up ends the sandbox.
  const cause = await controller.down;
  if (stopping) return;
  console.error(`the fledge controller is down (${describeExit(cause)}) and keeps failing; see ${controller.logFile}`);
  await stop(1);
}

if (isEntrypoint(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
