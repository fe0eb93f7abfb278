#!/usr/bin/env node
// The load tester, deployable on its own: `node worker/loadtester.ts --port 8080 --namespace-regexp '^test-'`.
// A drop-in for flagger-loadtester (same routes and payloads; Flagger's single-dash flags are accepted), with
// durable gates and a built-in `hey`, and nothing spawned unless --allow-command names it.
//
// Also started by `node worker/main.ts --mode loadtester` through `startLoadTester`; then the FLEDGE_LOADTESTER_*
// environment variables configure what main.ts does not pass.
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { Command } from 'commander';
import { pino, type Logger } from 'pino';
import { parseDuration } from '../api/canary.ts';
import { ConfigMapGateStore, FileGateStore, MemoryGateStore, type GateStore } from './loadtester/gates.ts';
import { createLoadTester } from './loadtester/server.ts';
import { isEntrypoint } from './entry.ts';

export interface LoadTesterConfig {
  host: string;
  port: number;
  /** Task deadline, a Go duration (Flagger's default 1h). */
  timeout: string;
  namespaceRegexp?: string;
  stateFile?: string;
  gateConfigMap?: string;
  gateNamespace?: string;
  kubeconfig?: string;
  allowCommands: string[];
  /** Variables of the load tester's environment that commands may expand (none by default). */
  exposeEnv: string[];
  enableKubectl: boolean;
  enableHelm: boolean;
  logCmdOutput: boolean;
  logLevel: string;
}

const DEFAULT_GATE_CONFIGMAP = 'fledge-loadtester-gates';
const SA_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** Flagger's loadtester takes Go-style `-port=8080`; commander wants `--port=8080`. */
export function normalizeFlags(argv: string[]): string[] {
  return argv.map((a) => (/^-[a-zA-Z][a-zA-Z-]+(=.*)?$/.test(a) ? `-${a}` : a));
}

export function parseArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): LoadTesterConfig {
  const collect = (v: string, prev: string[]) => [...prev, ...v.split(',').filter(Boolean)];
  const cmd = new Command('loadtester')
    .exitOverride()
    .option('--host <host>', 'listen address', '0.0.0.0')
    .option('--port <port>', 'listen port', env.FLEDGE_LOADTESTER_PORT ?? '8080')
    .option('--timeout <duration>', 'deadline of one task', env.FLEDGE_LOADTESTER_TIMEOUT ?? '1h')
    .option(
      '--namespace-regexp <regexp>',
      'only serve canaries in matching namespaces',
      env.FLEDGE_LOADTESTER_NAMESPACE_REGEXP,
    )
    .option('--state-file <path>', 'keep gate state in this JSON file', env.FLEDGE_LOADTESTER_STATE_FILE)
    .option('--gate-configmap <name>', 'keep gate state in this ConfigMap', env.FLEDGE_LOADTESTER_GATE_CONFIGMAP)
    .option('--gate-namespace <ns>', 'namespace of the gate ConfigMap (default: the pod namespace)')
    .option('--kubeconfig <path>', 'kubeconfig for the gate ConfigMap (default: in-cluster or KUBECONFIG)')
    .option('--allow-command <name>', 'program tasks may run besides hey (repeatable, comma-separated)', collect, [
      ...(env.FLEDGE_LOADTESTER_ALLOW_COMMANDS ?? '').split(',').filter(Boolean),
    ])
    .option(
      '--expose-env <name>',
      'environment variable commands may expand as $NAME (repeatable, comma-separated; none by default)',
      collect,
      [...(env.FLEDGE_LOADTESTER_EXPOSE_ENV ?? '').split(',').filter(Boolean)],
    )
    .option('--enable-kubectl', 'run `type: kubectl` tasks', env.FLEDGE_LOADTESTER_ENABLE_KUBECTL === 'true')
    .option('--enable-helm', 'run `type: helm` tasks', env.FLEDGE_LOADTESTER_ENABLE_HELM === 'true')
    .option('--log-cmd-output', 'log the output of commands', false)
    .option('--log-level <level>', 'debug, info, warn or error', env.LOG_LEVEL ?? 'info')
    .option('--zap-encoding <encoding>', 'accepted for Flagger compatibility; logs are always JSON');
  cmd.parse(normalizeFlags(argv), { from: 'user' });
  const o = cmd.opts();
  return {
    host: o.host,
    port: Number(o.port),
    timeout: o.timeout,
    namespaceRegexp: o.namespaceRegexp,
    stateFile: o.stateFile,
    gateConfigMap: o.gateConfigmap,
    gateNamespace: o.gateNamespace,
    kubeconfig: o.kubeconfig,
    allowCommands: o.allowCommand,
    exposeEnv: o.exposeEnv,
    enableKubectl: Boolean(o.enableKubectl),
    enableHelm: Boolean(o.enableHelm),
    logCmdOutput: Boolean(o.logCmdOutput),
    logLevel: o.logLevel,
  };
}

/** State file, else a ConfigMap when a cluster is reachable, else memory (with a warning: gates then die with us). */
export function gateStore(config: LoadTesterConfig, log: Logger): GateStore {
  if (config.stateFile) return new FileGateStore(config.stateFile);
  const inCluster = Boolean(process.env.KUBERNETES_SERVICE_HOST);
  if (config.gateConfigMap || config.kubeconfig || inCluster) {
    const kube = new KubeConfig();
    if (config.kubeconfig) kube.loadFromFile(config.kubeconfig);
    else kube.loadFromDefault();
    const namespace = config.gateNamespace ?? podNamespace() ?? kube.getContextObject(kube.currentContext)?.namespace;
    return new ConfigMapGateStore(kube, namespace ?? 'default', config.gateConfigMap ?? DEFAULT_GATE_CONFIGMAP);
  }
  log.warn('no --state-file and no cluster: gate state is in memory and will not survive a restart');
  return new MemoryGateStore();
}

function podNamespace(): string | undefined {
  try {
    return readFileSync(SA_NAMESPACE_FILE, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export interface RunningLoadTester {
  server: Server;
  port: number;
  stop(): Promise<void>;
}

/** Starts the HTTP server; `overrides` win over flags from the environment (main.ts passes host, port, log). */
export async function startLoadTester(
  overrides: Partial<LoadTesterConfig> & { log?: Logger } = {},
): Promise<RunningLoadTester> {
  const { log: givenLog, ...rest } = overrides;
  const config: LoadTesterConfig = { ...parseArgs([]), ...definedOnly(rest) };
  const log = givenLog ?? pino({ level: config.logLevel, base: { component: 'loadtester' } });
  const gates = gateStore(config, log);
  const tester = createLoadTester({
    timeoutMs: parseDuration(config.timeout),
    namespaceRegexp: config.namespaceRegexp ? new RegExp(config.namespaceRegexp) : undefined,
    gates,
    allow: new Set(config.allowCommands),
    exposeEnv: config.exposeEnv,
    enableKubectl: config.enableKubectl,
    enableHelm: config.enableHelm,
    logCmdOutput: config.logCmdOutput,
    log,
  });
  await new Promise<void>((resolve, reject) => {
    tester.server.once('error', reject);
    tester.server.listen(config.port, config.host, resolve);
  });
  const port = (tester.server.address() as AddressInfo).port;
  log.info({ port, gates: gates.kind, allow: config.allowCommands }, 'load tester listening');
  return {
    server: tester.server,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        tester.server.close(() => resolve());
        tester.server.closeIdleConnections();
      }),
  };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

async function main(): Promise<void> {
  let config: LoadTesterConfig;
  try {
    config = parseArgs(process.argv.slice(2));
  } catch (err) {
    // commander already printed the usage error (or the help text).
    process.exit((err as { exitCode?: number }).exitCode ?? 2);
  }
  const log = pino({ level: config.logLevel, base: { component: 'loadtester' } });
  const running = await startLoadTester({ ...config, log });
  const shutdown = () => {
    log.info('shutting down');
    void running.stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

if (isEntrypoint(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
