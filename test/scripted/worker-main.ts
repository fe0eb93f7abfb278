// A worker process over the scripted world, for crash tests: the test SIGKILLs it mid-rollout and starts another.
// Usage: node test/scripted/worker-main.ts <address> <namespace> <taskQueue> <worldUrl> <bundlePath> [kubeconfig]
// With a kubeconfig, DeliveryPolicies are read from that apiserver by the real delivery activity.
import { KubeConfig } from '@kubernetes/client-node';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createDeliveryActivities } from '../../activities/delivery/index.ts';
import { withTickAnswers } from '../../activities/tick-answers.ts';
import { createScriptedActivities } from './activities.ts';

const [address, namespace, taskQueue, worldUrl, bundlePath, kubeconfig] = process.argv.slice(2);
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
  activities: withTickAnswers({
    ...createScriptedActivities(worldUrl),
    ...(kubeconfig ? delivery(kubeconfig) : {}),
  }),
  // A killed worker's sticky queue is abandoned quickly, so its successor picks the rollout up in about a second.
  stickyQueueScheduleToStartTimeout: '1s',
});
function delivery(path: string) {
  const kube = new KubeConfig();
  kube.loadFromFile(path);
  return createDeliveryActivities({ kube });
}

process.on('SIGTERM', () => worker.shutdown());
console.log('worker ready');
await worker.run();
await connection.close();
