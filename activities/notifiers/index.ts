// The alerts port: resolve each of the canary's alerts to an AlertProvider (and its Secret), build the provider's
// message and post it. Best effort, like Flagger: a broken notifier never fails a rollout. A post that gets no
// answer, a 5xx (but 501) or a 429 is retried (ALERT_RETRIES more times, Flagger's backoff), all inside the
// activity attempt's start-to-close timeout; a 4xx is not retried; a post that still failed is logged once. The
// retries run inside the call, not as activity retries, so a retry never re-sends to the providers of the same
// alert that already got it. Provider addresses and tokens stay inside this module.
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { AlertProviderSchema, type AlertProviderSpec } from '../../api/alert-provider.ts';
import { CanarySchema } from '../../api/canary.ts';
import type { AlertInput, AlertSpec, AlertsPort, CanaryRef } from '../../api/ports.ts';
import { activitySignal, postJson } from '../webhooks/http.ts';
import { notifierFor } from './registry.ts';
import { alertMetadata, shouldAlert, type CanaryFacts } from './routing.ts';
import { SLACK_API_POST_MESSAGE_URL } from './slack.ts';
import type { Alert, Destination, Field } from './types.ts';

export { shouldAlert, alertMetadata } from './routing.ts';
export { NOTIFIERS } from './registry.ts';

/** Flagger's global notifier flags (`-slack-url`, `-msteams-url`, …); used when a Canary lists no alerts. */
export interface GlobalNotifier {
  slackUrl?: string;
  slackUser?: string;
  slackChannel?: string;
  slackProxyUrl?: string;
  msteamsUrl?: string;
  msteamsProxyUrl?: string;
  discordUrl?: string;
  rocketUrl?: string;
  gchatUrl?: string;
}

/** Reads the global notifier from the environment with Flagger's variable names (flags take precedence). */
export function globalNotifierFromEnv(env: NodeJS.ProcessEnv, flags: GlobalNotifier = {}): GlobalNotifier {
  const pick = (flag: string | undefined, name: string) => flag || env[name] || undefined;
  return {
    slackUrl: pick(flags.slackUrl, 'SLACK_URL'),
    slackUser: pick(flags.slackUser, 'SLACK_USER'),
    slackChannel: pick(flags.slackChannel, 'SLACK_CHANNEL'),
    slackProxyUrl: pick(flags.slackProxyUrl, 'SLACK_PROXY_URL'),
    msteamsUrl: pick(flags.msteamsUrl, 'MSTEAMS_URL'),
    msteamsProxyUrl: pick(flags.msteamsProxyUrl, 'MSTEAMS_PROXY_URL'),
    discordUrl: pick(flags.discordUrl, 'DISCORD_URL'),
    rocketUrl: pick(flags.rocketUrl, 'ROCKET_URL'),
    gchatUrl: pick(flags.gchatUrl, 'GCHAT_URL'),
  };
}

/** What the alert activity reads from the cluster; the default uses client-node, tests may script it. */
export interface AlertLookup {
  canary(ref: CanaryRef): Promise<unknown>;
  alertProvider(namespace: string, name: string): Promise<unknown>;
  /** Decoded Secret data. */
  secret(namespace: string, name: string): Promise<Record<string, string>>;
}

export interface AlertDeps {
  kube?: KubeConfig;
  log?: Logger;
  globalNotifier?: GlobalNotifier;
  lookup?: AlertLookup;
  /** Deadline per post (Flagger: 5 s). */
  timeoutMs?: number;
  /** First retry delay of a failed post (default 1 s, doubling up to 30 s); tests shorten it. */
  backoffBaseMs?: number;
  /** Flagger's `-no-cross-namespace-refs`: AlertProviders only from the Canary's own namespace. */
  noCrossNamespaceRefs?: boolean;
}

/** Further attempts of a post that got no answer, a 5xx (but 501) or a 429. */
export const ALERT_RETRIES = 2;

const DEFAULT_USERNAME = 'flagger';
const DEFAULT_CHANNEL = 'general';

export function createAlertActivities(deps: AlertDeps): AlertsPort {
  const lookup = deps.lookup ?? (deps.kube ? kubeLookup(deps.kube) : undefined);
  return {
    async sendAlert(input: AlertInput): Promise<void> {
      try {
        await sendAll(deps, lookup, input);
      } catch (err) {
        deps.log?.error({ canary: label(input.canary), error: errorText(err) }, 'alert not sent');
      }
    },
  };
}

type Send = { name: string; type: string; dest: Destination };

async function sendAll(deps: AlertDeps, lookup: AlertLookup | undefined, input: AlertInput): Promise<void> {
  const fields = input.metadata && lookup ? await metadataFields(deps, lookup, input.canary) : [];
  const alert: Alert = {
    workload: input.canary.name,
    namespace: input.canary.namespace,
    message: input.message,
    fields,
    severity: input.severity,
  };
  const targets =
    input.alerts.length === 0
      ? globalTarget(deps.globalNotifier)
      : await alertTargets(
          deps,
          lookup,
          input.canary,
          input.alerts.filter((a) => shouldAlert(a.severity, input.severity)),
        );
  for (const t of targets) await post(deps, input.canary, t, alert);
}

async function post(deps: AlertDeps, canary: CanaryRef, target: Send, alert: Alert): Promise<void> {
  const build = notifierFor(target.type);
  if (!build) {
    deps.log?.error({ canary: label(canary), provider: target.name }, `provider ${target.type} not supported`);
    return;
  }
  try {
    const msg = build(target.dest, alert);
    const r = await postJson(msg.url, msg.body, {
      timeoutMs: deps.timeoutMs ?? 5000,
      retries: ALERT_RETRIES,
      backoffBaseMs: deps.backoffBaseMs,
      proxy: target.dest.proxy,
      headers: msg.headers,
      signal: activitySignal(),
    });
    if (r.status >= 200 && r.status < 300) return;
    deps.log?.error(
      {
        canary: label(canary),
        provider: target.name,
        status: r.status,
        attempts: r.attempts,
        error: r.error ?? r.body,
      },
      'alert provider send error',
    );
  } catch (err) {
    deps.log?.error(
      { canary: label(canary), provider: target.name, error: errorText(err) },
      'alert provider send error',
    );
  }
}

/** Flagger's precedence: MS Teams when set, else Slack; fledge adds Discord, Rocket and Google Chat after them. */
export function globalTarget(g: GlobalNotifier | undefined): Send[] {
  if (!g) return [];
  const dest = (url: string, proxy?: string): Destination => ({
    url,
    proxy,
    username: g.slackUser || DEFAULT_USERNAME,
    channel: g.slackChannel || DEFAULT_CHANNEL,
  });
  if (g.msteamsUrl) return [{ name: 'global', type: 'msteams', dest: dest(g.msteamsUrl, g.msteamsProxyUrl) }];
  if (g.slackUrl) return [{ name: 'global', type: 'slack', dest: dest(g.slackUrl, g.slackProxyUrl) }];
  if (g.discordUrl) return [{ name: 'global', type: 'discord', dest: dest(g.discordUrl) }];
  if (g.rocketUrl) return [{ name: 'global', type: 'rocket', dest: dest(g.rocketUrl) }];
  if (g.gchatUrl) return [{ name: 'global', type: 'gchat', dest: dest(g.gchatUrl) }];
  return [];
}

async function alertTargets(
  deps: AlertDeps,
  lookup: AlertLookup | undefined,
  canary: CanaryRef,
  alerts: AlertSpec[],
): Promise<Send[]> {
  if (alerts.length > 0 && !lookup) {
    deps.log?.error({ canary: label(canary) }, 'alert providers cannot be read: no Kubernetes client');
    return [];
  }
  const out: Send[] = [];
  for (const a of alerts) {
    const namespace = a.providerRef.namespace || canary.namespace;
    const name = `${a.providerRef.name}.${namespace}`;
    if (deps.noCrossNamespaceRefs && namespace !== canary.namespace) {
      deps.log?.error({ canary: label(canary), provider: name }, 'alert provider in another namespace: forbidden');
      continue;
    }
    try {
      const spec = parseProvider(await lookup!.alertProvider(namespace, a.providerRef.name));
      out.push({ name, type: spec.type, dest: await destination(lookup!, namespace, spec) });
    } catch (err) {
      deps.log?.error({ canary: label(canary), provider: name, error: errorText(err) }, 'alert provider error');
    }
  }
  return out;
}

function parseProvider(raw: unknown): AlertProviderSpec {
  const r = AlertProviderSchema.safeParse(raw);
  if (!r.success) throw new Error(`invalid AlertProvider: ${r.error.issues.map((i) => i.message).join('; ')}`);
  return r.data.spec;
}

/** Address, token and proxy: the Secret's keys win over the spec (Flagger reads `address` and `apiToken`). */
export async function destination(
  lookup: AlertLookup,
  namespace: string,
  spec: AlertProviderSpec,
): Promise<Destination> {
  let url = spec.address;
  let token: string | undefined;
  let proxy = spec.proxy || undefined;
  if (spec.secretRef) {
    const data = await lookup.secret(namespace, spec.secretRef.name);
    url = data.address || url;
    token = data.token || data.apiToken || undefined;
    proxy = data.proxy || proxy;
  }
  if (!url && token && spec.type === 'slack') url = SLACK_API_POST_MESSAGE_URL;
  if (!url) throw new Error('no address: set spec.address or an `address` key in the Secret');
  if (!/^https?:\/\//i.test(url)) throw new Error('address must be an http(s) URL');
  return {
    url,
    token,
    proxy,
    username: spec.username || DEFAULT_USERNAME,
    channel: spec.channel || DEFAULT_CHANNEL,
  };
}

async function metadataFields(deps: AlertDeps, lookup: AlertLookup, ref: CanaryRef): Promise<Field[]> {
  try {
    return alertMetadata(canaryFacts(await lookup.canary(ref), ref.namespace));
  } catch (err) {
    // The message matters more than its decoration: send it without fields.
    deps.log?.warn({ canary: label(ref), error: errorText(err) }, 'alert metadata unavailable');
    return [];
  }
}

export function canaryFacts(raw: unknown, namespace: string): CanaryFacts {
  const c = CanarySchema.parse(raw);
  const a = c.spec.analysis;
  return {
    namespace,
    targetRef: c.spec.targetRef,
    threshold: a.threshold,
    progressDeadlineSeconds: c.spec.progressDeadlineSeconds,
    stepWeight: a.stepWeight,
    stepWeights: a.stepWeights,
    maxWeight: a.maxWeight,
    match: a.match.length > 0,
    iterations: a.iterations,
  };
}

export function kubeLookup(kube: KubeConfig): AlertLookup {
  const custom = kube.makeApiClient(CustomObjectsApi);
  const core = kube.makeApiClient(CoreV1Api);
  const get = (namespace: string, plural: string, name: string) =>
    custom.getNamespacedCustomObject({ group: 'flagger.app', version: 'v1beta1', namespace, plural, name });
  return {
    canary: (ref) => get(ref.namespace, 'canaries', ref.name),
    alertProvider: (namespace, name) => get(namespace, 'alertproviders', name),
    async secret(namespace, name) {
      const s = await core.readNamespacedSecret({ namespace, name });
      const out: Record<string, string> = { ...s.stringData };
      for (const [k, v] of Object.entries(s.data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
      return out;
    },
  };
}

function label(c: CanaryRef): string {
  return `${c.name}.${c.namespace}`;
}

/** Error text without bodies of API responses, which could echo Secret data. */
function errorText(err: unknown): string {
  const e = err as { code?: number; message?: string };
  if (typeof e.code === 'number') return `Kubernetes API error ${e.code}`;
  return e.message ?? String(err);
}
