// A byte relay between a TCP address and a unix socket, one end each: how traffic crosses the boundary of the
// harness's network namespace (dev/netns.ts). A unix socket is a file, reachable from every namespace that
// shares the file system, so a relay on each side joined by a socket file links a loopback port of one
// namespace to a loopback port of the other, and nothing else does.
//
// Usage: node dev/relay.ts <listen> <connect>, each `tcp:<host>:<port>` or `unix:<path>`.
// Prints "relay ready" once it listens. Exits on SIGTERM.
import { createServer, connect, type Socket } from 'node:net';
import { rmSync } from 'node:fs';

export type Endpoint = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/** `tcp:127.0.0.1:80` → tcp endpoint; `unix:/run/x.sock` → unix endpoint; throws on anything else. */
export function parseEndpoint(spec: string): Endpoint {
  if (spec.startsWith('unix:')) return { kind: 'unix', path: spec.slice(5) };
  const m = /^tcp:(.+):(\d+)$/.exec(spec);
  if (!m) throw new Error(`bad endpoint ${spec} (want tcp:<host>:<port> or unix:<path>)`);
  return { kind: 'tcp', host: m[1] ?? '', port: Number(m[2]) };
}

export function formatEndpoint(e: Endpoint): string {
  return e.kind === 'unix' ? `unix:${e.path}` : `tcp:${e.host}:${e.port}`;
}

function dial(e: Endpoint): Socket {
  return e.kind === 'unix' ? connect(e.path) : connect(e.port, e.host);
}

function pipe(a: Socket, to: Endpoint): void {
  const b = dial(to);
  a.pipe(b).pipe(a);
  const end = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', end).on('close', end);
  b.on('error', end).on('close', end);
}

if (import.meta.main) {
  const [listenSpec, connectSpec] = process.argv.slice(2);
  if (!listenSpec || !connectSpec) throw new Error('usage: relay.ts <listen> <connect>');
  const listen = parseEndpoint(listenSpec);
  const target = parseEndpoint(connectSpec);
  const server = createServer((s) => pipe(s, target));
  server.on('error', (err) => {
    console.error(`relay ${listenSpec}: ${err.message}`);
    process.exit(1);
  });
  const ready = () => console.log(`relay ready ${listenSpec} -> ${connectSpec}`);
  if (listen.kind === 'unix') {
    rmSync(listen.path, { force: true });
    server.listen(listen.path, ready);
  } else server.listen(listen.port, listen.host, ready);
  process.on('SIGTERM', () => process.exit(0));
}
