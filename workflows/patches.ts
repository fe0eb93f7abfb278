// The rollout's history patches and the baseline that stands for all of them (pure; imported by workflows only).
//
// Every `patched(id)` a new history records costs two events: its marker and the `TemporalChangeVersion` upsert that
// Temporal's core adds to it (sdk-core "Auto-upsert versions SA on patched calls"). A 10-step rollout hit five of
// them, ten of its events. An execution started by today's code records one marker instead, BASELINE_PATCH, at its
// start: it stands for every id in BASELINE_COVERS, which then record nothing. Histories recorded before the baseline
// (no such marker) replay through each id's own `patched` call, exactly as before. A patch added after the baseline
// is not in BASELINE_COVERS and goes through its own `patched` call in every history.
import { patched } from '@temporalio/workflow';
import { DELIVERY_POLICY } from './delivery.ts';
import { RELEASE_GROUP_PATCH } from './group-gate.ts';
import {
  BOOTSTRAP_ADOPTS_REVISION,
  EVENT_DRIVEN_PHASES,
  FINALISING_REUSES_OBSERVATION,
  MESH_ROUTES_FIRST,
  PARALLEL_SPEC_SYNC,
  SCALE_UP_WITH_SYNC,
  SYNC_AFTER_SCALE_UP,
  TRAFFIC_AFTER_READINESS,
} from './tick.ts';

/** A new Canary invalid from its first observation gets a status (workflows/rollout.ts invalidFromTheStart). */
export const INVALID_NEW_CANARY_STATUS = 'invalid-new-canary-status';
/** The FledgeProvider search attribute (workflows/rollout.ts Visibility). */
export const PROVIDER_ATTRIBUTE = 'search-attribute-provider';

/** An execution started with its search attributes (the watcher's) does not upsert them again at its start. */
export const START_SEARCH_ATTRIBUTES = 'start-search-attributes';

/** Marker of an execution whose code has every patch of BASELINE_COVERS (recorded once, at its start). */
export const BASELINE_PATCH = 'baseline-2026-11-30';

/**
 * The patch ids that existed when BASELINE_PATCH was introduced (SCALE_UP_WITH_SYNC and START_SEARCH_ATTRIBUTES
 * came with it). Never add to it: a history recorded with the baseline by code without the new id would replay the
 * new behaviour. A new patch gets its own marker.
 */
export const BASELINE_COVERS: ReadonlySet<string> = new Set([
  TRAFFIC_AFTER_READINESS,
  EVENT_DRIVEN_PHASES,
  MESH_ROUTES_FIRST,
  BOOTSTRAP_ADOPTS_REVISION,
  SYNC_AFTER_SCALE_UP,
  FINALISING_REUSES_OBSERVATION,
  PARALLEL_SPEC_SYNC,
  SCALE_UP_WITH_SYNC,
  DELIVERY_POLICY,
  RELEASE_GROUP_PATCH,
  INVALID_NEW_CANARY_STATUS,
  PROVIDER_ATTRIBUTE,
  START_SEARCH_ATTRIBUTES,
]);

/** `patched` of one execution: true for a covered id when the execution has the baseline, else Temporal's answer. */
export type Patched = (id: string) => boolean;

/**
 * The execution's `patched`: asks Temporal for BASELINE_PATCH once, now (call it first thing in the workflow
 * function, so a new execution records the marker in its first task and a replayed one finds it there), then
 * answers covered ids from that and every other id through Temporal's `patched`.
 */
export function executionPatches(): Patched {
  const baseline = patched(BASELINE_PATCH);
  return (id) => (baseline && BASELINE_COVERS.has(id)) || patched(id);
}
