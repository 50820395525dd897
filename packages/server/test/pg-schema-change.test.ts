/**
 * A rolling upgrade: a newer node's migration adds columns while this node serves. PostgreSQL refuses to
 * run a prepared statement whose result columns changed ("cached plan must not change result type",
 * SQLSTATE 0A000) for every statement that reads `select *` from a changed table, on every connection
 * that prepared it, until the statement is prepared again. The node must keep answering.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestServer, makeStore, PG_ENABLED, PG_URL, type TestServer } from '@availsync/testkit';
import pg from 'pg';
import { ManualClock } from '../src/clock.js';
import { isStalePlan } from '../src/storage/postgres/pg-client.js';
import { createPostgresStore, type Store } from '../src/storage/store.js';

describe('a schema change under a running node (rolling upgrade)', { skip: !PG_ENABLED }, () => {
  const clock = new ManualClock(Date.now());
  const made = makeStore('postgres', clock);
  const POOL = 3;
  let store: Store;
  let t: TestServer;
  before(async () => {
    await made.store.migrate();
    await made.store.close();
    store = createPostgresStore({ url: PG_URL, clock, schema: made.schema, poolSize: POOL });
    t = await createTestServer('postgres', { clock, store });
  });
  after(async () => {
    await t.close();
    await made.drop();
  });

  /** POOL concurrent start + finish cycles, so that every pooled connection serves some. */
  async function claims(key: string, tag: string) {
    return Promise.all(
      Array.from({ length: POOL * 2 }, async (_, i) => {
        const started = await t.start(key, { resource: `repo:acme/${tag}-${i}` });
        assert.equal(started.status, 200, JSON.stringify(started.body));
        assert.equal(started.body.action, 'proceed');
        const claim = await t.request('GET', `/v1/work/claims/${started.body.claim.id}`, { key });
        assert.equal(claim.status, 200, JSON.stringify(claim.body));
        const finished = await t.request('POST', '/v1/work/run/finish', { key, body: { claim_id: started.body.claim.id } });
        assert.equal(finished.status, 200, JSON.stringify(finished.body));
        return finished.body.claim;
      }),
    );
  }

  /** Another node's migration, on its own connection. */
  async function addColumn(table: string, column: string) {
    const other = new pg.Client({ connectionString: PG_URL });
    await other.connect();
    try {
      await other.query(`alter table ${made.schema}.${table} add column ${column} text`);
    } finally {
      await other.end();
    }
  }

  it('columns added by another node do not break this one: its prepared statements are prepared again', async () => {
    const { key } = await t.workspace();
    await claims(key, 'before');
    for (const table of ['claims', 'resources', 'agents', 'orgs', 'audit_events', 'idempotency_keys']) {
      await addColumn(table, 'upgrade_note');
    }
    const after = await claims(key, 'after');
    assert.ok(after.every((c: { status: string }) => c.status === 'released'));
    const listed = await t.request('GET', '/v1/work/claims?status=released', { key });
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    assert.equal(listed.body.data.length, POOL * 4);
    await claims(key, 'again');
  });

  it('inside a transaction (run again by the store) and outside one (sent again), on one connection', async () => {
    const trips: string[][] = [];
    const one = createPostgresStore({ url: PG_URL, clock, schema: made.schema, poolSize: 1, onRoundTrip: (s) => trips.push(s) });
    const reads = () => trips.filter((t) => t.some((s) => s.includes('from "resources"'))).length;
    const rollbacks = () => trips.filter((t) => t.includes('rollback')).length;
    try {
      const read = () => one.db.selectFrom('resources').selectAll().limit(1).execute();
      const inTransaction = () => one.transaction((trx) => trx.selectFrom('resources').selectAll().limit(1).execute());
      await read();
      await inTransaction();

      await addColumn('resources', 'outside_note');
      trips.length = 0;
      const [row] = await read();
      assert.ok(row && 'outside_note' in row, 'prepared again, the statement returns the new column');
      assert.equal(reads(), 2, 'refused once, then sent again under a new name');

      await addColumn('resources', 'inside_note');
      trips.length = 0;
      const [inside] = await inTransaction();
      assert.ok(inside && 'inside_note' in inside);
      assert.deepEqual([reads(), rollbacks()], [2, 1], 'refused, rolled back, then the transaction again');

      // Both keep working, with nothing refused any more.
      trips.length = 0;
      await read();
      await inTransaction();
      assert.deepEqual([reads(), rollbacks()], [2, 0]);
    } finally {
      await one.close();
    }
  });

  it('is recognised by the function that raises it, whatever language the server answers in', () => {
    const translated = {
      code: '0A000',
      routine: 'RevalidateCachedQuery',
      message: 'le plan en cache ne doit pas modifier le type de résultat',
    };
    assert.equal(isStalePlan(translated), true);
    assert.equal(isStalePlan({ code: '0A000', routine: 'transformSelectStmt', message: 'SELECT ... FOR UPDATE is not supported' }), false);
    assert.equal(isStalePlan({ code: '40001', routine: 'RevalidateCachedQuery' }), false);
  });
});
