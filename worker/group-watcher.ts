// The group watcher: an informer on ReleaseGroups (fledge.dev/v1alpha1) that starts each group's workflow
// (signal-with-start `groupChanged`, so a new spec is validated at once) and signals `groupDeleted` when it goes.
// Like the Canary watcher it keeps nothing that matters: a re-list signals every group again (a no-op for the
// workflow beyond a re-validation). Started beside the Canary watcher (worker/watcher.ts).
import { CustomObjectsApi, makeInformer, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { WorkflowNotFoundError } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { RELEASE_GROUPS, RELEASE_GROUP_API_GROUP, RELEASE_GROUP_VERSION } from '../api/release-group.ts';
import type { GroupInput } from '../workflows/group.ts';
import {
  GROUP_WORKFLOW,
  groupChangedSignal,
  groupDeletedSignal,
  groupWorkflowId,
  type GroupRef,
} from '../workflows/group-messages.ts';

export interface GroupWatcherOptions {
  kube: KubeConfig;
  client: Client;
  taskQueue: string;
  log: Logger;
  namespaces?: string[];
  /** Restart delay after an informer error (e.g. the CRD is not installed yet); default 5 s. */
  restartMs?: number;
}

export interface GroupWatcher {
  stop(): Promise<void>;
}

export function startGroupWatcher(opts: GroupWatcherOptions): GroupWatcher {
  const log = opts.log.child({ component: 'group-watcher' });
  const api = opts.kube.makeApiClient(CustomObjectsApi);
  const q = { group: RELEASE_GROUP_API_GROUP, version: RELEASE_GROUP_VERSION, plural: RELEASE_GROUPS };
  const generations = new Map<string, number>();
  let stopped = false;
  const informers = (opts.namespaces?.length ? opts.namespaces : [undefined]).map((ns) => {
    const path = `/apis/${q.group}/${q.version}${ns ? `/namespaces/${ns}` : ''}/${q.plural}`;
    const informer = makeInformer(
      opts.kube,
      path,
      () => (ns ? api.listNamespacedCustomObject({ ...q, namespace: ns }) : api.listClusterCustomObject(q)) as never,
    );
    const changed = (o: KubernetesObject) => {
      const uid = o.metadata?.uid ?? '';
      const generation = o.metadata?.generation ?? 0;
      if (generations.get(uid) === generation) return;
      generations.set(uid, generation);
      void started(refOf(o)).catch((err: unknown) =>
        log.warn({ group: refOf(o), err: String(err) }, 'group not signalled'),
      );
    };
    informer.on('add', changed);
    informer.on('update', changed);
    informer.on('delete', (o) => {
      generations.delete(o.metadata?.uid ?? '');
      void deleted(refOf(o)).catch((err: unknown) =>
        log.warn({ group: refOf(o), err: String(err) }, 'deletion not signalled'),
      );
    });
    informer.on('error', (err) => {
      if (stopped) return;
      log.warn({ path, err: String(err) }, 'release group informer stopped; restarting');
      setTimeout(() => void (stopped || informer.start().catch(() => undefined)), opts.restartMs ?? 5000).unref();
    });
    void informer.start().catch(() => undefined);
    return informer;
  });

  async function started(group: GroupRef): Promise<void> {
    const input: GroupInput = { group };
    await opts.client.workflow.signalWithStart(GROUP_WORKFLOW, {
      workflowId: groupWorkflowId(group),
      taskQueue: opts.taskQueue,
      args: [input],
      signal: groupChangedSignal,
      signalArgs: [],
      staticSummary: `release group ${group.namespace}/${group.name}`,
    });
    log.info({ group: `${group.name}.${group.namespace}` }, 'release group signalled');
  }

  async function deleted(group: GroupRef): Promise<void> {
    try {
      await opts.client.workflow.getHandle(groupWorkflowId(group)).signal(groupDeletedSignal);
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }

  return {
    async stop() {
      stopped = true;
      await Promise.all(informers.map((i) => i.stop()));
    },
  };
}

function refOf(o: KubernetesObject): GroupRef {
  return { namespace: o.metadata?.namespace ?? '', name: o.metadata?.name ?? '' };
}
