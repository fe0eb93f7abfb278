// Runs a parsed command line without a shell: every command is checked against the allow-list before anything
// starts, pipelines are wired stdout → stdin, and `hey`, `echo`, `true`, `false` are built in. A refused or
// unparsable command never runs any part of the line.
import { spawn } from 'node:child_process';
import { PassThrough, Readable, type Writable } from 'node:stream';
import { formatReport, parseHeyArgs, runHey } from './hey.ts';
import { inlineScript, parseScript, type ExposedVars, type ListItem, type SimpleCommand } from './shell.ts';

export class CommandRefused extends Error {
  override name = 'CommandRefused';
}

export interface ExecOptions {
  /** Program names (or exact paths) that may be spawned. Built-ins are always allowed. */
  allow: ReadonlySet<string>;
  /** Environment of spawned programs (default: the load tester's). Never used to expand `$VAR` in the command. */
  env?: NodeJS.ProcessEnv;
  /** The only variables `$NAME`/`${NAME}` may expand (the operator's `--expose-env`); default none. */
  vars?: ExposedVars;
  signal?: AbortSignal;
}

export interface ExecResult {
  ok: boolean;
  /** Exit status of the last pipeline that ran. */
  code: number;
  /** stdout of each pipeline's last command and stderr of every command, interleaved as produced. */
  output: string;
}

const BUILTINS = new Set(['hey', 'echo', 'true', 'false']);
const MAX_OUTPUT = 1 << 20;

/** A script after parsing and allow-list checks, with `bash -c` scripts expanded inline. */
type Plan = { op: ListItem['op']; steps: Step[] }[];
type Step = { kind: 'command'; argv: string[] } | { kind: 'script'; plan: Plan };

/**
 * Parses and checks a command line, expanding only the exposed `vars`; throws ShellSyntaxError (syntax, or a
 * variable that is not exposed) or CommandRefused (a program outside the allow-list).
 */
export function plan(script: string, allow: ReadonlySet<string>, vars: ExposedVars = {}, depth = 0): Plan {
  if (depth > 3) throw new CommandRefused('too many nested shells');
  return parseScript(script, vars).map((item) => ({
    op: item.op,
    steps: item.pipeline.map((cmd) => step(cmd, allow, vars, depth)),
  }));
}

function step(cmd: SimpleCommand, allow: ReadonlySet<string>, vars: ExposedVars, depth: number): Step {
  const inner = inlineScript(cmd.argv);
  if (inner !== undefined) return { kind: 'script', plan: plan(inner, allow, vars, depth + 1) };
  const name = cmd.argv[0]!;
  if (BUILTINS.has(name)) {
    if (name === 'hey') parseHeyArgs(cmd.argv.slice(1));
    return { kind: 'command', argv: cmd.argv };
  }
  if (!allow.has(name)) {
    const hint = name.includes('/') ? '' : ` (start the load tester with --allow-command ${name} to permit it)`;
    throw new CommandRefused(`command ${name} is not allowed${hint}`);
  }
  return { kind: 'command', argv: cmd.argv };
}

/** Parses, checks and runs `script`. */
export async function runScript(script: string, opts: ExecOptions): Promise<ExecResult> {
  const p = plan(script, opts.allow, opts.vars ?? {});
  const out = new Output();
  const code = await runPlan(p, opts, Readable.from([]), out);
  return { ok: code === 0, code, output: out.text() };
}

async function runPlan(p: Plan, opts: ExecOptions, stdin: Readable, out: Output): Promise<number> {
  let code = 0;
  for (const item of p) {
    if (opts.signal?.aborted) return 124;
    if (item.op === '&&' && code !== 0) continue;
    if (item.op === '||' && code === 0) continue;
    code = await runPipeline(item.steps, opts, stdin, out);
  }
  return code;
}

async function runPipeline(steps: Step[], opts: ExecOptions, stdin: Readable, out: Output): Promise<number> {
  let input: Readable = stdin;
  const codes: Promise<number>[] = [];
  steps.forEach((s, i) => {
    const last = i === steps.length - 1;
    const pipe = last ? undefined : new PassThrough();
    codes.push(runStep(s, opts, input, pipe ?? out.stream(), out.stream()).finally(() => pipe?.end()));
    if (pipe) input = pipe;
  });
  const all = await Promise.all(codes);
  return all.at(-1)!;
}

async function runStep(
  s: Step,
  opts: ExecOptions,
  stdin: Readable,
  stdout: Writable,
  stderr: Writable,
): Promise<number> {
  if (s.kind === 'script') return runPlan(s.plan, opts, stdin, new Output(stdout));
  if (BUILTINS.has(s.argv[0]!)) return builtin(s.argv, opts, stdin, stdout);
  return spawnCommand(s.argv, opts, stdin, stdout, stderr);
}

async function builtin(argv: string[], opts: ExecOptions, stdin: Readable, stdout: Writable): Promise<number> {
  stdin.resume();
  switch (argv[0]) {
    case 'true':
      return 0;
    case 'false':
      return 1;
    case 'echo': {
      const args = argv.slice(1);
      const noNewline = args[0] === '-n';
      stdout.write(args.slice(noNewline ? 1 : 0).join(' ') + (noNewline ? '' : '\n'));
      return 0;
    }
    default: {
      const report = await runHey(parseHeyArgs(argv.slice(1)), opts.signal);
      stdout.write(formatReport(report));
      return opts.signal?.aborted ? 124 : 0;
    }
  }
}

function spawnCommand(
  argv: string[],
  opts: ExecOptions,
  stdin: Readable,
  stdout: Writable,
  stderr: Writable,
): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      signal: opts.signal,
      killSignal: 'SIGKILL',
    });
    stdin.pipe(child.stdin).on('error', () => undefined);
    child.stdin.on('error', () => undefined);
    child.stdout.on('data', (c: Buffer) => stdout.write(c));
    child.stderr.on('data', (c: Buffer) => stderr.write(c));
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') stderr.write(`${argv[0]}: command not found\n`);
      else if (err.name !== 'AbortError') stderr.write(`${argv[0]}: ${err.message}\n`);
      resolve(err.code === 'ENOENT' ? 127 : 124);
    });
    child.on('close', (code, sig) => resolve(code ?? (sig ? 128 + 9 : 1)));
  });
}

/** Collects output up to 1 MiB; the rest is dropped so a chatty command cannot exhaust memory. */
class Output {
  private chunks: Buffer[] = [];
  private size = 0;
  private readonly sink: Writable;
  constructor(forward?: Writable) {
    this.sink =
      forward ??
      new PassThrough().on('data', (c: Buffer) => {
        if (this.size < MAX_OUTPUT) this.chunks.push(c.subarray(0, MAX_OUTPUT - this.size));
        this.size += c.length;
      });
  }
  stream(): Writable {
    return this.sink;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}
