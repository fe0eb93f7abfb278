// Preloaded into every thread of the controller process (`node --require=<app>/worker/idle-gc-preload.ts`, listed
// in worker/node-flags.ts; node runs --require modules in worker threads too, so the Temporal worker's workflow
// thread gets its own sampler). FLEDGE_IDLE_GC=off disables it; worker/idle-gc.ts says what it does.
import { IDLE_GC_HANDLE, idleGcPolicyFromEnv, startIdleGc } from './idle-gc.ts';

const policy = idleGcPolicyFromEnv();
if (policy) {
  try {
    (globalThis as Record<symbol, unknown>)[IDLE_GC_HANDLE] = startIdleGc(policy);
  } catch (err) {
    // Memory housekeeping only: the controller runs without it.
    process.emitWarning(`idle heap compaction disabled: ${String(err)}`);
  }
}
