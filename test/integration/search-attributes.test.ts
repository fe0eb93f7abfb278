// The worker registers the rollout's search attributes on a Temporal server that has none of them (a self-hosted
// server, not our dev server, which starts with them): worker/main.ts ensureSearchAttributes against a real dev
// server started without them. After it, the list filters of docs/temporal-controls.md run; before, they fail.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Client, Connection } from '@temporalio/client';
import { startTemporal, type TemporalServer } from '../../dev/temporal.ts';
import { SEARCH_ATTRIBUTES } from '../../workflows/controls.ts';
import { createLogger, ensureSearchAttributes } from '../../worker/main.ts';

let temporal: TemporalServer;
let connection: Connection;

before(async () => {
  temporal = await startTemporal({ searchAttributes: [] });
  connection = await Connection.connect({ address: temporal.address });
});

after(async () => {
  await connection?.close();
  await temporal?.stop();
});

/** The custom search attributes of the namespace, name → indexed value type. */
async function registered(): Promise<Record<string, unknown>> {
  const r = await connection.operatorService.listSearchAttributes({ namespace: temporal.namespace });
  return { ...r.customAttributes };
}

describe('search attributes on a server without them', () => {
  it('the worker registers the five as Keyword, once, and the documented filters run', async () => {
    const client = new Client({ connection, namespace: temporal.namespace });
    const list = async (query: string) => {
      for await (const _ of client.workflow.list({ query, pageSize: 1 })) break;
    };
    const names = SEARCH_ATTRIBUTES.map((a) => a.name);
    const before1 = await registered();
    for (const n of names) assert.ok(!(n in before1), `${n} registered before the worker ran`);
    await assert.rejects(list('FledgePhase = "Progressing"'));

    const log = createLogger({ logLevel: 'fatal', mode: 'worker' });
    await ensureSearchAttributes(connection, temporal.namespace, log);
    const after1 = await registered();
    const keyword = 2; // temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
    for (const n of names) assert.equal(after1[n], keyword, `${n}: ${String(after1[n])}`);
    // A second worker (or a restart) finds them and changes nothing.
    await ensureSearchAttributes(connection, temporal.namespace, log);
    assert.deepEqual(await registered(), after1);

    // Visibility reads the registered attributes through a cache: a query may be refused for a moment.
    for (const query of [
      'FledgePhase = "Progressing"',
      'FledgeNamespace = "test" AND FledgeCanary = "podinfo" AND FledgeProvider = "istio"',
      'FledgeRevision = "6f7c9d8b"',
    ])
      await poll(query, () =>
        list(query).then(
          () => true,
          () => false,
        ),
      );
  });
});

/** Polls `check` every 200 ms until it holds, for up to 10 s. */
async function poll(what: string, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
