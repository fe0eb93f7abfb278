// One bundled build of the workflows, cached on disk and keyed by a hash of the sources it is built from
// (workflows/ and api/), so every test file and every worker child process reuses it instead of re-bundling.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { REPO_ROOT } from './proc.ts';

const SOURCE_DIRS = ['workflows', 'api'];
const CACHE_DIR = join(REPO_ROOT, '.fledge', 'cache');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (entry.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** Hash of the bundle's inputs: source paths and contents, plus the SDK version (it is bundled too). */
export function workflowSourceHash(): string {
  const hash = createHash('sha256');
  for (const dir of SOURCE_DIRS) {
    for (const file of sourceFiles(join(REPO_ROOT, dir))) {
      hash.update(file.slice(REPO_ROOT.length));
      hash.update(readFileSync(file));
    }
  }
  const sdk = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules/@temporalio/workflow/package.json'), 'utf8'));
  hash.update(String(sdk.version));
  return hash.digest('hex').slice(0, 16);
}

/** Path of the bundled workflow code for the current sources, building it once if needed. */
export async function workflowBundlePath(): Promise<string> {
  const path = join(CACHE_DIR, `workflow-bundle-${workflowSourceHash()}.js`);
  if (existsSync(path)) return path;
  const { code } = await bundleWorkflowCode({
    workflowsPath: join(REPO_ROOT, 'workflows', 'index.ts'),
    logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} } as never,
  });
  mkdirSync(CACHE_DIR, { recursive: true });
  // Write then rename: test files bundling at the same time never read a half-written file.
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, code);
  renameSync(tmp, path);
  // Bundles of older sources are never used again.
  for (const old of readdirSync(CACHE_DIR)) {
    if (old.startsWith('workflow-bundle-') && old.endsWith('.js') && join(CACHE_DIR, old) !== path) {
      rmSync(join(CACHE_DIR, old), { force: true });
    }
  }
  return path;
}
