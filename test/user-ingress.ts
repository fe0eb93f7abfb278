// The user's Ingress the ingress-based routers (nginx, skipper) are given in the tests: Flagger's router test
// fixture (newTestIngress) and its tutorials' Ingress are all this shape, with different names, ports and metadata.
import type { Ingress } from '../activities/routers/ingress.ts';

export interface UserIngress {
  name: string;
  /** `[path, Service, port]` of each Prefix path of the one rule, in order (the first is the apex Service's). */
  paths: [path: string, service: string, port: number][];
  /** The rule's host (default app.example.com). */
  host?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ingressClassName?: string;
}

/**
 * Flagger's router test Ingress (newTestIngress): podinfo in `default`, app.example.com `/` → podinfo:9898 and
 * `/other` → other:80, ingress class annotation `ingressClass`, a last-applied-configuration and `annotations`.
 */
export function flaggerTestIngress(ingressClass: string, annotations: Record<string, string>): Ingress {
  return userIngress({
    name: 'podinfo',
    namespace: 'default',
    labels: { app: 'podinfo' },
    annotations: {
      'kubernetes.io/ingress.class': ingressClass,
      'kubectl.kubernetes.io/last-applied-configuration': '{}',
      ...annotations,
    },
    paths: [
      ['/', 'podinfo', 9898],
      ['/other', 'other', 80],
    ],
  });
}

/** An networking.k8s.io/v1 Ingress with one rule; metadata and class only where given. */
export function userIngress(o: UserIngress): Ingress {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: {
      name: o.name,
      ...(o.namespace === undefined ? {} : { namespace: o.namespace }),
      ...(o.labels ? { labels: o.labels } : {}),
      ...(o.annotations ? { annotations: o.annotations } : {}),
    },
    spec: {
      ...(o.ingressClassName ? { ingressClassName: o.ingressClassName } : {}),
      rules: [
        {
          host: o.host ?? 'app.example.com',
          http: {
            paths: o.paths.map(([path, name, number]) => ({
              path,
              pathType: 'Prefix',
              backend: { service: { name, port: { number } } },
            })),
          },
        },
      ],
    },
  };
}
