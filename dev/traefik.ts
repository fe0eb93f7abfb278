// Traefik v3.6 (scripts/build-binaries.sh) as the Gateway API data plane of the harness: it runs inside the
// harness's network namespace (dev/netns.ts) with its Kubernetes Gateway provider against the test apiserver
// (reached through a relay on the same 127.0.0.1 port), routes HTTPRoutes to pod IPs from EndpointSlices, and
// writes the real HTTPRoute status (Accepted, ResolvedRefs). The host reaches its entrypoint only through a
// loopback forwarder.
import { join } from 'node:path';
import type { Cluster } from './cluster.ts';
import type { PodNetwork } from './netns.ts';
import { binary, waitReady, type Server } from './proc.ts';

/** Traefik's Gateway API controller name (GatewayClass spec.controllerName it reconciles). */
export const TRAEFIK_CONTROLLER_NAME = 'traefik.io/gateway-controller';
/** Ports inside the namespace: `web` (HTTP entrypoint = the Gateway listener's port), `traefik` (ping, metrics). */
export const TRAEFIK_WEB_PORT = 8000;
export const TRAEFIK_ADMIN_PORT = 9000;

export interface Traefik {
  readonly server: Server;
  /** `http://127.0.0.1:<port>` on the host: the `web` entrypoint through the forwarder. */
  readonly url: string;
  /** `http://127.0.0.1:<port>` on the host: Traefik's `/ping` and Prometheus `/metrics`. */
  readonly adminUrl: string;
  stop(): Promise<void>;
}

/**
 * GatewayClass `traefik` and a Gateway `name` in `namespace` (created here) with one HTTP listener on the `web`
 * entrypoint's port, accepting routes from every namespace. YAML for `kubectl apply -f -`.
 */
export function traefikGatewayManifest(name: string, namespace: string, className = 'traefik'): string {
  return `
apiVersion: v1
kind: Namespace
metadata: { name: ${namespace} }
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: ${className} }
spec: { controllerName: ${TRAEFIK_CONTROLLER_NAME} }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  gatewayClassName: ${className}
  listeners:
    - { name: http, protocol: HTTP, port: ${TRAEFIK_WEB_PORT}, allowedRoutes: { namespaces: { from: All } } }
`;
}

/** Starts Traefik in `net`; resolves once /ping answers through the forwarder (60 s at most). */
export async function startTraefik(cluster: Cluster, net: PodNetwork): Promise<Traefik> {
  const apiPort = Number(new URL(cluster.server).port);
  await net.exposeHostPort(apiPort);
  const token = cluster.kubeConfig.getCurrentUser()?.token ?? '';
  const server = net.spawn({
    name: 'traefik',
    bin: binary('traefik'),
    logFile: join(net.dir, 'traefik.log'),
    args: [
      `--entrypoints.web.address=:${TRAEFIK_WEB_PORT}`,
      `--entrypoints.traefik.address=:${TRAEFIK_ADMIN_PORT}`,
      '--ping=true',
      // The API (read-only, on the admin entrypoint inside the namespace) shows the configuration in use.
      '--api=true',
      '--api.insecure=true',
      '--metrics.prometheus=true',
      '--metrics.prometheus.addserviceslabels=true',
      '--providers.kubernetesgateway=true',
      `--providers.kubernetesgateway.endpoint=${cluster.server}`,
      `--providers.kubernetesgateway.token=${token}`,
      `--providers.kubernetesgateway.certauthfilepath=${join(cluster.dir, 'ca.crt')}`,
      '--providers.kubernetesgateway.throttleduration=200ms',
      '--log.level=INFO',
      '--log.nocolor=true',
      '--global.checknewversion=false',
      '--global.sendanonymoususage=false',
    ],
  });
  try {
    const adminPort = await net.forwardToNamespace('127.0.0.1', TRAEFIK_ADMIN_PORT);
    const webPort = await net.forwardToNamespace('127.0.0.1', TRAEFIK_WEB_PORT);
    const adminUrl = `http://127.0.0.1:${adminPort}`;
    await waitReady(server, async () => (await fetch(`${adminUrl}/ping`)).ok, { timeoutMs: 60_000 });
    return { server, url: `http://127.0.0.1:${webPort}`, adminUrl, stop: () => server.stop() };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

/** A Traefik HTTP service as its API lists it (`GET /api/http/services`); `weighted` for weighted backendRefs. */
export interface TraefikService {
  name: string;
  status?: string;
  weighted?: { services?: { name: string; weight?: number }[] };
  loadBalancer?: { servers?: { url: string }[] };
}

/** The HTTP services of Traefik's running configuration (what it routes with now, not what it has read). */
export async function traefikServices(traefik: Traefik): Promise<TraefikService[]> {
  const res = await fetch(`${traefik.adminUrl}/api/http/services?per_page=1000`);
  if (!res.ok) throw new Error(`traefik /api/http/services: HTTP ${res.status}`);
  return (await res.json()) as TraefikService[];
}
