/**
 * Availability holds, invariant 4 under concurrency on every store: racing creates through the
 * API, with the service lock bypassed, and against the schema directly; on PostgreSQL, the exclusion
 * constraint answering a row committed between the decision and the insert.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestServer, MIN, PG_URL, type Res, STORES, type TestServer, untilWaitingOnLock } from '@availsync/testkit';
import { sql } from 'kysely';
import pg from 'pg';
import type { HoldRow } from '../src/services/holds.js';
import { at, dayAhead, HOUR, holdsOf, win } from './holds-helpers.js';

for (const kind of STORES) {
  describe(`availability holds (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await createTestServer(kind);
    });
    after(async () => {
      await t.close();
    });
    const { holdRows } = holdsOf(() => t);

    it('20 simultaneous overlapping creates on one resource: exactly one 201, the rest 409 naming it', async () => {
      const session = await t.signup();
      const agents = [];
      for (let i = 0; i < 20; i++) agents.push(await t.createAgent(session, { name: `scheduler-${i}` }));
      const base = dayAhead(t);
      // Windows start 2 minutes apart and last an hour: every pair overlaps.
      const results = await Promise.all(
        agents.map((a, i) =>
          t.request('POST', '/v1/holds', {
            key: a.key,
            body: { resource: 'release:prod', start_at: at(base + i * 2 * MIN), end_at: at(base + i * 2 * MIN + HOUR) },
          }),
        ),
      );
      const won = results.filter((r) => r.status === 201);
      const lost = results.filter((r) => r.status === 409);
      assert.equal(won.length, 1, `statuses: ${results.map((r) => r.status).join(',')}`);
      assert.equal(lost.length, 19);
      const winner = (won[0] as Res).body.hold;
      for (const r of lost) {
        assert.equal(r.body.error, 'hold_conflict');
        assert.deepEqual(
          r.body.conflicts.map((c: { id: string }) => c.id),
          [winner.id],
        );
      }
      const rows = await holdRows(session.orgId);
      assert.deepEqual(
        rows.map((r) => [r.id, r.status]),
        [[winner.id, 'active']],
      );
    });

    it('20 identical concurrent creates with one Idempotency-Key make one hold', async () => {
      const { session, key } = await t.workspace();
      const base = dayAhead(t);
      const body = { resource: 'release:prod', ...win(base, 10, 11) };
      const replies = await Promise.all(
        Array.from({ length: 20 }, () => t.request('POST', '/v1/holds', { key, body, headers: { 'idempotency-key': 'once' } })),
      );
      for (const r of replies) {
        assert.equal(r.status, 201);
        assert.deepEqual(r.body, (replies[0] as Res).body);
      }
      assert.equal(replies.filter((r) => r.headers.get('idempotent-replayed') !== 'true').length, 1);
      assert.equal((await holdRows(session.orgId)).length, 1);
    });

    it('with the service lock bypassed, the schema alone still admits exactly one of 20 racers (no 500)', async () => {
      const session = await t.signup();
      const agents = [];
      for (let i = 0; i < 20; i++) agents.push(await t.createAgent(session, { name: `racer-${i}` }));
      const base = dayAhead(t);
      const store = t.store;
      const realLock = store.lockResources;
      // No row lock: every racer reads, decides and inserts concurrently; only the database can refuse.
      store.lockResources = async (trx) => ({ now: await store.now(trx), rows: [] });
      let results: Res[];
      try {
        results = await Promise.all(
          agents.map((a, i) =>
            t.request('POST', '/v1/holds', {
              key: a.key,
              body: { resource: 'release:prod', start_at: at(base + i * MIN), end_at: at(base + i * MIN + HOUR) },
            }),
          ),
        );
      } finally {
        store.lockResources = realLock;
      }
      assert.deepEqual(
        results.map((r) => r.status).sort(),
        [201, ...Array(19).fill(409)],
        JSON.stringify(results.filter((r) => r.status !== 201 && r.status !== 409).map((r) => r.body)),
      );
      for (const r of results.filter((x) => x.status === 409)) assert.equal(r.body.error, 'hold_conflict');
      const active = (await holdRows(session.orgId)).filter((r) => r.status === 'active');
      assert.equal(active.length, 1);
    });

    it('the schema refuses an overlapping active row inserted directly (bypassing the service)', async () => {
      const { session, agent } = await t.workspace();
      const base = dayAhead(t);
      const row = (id: string, h1: number, h2: number, status = 'active'): HoldRow => ({
        id,
        org_id: session.orgId,
        agent_id: agent.id,
        resource_type: 'release',
        resource_key: 'prod',
        start_at: base + h1 * HOUR,
        end_at: base + h2 * HOUR,
        status,
        reason: null,
        metadata: '{}',
        expires_at: null,
        idempotency_key: null,
        created_at: t.clock.now(),
        released_at: null,
      });
      const insert = (r: HoldRow) => t.store.db.insertInto('holds').values(r).execute();
      const refused = (err: unknown) => {
        const e = err as { code?: string; message?: string };
        return kind === 'postgres' ? e.code === '23P01' : /hold_overlap/.test(String(e.message));
      };
      await insert(row('hld_direct_a', 10, 11));
      await assert.rejects(insert(row('hld_direct_b', 10.5, 11.5)), refused, 'an overlapping active row is refused');
      await insert(row('hld_direct_c', 11, 12)); // touching
      await insert(row('hld_direct_d', 10, 12, 'released')); // only active rows are exclusive
      await assert.rejects(
        t.store.db.updateTable('holds').set({ status: 'active' }).where('id', '=', 'hld_direct_d').execute(),
        refused,
        'reviving an overlapping row is refused',
      );
      // Another resource, or another workspace, is free to overlap.
      await insert({ ...row('hld_direct_e', 10, 11), resource_key: 'staging' });
      const other = await t.workspace();
      await insert({ ...row('hld_direct_f', 10, 11), org_id: other.session.orgId });
      await assert.rejects(
        insert({ ...row('hld_direct_g', 11, 10) }),
        (err: unknown) => /holds_window|CHECK|range lower bound/i.test(String((err as Error).message)),
        'end_at must be after start_at',
      );
    });
  });
}

describe('availability holds: the exclusion constraint answers 409, never 500 (postgres)', { skip: !STORES.includes('postgres') }, () => {
  let t: TestServer;
  before(async () => {
    t = await createTestServer('postgres');
  });
  after(async () => {
    await t.close();
  });

  it('a row committed between the decision and the insert is refused by the database and reported as hold_conflict', async () => {
    const { session, key, agent } = await t.workspace();
    const base = dayAhead(t);
    const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(t.store.db);
    const schema = rows[0]?.schema as string;
    // Another writer (not the service: it takes no resource lock) inserts an overlapping hold and holds
    // its transaction open.
    const intruder = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
    await intruder.connect();
    try {
      await intruder.query('begin');
      await intruder.query(
        `insert into holds (id, org_id, agent_id, resource_type, resource_key, start_at, end_at, status, metadata, created_at)
         values ('hld_intruder', $1, $2, 'release', 'prod', $3, $4, 'active', '{}', $5)`,
        [session.orgId, agent.id, base + 10 * HOUR, base + 11 * HOUR, t.clock.now()],
      );
      // The service sees no committed conflict, inserts, and waits on the exclusion constraint.
      const pending = t.request('POST', '/v1/holds', {
        key,
        body: { resource: 'release:prod', start_at: at(base + 10.5 * HOUR), end_at: at(base + 11.5 * HOUR) },
      });
      // Polled from the store's pool: inside the intruder's open transaction pg_stat_activity is a snapshot.
      await untilWaitingOnLock(t.store.db, 'the service insert', { query: 'insert into "holds"%', limit: 20_000 });
      await intruder.query('commit');
      const res = await pending;
      assert.equal(res.status, 409, JSON.stringify(res.body));
      assert.equal(res.body.error, 'hold_conflict');
      assert.deepEqual(
        res.body.conflicts.map((c: { id: string }) => c.id),
        ['hld_intruder'],
      );
      assert.deepEqual(res.body.next_free_slot, { start_at: at(base + 11 * HOUR), end_at: at(base + 12 * HOUR) });
      const mine = await t.store.db.selectFrom('holds').select('id').where('org_id', '=', session.orgId).execute();
      assert.deepEqual(mine, [{ id: 'hld_intruder' }]);
    } finally {
      await intruder.end();
    }
  });
});
