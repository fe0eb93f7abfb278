// AlertProvider type → message builder. One entry per file in this folder.
import type { AlertProviderType } from '../../api/alert-provider.ts';
import { discord } from './discord.ts';
import { gchat } from './gchat.ts';
import { msteams } from './msteams.ts';
import { rocket } from './rocket.ts';
import { slack } from './slack.ts';
import type { MessageBuilder } from './types.ts';

export const NOTIFIERS: Record<AlertProviderType, MessageBuilder> = { slack, msteams, discord, rocket, gchat };

export function notifierFor(type: string): MessageBuilder | undefined {
  return Object.hasOwn(NOTIFIERS, type) ? NOTIFIERS[type as AlertProviderType] : undefined;
}
