// Configuration of the controller process: command-line flags, each with an environment variable, for Flagger's
// global options that still apply plus fledge's own (mode, Temporal, data dir, ports). Parsing is pure (argv and
// env are arguments) so tests need not touch process.env.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { loadClientConfigProfile, toClientOptions, type ClientConfigProfile } from '@temporalio/envconfig';
import type { NativeConnectionOptions, WorkerDeploymentOptions } from '@temporalio/worker';
import type { ActivityDeps, AreaOptions } from '../activities/index.ts';
import { SUPPORTED_LIST, SUPPORTED_PROVIDERS, canonicalProvider } from '../api/canary.ts';
import type { GlobalOptions } from '../cli/context.ts';

export const MODES = ['all', 'worker', 'watcher', 'loadtester'] as const;
export type Mode = (typeof MODES)[number];
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const VERSIONING_BEHAVIORS = ['pinned', 'auto-upgrade'] as const;
export type VersioningBehaviorFlag = (typeof VERSIONING_BEHAVIORS)[number];

/**
 * Worker Versioning (Temporal Worker Deployments): this worker polls as version `deploymentName`.`buildId`, and
 * workflows it starts default to `behavior` (auto-upgrade: move to the current version at their next task, so
 * changes need patched(); pinned: stay on this build until they end). See docs/upgrading.md.
 */
export interface WorkerVersioningConfig {
  deploymentName: string;
  buildId: string;
  behavior: VersioningBehaviorFlag;
}

export interface TemporalConfig {
  /** No address anywhere (flag, TEMPORAL_ADDRESS, config file): start `temporal server start-dev` ourselves. */
  embedded: boolean;
  namespace: string;
  /** Connection options for NativeConnection / Connection; `address` is filled in for the embedded server. */
  connection: NativeConnectionOptions;
  /** Profile of the Temporal config file (--temporal-profile / TEMPORAL_PROFILE), if one was named. */
  profile?: string;
  /** Embedded dev server ports (frontend and Web UI, both on 127.0.0.1). */
  devServerPort: number;
  devServerUiPort: number;
}

export interface WorkerConfig {
  mode: Mode;
  dataDir: string;
  taskQueue: string;
  temporal: TemporalConfig;
  /** Path to a prebuilt workflow bundle (container images ship one); absent: bundle workflows/ at start. */
  workflowBundle?: string;
  /**
   * Worker.create's maxCachedWorkflows (--max-cached-workflows): open rollouts whose workflow state the worker keeps
   * in memory between tasks (about 1 MiB each, docs/benchmarks.md); absent: the SDK's default, derived from the heap
   * limit. 0 keeps none (each task replays the history).
   */
  maxCachedWorkflows?: number;
  /** Set with --worker-deployment-name: the worker uses Worker Versioning; absent: unversioned. */
  versioning?: WorkerVersioningConfig;
  kubeconfig?: string;
  /** Default traffic provider for Canaries without `spec.provider` (Flagger's -mesh-provider). */
  meshProvider: string;
  /** Prometheus URL of the builtin metrics (Flagger's -metrics-server). */
  metricsServer: string;
  /** Prefix of ingress-nginx's canary annotations (Flagger's -ingress-annotations-prefix). */
  ingressAnnotationsPrefix: string;
  /** spec.ingressClassName of Contour HTTPProxies; empty: none (Flagger's -ingress-class). */
  ingressClass: string;
  /** Pod labels used for selectors, first match wins (Flagger's -selector-labels). */
  selectorLabels: string[];
  /** Label/annotation prefixes copied from the target to the primary (Flagger's -include-label-prefix). */
  includeLabelPrefix: string[];
  /** Namespaces to watch; empty means all (Flagger's -namespace, here a comma list). */
  namespaces: string[];
  clusterName: string;
  slack: { url?: string; proxyUrl?: string; user: string; channel?: string };
  msteams: { url?: string; proxyUrl?: string };
  eventWebhook?: string;
  configTracking: boolean;
  /** Forbid cross-namespace references to MetricTemplates and AlertProviders (Flagger's -no-cross-namespace-refs). */
  noCrossNamespaceRefs: boolean;
  /** HTTP server with /healthz, /readyz and /metrics. */
  listenAddress: string;
  port: number;
  /** Where Temporal's core (Rust) metrics are served; empty: a free loopback port, merged into /metrics. */
  coreMetricsAddress: string;
  loadtesterPort: number;
  logLevel: LogLevel;
}

/** One option: its flag, its environment variable and its default (as the string the env would hold). */
interface OptionSpec {
  key: string;
  flags: string;
  env: string;
  help: string;
  default?: string;
  choices?: readonly string[];
}

// Flagger's own env names (SLACK_URL, MSTEAMS_URL, EVENT_WEBHOOK_URL, …) are kept so existing Secrets still work.
const OPTIONS: readonly OptionSpec[] = [
  {
    key: 'mode',
    flags: '--mode <mode>',
    env: 'FLEDGE_MODE',
    help: 'what this process runs',
    default: 'all',
    choices: MODES,
  },
  {
    key: 'dataDir',
    flags: '--data-dir <dir>',
    env: 'FLEDGE_DATA_DIR',
    help: 'state of the embedded Temporal dev server',
  },
  {
    key: 'taskQueue',
    flags: '--task-queue <name>',
    env: 'FLEDGE_TASK_QUEUE',
    help: 'Temporal task queue',
    default: 'fledge',
  },
  {
    key: 'temporalAddress',
    flags: '--temporal-address <host:port>',
    env: 'TEMPORAL_ADDRESS',
    help: 'Temporal frontend (none: start an embedded dev server)',
  },
  {
    key: 'temporalNamespace',
    flags: '--temporal-namespace <ns>',
    env: 'TEMPORAL_NAMESPACE',
    help: 'Temporal namespace',
  },
  {
    key: 'temporalProfile',
    flags: '--temporal-profile <name>',
    env: 'TEMPORAL_PROFILE',
    help: 'profile of the Temporal config file',
  },
  {
    key: 'devServerPort',
    flags: '--dev-server-port <port>',
    env: 'FLEDGE_DEV_SERVER_PORT',
    help: 'embedded dev server frontend port',
    default: '7233',
  },
  {
    key: 'devServerUiPort',
    flags: '--dev-server-ui-port <port>',
    env: 'FLEDGE_DEV_SERVER_UI_PORT',
    help: 'embedded dev server Web UI port',
    default: '8233',
  },
  {
    key: 'workflowBundle',
    flags: '--workflow-bundle <file>',
    env: 'FLEDGE_WORKFLOW_BUNDLE',
    help: 'prebuilt workflow bundle (node worker/bundle.ts)',
  },
  {
    key: 'maxCachedWorkflows',
    flags: '--max-cached-workflows <n>',
    env: 'FLEDGE_MAX_CACHED_WORKFLOWS',
    help: 'open rollouts kept in worker memory (sticky cache); default: the Temporal SDK default, from the heap size',
  },
  {
    key: 'workerDeploymentName',
    flags: '--worker-deployment-name <name>',
    env: 'FLEDGE_WORKER_DEPLOYMENT_NAME',
    help: 'Temporal Worker Deployment to poll as (turns Worker Versioning on; needs --worker-build-id)',
  },
  {
    key: 'workerBuildId',
    flags: '--worker-build-id <id>',
    env: 'FLEDGE_WORKER_BUILD_ID',
    help: 'build id of this worker in its Worker Deployment (e.g. the image tag)',
  },
  {
    key: 'workerVersioningBehavior',
    flags: '--worker-versioning-behavior <behavior>',
    env: 'FLEDGE_WORKER_VERSIONING_BEHAVIOR',
    help: 'default versioning behavior of rollout workflows (with --worker-deployment-name)',
    default: 'auto-upgrade',
    choices: VERSIONING_BEHAVIORS,
  },
  {
    key: 'kubeconfig',
    flags: '--kubeconfig <file>',
    env: 'KUBECONFIG',
    help: 'kubeconfig (default: in-cluster config or ~/.kube/config)',
  },
  {
    key: 'meshProvider',
    flags: '--mesh-provider <name>',
    env: 'FLEDGE_MESH_PROVIDER',
    help: 'default traffic provider',
    default: 'kubernetes',
  },
  {
    key: 'ingressAnnotationsPrefix',
    flags: '--ingress-annotations-prefix <prefix>',
    env: 'FLEDGE_INGRESS_ANNOTATIONS_PREFIX',
    help: 'annotations prefix of NGINX canary ingresses',
    default: 'nginx.ingress.kubernetes.io',
  },
  {
    key: 'ingressClass',
    flags: '--ingress-class <name>',
    env: 'FLEDGE_INGRESS_CLASS',
    help: 'ingress class (spec.ingressClassName) of Contour HTTPProxies',
  },
  {
    key: 'metricsServer',
    flags: '--metrics-server <url>',
    env: 'FLEDGE_METRICS_SERVER',
    help: 'Prometheus URL for builtin metrics',
    default: 'http://prometheus:9090',
  },
  {
    key: 'selectorLabels',
    flags: '--selector-labels <list>',
    env: 'FLEDGE_SELECTOR_LABELS',
    help: 'pod selector labels, comma-separated',
    default: 'app,name,app.kubernetes.io/name',
  },
  {
    key: 'includeLabelPrefix',
    flags: '--include-label-prefix <list>',
    env: 'FLEDGE_INCLUDE_LABEL_PREFIX',
    help: 'label prefixes copied to the primary, comma-separated',
    default: '',
  },
  {
    key: 'namespaces',
    flags: '--namespace <list>',
    env: 'FLEDGE_NAMESPACE',
    help: 'namespaces to watch, comma-separated (default all)',
    default: '',
  },
  {
    key: 'clusterName',
    flags: '--cluster-name <name>',
    env: 'FLEDGE_CLUSTER_NAME',
    help: 'cluster name shown in alerts',
    default: '',
  },
  { key: 'slackUrl', flags: '--slack-url <url>', env: 'SLACK_URL', help: 'Slack incoming webhook' },
  { key: 'slackProxyUrl', flags: '--slack-proxy-url <url>', env: 'SLACK_PROXY_URL', help: 'proxy for Slack' },
  { key: 'slackUser', flags: '--slack-user <name>', env: 'SLACK_USER', help: 'Slack user name', default: 'flagger' },
  { key: 'slackChannel', flags: '--slack-channel <name>', env: 'SLACK_CHANNEL', help: 'Slack channel' },
  { key: 'msteamsUrl', flags: '--msteams-url <url>', env: 'MSTEAMS_URL', help: 'MS Teams incoming webhook' },
  { key: 'msteamsProxyUrl', flags: '--msteams-proxy-url <url>', env: 'MSTEAMS_PROXY_URL', help: 'proxy for MS Teams' },
  {
    key: 'eventWebhook',
    flags: '--event-webhook <url>',
    env: 'EVENT_WEBHOOK_URL',
    help: 'webhook receiving every canary event',
  },
  {
    key: 'configTracking',
    flags: '--enable-config-tracking <bool>',
    env: 'FLEDGE_ENABLE_CONFIG_TRACKING',
    help: 'track ConfigMaps and Secrets',
    default: 'true',
  },
  {
    key: 'noCrossNamespaceRefs',
    flags: '--forbid-cross-namespace-refs <bool>',
    env: 'FLEDGE_NO_CROSS_NAMESPACE_REFS',
    help: 'forbid cross-namespace template/provider refs',
    default: 'false',
  },
  {
    key: 'listenAddress',
    flags: '--listen-address <host>',
    env: 'FLEDGE_LISTEN_ADDRESS',
    help: 'address of the health and metrics server',
    default: '0.0.0.0',
  },
  {
    key: 'port',
    flags: '--port <port>',
    env: 'FLEDGE_PORT',
    help: 'port of /healthz, /readyz and /metrics',
    default: '8080',
  },
  {
    key: 'coreMetricsAddress',
    flags: '--core-metrics-address <host:port>',
    env: 'FLEDGE_CORE_METRICS_ADDRESS',
    help: 'separate endpoint for Temporal core metrics (default: merged into /metrics)',
    default: '',
  },
  {
    key: 'loadtesterPort',
    flags: '--loadtester-port <port>',
    env: 'FLEDGE_LOADTESTER_PORT',
    help: 'port of the load tester (mode loadtester)',
    default: '8080',
  },
  {
    key: 'logLevel',
    flags: '--log-level <level>',
    env: 'FLEDGE_LOG_LEVEL',
    help: 'log level',
    default: 'info',
    choices: LOG_LEVELS,
  },
];

export function defaultDataDir(env: Record<string, string | undefined>): string {
  const base = env.XDG_DATA_HOME || join(env.HOME || homedir(), '.local', 'share');
  return join(base, 'fledge');
}

/** The command with every option; `--help` lists the env variable of each. */
export function workerCommand(): Command {
  const cmd = new Command('fledge-controller')
    .description('fledge controller: Temporal worker for canary rollouts, Kubernetes watcher, load tester')
    .allowExcessArguments(false)
    .exitOverride();
  for (const o of OPTIONS) {
    const opt = new Option(o.flags, `${o.help} [env ${o.env}]`);
    if (o.choices) opt.choices(o.choices);
    if (o.default !== undefined) opt.default(o.default);
    cmd.addOption(opt);
  }
  return cmd;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** `--help` was asked for: `text` is the usage to print on stdout (exit 0). */
export class HelpRequested extends Error {
  override name = 'HelpRequested';
  readonly text: string;
  constructor(text: string) {
    super('help requested');
    this.text = text;
  }
}

/** Parses argv (without node and script) and env into the process configuration; throws ConfigError. */
export function parseWorkerConfig(argv: string[], env: Record<string, string | undefined>): WorkerConfig {
  const cmd = workerCommand().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  try {
    cmd.parse(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError && err.code === 'commander.helpDisplayed')
      throw new HelpRequested(cmd.helpInformation());
    if (err instanceof CommanderError) throw new ConfigError(err.message.replace(/^error: /, ''));
    throw err;
  }
  const raw = rawValues(cmd, env);
  return buildConfig(raw, env);
}

/** Flag value if given on the command line, else the env variable, else the default. */
function rawValues(cmd: Command, env: Record<string, string | undefined>): Record<string, string | undefined> {
  const opts = cmd.opts<Record<string, string | undefined>>();
  const out: Record<string, string | undefined> = {};
  for (const o of OPTIONS) {
    // commander names the value after the flag (--temporal-address → temporalAddress), not after our key.
    const attr = new Option(o.flags).attributeName();
    const fromCli = cmd.getOptionValueSource(attr) === 'cli';
    const fromEnv = env[o.env];
    let value = fromCli || fromEnv === undefined || fromEnv === '' ? opts[attr] : fromEnv;
    if (!fromCli && fromEnv && o.choices && !o.choices.includes(fromEnv))
      throw new ConfigError(`${o.env}=${fromEnv} is invalid; allowed: ${o.choices.join(', ')}`);
    if (value === '') value = undefined;
    out[o.key] = value;
  }
  return out;
}

/**
 * `--mesh-provider`: a provider name a Canary may carry, or Flagger's `smi:<version>:<mesh>` flag form. Anything else
 * is a ConfigError naming the supported providers: Flagger's router factory fell back to Istio silently, and every
 * Canary without `spec.provider` would only fail validation one by one.
 */
function meshProvider(value: string): string {
  if ((SUPPORTED_PROVIDERS as readonly string[]).includes(canonicalProvider(value))) return value;
  throw new ConfigError(`--mesh-provider ${value} is not a provider fledge knows; supported: ${SUPPORTED_LIST}`);
}

function buildConfig(raw: Record<string, string | undefined>, env: Record<string, string | undefined>): WorkerConfig {
  return {
    mode: raw.mode as Mode,
    dataDir: raw.dataDir ?? defaultDataDir(env),
    taskQueue: raw.taskQueue ?? 'fledge',
    temporal: temporalConfig(raw, env),
    workflowBundle: raw.workflowBundle,
    ...(raw.maxCachedWorkflows !== undefined
      ? { maxCachedWorkflows: count('--max-cached-workflows', raw.maxCachedWorkflows) }
      : {}),
    ...versioningConfig(raw),
    kubeconfig: raw.kubeconfig,
    meshProvider: meshProvider(raw.meshProvider ?? 'kubernetes'),
    metricsServer: raw.metricsServer ?? 'http://prometheus:9090',
    ingressAnnotationsPrefix: raw.ingressAnnotationsPrefix ?? 'nginx.ingress.kubernetes.io',
    ingressClass: raw.ingressClass ?? '',
    selectorLabels: list(raw.selectorLabels),
    includeLabelPrefix: list(raw.includeLabelPrefix),
    namespaces: list(raw.namespaces),
    clusterName: raw.clusterName ?? '',
    slack: {
      url: raw.slackUrl,
      proxyUrl: raw.slackProxyUrl,
      user: raw.slackUser ?? 'flagger',
      channel: raw.slackChannel,
    },
    msteams: { url: raw.msteamsUrl, proxyUrl: raw.msteamsProxyUrl },
    eventWebhook: raw.eventWebhook,
    configTracking: bool('--enable-config-tracking', raw.configTracking ?? 'true'),
    noCrossNamespaceRefs: bool('--forbid-cross-namespace-refs', raw.noCrossNamespaceRefs ?? 'false'),
    listenAddress: raw.listenAddress ?? '0.0.0.0',
    port: port('--port', raw.port ?? '8080'),
    coreMetricsAddress: raw.coreMetricsAddress ?? '',
    loadtesterPort: port('--loadtester-port', raw.loadtesterPort ?? '8080'),
    logLevel: raw.logLevel as LogLevel,
  };
}

/**
 * Worker Versioning from --worker-deployment-name, --worker-build-id and --worker-versioning-behavior: none
 * without a deployment name; a build id is required with one (ConfigError), and only makes sense with one.
 */
function versioningConfig(raw: Record<string, string | undefined>): { versioning?: WorkerVersioningConfig } {
  const deploymentName = raw.workerDeploymentName;
  const buildId = raw.workerBuildId;
  if (!deploymentName) {
    if (buildId)
      throw new ConfigError(
        '--worker-build-id (FLEDGE_WORKER_BUILD_ID) needs --worker-deployment-name (FLEDGE_WORKER_DEPLOYMENT_NAME)',
      );
    return {};
  }
  if (!buildId)
    throw new ConfigError(
      `--worker-deployment-name ${deploymentName} needs --worker-build-id (FLEDGE_WORKER_BUILD_ID): the version this worker polls as`,
    );
  const behavior = (raw.workerVersioningBehavior ?? 'auto-upgrade') as VersioningBehaviorFlag;
  return { versioning: { deploymentName, buildId, behavior } };
}

/**
 * Temporal connection from @temporalio/envconfig (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
 * TEMPORAL_TLS*, the TOML config file and its profiles), with our flags on top.
 */
export function temporalConfig(
  raw: Record<string, string | undefined>,
  env: Record<string, string | undefined>,
): TemporalConfig {
  const profile = loadProfile(raw.temporalProfile, env);
  const address = raw.temporalAddress ?? profile.address;
  const namespace = raw.temporalNamespace ?? profile.namespace ?? 'default';
  const connection = toClientOptions({ ...profile, address }).connectionOptions;
  return {
    embedded: !address,
    namespace,
    ...(raw.temporalProfile ? { profile: raw.temporalProfile } : {}),
    connection,
    devServerPort: port('--dev-server-port', raw.devServerPort ?? '7233'),
    devServerUiPort: port('--dev-server-ui-port', raw.devServerUiPort ?? '8233'),
  };
}

function loadProfile(profile: string | undefined, env: Record<string, string | undefined>): ClientConfigProfile {
  const vars = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
  try {
    return loadClientConfigProfile({ profile, overrideEnvVars: vars });
  } catch (err) {
    throw new ConfigError(`Temporal client configuration: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function bool(flag: string, value: string): boolean {
  if (/^(true|1|yes)$/i.test(value)) return true;
  if (/^(false|0|no)$/i.test(value)) return false;
  throw new ConfigError(`${flag} must be true or false, not ${JSON.stringify(value)}`);
}

function count(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`${flag} must be a whole number ≥ 0, not ${value}`);
  return n;
}

function port(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(`${flag} must be a port number, not ${value}`);
  return n;
}

/** The option table, for docs and the Helm chart test (every flag has a value). */
export function optionTable(): { flag: string; env: string; default?: string; help: string }[] {
  return OPTIONS.map((o) => ({ flag: o.flags.split(' ')[0] ?? o.flags, env: o.env, default: o.default, help: o.help }));
}

// ---------------------------------------------------------------------------------------------------------
// One configuration, every component: what each part of the process is built from
// ---------------------------------------------------------------------------------------------------------

/** createActivities' options besides kube and log: the worker's activities (the watcher reads configTracking). */
export type ActivitySettings = Required<
  Pick<
    ActivityDeps & AreaOptions,
    | 'selectorLabels'
    | 'includeLabelPrefix'
    | 'defaultProvider'
    | 'configTracking'
    | 'noCrossNamespaceRefs'
    | 'metricsServer'
    | 'globalNotifier'
    | 'ingressAnnotationsPrefix'
  >
> &
  Pick<AreaOptions, 'eventWebhook' | 'ingressClass'>;

/**
 * Every component's settings, derived from the one parsed configuration, so no component falls back to its own
 * defaults for a flag the operator set (the watcher's revertOnDeletion once ran with the default selector labels
 * and provider). Pure. Which flag feeds which part:
 *   activities  --selector-labels --include-label-prefix --mesh-provider --enable-config-tracking
 *               --forbid-cross-namespace-refs --metrics-server --event-webhook --slack-* --msteams-*
 *               --ingress-annotations-prefix --ingress-class (routers)
 *   worker      --task-queue, --temporal-namespace, --workflow-bundle, --max-cached-workflows, --worker-deployment-name
 *               --worker-build-id --worker-versioning-behavior
 *   watcher     --task-queue --namespace --enable-config-tracking (Secrets and ConfigMaps are watched only with it)
 *   loadTester  --listen-address --loadtester-port --log-level
 *   health      --listen-address --port --core-metrics-address
 *   devServer   --data-dir --dev-server-port --dev-server-ui-port --temporal-namespace (embedded Temporal only)
 *   temporal    --temporal-address --temporal-namespace --temporal-profile (connection of worker and watcher)
 *   kube        --kubeconfig
 *   cli         the same Temporal address, namespace, profile and kubeconfig, as `fledge` global options
 *   log         --log-level --mode
 *   warnings    flags accepted for Flagger compatibility that nothing acts on yet (--cluster-name)
 */
export interface ComponentSettings {
  activities: ActivitySettings;
  worker: {
    taskQueue: string;
    namespace: string;
    workflowBundle?: string;
    /** Worker.create's maxCachedWorkflows; absent: the SDK default. */
    maxCachedWorkflows?: number;
    /** Worker.create's workerDeploymentOptions; absent: an unversioned worker. */
    deployment?: WorkerDeploymentOptions;
  };
  watcher: { taskQueue: string; namespaces?: string[]; configTracking: boolean; activities: ActivitySettings };
  loadTester: { host: string; port: number; logLevel: LogLevel };
  /** `standalone` false: `--mode loadtester` on the load tester's own port, whose server answers /healthz, /metrics. */
  health: { host: string; port: number; coreMetricsAddress: string; standalone: boolean };
  devServer?: { dataDir: string; port: number; uiPort: number; namespace: string };
  temporal: TemporalConfig;
  kube: { kubeconfig?: string };
  cli: GlobalOptions;
  log: { level: LogLevel; mode: Mode };
  warnings: string[];
}

/** The settings of every component from one configuration (see ComponentSettings). */
export function componentSettings(config: WorkerConfig): ComponentSettings {
  const activities: ActivitySettings = {
    selectorLabels: [...config.selectorLabels],
    includeLabelPrefix: [...config.includeLabelPrefix],
    defaultProvider: config.meshProvider,
    configTracking: config.configTracking,
    noCrossNamespaceRefs: config.noCrossNamespaceRefs,
    metricsServer: config.metricsServer,
    ingressAnnotationsPrefix: config.ingressAnnotationsPrefix,
    ...(config.ingressClass ? { ingressClass: config.ingressClass } : {}),
    globalNotifier: {
      slackUrl: config.slack.url,
      slackUser: config.slack.user,
      slackChannel: config.slack.channel,
      slackProxyUrl: config.slack.proxyUrl,
      msteamsUrl: config.msteams.url,
      msteamsProxyUrl: config.msteams.proxyUrl,
    },
    ...(config.eventWebhook ? { eventWebhook: config.eventWebhook } : {}),
  };
  const t = config.temporal;
  const address = t.embedded ? `127.0.0.1:${t.devServerPort}` : t.connection.address;
  return {
    activities,
    worker: {
      taskQueue: config.taskQueue,
      namespace: t.namespace,
      ...(config.workflowBundle ? { workflowBundle: config.workflowBundle } : {}),
      ...(config.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: config.maxCachedWorkflows } : {}),
      ...(config.versioning ? { deployment: workerDeploymentOptions(config.versioning) } : {}),
    },
    watcher: {
      taskQueue: config.taskQueue,
      ...(config.namespaces.length ? { namespaces: [...config.namespaces] } : {}),
      configTracking: config.configTracking,
      activities,
    },
    loadTester: { host: config.listenAddress, port: config.loadtesterPort, logLevel: config.logLevel },
    health: {
      host: config.listenAddress,
      port: config.port,
      coreMetricsAddress: config.coreMetricsAddress,
      // Both default to 8080 (Flagger's load tester port): one server, not two fighting over the port.
      standalone: !(config.mode === 'loadtester' && config.port === config.loadtesterPort),
    },
    ...(t.embedded
      ? {
          devServer: {
            dataDir: config.dataDir,
            port: t.devServerPort,
            uiPort: t.devServerUiPort,
            namespace: t.namespace,
          },
        }
      : {}),
    temporal: t,
    kube: config.kubeconfig ? { kubeconfig: config.kubeconfig } : {},
    cli: {
      ...(address ? { address } : {}),
      temporalNamespace: t.namespace,
      ...(t.profile ? { profile: t.profile } : {}),
      // A KUBECONFIG list (a:b) is left to the CLI's own reading of KUBECONFIG.
      ...(config.kubeconfig && !config.kubeconfig.includes(':') ? { kubeconfig: config.kubeconfig } : {}),
    },
    log: { level: config.logLevel, mode: config.mode },
    warnings: config.clusterName ? [`--cluster-name ${config.clusterName} is not used in alerts yet`] : [],
  };
}

/**
 * Worker.create's `workerDeploymentOptions` for a versioned worker (@temporalio/worker 1.24): polls as
 * `deploymentName`.`buildId`, with the flag's behavior as the default of every workflow it runs.
 */
export function workerDeploymentOptions(v: WorkerVersioningConfig): WorkerDeploymentOptions {
  return {
    useWorkerVersioning: true,
    version: { deploymentName: v.deploymentName, buildId: v.buildId },
    defaultVersioningBehavior: v.behavior === 'pinned' ? 'PINNED' : 'AUTO_UPGRADE',
  };
}
