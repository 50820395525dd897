/**
 * Prepared queries (storage/prepared.ts) and deferred writes (store.deferWrite), on both stores:
 * - a prepared query is built once per dialect and binds its values by name, in any order;
 * - a missing value is an error, never a silent NULL;
 * - deferred writes are invisible until the transaction's end, then all land (one statement of CTEs on
 *   PostgreSQL, with every statement's placeholders renumbered), and a failing one takes the whole
 *   transaction down with it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeStore, PG_ENABLED, PG_URL, STORES } from '@availsync/testkit';
import { sql } from 'kysely';
import { ManualClock } from '../src/clock.js';
import { param, prepare } from '../src/storage/prepared.js';
import { createPostgresStore, deferWrite, type Store } from '../src/storage/store.js';

let builds = 0;
const metaRow = prepare((db) => {
  builds += 1;
  return db.selectFrom('meta').select(['key', 'value']).where('key', '=', param<string>('key'));
});
const putMeta = prepare((db) => db.insertInto('meta').values({ key: param('key'), value: param('value') }));
const setMeta = prepare((db) =>
  db
    .updateTable('meta')
    .set({ value: param('value') })
    .where('key', '=', param<string>('key')),
);

for (const kind of STORES) {
  describe(`prepared queries and deferred writes (${kind})`, () => {
    const made = makeStore(kind, new ManualClock());
    const store: Store = made.store;
    before(() => store.migrate());
    after(async () => {
      await store.close();
      await made.drop();
    });

    it('binds values by name and builds the query once', async () => {
      await putMeta.execute(store.db, { value: 'one', key: 'p-1' });
      await putMeta.execute(store.db, { key: 'p-2', value: 'two' });
      const before = builds;
      assert.deepEqual(await metaRow.first(store.db, { key: 'p-1' }), { key: 'p-1', value: 'one' });
      assert.deepEqual(await metaRow.first(store.db, { key: 'p-2' }), { key: 'p-2', value: 'two' });
      assert.equal(await metaRow.first(store.db, { key: 'p-none' }), undefined);
      assert.ok(builds - before <= 1, 'built again for every execution');
    });

    if (kind === 'postgres') {
      it('on PostgreSQL, runs each statement as a named prepared statement of its connection', async () => {
        const prepared = await store.transaction(async (trx) => {
          await metaRow.first(trx, { key: 'p-1' });
          const { rows } = await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(trx);
          return rows.map((r) => r.statement);
        });
        assert.ok(
          prepared.some((s) => s.includes('from "meta"')),
          `not prepared: ${JSON.stringify(prepared)}`,
        );
      });
    }

    it('refuses to run with a value missing', () => {
      assert.throws(() => putMeta.bind(store.db, { key: 'p-3' }), /no value for "value"/);
    });

    it('deferred writes are held to the end of the transaction, then all land', async () => {
      const seenInside = await store.transaction(async (trx) => {
        // Different numbers of placeholders each, and a plain Kysely builder among them.
        await deferWrite(trx, putMeta.bind(trx, { key: 'd-1', value: 'a' }));
        await deferWrite(
          trx,
          trx.insertInto('meta').values([
            { key: 'd-2', value: 'b' },
            { key: 'd-3', value: 'c' },
          ]),
        );
        await deferWrite(trx, setMeta.bind(trx, { key: 'p-2', value: 'two, updated' }));
        await deferWrite(trx, putMeta.bind(trx, { key: 'd-4', value: 'd' }));
        return metaRow.first(trx, { key: 'd-1' });
      });
      // SQLite writes at once (no round trips to save); PostgreSQL holds them to the end.
      if (kind === 'postgres') assert.equal(seenInside, undefined);
      const rows = await store.db
        .selectFrom('meta')
        .select(['key', 'value'])
        .where('key', 'in', ['d-1', 'd-2', 'd-3', 'd-4', 'p-2'])
        .orderBy('key')
        .execute();
      assert.deepEqual(rows, [
        { key: 'd-1', value: 'a' },
        { key: 'd-2', value: 'b' },
        { key: 'd-3', value: 'c' },
        { key: 'd-4', value: 'd' },
        { key: 'p-2', value: 'two, updated' },
      ]);
    });

    it('a deferred write that fails rolls the whole transaction back', async () => {
      await assert.rejects(
        store.transaction(async (trx) => {
          await trx.insertInto('meta').values({ key: 'r-1', value: 'now' }).execute();
          await deferWrite(trx, putMeta.bind(trx, { key: 'r-2', value: 'deferred' }));
          await deferWrite(trx, putMeta.bind(trx, { key: 'p-1', value: 'duplicate key' }));
        }),
        (err: unknown) => store.isUniqueViolation(err),
      );
      const rows = await store.db.selectFrom('meta').select('key').where('key', 'in', ['r-1', 'r-2']).execute();
      assert.deepEqual(rows, []);
      assert.deepEqual(await metaRow.first(store.db, { key: 'p-1' }), { key: 'p-1', value: 'one' });
    });
  });
}

describe('PostgreSQL without named prepared statements (AVAILSYNC_PG_PREPARED_STATEMENTS=off)', { skip: !PG_ENABLED }, () => {
  const made = makeStore('postgres', new ManualClock());
  let plain: Store;
  before(async () => {
    await made.store.migrate();
    plain = createPostgresStore({ url: PG_URL, clock: new ManualClock(), schema: made.schema, preparedStatements: false });
  });
  after(async () => {
    await plain.close();
    await made.store.close();
    await made.drop();
  });

  it('runs prepared queries and deferred writes all the same, and prepares nothing on the server', async () => {
    await plain.transaction(async (trx) => {
      await deferWrite(trx, putMeta.bind(trx, { key: 'u-1', value: 'x' }));
      await deferWrite(trx, putMeta.bind(trx, { key: 'u-2', value: 'y' }));
    });
    assert.deepEqual(await metaRow.first(plain.db, { key: 'u-2' }), { key: 'u-2', value: 'y' });
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_prepared_statements`.execute(plain.db);
    assert.equal(rows[0]?.n, 0);
  });
});
