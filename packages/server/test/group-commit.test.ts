/**
 * store.transaction() under concurrency, on both stores: transactions started together each succeed or
 * fail alone (one that throws leaves no row behind and takes no other down). On the embedded store they
 * also share commits (group commit): the transactions queued in one turn of the event loop commit once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { makeStore, STORES } from '@availsync/testkit';
import { ManualClock } from '../src/clock.js';
import { createSqliteStore, GROUP_COMMIT_MAX_BATCH, type Store } from '../src/storage/store.js';

const N = 24;
const FAILING = 7;

/** N transactions at once, each writing one meta row; number FAILING writes and then throws. */
async function concurrentWrites(store: Store, tag: string) {
  const settled = await Promise.allSettled(
    Array.from({ length: N }, (_, i) =>
      store.transaction(async (trx) => {
        await trx
          .insertInto('meta')
          .values({ key: `${tag}-${i}`, value: String(i) })
          .execute();
        if (i === FAILING) throw new Error(`job ${i} fails after writing`);
        return i;
      }),
    ),
  );
  const rows = await store.db.selectFrom('meta').select('key').where('key', 'like', `${tag}-%`).execute();
  return { settled, keys: new Set(rows.map((r) => r.key)) };
}

function assertIsolated({ settled, keys }: Awaited<ReturnType<typeof concurrentWrites>>, tag: string) {
  for (const [i, s] of settled.entries()) {
    if (i === FAILING) {
      assert.equal(s.status, 'rejected');
      assert.match(String((s as PromiseRejectedResult).reason), /fails after writing/);
      assert.ok(!keys.has(`${tag}-${i}`), 'the failed transaction left its row behind');
    } else {
      assert.deepEqual(s, { status: 'fulfilled', value: i });
      assert.ok(keys.has(`${tag}-${i}`), `transaction ${i} was acknowledged but its row is missing`);
    }
  }
  assert.equal(keys.size, N - 1);
}

for (const kind of STORES) {
  describe(`store.transaction under concurrency (${kind})`, () => {
    const made = makeStore(kind, new ManualClock());
    after(async () => {
      await made.store.close();
      await made.drop();
    });

    it('transactions started together succeed or fail alone', async () => {
      await made.store.migrate();
      assertIsolated(await concurrentWrites(made.store, 'iso'), 'iso');
      // And again, now that the store is warm.
      assertIsolated(await concurrentWrites(made.store, 'iso2'), 'iso2');
    });
  });
}

describe('group commit (sqlite)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'availsync-gc-'));
  const commits: number[] = [];
  const store = createSqliteStore({ dataDir: dir, clock: new ManualClock(), onCommit: (n) => commits.push(n) });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('transactions queued in one turn of the event loop share commits', async () => {
    await store.migrate();
    commits.length = 0;
    const result = await concurrentWrites(store, 'gc');
    assertIsolated(result, 'gc');
    // Queued together, they commit in full batches (the last one holds the rest), not one by one.
    const full = Math.floor(N / GROUP_COMMIT_MAX_BATCH);
    const rest = N % GROUP_COMMIT_MAX_BATCH;
    assert.deepEqual(commits, [...Array(full).fill(GROUP_COMMIT_MAX_BATCH), ...(rest ? [rest] : [])]);

    // A lone transaction commits by itself.
    commits.length = 0;
    await store.transaction((trx) => trx.insertInto('meta').values({ key: 'gc-alone', value: '1' }).execute());
    assert.deepEqual(commits, [1]);

    // Committed, not merely visible to the connection that wrote it: a second connection to the file sees them.
    const other = createSqliteStore({ dataDir: dir, clock: new ManualClock(), shared: true });
    try {
      const rows = await other.db.selectFrom('meta').select('key').where('key', 'like', 'gc-%').execute();
      assert.equal(rows.length, N, 'every acknowledged write (the batch and the lone one) is in the file');
    } finally {
      await other.close();
    }
  });

  it("persists the clock's high-water mark with each commit, and never lowers it", async () => {
    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00.000Z'));
    const dir2 = mkdtempSync(join(tmpdir(), 'availsync-hwm-'));
    const server = createSqliteStore({ dataDir: dir2, clock });
    // An operator command on the same file whose clock is an hour behind the server's.
    const behind = createSqliteStore({ dataDir: dir2, clock: new ManualClock(clock.now() - 3_600_000), shared: true });
    const hwm = async () =>
      Number((await server.db.selectFrom('meta').select('value').where('key', '=', 'clock_hwm').executeTakeFirstOrThrow()).value);
    try {
      await server.migrate();
      await server.transaction(async (trx) => server.now(trx));
      assert.equal(await hwm(), clock.now());
      await behind.migrate();
      await behind.transaction(async (trx) => behind.now(trx));
      assert.equal(await hwm(), clock.now(), 'a store whose clock is behind lowered the persisted mark');
    } finally {
      await behind.close();
      await server.close();
      rmSync(dir2, { recursive: true, force: true });
    }
  });
});
