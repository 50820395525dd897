/**
 * The PostgreSQL pool keeps its connections when they go idle. node-postgres closes an idle connection
 * after 10 s by default, and the next burst of requests then runs on new backends, whose catalog caches
 * are empty and which parse every prepared statement again (in the first second of a burst after a quiet
 * spell, p99 43-75 ms on reopened connections, 30-51 ms on kept ones). The pool's idle timer is driven by
 * mocked timers here, so nothing waits.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, mock } from 'node:test';
import { onConnectionsAtOnce, PG_ENABLED, PG_URL } from '@availsync/testkit';
import { sql } from 'kysely';
import { ManualClock } from '../src/clock.js';
import { createPostgresStore, type Store } from '../src/storage/store.js';

describe('PostgreSQL connection pool', { skip: !PG_ENABLED }, () => {
  let store: Store;
  before(() => {
    // Mocked before the first connection opens, so the pool's idle timers are mocked too.
    mock.timers.enable({ apis: ['setTimeout'] });
    store = createPostgresStore({ url: PG_URL, clock: new ManualClock(Date.now()), poolSize: 3 });
  });
  after(async () => {
    mock.timers.reset();
    await store.close();
  });

  /** The backend process ids serving `n` transactions that run at the same time (so on `n` connections). */
  async function backends(n: number): Promise<number[]> {
    const pids = await onConnectionsAtOnce(store, n, async (trx) => {
      const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
      return rows[0]?.pid as number;
    });
    return pids.sort((a, b) => a - b);
  }

  it('keeps every connection it opened after they have been idle far longer than the 10 s default', async () => {
    const first = await backends(3);
    assert.equal(new Set(first).size, 3, 'three connections in use at once');
    mock.timers.tick(10 * 60_000);
    const later = await backends(3);
    assert.deepEqual(later, first, 'the same three backends serve the next burst');
  });
});

describe('PostgreSQL pool warm-up at start-up', { skip: !PG_ENABLED }, () => {
  it("sets each new connection's settings with SET once it is open (poolers refuse the options startup parameter)", async () => {
    const store = createPostgresStore({ url: PG_URL, clock: new ManualClock(Date.now()), poolSize: 2, idleTxTimeoutMs: 1234 });
    try {
      await store.warm();
      const read = () => sql<{ t: string }>`select current_setting('idle_in_transaction_session_timeout') as t`.execute(store.db);
      const seen = await Promise.all([read(), read(), read()]);
      assert.deepEqual(
        seen.map((r) => r.rows[0]?.t),
        ['1234ms', '1234ms', '1234ms'],
      );
    } finally {
      await store.close();
    }
  });

  it('never fails the start: a connection it cannot open is reported and left to open on demand', async () => {
    const errors: Error[] = [];
    const unreachable = createPostgresStore({
      url: 'postgres://postgres@127.0.0.1:1/test',
      clock: new ManualClock(Date.now()),
      poolSize: 3,
      onPoolError: (err) => errors.push(err),
    });
    try {
      await unreachable.warm();
      assert.equal(errors.length, 3);
      assert.match(errors[0]?.message ?? '', /ECONNREFUSED/);
    } finally {
      await unreachable.close();
    }
  });
});
