// Discord, through its Slack-compatible endpoint: Flagger appends /slack to the hook URL unless it is there.
import { slackPayload } from './slack-format.ts';
import type { MessageBuilder } from './types.ts';

export function discordUrl(hook: string): string {
  if (hook.endsWith('/slack')) return hook;
  const u = new URL(hook);
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/slack`;
  return u.toString();
}

export const discord: MessageBuilder = (dest, alert) => ({
  url: discordUrl(dest.url),
  body: slackPayload(dest, alert, alert.severity === 'error' ? 'danger' : 'good'),
});
