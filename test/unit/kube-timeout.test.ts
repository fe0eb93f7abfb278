// An apiserver that accepts a connection and never answers must not hang an activity: each request has a deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import * as k8s from '@kubernetes/client-node';
import { withRequestTimeout } from '../../activities/kubernetes/client.ts';

test('a request to a silent apiserver fails after the deadline instead of hanging', async () => {
  const server = createServer(() => {
    // Never respond.
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'silent', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'secret' }],
    contexts: [{ name: 'c', cluster: 'silent', user: 'u' }],
    currentContext: 'c',
  });
  try {
    const started = Date.now();
    const timed = withRequestTimeout(kc, 300);
    await assert.rejects(timed.makeApiClient(k8s.CoreV1Api).listNamespace());
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 250 && elapsed < 5000, `failed after ${elapsed} ms`);
    // The original KubeConfig is untouched, and the timed one still authenticates like it.
    assert.equal(timed.getCurrentCluster()?.server, `http://127.0.0.1:${port}`);
    assert.ok(timed instanceof k8s.KubeConfig);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('the timed KubeConfig still authenticates each request like the original', async () => {
  let authorization: string | undefined;
  const server = createServer((req, res) => {
    authorization = req.headers.authorization;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ apiVersion: 'v1', kind: 'NamespaceList', metadata: {}, items: [] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'ok', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'the-token' }],
    contexts: [{ name: 'c', cluster: 'ok', user: 'u' }],
    currentContext: 'c',
  });
  try {
    const list = await withRequestTimeout(kc, 2000).makeApiClient(k8s.CoreV1Api).listNamespace();
    assert.deepEqual(list.items, []);
    assert.equal(authorization, 'Bearer the-token');
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});
