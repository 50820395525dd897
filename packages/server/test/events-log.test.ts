/**
 * The event log's core (migration 008, storage/queries/events.ts, services/events/feed.ts), on both stores:
 * an event exists exactly when its transaction commits; readers see events in `seq` order, each once, and
 * never find an event below one they have seen (PostgreSQL numbers after commit, in commit order, and an
 * open transaction holds back no one else); a commit on one node wakes the feed of another; the feed
 * polls when no wake-up comes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { deferred, makeStore, PG_URL, STORES } from '@availsync/testkit';
import { ManualClock } from '../src/clock.js';
import { silentLogger } from '../src/logger.js';
import { EventFeed } from '../src/services/events/feed.js';
import { appendEvents, type EventRow, eventsAfter } from '../src/storage/queries/events.js';
import { createPostgresStore, type Store } from '../src/storage/store.js';

const ORG = 'org_events';
const ev = (type: string, n: number) => ({ org_id: ORG, type, created_at: 0, data: { n } });

function feedOf(store: Store, clock: ManualClock, pollMs = 1_000) {
  const feed = new EventFeed({ store, clock, logger: silentLogger, notifications: store.notifications, pollMs });
  const seen: EventRow[] = [];
  let waiting: { count: number; done: () => void } | undefined;
  feed.subscribe((rows) => {
    seen.push(...rows);
    if (waiting && seen.length >= waiting.count) waiting.done();
  });
  const until = (count: number) => {
    if (seen.length >= count) return Promise.resolve();
    const d = deferred<void>();
    waiting = { count, done: () => d.resolve() };
    return d.promise;
  };
  return { feed, seen, until };
}

for (const kind of STORES) {
  describe(`event log core [${kind}]`, () => {
    const clock = new ManualClock(Date.now());
    const made = makeStore(kind, clock);
    const store = made.store;
    before(() => store.migrate());
    after(async () => {
      await store.close();
      await made.drop();
    });

    it('an event exists exactly when its transaction commits; the feed hands each one once, in order', async () => {
      const { feed, seen, until } = feedOf(store, clock);
      await feed.start();
      await store.transaction(async (trx) => appendEvents(store, trx, [ev('claim.started', 1), ev('claim.finished', 2)]));
      await assert.rejects(
        store.transaction(async (trx) => {
          await appendEvents(store, trx, [ev('claim.started', 99)]);
          throw new Error('rolled back');
        }),
        /rolled back/,
      );
      await store.transaction(async (trx) => appendEvents(store, trx, [ev('claim.started', 3)]));
      // Woken by the commit itself (LISTEN on PostgreSQL, the store on SQLite): no clock moved.
      await until(3);
      await feed.wake();
      assert.deepEqual(
        seen.map((e) => JSON.parse(e.data).n),
        [1, 2, 3],
      );
      const seqs = seen.map((e) => Number(e.seq));
      assert.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
      );
      assert.equal(new Set(seqs).size, 3);
      assert.deepEqual(
        (await eventsAfter(store.db, seqs[0] as number, 10, ORG)).map((e) => Number(e.seq)),
        seqs.slice(1),
      );
      await feed.stop();
    });
  });
}

describe('event log core [postgres]: numbering after commit, across nodes', { skip: !STORES.includes('postgres') }, () => {
  const clock = new ManualClock(Date.now());
  const made = makeStore('postgres', clock);
  const a = made.store;
  let b: Store;
  let quiet: Store;
  before(async () => {
    await a.migrate();
    b = createPostgresStore({ url: PG_URL, clock, schema: made.schema as string, poolSize: 4 });
    quiet = createPostgresStore({ url: PG_URL, clock, schema: made.schema as string, poolSize: 2, listen: false });
  });
  after(async () => {
    await b.close();
    await quiet.close();
    await a.close();
    await made.drop();
  });

  it('events are numbered in the order they commit; a transaction held open holds back no one else', async () => {
    // What a reader must never see: seq N, then later an event below N. Numbering after commit gives it:
    // the second transaction commits first and is numbered first; the first, committed later, above it.
    const { feed, seen, until } = feedOf(b, clock);
    await feed.start();
    const release = deferred<void>();
    const firstWrote = deferred<void>();
    const first = a.transaction(async (trx) => {
      // A write now gives the transaction its id early (a claim's lock and resource rows do the same).
      await trx.insertInto('meta').values({ key: 'events-test', value: '1' }).execute();
      await appendEvents(a, trx, [ev('claim.started', 1)]);
      firstWrote.resolve();
      await release.promise;
    });
    await firstWrote.promise;
    await a.transaction(async (trx) => appendEvents(a, trx, [ev('claim.started', 2)]));
    await until(1);
    assert.equal(JSON.parse((seen[0] as EventRow).data).n, 2);
    release.resolve();
    await first;
    await until(2);
    assert.deepEqual(
      seen.map((e) => JSON.parse(e.data).n),
      [2, 1],
    );
    assert.ok(Number((seen[1] as EventRow).seq) > Number((seen[0] as EventRow).seq));
    await feed.stop();
  });

  it('a commit on one node wakes the feed on another; without LISTEN the feed finds it on its poll', async () => {
    const live = feedOf(b, clock);
    const polled = feedOf(quiet, clock, 1_000);
    await live.feed.start();
    await polled.feed.start();
    await a.transaction(async (trx) => appendEvents(a, trx, [ev('hold.created', 7)]));
    await live.until(1);
    assert.equal(JSON.parse((live.seen[0] as EventRow).data).n, 7);
    assert.equal(quiet.notifications.live, false);
    assert.equal(polled.seen.length, 0);
    clock.advance(1_000);
    await polled.until(1);
    assert.equal(JSON.parse((polled.seen[0] as EventRow).data).n, 7);
    await live.feed.stop();
    await polled.feed.stop();
  });
});
