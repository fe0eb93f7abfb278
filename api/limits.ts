// Limits shared by the activities and the workflow. No imports: the workflow bundle includes this module, and
// every module it pulls in is evaluated in the workflow sandbox (api/canary.ts would bring zod and every schema).

/**
 * Most retries one webhook call makes, whatever its `retries` says (Flagger has no cap). With Flagger's backoff
 * (1 s doubling to 30 s) ten retries wait about 3 minutes: one failed call stays one bounded failed check. The
 * workflow's retry policy for webhooks allows exactly 1 + this many attempts.
 */
export const MAX_WEBHOOK_RETRIES = 10;
