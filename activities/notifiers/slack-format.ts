// Slack's attachment format, which Discord (through its /slack endpoint) and Rocket.Chat accept too.
import { subject, type Alert, type Destination } from './types.ts';

export interface SlackPayload {
  channel: string;
  username: string;
  // Flagger's struct has no omitempty here, so an empty icon_url is always sent.
  icon_url: string;
  icon_emoji: string;
  attachments: {
    color: string;
    author_name: string;
    text: string;
    mrkdwn_in: string[];
    fields: { title: string; value: string; short: boolean }[];
  }[];
}

export function slackPayload(dest: Destination, alert: Alert, color: string): SlackPayload {
  return {
    channel: dest.channel,
    username: dest.username,
    icon_url: '',
    icon_emoji: ':rocket:',
    attachments: [
      {
        color,
        author_name: subject(alert),
        text: alert.message,
        mrkdwn_in: ['text'],
        fields: alert.fields.map((f) => ({ title: f.name, value: f.value, short: false })),
      },
    ],
  };
}
