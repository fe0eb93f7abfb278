// Slack incoming webhook, or chat.postMessage with a bearer token (Flagger's slack / slack-api).
import { slackPayload } from './slack-format.ts';
import type { MessageBuilder } from './types.ts';

export const SLACK_API_POST_MESSAGE_URL = 'https://slack.com/api/chat.postMessage';

export const slack: MessageBuilder = (dest, alert) => ({
  url: dest.url,
  body: slackPayload(dest, alert, alert.severity === 'error' ? 'danger' : 'good'),
  headers: dest.token ? { authorization: `Bearer ${dest.token}` } : undefined,
});
