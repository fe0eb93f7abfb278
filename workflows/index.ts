// Workflows registered by the worker (bundled with bundleWorkflowCode).
export { rollout } from './rollout.ts';
export { releaseGroup, releaseGroupMember } from './group.ts';
