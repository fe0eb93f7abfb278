// The Canary's Promoted condition while a DeliveryPolicy holds the rollout: reason DeliveryWindow or
// DeliveryFreeze, the workflow's message (which names the window or freeze and when it opens) as its message.
import { DELIVERY_FREEZE_PREFIX, DELIVERY_WINDOW_PREFIX } from '../../workflows/delivery.ts';

export function deliveryHoldReason(message: string): 'DeliveryWindow' | 'DeliveryFreeze' | undefined {
  if (message.startsWith(DELIVERY_WINDOW_PREFIX)) return 'DeliveryWindow';
  if (message.startsWith(DELIVERY_FREEZE_PREFIX)) return 'DeliveryFreeze';
  return undefined;
}
