// A worker process over the scripted world, for crash tests: the test SIGKILLs it mid-rollout and starts another.
// Usage: node test/scripted/worker-main.ts <address> <namespace> <taskQueue> <worldUrl> <bundlePath>
import { NativeConnection, Worker } from '@temporalio/worker';
import { createScriptedActivities } from './activities.ts';

const [address, namespace, taskQueue, worldUrl, bundlePath] = process.argv.slice(2);
if (!address || !namespace || !taskQueue || !worldUrl || !bundlePath) {
  console.error('usage: worker-main.ts <address> <namespace> <taskQueue> <worldUrl> <bundlePath>');
  process.exit(2);
}

const connection = await NativeConnection.connect({ address });
const worker = await Worker.create({
  connection,
  namespace,
  taskQueue,
  workflowBundle: { codePath: bundlePath },
  activities: createScriptedActivities(worldUrl),
  // A killed worker's sticky queue is abandoned quickly, so its successor picks the rollout up in about a second.
  stickyQueueScheduleToStartTimeout: '1s',
});
process.on('SIGTERM', () => worker.shutdown());
console.log('worker ready');
await worker.run();
await connection.close();
