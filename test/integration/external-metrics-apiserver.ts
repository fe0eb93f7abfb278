// The External Metrics API served the way a cluster serves it: an aggregated API server (the wire-format server of
// metrics-fakes.ts over HTTPS, accepting only the apiserver's front-proxy client cert) registered in the real
// kube-apiserver as the APIService `v1beta1.external.metrics.k8s.io`. Clients then list external metrics at the
// apiserver, which proxies to it with the caller's identity in X-Remote-User / X-Remote-Group.
//
// The APIService's Service is an ExternalName Service naming 127.0.0.1: the aggregator resolves an ExternalName
// Service to `https://<externalName>:<APIService port>` (k8s.io/apiserver pkg/util/proxy ResolveCluster), and its
// availability check skips the EndpointSlice lookup for that type, so no Service IP needs to be reachable. The
// aggregator verifies the serving cert for `<service>.<namespace>.svc` against the APIService's caBundle.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cluster } from '../../dev/cluster.ts';
import { makeTempDir, removeTempDir } from '../../dev/proc.ts';
import { externalMetricsFake, type Answer, type Fake } from './metrics-fakes.ts';

export const APISERVICE = 'v1beta1.external.metrics.k8s.io';
const NAMESPACE = 'external-metrics';
const SERVICE = 'metrics-adapter';

/** A CA and a serving cert for `<SERVICE>.<NAMESPACE>.svc` (what the aggregator checks), PEM strings. */
function servingPki(dir: string): { ca: string; key: string; cert: string } {
  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const host = `${SERVICE}.${NAMESPACE}.svc`;
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key']);
  openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=metrics-adapter-ca',
  ]);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'tls.key']);
  openssl(['req', '-new', '-key', 'tls.key', '-out', 'tls.csr', '-subj', `/CN=${host}`]);
  writeFileSync(join(dir, 'san.ext'), `subjectAltName=DNS:${host}\n`);
  openssl(
    ['x509', '-req', '-in', 'tls.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'].concat([
      '-out',
      'tls.crt',
      '-days',
      '2',
      '-extfile',
      'san.ext',
    ]),
  );
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  return { ca: read('ca.crt'), key: read('tls.key'), cert: read('tls.crt') };
}

/**
 * Starts the aggregated server on a free 127.0.0.1 port, registers it (Namespace, ExternalName Service, APIService
 * with the CA bundle) and waits until the apiserver reports the APIService `Available` (its discovery answered
 * through the aggregator). `close` stops the server and removes its files; the registration stays (the cluster
 * goes with the test).
 */
export async function startExternalMetricsApiServer(
  cluster: Cluster,
  answer: (query: string) => Answer,
): Promise<Fake> {
  const dir = makeTempDir('external-metrics');
  const pki = servingPki(dir);
  const fake = await externalMetricsFake('', answer, {
    key: pki.key,
    cert: pki.cert,
    clientCa: readFileSync(cluster.frontProxyCaFile, 'utf8'),
  });
  const port = Number(new URL(fake.url).port);
  const objects = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: SERVICE, namespace: NAMESPACE },
      spec: { type: 'ExternalName', externalName: '127.0.0.1', ports: [{ name: 'https', port }] },
    },
    {
      apiVersion: 'apiregistration.k8s.io/v1',
      kind: 'APIService',
      metadata: { name: APISERVICE },
      spec: {
        group: 'external.metrics.k8s.io',
        version: 'v1beta1',
        service: { namespace: NAMESPACE, name: SERVICE, port },
        caBundle: Buffer.from(pki.ca).toString('base64'),
        groupPriorityMinimum: 100,
        versionPriority: 100,
      },
    },
  ];
  await cluster.kubectl(
    ['apply', '--server-side', '-f', '-'],
    JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }),
  );
  await cluster.kubectl(['wait', '--for=condition=Available', `apiservice/${APISERVICE}`, '--timeout=60s']);
  return {
    ...fake,
    async close() {
      await fake.close();
      removeTempDir(dir);
    },
  };
}
