// A real Graphite (Debian's graphite-web, served by Django's own HTTP server through `graphite-manage runserver`) on a free loopback port, reading the
// whisper files the harness writes with python3-whisper's `whisper-create` / `whisper-update`, the storage format
// carbon-cache writes. Settings come from a module of our own in the temp dir (graphite-web loads
// `GRAPHITE_SETTINGS_MODULE`), so nothing under /etc or /var is read or written; no database tables are needed
// for the render API.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, makeTempDir, removeTempDir, spawnServer, waitReady } from './proc.ts';

const run = promisify(execFile);

export interface GraphiteServer {
  /** `http://127.0.0.1:<port>`: the render API at `/render`. */
  url: string;
  dir: string;
  /**
   * Writes points (`[epoch seconds, value]`, within the last hour) of a dotted metric path; the whisper file is
   * created on first use with one archive of 10 s buckets kept for an hour. A point overwrites its bucket.
   */
  write(metric: string, points: [number, number][]): Promise<void>;
  stop(): Promise<void>;
}

/** Bucket width of the whisper files `write` creates, seconds. */
export const GRAPHITE_STEP_SECONDS = 10;

export async function startGraphite(): Promise<GraphiteServer> {
  const dir = makeTempDir('graphite');
  const whisper = join(dir, 'whisper');
  mkdirSync(whisper);
  mkdirSync(join(dir, 'log'));
  writeFileSync(
    join(dir, 'fledge_graphite.py'),
    [
      "SECRET_KEY = 'fledge-test'",
      `STORAGE_DIR = ${JSON.stringify(dir)}`,
      `WHISPER_DIR = ${JSON.stringify(whisper)}`,
      `LOG_DIR = ${JSON.stringify(join(dir, 'log'))}`,
      `INDEX_FILE = ${JSON.stringify(join(dir, 'index'))}`,
      `DATABASES = {'default': {'NAME': ${JSON.stringify(join(dir, 'graphite.db'))}, 'ENGINE': 'django.db.backends.sqlite3'}}`,
      'DEFAULT_CACHE_DURATION = 0',
      'LOG_ROTATION = False',
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const server = spawnServer({
    name: 'graphite-web',
    bin: 'graphite-manage',
    args: ['runserver', `127.0.0.1:${port}`, '--noreload'],
    cwd: dir,
    env: {
      PYTHONPATH: dir,
      GRAPHITE_SETTINGS_MODULE: 'fledge_graphite',
      DJANGO_SETTINGS_MODULE: 'graphite.settings',
    },
    logFile: join(dir, 'graphite-web.log'),
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitReady(server, async () => (await fetch(`${url}/render?target=ready&format=json`)).status === 200, {
      timeoutMs: 60_000,
    });
  } catch (err) {
    removeTempDir(dir);
    throw err;
  }
  return {
    url,
    dir,
    async write(metric, points) {
      const file = join(whisper, ...metric.split('.')) + '.wsp';
      if (!existsSync(file)) {
        mkdirSync(dirname(file), { recursive: true });
        await run('whisper-create', ['--xFilesFactor=0', file, `${GRAPHITE_STEP_SECONDS}s:1h`]);
      }
      if (points.length) await run('whisper-update', [file, ...points.map(([t, v]) => `${t}:${v}`)]);
    },
    async stop() {
      await server.stop();
      removeTempDir(dir);
    },
  };
}
