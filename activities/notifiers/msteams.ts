// Microsoft Teams: the Office 365 connector MessageCard that Flagger v1.44 still sends.
import { subject, type MessageBuilder } from './types.ts';

export const msteams: MessageBuilder = (dest, alert) => ({
  url: dest.url,
  body: {
    '@type': 'MessageCard',
    '@context': 'http://schema.org/extensions',
    themeColor: alert.severity === 'error' ? 'FF0000' : '0076D7',
    summary: subject(alert),
    sections: [
      {
        activityTitle: alert.message,
        activitySubtitle: subject(alert),
        facts: alert.fields.map((f) => ({ name: f.name, value: f.value })),
      },
    ],
  },
});
