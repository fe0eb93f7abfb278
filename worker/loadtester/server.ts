// Flagger-loadtester's HTTP API: `/` runs webhook tasks, `/gate/*` and `/rollback/*` are manual gates,
// `/healthz` and `/metrics` are for Kubernetes and Prometheus. Request and response shapes are Flagger's, so
// Canaries written for flagger-loadtester work unchanged.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from 'pino';
import { CommandRefused, plan, runScript } from './exec.ts';
import type { GateStore } from './gates.ts';
import { ShellSyntaxError } from './shell.ts';

export interface LoadTesterOptions {
  /** Deadline of one task (Flagger's -timeout, default 1h). */
  timeoutMs: number;
  /** Only payloads whose namespace matches may run tasks or touch gates (Flagger's -namespace-regexp). */
  namespaceRegexp?: RegExp;
  gates: GateStore;
  /** Programs tasks may spawn besides the built-ins (hey, echo, true, false). */
  allow: ReadonlySet<string>;
  enableKubectl?: boolean;
  enableHelm?: boolean;
  /** Log the output of commands (may contain whatever the command prints). */
  logCmdOutput?: boolean;
  log: Logger;
  /** Environment of spawned programs (default: the process's); commands never expand it. */
  env?: NodeJS.ProcessEnv;
  /** Names of variables of `env` that commands may expand as `$NAME` (`--expose-env`); default none. */
  exposeEnv?: readonly string[];
}

interface Payload {
  name: string;
  namespace: string;
  phase?: string;
  checksum?: string;
  metadata?: Record<string, string>;
}

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

const MAX_BODY = 1 << 20;

export interface LoadTester {
  server: Server;
  registry: Registry;
  /** Async (`cmd`) tasks still running, for tests and graceful shutdown. */
  running(): number;
}

export function createLoadTester(opts: LoadTesterOptions): LoadTester {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const tasks = new Counter({
    name: 'fledge_loadtester_tasks_total',
    help: 'Webhook tasks by type and result (ok, failed, refused, skipped)',
    labelNames: ['type', 'result'],
    registers: [registry],
  });
  const gateChecks = new Counter({
    name: 'fledge_loadtester_gate_checks_total',
    help: 'Gate and rollback checks by gate kind and answer',
    labelNames: ['gate', 'approved'],
    registers: [registry],
  });
  const running = new Map<string, Promise<void>>();
  const ctx: Ctx = { opts, registry, tasks, gateChecks, running };

  const server = createServer((req, res) => {
    route(ctx, req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) opts.log.error({ err: String(err), path: req.url }, 'request failed');
      reply(res, status, err instanceof Error ? err.message : String(err));
    });
  });
  return { server, registry, running: () => running.size };
}

interface Ctx {
  opts: LoadTesterOptions;
  registry: Registry;
  tasks: Counter<'type' | 'result'>;
  gateChecks: Counter<'gate' | 'approved'>;
  running: Map<string, Promise<void>>;
}

async function route(ctx: Ctx, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://loadtester').pathname;
  switch (path) {
    case '/healthz':
      return reply(res, 200, 'OK');
    case '/metrics': {
      const body = await ctx.registry.metrics();
      res.writeHead(200, { 'content-type': ctx.registry.contentType });
      res.end(body);
      return;
    }
    // Static gates, for Canaries that want a fixed answer.
    case '/gate/approve':
      return reply(res, 200, 'OK');
    case '/gate/halt':
      return reply(res, 403, 'Forbidden');
    case '/gate/check':
    case '/gate/open':
    case '/gate/close':
    case '/rollback/check':
    case '/rollback/open':
    case '/rollback/close':
      return gate(ctx, path, await payloadOf(ctx, req), res);
    case '/':
      return task(ctx, await payloadOf(ctx, req), res);
    default:
      return reply(res, 404, 'Not Found');
  }
}

async function gate(ctx: Ctx, path: string, p: Payload, res: ServerResponse): Promise<void> {
  const [, kind, action] = path.split('/') as [string, 'gate' | 'rollback', 'check' | 'open' | 'close'];
  const key = kind === 'rollback' ? `rollback.${p.name}.${p.namespace}` : `${p.name}.${p.namespace}`;
  if (action === 'check') {
    const approved = await ctx.opts.gates.isOpen(key);
    ctx.gateChecks.inc({ gate: kind, approved: String(approved) });
    ctx.opts.log.info({ gate: key, approved }, `${kind} check`);
    return approved ? reply(res, 200, 'Approved') : reply(res, 403, 'Forbidden');
  }
  await (action === 'open' ? ctx.opts.gates.open(key) : ctx.opts.gates.close(key));
  ctx.opts.log.info({ gate: key, store: ctx.opts.gates.kind }, `${kind} ${action === 'open' ? 'opened' : 'closed'}`);
  return reply(res, 202, '');
}

async function task(ctx: Ctx, p: Payload, res: ServerResponse): Promise<void> {
  const metadata = p.metadata ?? {};
  if (Object.keys(metadata).length === 0) throw new HttpError(400, 'metadata not found in payload');
  const type = metadata.type || 'cmd';
  const cmd = metadata.cmd;
  if (!cmd) throw new HttpError(400, 'cmd not found in metadata');
  const canary = `${p.name}.${p.namespace}`;
  const returnOutput = /^(1|t|true)$/i.test(metadata.returnCmdOutput ?? '');
  switch (type) {
    case 'cmd':
      return startAsync(ctx, canary, cmd, res);
    case 'bash':
      return runSync(ctx, canary, type, cmd, ctx.opts.allow, returnOutput, res);
    case 'kubectl':
      requireEnabled(ctx.opts.enableKubectl, type, '--enable-kubectl');
      return runSync(ctx, canary, type, `kubectl ${cmd}`, new Set(['kubectl']), returnOutput, res);
    case 'helm':
    case 'helmv3':
      requireEnabled(ctx.opts.enableHelm, type, '--enable-helm');
      return runSync(ctx, canary, type, `helm ${cmd}`, new Set(['helm']), returnOutput, res);
    default:
      throw new HttpError(400, `unknown task type ${type}`);
  }
}

function requireEnabled(enabled: boolean | undefined, type: string, flag: string): void {
  if (!enabled) throw new HttpError(403, `task type ${type} is disabled; start the load tester with ${flag}`);
}

/** The variables commands may expand: only the names the operator exposed, with their values from `env`. */
function exposedVars(opts: LoadTesterOptions): Record<string, string | undefined> {
  const env = opts.env ?? process.env;
  return Object.fromEntries((opts.exposeEnv ?? []).map((name) => [name, env[name]]));
}

/** Parse and check before answering, so a refused command is a 4xx now, not a silent failure later. */
function checked(ctx: Ctx, type: string, script: string, allow: ReadonlySet<string>): void {
  try {
    plan(script, allow, exposedVars(ctx.opts));
  } catch (err) {
    if (err instanceof CommandRefused || err instanceof ShellSyntaxError) {
      ctx.tasks.inc({ type, result: 'refused' });
      ctx.opts.log.warn({ type, reason: err.message }, 'command refused');
      throw new HttpError(err instanceof CommandRefused ? 403 : 400, err.message);
    }
    throw err;
  }
}

async function runSync(
  ctx: Ctx,
  canary: string,
  type: string,
  script: string,
  allow: ReadonlySet<string>,
  returnOutput: boolean,
  res: ServerResponse,
): Promise<void> {
  checked(ctx, type, script, allow);
  ctx.opts.log.info({ canary, type }, `${type} command starting`);
  const r = await runScript(script, {
    allow,
    env: ctx.opts.env,
    vars: exposedVars(ctx.opts),
    signal: AbortSignal.timeout(ctx.opts.timeoutMs),
  });
  ctx.tasks.inc({ type, result: r.ok ? 'ok' : 'failed' });
  if (ctx.opts.logCmdOutput) ctx.opts.log.info({ canary, output: r.output }, 'command output');
  if (!r.ok) {
    ctx.opts.log.warn({ canary, type, code: r.code }, 'command failed');
    return reply(res, 500, `command ${script} failed: ${r.output.trim()}: exit status ${r.code}`);
  }
  ctx.opts.log.info({ canary, type }, 'command finished');
  return reply(res, 200, returnOutput ? r.output : '');
}

/** Flagger's `cmd` tasks run in the background; the same command for the same canary runs once at a time. */
function startAsync(ctx: Ctx, canary: string, cmd: string, res: ServerResponse): void {
  checked(ctx, 'cmd', cmd, ctx.opts.allow);
  const hash = createHash('sha256').update(canary).update('\0').update(cmd).digest('hex');
  if (ctx.running.has(hash)) {
    ctx.tasks.inc({ type: 'cmd', result: 'skipped' });
    ctx.opts.log.info({ canary }, 'command skipped, it is already running');
    return reply(res, 202, '');
  }
  const job = runScript(cmd, {
    allow: ctx.opts.allow,
    env: ctx.opts.env,
    vars: exposedVars(ctx.opts),
    signal: AbortSignal.timeout(ctx.opts.timeoutMs),
  })
    .then((r) => {
      ctx.tasks.inc({ type: 'cmd', result: r.ok ? 'ok' : 'failed' });
      if (ctx.opts.logCmdOutput || !r.ok) ctx.opts.log.info({ canary, ok: r.ok, output: r.output }, 'command finished');
    })
    .catch((err: unknown) => ctx.opts.log.error({ canary, err: String(err) }, 'command crashed'))
    .finally(() => ctx.running.delete(hash));
  ctx.running.set(hash, job);
  ctx.opts.log.info({ canary }, 'command started');
  reply(res, 202, '');
}

async function payloadOf(ctx: Ctx, req: IncomingMessage): Promise<Payload> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new HttpError(413, 'request body too large');
    chunks.push(c);
  }
  let p: unknown;
  try {
    p = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'decoding the request body failed');
  }
  if (!isPayload(p)) throw new HttpError(400, 'decoding the request body failed: want {name, namespace, metadata}');
  if (ctx.opts.namespaceRegexp && !ctx.opts.namespaceRegexp.test(p.namespace)) {
    throw new HttpError(401, `namespace ${p.namespace} is not allowed`);
  }
  return p;
}

function isPayload(p: unknown): p is Payload {
  if (typeof p !== 'object' || p === null) return false;
  const o = p as Record<string, unknown>;
  const meta = o.metadata;
  const metaOk =
    meta === undefined ||
    meta === null ||
    (typeof meta === 'object' && Object.values(meta as object).every((v) => typeof v === 'string'));
  return typeof o.name === 'string' && typeof o.namespace === 'string' && metaOk;
}

function reply(res: ServerResponse, status: number, body: string): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(body);
}
