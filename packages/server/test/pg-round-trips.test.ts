/**
 * Round trips to PostgreSQL on the claim path (storage/postgres/pg-client.ts, store.lockClaim, WorkService.start).
 * On the benchmark's machine the server's CPU goes mostly into one socket write per round trip, so the
 * number per claim is a figure worth guarding: a change that adds one fails here, with the statements
 * of every round trip in the message.
 *
 * Also the pipelining's edge cases: a transaction that ends before its first statement sends nothing; a
 * failing first statement (sent in one write with the `begin`) rolls back and leaves the connection
 * usable; a start on a resource with dependency rules runs again with the whole scope locked.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  createTestServer,
  deferred,
  makeStore,
  onConnectionsAtOnce,
  PG_ENABLED,
  PG_URL,
  type TestServer,
  untilWaitingOnLock,
} from '@availsync/testkit';
import { sql } from 'kysely';
import { ManualClock } from '../src/clock.js';
import { MAX_NAMED_VALUES, pgClientClass } from '../src/storage/postgres/pg-client.js';
import { createPostgresStore, type Store } from '../src/storage/store.js';

/**
 * Written in the background, not awaited by the request: the activity recorder's batches, and an agent's
 * `last_seen_at` (at most every 30 s).
 */
const BACKGROUND = /"(activity_events|usage_counters)"|set "last_seen_at"/;

describe('round trips to PostgreSQL', { skip: !PG_ENABLED }, () => {
  const clock = new ManualClock(Date.now());
  const made = makeStore('postgres', clock);
  let trips: string[][] = [];
  let store: Store;
  let t: TestServer;
  before(async () => {
    await made.store.migrate();
    store = createPostgresStore({
      url: PG_URL,
      clock,
      schema: made.schema,
      onRoundTrip: (statements) => {
        if (!statements.some((s) => BACKGROUND.test(s))) trips.push(statements);
      },
    });
    t = await createTestServer('postgres', { clock, store });
    // The event feed reads (and numbers) the events each change appends, on its own connection and
    // schedule, not the request's: stopped, so only the requests' round trips are counted.
    await t.services.events.stop();
  });
  after(async () => {
    await t.close();
    await made.store.close();
    await made.drop();
  });

  /** The round trips `fn` makes, each as a short label per statement. */
  async function counted<T>(fn: () => Promise<T>): Promise<{ result: T; trips: string[][] }> {
    await t.services.activity.recorder.flush();
    trips = [];
    const result = await fn();
    const seen = trips.map((trip) => trip.map(label));
    return { result, trips: seen };
  }
  const label = (text: string) => {
    const s = text.replace(/\s+/g, ' ').trim();
    if (s === 'begin' || s === 'commit' || s === 'rollback') return s;
    if (s.startsWith('/* write-behind */')) return 'writes';
    return s;
  };

  it('a claim (start + finish) costs 4 round trips: start 2, finish 2', async () => {
    const { key } = await t.workspace();
    // Warm: the agent's first request records last-seen and puts its key in the node's cache; the plan's
    // counters are read once.
    const warm = await t.start(key, { resource: 'repo:acme/warm' });
    await t.request('POST', '/v1/work/run/finish', { key, body: { claim_id: warm.body.claim.id } });

    const start = await counted(() =>
      t.request('POST', '/v1/work/run/start', {
        key,
        headers: { 'idempotency-key': 'rt-1' },
        body: { resource: 'repo:acme/round-trips' },
      }),
    );
    assert.equal(start.result.body.action, 'proceed');
    const s = start.trips;
    assert.equal(s.length, 2, `start: ${JSON.stringify(s, null, 1)}`);
    const [first = []] = s;
    assert.equal(first.length, 6, 'begin and five statements in one round trip');
    assert.equal(first[0], 'begin');
    assert.match(first[1] ?? '', /"key_hash" = \$1/, 'the key confirmed inside the transaction');
    assert.match(first[2] ?? '', /idempotency_keys/, 'the idempotency key');
    assert.match(first[3] ?? '', /from resources .* for update/, 'the resource lock');
    assert.match(first[4] ?? '', /resource_dependencies/, 'live claims and rules, read after the lock');
    assert.match(first[5] ?? '', /queue_waiters/, 'the wait queue, in the same round trip');
    assert.deepEqual(s[1], ['writes', 'commit'], 'the deferred writes go with the commit');

    const finish = await counted(() =>
      t.request('POST', '/v1/work/run/finish', { key, body: { claim_id: start.result.body.claim.id, outcome: 'finished' } }),
    );
    assert.equal(finish.result.body.action, 'finished');
    const f = finish.trips;
    assert.equal(f.length, 2, `finish: ${JSON.stringify(f, null, 1)}`);
    assert.equal(f[0]?.[0], 'begin');
    assert.match(f[0]?.[1] ?? '', /"key_hash" = \$1/);
    assert.match(f[0]?.[2] ?? '', /for update of res .* for update/, 'resource and claim locked in one statement');
    assert.deepEqual(f[1], ['writes', 'commit']);
  });

  it('a plain extend (a heartbeat) costs 2 round trips, and the renewal lands', async () => {
    const { key } = await t.workspace();
    const claim = (await t.start(key, { resource: 'repo:acme/heartbeat', duration_minutes: 10 })).body.claim;
    clock.advance(60_000);
    const extend = await counted(() =>
      t.request('POST', '/v1/work/run/extend', { key, body: { claim_id: claim.id, duration_minutes: 20 } }),
    );
    assert.equal(extend.result.body.action, 'extended');
    const e = extend.trips;
    assert.equal(e.length, 2, `extend: ${JSON.stringify(e, null, 1)}`);
    assert.equal(e[0]?.[0], 'begin');
    assert.match(e[0]?.[2] ?? '', /for update of res .* for update/);
    assert.match(e[0]?.[3] ?? '', /"file_claims"/, 'the working set, for the answer, read after the lock');
    assert.deepEqual(e[1], ['writes', 'commit']);
    const row = await store.db
      .selectFrom('claims')
      .select(['expires_at', 'renewal_count'])
      .where('id', '=', claim.id)
      .executeTakeFirstOrThrow();
    assert.equal(row.expires_at, Date.parse(extend.result.body.claim.expires_at));
    assert.equal(row.renewal_count, 1);
  });

  it('a working-set update costs 3 round trips, 2 of them under the repository lock, and its answer is what was written', async () => {
    const { session, key } = await t.workspace();
    const other = await t.createAgent(session, { name: 'other' });
    const mine = (await t.start(key, { resource: 'project:rt-ws-a' })).body.claim;
    const theirs = (await t.start(other.key, { resource: 'project:rt-ws-b' })).body.claim;
    const ws = (k: string, claim: string, paths: string[]) =>
      t.request('POST', '/v1/work/run/working-set', { key: k, body: { claim_id: claim, resource: 'repo:acme/rt-ws', paths } });
    await ws(other.key, theirs.id, ['taken.ts']);
    await ws(key, mine.id, ['a.ts', 'b.ts']);

    const update = await counted(() => ws(key, mine.id, ['b.ts', 'c.ts', 'taken.ts']));
    assert.equal(update.result.body.action, 'partial_proceed');
    const u = update.trips;
    assert.equal(u.length, 3, `working set: ${JSON.stringify(u, null, 1)}`);
    assert.match(u[0]?.join() ?? '', /from "claims" where "id" = \$1/, 'the claim, to know which repository to lock');
    const [begin, confirm, lockA, lockB, claim, files, others] = u[1] ?? [];
    assert.equal(u[1]?.length, 7, 'begin, the key, two locks and three reads in one round trip');
    assert.equal(begin, 'begin');
    assert.match(confirm ?? '', /"key_hash" = \$1/, 'the key confirmed inside the transaction');
    for (const lock of [lockA, lockB]) assert.match(lock ?? '', /from resources .* for update/, 'the run and the repository locked');
    assert.match(claim ?? '', /from "claims" where "id" = \$1 for update/, 'the claim, after the locks');
    assert.match(files ?? '', /from "file_claims" where "claim_id" = \$1/, 'its working set');
    assert.match(others ?? '', /inner join "claims"/, "the other runs' paths");
    assert.deepEqual(u[2], ['writes', 'commit'], 'the audit row, the removal and the upsert go with the commit');

    const rows = await store.db.selectFrom('file_claims').selectAll().where('claim_id', '=', mine.id).orderBy('path').execute();
    assert.deepEqual(
      rows.map((r) => r.path),
      ['b.ts', 'c.ts'],
    );
    assert.deepEqual(
      update.result.body.working_set.map((f: { id: string; path: string; expires_at: string }) => [f.id, f.path, f.expires_at]),
      rows.map((r) => [r.id, r.path, new Date(r.expires_at).toISOString()]),
    );
  });

  it('a working set of any length is one prepared statement text; a statement with a long value list is not prepared', async () => {
    const { key } = await t.workspace();
    const claim = (await t.start(key, { resource: 'project:rt-ws-long' })).body.claim;
    for (const length of [50, 7, 120]) {
      const paths = Array.from({ length }, (_, i) => `long/file-${length}-${i}.ts`);
      const res = await t.request('POST', '/v1/work/run/working-set', {
        key,
        body: { claim_id: claim.id, resource: 'repo:acme/rt-ws-long', paths, op: 'add' },
      });
      assert.equal(res.body.action, 'updated');
    }
    // A statement whose text grows with a list is not prepared: each length would be a text of its own.
    const keys = Array.from({ length: 150 }, (_, i) => `acme/none-${i}`);
    await store.db.selectFrom('resources').select('resource_key').where('resource_key', 'in', keys).execute();

    // Every pooled connection's prepared statements (the pool's 10 connections, each held by one transaction
    // until all 10 are).
    const prepared = await onConnectionsAtOnce(store, 10, async (trx) => {
      const { rows } = await sql<{ statement: string; n: number }>`
        select statement, cardinality(parameter_types) as n from pg_prepared_statements`.execute(trx);
      return rows;
    });
    const all = prepared.flat();
    const texts = (re: RegExp) => new Set(all.filter((r) => re.test(r.statement)).map((r) => r.statement));
    // Each request only adds paths: its deferred writes are the upsert and its event, one text for 50, 7
    // and 120 paths.
    const upserts = texts(/^\/\* write-behind \*\/ (with w0 as \()?insert into "file_claims"/);
    assert.equal(upserts.size, 1, [...upserts].join('\n---\n'));
    assert.match([...upserts][0] ?? '', /select \* from unnest\(/, 'the rows go as arrays');
    assert.equal(texts(/"file_claims"."path" = any/).size, 1, "the check of the others' paths: one text");
    const largest = Math.max(...all.map((r) => Number(r.n)));
    assert.ok(largest <= MAX_NAMED_VALUES, `a prepared statement has ${largest} parameters`);
  });

  it('a key seen for the first time is read before the transaction; a changed one costs a second transaction', async () => {
    const { agent, key } = await t.workspace();
    const cold = await counted(() => t.start(key, { resource: 'repo:acme/cold' }));
    assert.equal(cold.trips.length, 3, `cold: ${JSON.stringify(cold.trips, null, 1)}`);
    assert.match(cold.trips[0]?.join() ?? '', /"key_hash" = \$1/, 'the key lookup');
    assert.ok(!cold.trips[1]?.some((s) => /"key_hash"/.test(s)), 'a key just read is not read again');

    await store.db.updateTable('agents').set({ priority: 90 }).where('id', '=', agent.id).execute();
    const changed = await counted(() => t.start(key, { resource: 'repo:acme/changed' }));
    assert.equal(changed.result.body.claim.priority, 90);
    // The first transaction confirms the key, finds it changed and rolls back (its writes never leave this
    // process: they go with the commit); then the key is read afresh and the start runs again.
    const texts = changed.trips.map((trip) => trip.join(' | '));
    assert.deepEqual(
      texts.map((s) =>
        /rollback/.test(s) ? 'rollback' : /^commit$|writes \| commit/.test(s) ? 'commit' : /^begin/.test(s) ? 'begin…' : 'read',
      ),
      ['begin…', 'rollback', 'read', 'begin…', 'commit'],
      JSON.stringify(changed.trips, null, 1),
    );
  });

  it('runs node-postgres in pipeline mode (without it the grouped statements would each wait for the last)', () => {
    const Client = pgClientClass({ preparedStatements: true });
    const client = new Client({ connectionString: PG_URL }) as unknown as { pipeline?: boolean };
    assert.equal(client.pipeline, true, 'the installed pg no longer takes `pipeline: true`');
  });

  it('locking a resource that another transaction is creating waits for it, then locks the row it made', async () => {
    const key = { org_id: 'org_race', resource_type: 'repo', resource_key: `acme/race-${Date.now()}` };
    const gate = deferred();
    const created = deferred();
    const first = store.transaction(async (trx) => {
      await store.lockResources(trx, [key]);
      created.resolve();
      await gate.promise;
    });
    await created.promise;
    trips = [];
    const second = store.transaction(async (trx) => (await store.lockResources(trx, [key])).rows[0]);
    // The second waits on the first's new row (its insert met the uncommitted key) until the first commits.
    await untilWaitingOnLock(made.store.db, 'the second transaction');
    gate.resolve();
    await first;
    const row = await second;
    assert.equal(row?.fencing_token, 0);
    const locks = trips.flat().filter((s) => /from resources/.test(s) && /for update/.test(s));
    assert.equal(locks.length, 2, 'the lock statement ran again with a new snapshot');
  });

  it('locking several resources when one before another in the order is being created runs the transaction again', async () => {
    // lockResourcesThen locks in sorted order in one write. If the first row is being created by another
    // transaction, its lock statement finds nothing (the row is newer than its snapshot) while the second
    // is already locked: locking the first now would break the order, so the transaction runs again.
    const suffix = Date.now();
    const first = { org_id: 'org_race', resource_type: 'repo', resource_key: `acme/a-${suffix}` };
    const second = { org_id: 'org_race', resource_type: 'repo', resource_key: `acme/b-${suffix}` };
    const gate = deferred();
    const created = deferred();
    const creator = store.transaction(async (trx) => {
      await store.lockResources(trx, [first]);
      created.resolve();
      await gate.promise;
    });
    await created.promise;
    trips = [];
    const read = store.db.selectFrom('resources').select('resource_key').where('org_id', '=', 'org_race').orderBy('resource_key');
    const locker = store.transaction((trx) => store.lockResourcesThen(trx, [second, first], [read]));
    await untilWaitingOnLock(made.store.db, 'the locker');
    gate.resolve();
    await creator;
    const { rows, results } = await locker;
    assert.deepEqual(
      rows.map((r) => r.resource_key),
      [second.resource_key, first.resource_key],
      'rows in the order asked',
    );
    assert.ok(
      results[0].some((r) => r.resource_key === second.resource_key),
      'the read ran after both locks',
    );
    const begins = trips.filter((trip) => trip[0] === 'begin').length;
    assert.equal(begins, 2, `the transaction ran again: ${JSON.stringify(trips, null, 1)}`);
  });

  it('a transaction that ends before its first statement sends nothing', async () => {
    const { trips: sent } = await counted(() =>
      store
        .transaction(async () => {
          throw new Error('changed my mind');
        })
        .catch((err: Error) => err.message),
    );
    assert.deepEqual(sent, []);
  });

  it('a failing first statement rolls the transaction back and the connection serves the next one', async () => {
    const id = `rt-meta-${Date.now()}`;
    await store.db.insertInto('meta').values({ key: id, value: 'first' }).execute();
    const failed = await counted(() =>
      store
        .transaction(async (trx) => {
          await trx.insertInto('meta').values({ key: id, value: 'duplicate' }).execute();
        })
        .then(
          () => undefined,
          (err: unknown) => err,
        ),
    );
    assert.ok(store.isUniqueViolation(failed.result), String(failed.result));
    assert.deepEqual(
      failed.trips.map((trip) => trip[0]),
      ['begin', 'rollback'],
    );
    // Every pooled connection still works, inside and outside transactions.
    const values = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        store.transaction(async (trx) => {
          await trx
            .updateTable('meta')
            .set({ value: `v${i}` })
            .where('key', '=', id)
            .execute();
          return (await trx.selectFrom('meta').select('value').where('key', '=', id).executeTakeFirstOrThrow()).value;
        }),
      ),
    );
    assert.deepEqual(
      values,
      Array.from({ length: 12 }, (_, i) => `v${i}`),
    );
  });

  it('a start on a resource with dependency rules runs again with the whole scope locked, and sees the rule', async () => {
    const { session, key } = await t.workspace();
    const other = await t.createAgent(session, { name: 'other' });
    const rules = await t.request('PUT', `/v1/orgs/${session.orgId}/rules`, {
      session,
      body: { dependencies: [{ resource: 'repo:acme/web', depends_on: ['repo:acme/api'] }] },
    });
    assert.equal(rules.status, 200);
    assert.equal((await t.start(other.key, { resource: 'repo:acme/api' })).body.action, 'proceed');

    const blocked = await counted(() => t.start(key, { resource: 'repo:acme/web' }));
    assert.equal(blocked.result.body.action, 'skip_run');
    assert.equal(blocked.result.body.blocking_claim.resource, 'repo:acme/api');
    const begins = blocked.trips.filter((trip) => trip[0] === 'begin').length;
    assert.equal(begins, 2, `one transaction finds the rule, a second locks the scope: ${JSON.stringify(blocked.trips, null, 1)}`);
  });

  it("finishing another workspace's claim is 404 and leaves its claim as it was", async () => {
    const mine = await t.workspace();
    const theirs = await t.workspace();
    const claim = (await t.start(theirs.key, { resource: 'repo:acme/theirs' })).body.claim;
    const res = await t.request('POST', '/v1/work/run/finish', { key: mine.key, body: { claim_id: claim.id } });
    assert.equal(res.status, 404);
    const row = await store.db.selectFrom('claims').select('status').where('id', '=', claim.id).executeTakeFirstOrThrow();
    assert.equal(row.status, 'active');
    const missing = await t.request('POST', '/v1/work/run/finish', { key: mine.key, body: { claim_id: 'claim_doesnotexist' } });
    assert.equal(missing.status, 404);
  });
});
