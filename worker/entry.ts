// How a module knows where it runs from: directly as TypeScript in the repository (`node worker/main.ts`), or
// compiled to JavaScript in the npm package (dist/, see tsconfig.build.json), started through an npm bin link.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** `.ts` when this code runs from the repository's sources, `.js` when it runs from the packed package's dist/. */
export const SOURCE_EXT: '.ts' | '.js' = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

/**
 * Absolute path of a sibling source module, resolved against `metaUrl` with this build's extension, e.g.
 * `sourcePath('../workflows/index', import.meta.url)` → `/…/workflows/index.ts` (or `index.js` in dist/).
 */
export function sourcePath(relativeWithoutExt: string, metaUrl: string): string {
  return fileURLToPath(new URL(`${relativeWithoutExt}${SOURCE_EXT}`, metaUrl));
}

/**
 * True when the module at `metaUrl` is the process's entry point. npm links bins (`fledge`, `kubectl-fledge`,
 * `fledge-controller`) to the module through symlinks, so real paths are compared.
 */
export function isEntrypoint(metaUrl: string, argv1: string | undefined = process.argv[1]): boolean {
  if (!argv1) return false;
  try {
    return realpathSync(argv1) === realpathSync(fileURLToPath(metaUrl));
  } catch {
    return false;
  }
}

/** The repository root, or the installed package's root (dist/ sits one level below it). */
export const PACKAGE_ROOT: string = fileURLToPath(new URL(SOURCE_EXT === '.ts' ? '..' : '../..', import.meta.url));
