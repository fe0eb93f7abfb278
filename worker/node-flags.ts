// The V8 flags the controller process runs with. deploy/Dockerfile's ENTRYPOINT passes them to `node` (an image
// cannot import this list, so test/unit/node-flags.test.ts checks it does), and dev/stack.ts passes them to the
// controllers it starts, so tests and benchmarks run what ships.

/**
 * `--optimize-for-size`: V8 keeps its heaps small (smaller young generation, slower old-generation growth, GC
 * sooner) instead of letting them grow for throughput. The controller is I/O-bound; its default heaps held mostly
 * garbage after canaries bootstrapped: with 50 idle (Initialized) canaries the main V8 heap was 236 MiB of which
 * ~80 MiB live, and RSS 7.9 MiB per idle canary; with the flag about 1.4 MiB (docs/benchmarks.md,
 * "Full-stack memory"). A V8 flag, not accepted in NODE_OPTIONS, hence on the command line. Applies to the
 * Temporal worker's workflow thread too (V8 flags are per process).
 */
export const CONTROLLER_NODE_FLAGS: readonly string[] = ['--optimize-for-size'];
