// The sandbox's env file and the CLI wrappers it puts on PATH: `fledge` and `kubectl-fledge` as small scripts in
// a bin dir (not shell aliases), so they work in scripts, `bash -c` and kubectl's plugin discovery too.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface SandboxEnv {
  /** Directory of the env file; the wrappers go to `<stateDir>/bin`. */
  stateDir: string;
  kubeconfig: string;
  temporalAddress: string;
  temporalNamespace: string;
  /** Absolute paths of node, the fledge CLI entry (cli/fledge.ts), temporal and kubectl. */
  node: string;
  fledgeCli: string;
  temporalBin: string;
  kubectl: string;
}

/** A word quoted for POSIX sh. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'"'"'`)}'`;
}

/** The wrapper script of the CLI: runs it with the sandbox's node, arguments passed through. */
export function cliWrapper(node: string, fledgeCli: string): string {
  return `#!/bin/sh\nexec ${shellQuote(node)} ${shellQuote(fledgeCli)} "$@"\n`;
}

/** The env file's text: KUBECONFIG, TEMPORAL_*, and PATH with the wrappers' bin dir first. */
export function envFileText(e: SandboxEnv): string {
  const path = [join(e.stateDir, 'bin'), dirname(e.node), dirname(e.temporalBin), dirname(e.kubectl)];
  return [
    '# source this file: kubectl, fledge, kubectl-fledge and temporal against the running sandbox',
    `export KUBECONFIG=${shellQuote(e.kubeconfig)}`,
    `export TEMPORAL_ADDRESS=${e.temporalAddress}`,
    `export TEMPORAL_NAMESPACE=${e.temporalNamespace}`,
    `export PATH=${path.map(shellQuote).join(':')}:$PATH`,
    '',
  ].join('\n');
}

/** Writes `<stateDir>/env.sh` and the `fledge` / `kubectl-fledge` wrappers in `<stateDir>/bin`; returns the env file. */
export function writeSandboxEnv(e: SandboxEnv): string {
  const bin = join(e.stateDir, 'bin');
  mkdirSync(bin, { recursive: true });
  for (const name of ['fledge', 'kubectl-fledge']) {
    const file = join(bin, name);
    writeFileSync(file, cliWrapper(e.node, e.fledgeCli));
    chmodSync(file, 0o755);
  }
  const envFile = join(e.stateDir, 'env.sh');
  writeFileSync(envFile, envFileText(e));
  return envFile;
}
