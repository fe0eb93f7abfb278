// A small, strict parser for the shell commands Flagger users put in loadtester webhooks. It understands words,
// quotes, escapes, $VAR expansion of the variables the operator exposed (never the load tester's own environment),
// pipelines and `;` / `&&` / `||` lists — enough for
// `curl -sd 'anon' http://podinfo/token | grep token` — and refuses everything that could run something the
// allow-list has not seen: command substitution, redirections, background jobs, subshells. Nothing here runs a
// shell; the executor spawns each parsed command itself.

export interface SimpleCommand {
  argv: string[];
}

/** Commands joined by `|`; the status is the last command's (bash without pipefail). */
export type Pipeline = SimpleCommand[];

export interface ListItem {
  /** How this pipeline is joined to the previous one (`;` for the first). */
  op: ';' | '&&' | '||';
  pipeline: Pipeline;
}

export class ShellSyntaxError extends Error {
  override name = 'ShellSyntaxError';
}

type Token = { kind: 'word'; value: string } | { kind: 'op'; value: '|' | '&&' | '||' | ';' };

const FORBIDDEN: Record<string, string> = {
  '`': 'command substitution',
  '>': 'redirection',
  '<': 'redirection',
  '(': 'subshells',
  ')': 'subshells',
  '&': 'background jobs',
};

/**
 * Variables a command line may expand: only those the operator exposed (`--expose-env NAME`), never the load
 * tester's own environment, which holds its secrets and would otherwise be read back by `echo $SECRET` into the
 * webhook answer, Kubernetes Events and the rollout history.
 */
export type ExposedVars = Readonly<Record<string, string | undefined>>;

/**
 * Splits a command line into words and operators, expanding `$NAME`/`${NAME}` from `vars` only.
 * Throws ShellSyntaxError for refused syntax and for a variable that is not exposed.
 */
export function tokenize(src: string, vars: ExposedVars = {}): Token[] {
  const tokens: Token[] = [];
  let word: string | undefined;
  const flush = () => {
    if (word !== undefined) tokens.push({ kind: 'word', value: word });
    word = undefined;
  };
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t') {
      flush();
      i++;
    } else if (c === '\n' || c === ';') {
      flush();
      tokens.push({ kind: 'op', value: ';' });
      i++;
    } else if (c === '#' && word === undefined) {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (c === '|' || c === '&') {
      flush();
      if (src[i + 1] === c) {
        tokens.push({ kind: 'op', value: c === '|' ? '||' : '&&' });
        i += 2;
      } else if (c === '|') {
        tokens.push({ kind: 'op', value: '|' });
        i++;
      } else throw new ShellSyntaxError(`unsupported shell syntax & (${FORBIDDEN[c]})`);
    } else if (c === '>' && word === '2' && src.startsWith('>&1', i)) {
      // stderr is merged into the output anyway, so `2>&1` is accepted and means nothing more.
      word = undefined;
      i += 3;
    } else if (c in FORBIDDEN) {
      throw new ShellSyntaxError(`unsupported shell syntax ${c} (${FORBIDDEN[c]})`);
    } else if (c === "'") {
      const end = src.indexOf("'", i + 1);
      if (end < 0) throw new ShellSyntaxError('unterminated single quote');
      word = (word ?? '') + src.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      const [text, next] = doubleQuoted(src, i + 1, vars);
      word = (word ?? '') + text;
      i = next;
    } else if (c === '\\') {
      if (i + 1 >= src.length) throw new ShellSyntaxError('trailing backslash');
      // A backslash-newline continues the line.
      if (src[i + 1] !== '\n') word = (word ?? '') + src[i + 1];
      i += 2;
    } else if (c === '$') {
      const [text, next] = variable(src, i, vars);
      word = (word ?? '') + text;
      i = next;
    } else {
      word = (word ?? '') + c;
      i++;
    }
  }
  flush();
  return tokens;
}

function doubleQuoted(src: string, start: number, env: ExposedVars): [string, number] {
  let out = '';
  let i = start;
  while (i < src.length) {
    const c = src[i]!;
    if (c === '"') return [out, i + 1];
    if (c === '`') throw new ShellSyntaxError('unsupported shell syntax ` (command substitution)');
    if (c === '\\' && i + 1 < src.length && '"\\$`\n'.includes(src[i + 1]!)) {
      if (src[i + 1] !== '\n') out += src[i + 1];
      i += 2;
    } else if (c === '$') {
      const [text, next] = variable(src, i, env);
      out += text;
      i = next;
    } else {
      out += c;
      i++;
    }
  }
  throw new ShellSyntaxError('unterminated double quote');
}

/**
 * `$NAME` or `${NAME}` of an exposed variable; an unexposed name is refused (not expanded to "" as bash would, so a
 * command that needs it fails loudly instead of running with an empty argument). Anything else after `$` (`$(`,
 * `$((`, `${x:-y}`) is refused too.
 */
function variable(src: string, at: number, env: ExposedVars): [string, number] {
  const rest = src.slice(at + 1);
  const braced = /^\{([A-Za-z_][A-Za-z0-9_]*)\}/.exec(rest);
  const plain = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest);
  const name = braced?.[1] ?? plain?.[0];
  if (name !== undefined) {
    if (!Object.hasOwn(env, name)) {
      throw new ShellSyntaxError(
        `$${name}: the load tester does not expand its own environment (an operator may expose a variable with --expose-env ${name})`,
      );
    }
    return [env[name] ?? '', at + 1 + (braced ?? plain)![0].length];
  }
  if (rest.startsWith('(')) throw new ShellSyntaxError('unsupported shell syntax $( (command substitution)');
  if (rest.startsWith('{')) throw new ShellSyntaxError('only plain ${NAME} expansions are supported');
  // A lone `$` (end of word, before a space or quote) is literal, as in bash.
  if (rest === '' || /^[\s"'/:.,=-]/.test(rest)) return ['$', at + 1];
  throw new ShellSyntaxError(`unsupported expansion $${rest[0]}`);
}

/** Parses a command line into a list of pipelines, expanding only the `vars` exposed (see `tokenize`). */
export function parseScript(src: string, vars: ExposedVars = {}): ListItem[] {
  const items: ListItem[] = [];
  let op: ListItem['op'] = ';';
  let pipeline: Pipeline = [];
  let argv: string[] = [];
  const endCommand = (what: string) => {
    if (argv.length === 0) throw new ShellSyntaxError(`syntax error near ${what}`);
    pipeline.push({ argv });
    argv = [];
  };
  for (const t of tokenize(src, vars)) {
    if (t.kind === 'word') argv.push(t.value);
    else if (t.value === '|') endCommand('|');
    else {
      // `;` may end a line with nothing after it, or separate nothing at all.
      if (argv.length === 0 && pipeline.length === 0 && t.value === ';') continue;
      endCommand(t.value);
      items.push({ op, pipeline });
      pipeline = [];
      op = t.value;
    }
  }
  if (argv.length > 0) endCommand('end');
  else if (pipeline.length > 0 || op !== ';') throw new ShellSyntaxError('syntax error: unexpected end of command');
  if (pipeline.length > 0) items.push({ op, pipeline });
  if (items.length === 0) throw new ShellSyntaxError('empty command');
  return items;
}

/** `bash -c SCRIPT` / `sh -c SCRIPT`: the script to run inline (so its commands are checked too), else undefined. */
export function inlineScript(argv: string[]): string | undefined {
  const shells = ['bash', 'sh', '/bin/bash', '/bin/sh', '/usr/bin/bash', '/usr/bin/env bash'];
  if (!shells.includes(argv[0] ?? '')) return undefined;
  // Accept the common flag spellings: -c, -ec, -xc, -e -c ….
  let i = 1;
  while (i < argv.length && /^-[a-z]+$/.test(argv[i]!) && !argv[i]!.includes('c')) i++;
  if (argv[i] && /^-[a-z]*c[a-z]*$/.test(argv[i]!) && argv[i + 1] !== undefined) return argv[i + 1];
  return undefined;
}
