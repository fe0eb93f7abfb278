// The V8 flags the controller process runs with. deploy/Dockerfile's ENTRYPOINT passes them to `node` (an image
// cannot import this list, so test/unit/node-flags.test.ts checks it does), and dev/stack.ts passes them to the
// controllers it starts, so tests and benchmarks run what ships.

/**
 * Garbage-collector sizing only (the compilers are untouched): `--max-semi-space-size=2` (MiB; a young generation
 * of a few MiB instead of V8's default of up to 16 MiB per semi-space) and `--heap-growing-percent=20` (the old
 * generation may grow 20 % past its live size before the next major GC, instead of V8's factor of up to 4×).
 * With V8's defaults the controller's heaps held mostly garbage after canaries bootstrapped or rolled (50 canaries:
 * 680 MiB RSS at the bootstrap peak, 926 MiB while rolling); with these 341 and 411 MiB (docs/benchmarks.md,
 * "Full-stack memory"). V8 flags are per process, so they reach the Temporal worker's workflow thread too;
 * `--heap-growing-percent` is refused in NODE_OPTIONS, hence the command line.
 */
export const CONTROLLER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--heap-growing-percent=20'];
