// Controls of the rollout workflow: search attributes, signals, updates and queries.
// This module is imported by the workflow and by the test harness (which registers the
// search attributes on the dev server), so it must stay free of Node-only imports.

export type SearchAttributeType = 'Keyword' | 'Text' | 'Int' | 'Datetime' | 'Bool' | 'Double';

/** Custom search attributes the rollout workflow upserts; the server must have them registered. */
export const SEARCH_ATTRIBUTES: readonly { name: string; type: SearchAttributeType }[] = [
  { name: 'FledgeCanary', type: 'Keyword' },
  { name: 'FledgeNamespace', type: 'Keyword' },
  { name: 'FledgePhase', type: 'Keyword' },
  { name: 'FledgeRevision', type: 'Keyword' },
];
