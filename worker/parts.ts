// The parts of the process that other modules provide, imported in one place: the activities
// (createActivities), the watcher (startWatcher) and the load tester (startLoadTester), plus the small adapters
// main.ts needs around them.
import { createActivities, type ActivityDeps, type AreaOptions, type FledgeActivities } from '../activities/index.ts';
import { startLoadTester, type RunningLoadTester } from './loadtester.ts';
import { startWatcher, type Watcher, type WatcherOptions } from './watcher.ts';

export { createActivities, startLoadTester, startWatcher };
export type { FledgeActivities, RunningLoadTester, Watcher, WatcherOptions };
export type ActivityDepsLike = ActivityDeps & AreaOptions;

/** Adapts the watcher's `synced` promise to a readiness check. */
export function syncedCheck(watcher: Pick<Watcher, 'synced'>): () => boolean {
  let done = false;
  void watcher.synced.then(
    () => (done = true),
    () => {},
  );
  return () => done;
}
