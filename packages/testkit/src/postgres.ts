/**
 * What the storage suites ask of the database itself: query plans, lock waits, and transactions held open
 * on several connections at once (to set up a race).
 */
import assert from 'node:assert/strict';
import type { Store } from '@availsync/server';
import { CompiledQuery, sql } from 'kysely';
import { deferred } from './async.js';

/** A transaction of `store`, and what a query may run on (the pool or a transaction). */
export type Tx = Parameters<Parameters<Store['transaction']>[0]>[0];
export type Executor = Store['db'] | Tx;

/**
 * The plan a store would run `query` with, as text. PostgreSQL: the generic plan of a prepared statement
 * (which the server's statements are), with sequential scans ruled out, so what is left is what the
 * query's text allows whatever values it is given. A test asserts the indexes it names.
 */
export async function planOf(store: Store, query: CompiledQuery): Promise<string> {
  if (store.kind === 'sqlite') {
    const { rows } = await store.db.executeQuery(CompiledQuery.raw(`explain query plan ${query.sql}`, [...query.parameters]));
    return rows.map((r) => (r as { detail: string }).detail).join('\n');
  }
  return store.db.transaction().execute(async (trx) => {
    await sql`set local enable_seqscan = off`.execute(trx);
    await sql`set local plan_cache_mode = force_generic_plan`.execute(trx);
    await sql.raw(`prepare plan_of as ${query.sql}`).execute(trx);
    const literal = (v: unknown) => (Array.isArray(v) ? sql`array[${sql.join(v.map((x) => sql.lit(x)))}]` : sql.lit(v));
    const args = query.parameters.length > 0 ? sql`(${sql.join(query.parameters.map(literal))})` : sql``;
    const { rows } = await sql<{ 'QUERY PLAN': string }>`explain execute plan_of${args}`.execute(trx);
    await sql`deallocate plan_of`.execute(trx);
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  });
}

/**
 * Resolves once a backend of this PostgreSQL database waits on a lock (one running a statement `LIKE
 * query`, if given): the other side of a race test is now blocked. Polled through `db`, whose own
 * snapshot must be fresh (not inside the transaction holding the lock); fails after `limit` polls.
 */
export async function untilWaitingOnLock(db: Executor, what: string, opts: { query?: string; limit?: number } = {}) {
  const { query, limit = 5000 } = opts;
  for (let polls = 0; ; polls++) {
    assert.ok(polls < limit, `${what} never waited on a lock`);
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from pg_stat_activity
      where wait_event_type = 'Lock' and datname = current_database() ${query === undefined ? sql`` : sql`and query ilike ${query}`}`.execute(
      db,
    );
    if ((rows[0]?.n ?? 0) > 0) return;
  }
}

/** `fn` in `n` transactions of `store` held open until all `n` have started, so each on its own connection. */
export async function onConnectionsAtOnce<T>(store: Store, n: number, fn: (trx: Tx) => Promise<T>): Promise<T[]> {
  let arrived = 0;
  const together = deferred();
  return Promise.all(
    Array.from({ length: n }, () =>
      store.transaction(async (trx) => {
        if (++arrived === n) together.resolve();
        await together.promise;
        return fn(trx);
      }),
    ),
  );
}
