// Rocket.Chat incoming webhook: Slack's format with hex colours.
import { slackPayload } from './slack-format.ts';
import type { MessageBuilder } from './types.ts';

export const rocket: MessageBuilder = (dest, alert) => ({
  url: dest.url,
  body: slackPayload(dest, alert, alert.severity === 'error' ? '#FF0000' : '#0076D7'),
});
