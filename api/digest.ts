// Digest of a webhook URL for workflow history (WebhookRef.urlDigest). Node's crypto: used by the activities' side
// (workflows/spec-from-canary.ts, which the workflow bundle never imports), never by workflow code.
import { createHash } from 'node:crypto';

/**
 * First 16 hex digits (64 bits) of the SHA-256 of `url`: tells two URLs apart (an edited URL is a new spec)
 * without showing the token it may carry.
 */
export function urlDigest(url: string): string {
  return createHash('sha256').update(url).digest('hex').slice(0, 16);
}
