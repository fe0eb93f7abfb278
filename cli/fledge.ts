#!/usr/bin/env node
// `fledge` (also installed as `kubectl-fledge`, so `kubectl fledge get` works): look at and steer canary
// rollouts. Exit codes: 0 success, 1 failure (unknown canary, refused control, Temporal unreachable, a rollout
// that ended Failed for `status`), 2 usage error, 130 interrupted.
import { Command, CommanderError, Option } from 'commander';
import { isEntrypoint } from '../worker/entry.ts';
import { CONTROL_NAMES, type ControlName } from '../workflows/controls.ts';
import { control, describe, get, history, status, type Io } from './commands.ts';
import { freeze, unfreeze } from './freeze.ts';
import { groupGet } from './group.ts';
import { CliError, createContext, message, type CliContext, type GlobalOptions } from './context.ts';

const CONTROL_HELP: Record<ControlName, string> = {
  promote: 'promote now: skip the remaining analysis steps and gates',
  abort: 'abort the rollout: route all traffic to the primary and mark it Failed',
  pause: 'pause the rollout at its current weight (analysis stops, nothing rolls back)',
  resume: 'resume a paused rollout',
  retry: 'retry a Failed rollout of the same revision',
};

/** Builds the program; `run` receives each action so errors and exit codes stay in one place. */
export function buildProgram(
  run: (action: (ctx: CliContext) => Promise<number>) => Promise<void>,
  io?: Pick<Io, 'out' | 'err'>,
): Command {
  const program = new Command('fledge');
  // Before any subcommand exists: subcommands copy these settings when they are created.
  if (io) program.configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });
  program
    .description('Canary rollouts on Temporal: list, watch, promote, abort, history (Flagger-compatible)')
    .option('-n, --namespace <ns>', 'Kubernetes namespace of the canary (default: kubeconfig context, else default)')
    .option('--address <host:port>', 'Temporal frontend [env TEMPORAL_ADDRESS]')
    .option('--temporal-namespace <ns>', 'Temporal namespace [env TEMPORAL_NAMESPACE]')
    .option('--profile <name>', 'profile of the Temporal config file [env TEMPORAL_PROFILE]')
    .option('--kubeconfig <file>', 'kubeconfig file [env KUBECONFIG]')
    .option('--context <name>', 'kubeconfig context')
    .option('--connect-timeout <seconds>', 'how long to wait for Temporal', '5')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  const getCmd = (name: string, desc: string) =>
    program
      .command(name)
      .description(desc)
      .argument('[canary]', 'NAME or NAMESPACE/NAME')
      .option('-A, --all-namespaces', 'canaries of every namespace')
      .addOption(new Option('-o, --output <format>', 'output format').choices(['wide', 'json']))
      .option('-w, --watch', 'live view: weights, step, gates and metric values, refreshed')
      .option('--interval <seconds>', 'refresh interval of --watch', '2')
      .addOption(new Option('--count <n>', 'stop --watch after n refreshes').hideHelp())
      .action((canary: string | undefined, o) => run((ctx) => get(ctx, ioOf(), canary, o)));
  getCmd('get', 'show canaries like `kubectl get canaries`, plus step and waiting-for');
  getCmd('list', 'same as get');

  program
    .command('status')
    .description('wait until the rollout is Succeeded (exit 0) or Failed (exit 1); for CI')
    .argument('<canary>', 'NAME or NAMESPACE/NAME')
    .option('--timeout <seconds>', 'give up after this long (exit 1)')
    .option('--interval <seconds>', 'poll interval', '2')
    .option(
      '--since <time|duration>',
      'ignore outcomes of rollouts started before this (time, or a duration ago like 2m); for CI after `kubectl set image`',
    )
    .action((canary: string, o) => run((ctx) => status(ctx, ioOf(), canary, o)));

  for (const name of CONTROL_NAMES)
    program
      .command(name)
      .description(CONTROL_HELP[name])
      .argument('<canary>', 'NAME or NAMESPACE/NAME')
      .option('--reason <text>', 'why (recorded in the rollout history)')
      .option('--by <who>', 'who (default: FLEDGE_USER or user@host)')
      .option('--signal', 'send a signal instead of an update (no validation, no answer)')
      .option('--timeout <seconds>', 'how long to wait for the workflow to answer', '30')
      .action((canary: string, o) => run((ctx) => control(ctx, ioOf(), name, canary, o)));

  program
    .command('freeze')
    .description(
      'declare a delivery freeze: no rollout starts (and, with --policy rollback, none goes on) until it ends',
    )
    .requiredOption('--until <time|duration>', 'end of the freeze: a time (RFC 3339) or a duration from now (2h)')
    .requiredOption('--reason <text>', 'why (shown in status messages and events)')
    .addOption(
      new Option('--policy <policy>', 'rollouts under way: hold at their step, or roll back')
        .choices(['hold', 'rollback'])
        .default('hold'),
    )
    .option('--selector <k=v,...>', 'only canaries with these labels (default: every canary of the namespace)')
    .option('--name <policy>', 'DeliveryPolicy that holds the freeze', 'fledge-freeze')
    .option('--by <who>', 'who (default: FLEDGE_USER or user@host)')
    .action((o) => run((ctx) => freeze(ctx, ioOf(), o)));

  program
    .command('unfreeze')
    .description('end the delivery freezes in force (held rollouts start at once)')
    .option('--name <policy>', 'DeliveryPolicy that holds the freeze', 'fledge-freeze')
    .action((o) => run((ctx) => unfreeze(ctx, ioOf(), o)));

  program
    .command('history')
    .description('past rollouts of a canary: revision, result, duration, who promoted')
    .argument('<canary>', 'NAME or NAMESPACE/NAME')
    .option('--limit <n>', 'how many runs, newest first', '20')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['json']))
    .action((canary: string, o) => run((ctx) => history(ctx, ioOf(), canary, o)));

  program
    .command('describe')
    .description("one rollout's steps, measurements and controls")
    .argument('<canary>', 'NAME or NAMESPACE/NAME')
    .option('--run <runId>', 'a past run (from `fledge history`); default the latest')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['json']))
    .action((canary: string, o) => run((ctx) => describe(ctx, ioOf(), canary, o)));

  program
    .command('group')
    .description('release groups (fledge.dev ReleaseGroup): members rolled out in dependency order')
    .command('get')
    .description('members as a dependency tree with their phase in the current or last group run')
    .argument('<group>', 'NAME or NAMESPACE/NAME')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['json']))
    .option('-w, --watch', 'live view, refreshed')
    .option('--interval <seconds>', 'refresh interval of --watch', '2')
    .addOption(new Option('--count <n>', 'stop --watch after n refreshes').hideHelp())
    .action((group: string, o) => run((ctx) => groupGet(ctx, ioOf(), group, o)));

  return program;
}

let currentIo: Io | undefined;
function ioOf(): Io {
  if (!currentIo) throw new Error('io not set');
  return currentIo;
}

/** Runs the CLI with argv (without node and script); returns the exit code. Never calls process.exit. */
export async function runCli(argv: string[], io: Io, env: Record<string, string | undefined>): Promise<number> {
  currentIo = io;
  let code = 0;
  const program = buildProgram(async (action) => {
    const ctx = createContext(program.opts<GlobalOptions>(), env);
    try {
      code = await action(ctx);
    } finally {
      await ctx.close();
    }
  }, io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof CliError) {
      io.err(`fledge: ${err.message}\n`);
      return err.code;
    }
    io.err(`fledge: ${message(err)}\n`);
    return 1;
  }
}

export function processIo(): Io {
  const interrupted = new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  return {
    out: (s) => void process.stdout.write(s),
    err: (s) => void process.stderr.write(s),
    isTTY: Boolean(process.stdout.isTTY),
    interrupted,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  };
}

if (isEntrypoint(import.meta.url)) {
  const code = await runCli(process.argv.slice(2), processIo(), process.env);
  process.exit(code);
}
