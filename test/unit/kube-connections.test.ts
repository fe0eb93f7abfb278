// client-node 2.x builds a new undici Agent for every request, so each apiserver call was a new TLS connection;
// withConnectionReuse keeps one Agent (keep-alive) and renews it after its maximum age.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { withConnectionReuse, withRequestTimeout } from '../../activities/kubernetes/client.ts';

/** An HTTPS apiserver stand-in (self-signed for 127.0.0.1) that counts TLS handshakes. */
async function tlsServer() {
  const dir = mkdtempSync(join(tmpdir(), 'fledge-kube-tls-'));
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1'].concat([
      '-keyout',
      'key.pem',
      '-out',
      'cert.pem',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ]),
    { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const cert = readFileSync(join(dir, 'cert.pem'));
  const key = readFileSync(join(dir, 'key.pem'));
  rmSync(dir, { recursive: true, force: true });
  let handshakes = 0;
  const authorizations: (string | undefined)[] = [];
  const server = createServer({ cert, key }, (req, res) => {
    authorizations.push(req.headers.authorization);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ apiVersion: 'v1', kind: 'NamespaceList', metadata: {}, items: [] }));
  });
  server.on('secureConnection', () => handshakes++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'tls', server: `https://127.0.0.1:${port}`, caData: cert.toString('base64') }],
    users: [{ name: 'u', token: 'the-token' }],
    contexts: [{ name: 'c', cluster: 'tls', user: 'u' }],
    currentContext: 'c',
  });
  return {
    kc,
    handshakes: () => handshakes,
    authorizations,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

test('requests through withConnectionReuse share keep-alive TLS connections and still authenticate each one', async () => {
  const s = await tlsServer();
  try {
    // As createActivities composes them: the deadline wrapper around the pooled one.
    const api = withRequestTimeout(withConnectionReuse(s.kc), 5000).makeApiClient(k8s.CoreV1Api);
    for (let i = 0; i < 10; i++) assert.deepEqual((await api.listNamespace()).items, []);
    // undici releases a connection just after its response is read, so the next request may open a second one.
    assert.ok(s.handshakes() <= 2, `${s.handshakes()} handshakes for 10 requests`);
    assert.deepEqual(s.authorizations, Array(10).fill('Bearer the-token'));
    // Requests at the same time open at most one connection each, and those connections are kept too.
    await Promise.all([api.listNamespace(), api.listNamespace(), api.listNamespace()]);
    const afterBurst = s.handshakes();
    for (let i = 0; i < 5; i++) await api.listNamespace();
    assert.equal(s.handshakes(), afterBurst);
  } finally {
    await s.close();
  }
});

test('without it, client-node opens a TLS connection per request (what withConnectionReuse works around)', async () => {
  const s = await tlsServer();
  try {
    const api = s.kc.makeApiClient(k8s.CoreV1Api);
    for (let i = 0; i < 5; i++) await api.listNamespace();
    assert.equal(s.handshakes(), 5);
  } finally {
    await s.close();
  }
});

test('a pooled Agent past its maximum age is replaced by a fresh one (certificates read again)', async () => {
  const s = await tlsServer();
  try {
    const api = withConnectionReuse(s.kc, 0).makeApiClient(k8s.CoreV1Api);
    for (let i = 0; i < 3; i++) await api.listNamespace();
    assert.equal(s.handshakes(), 3);
  } finally {
    await s.close();
  }
});

test('wrapping twice is wrapping once, and the original KubeConfig is left as it was', () => {
  const kc = new k8s.KubeConfig();
  const pooled = withConnectionReuse(kc);
  assert.equal(withConnectionReuse(pooled), pooled);
  assert.ok(pooled instanceof k8s.KubeConfig);
  assert.equal(Object.hasOwn(kc, 'applySecurityAuthentication'), false);
});
