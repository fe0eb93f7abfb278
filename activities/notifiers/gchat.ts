// Google Chat: a card with the message first and one text paragraph per field.
import { subject, type MessageBuilder } from './types.ts';

function paragraph(text: string) {
  return { widgets: [{ textParagraph: { text } }] };
}

export const gchat: MessageBuilder = (dest, alert) => ({
  url: dest.url,
  body: {
    cards: [
      {
        header: { title: 'Flagger', subtitle: subject(alert), imageUrl: 'https://flagger.app/favicon.png' },
        sections: [
          paragraph(`<font color=#848484><strong>${alert.message}</strong></font>`),
          ...alert.fields.map((f) => paragraph(`${f.name}<br><font color=#848484><strong>${f.value}</strong></font>`)),
        ],
      },
    ],
  },
});
