// Bundles the workflow code once (container build), so the worker starts without webpack:
//   node worker/bundle.ts /app/workflow-bundle.js   then run with FLEDGE_WORKFLOW_BUNDLE=/app/workflow-bundle.js
import { writeFileSync } from 'node:fs';
import { bundleWorkflowCode } from '@temporalio/worker';
import { sourcePath } from './entry.ts';

const out = process.argv[2];
if (!out) {
  console.error('usage: node worker/bundle.ts <output.js>');
  process.exit(2);
}
const { code } = await bundleWorkflowCode({
  workflowsPath: sourcePath('../workflows/index', import.meta.url),
});
writeFileSync(out, code);
console.log(`wrote ${out} (${Math.round(code.length / 1024)} KiB)`);
