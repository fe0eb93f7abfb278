// The node flags the controller process runs with. deploy/Dockerfile's ENTRYPOINT and package.json's `controller`
// script pass them to `node` (neither can import this list, so test/unit/node-flags.test.ts checks they do), and
// dev/stack.ts passes them to the controllers it starts, so tests and benchmarks run what ships.

/**
 * Garbage-collector sizing only (the compilers are untouched): `--max-semi-space-size=2` (MiB; a young generation
 * of a few MiB instead of V8's default of up to 16 MiB per semi-space) and `--heap-growing-percent=20` (the old
 * generation may grow 20 % past its live size before the next major GC, instead of V8's factor of up to 4×).
 * With V8's defaults the controller's heaps held mostly garbage after canaries bootstrapped or rolled (50 canaries:
 * 680 MiB RSS at the bootstrap peak, 926 MiB while rolling); with these 341 and 411 MiB (docs/benchmarks.md,
 * "Full-stack memory"). V8 flags are per process, so they reach the Temporal worker's workflow thread too;
 * `--heap-growing-percent` is refused in NODE_OPTIONS, hence the command line.
 */
export const CONTROLLER_V8_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--heap-growing-percent=20'];

/** The preload that compacts each thread's heap once it goes idle (worker/idle-gc.ts), relative to the app root. */
export const IDLE_GC_PRELOAD = 'worker/idle-gc-preload.ts';

/**
 * The controller's node flags for an app rooted at `appRoot` (`/app` in the image, the repository in dev/stack.ts,
 * `.` in package.json, which npm runs from the package's directory): {@link CONTROLLER_V8_FLAGS}, then
 * `--require=<appRoot>/worker/idle-gc-preload.ts`.
 */
export function controllerNodeFlags(appRoot: string): string[] {
  return [...CONTROLLER_V8_FLAGS, `--require=${appRoot.replace(/\/$/, '')}/${IDLE_GC_PRELOAD}`];
}
