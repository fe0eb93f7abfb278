// Gateway API implementations export different metrics, so fledge measures the app itself (like the
// `kubernetes` provider) instead of Flagger's fallback to Istio's telemetry.
import { httpObserver } from './http.ts';

export const gatewayapi = httpObserver('gatewayapi');
