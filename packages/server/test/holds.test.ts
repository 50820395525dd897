/**
 * Availability holds (SPEC §5) on every store: create / confirm / release / list, idempotency, overlap
 * (half-open windows), tentative TTL, availability, conflict previews, isolation, auth, bad input, and
 * invariant 4 under concurrency — through the API, with the service lock bypassed, and against the schema
 * directly. Time moves only through the manual clock. Windows sit two days ahead, on whole hours, so the
 * database's own clock moving on during a test never touches them.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestServer, deferred, MIN, PG_URL, planOf, type Res, STORES, type TestServer, untilWaitingOnLock } from '@availsync/testkit';
import { sql } from 'kysely';
import pg from 'pg';
import { firstFit, freeWindows, mergeWindows, nextFreeSlot } from '../src/domain/holds.js';
import { type HoldRow, lapsedHolds } from '../src/services/holds.js';
import { readmeBlock, readmeText, runBash, useReadmeServer } from './readme-server.js';

const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const at = (ms: number) => new Date(ms).toISOString();

/** Midnight UTC at least two days after the test clock's now. */
function dayAhead(t: TestServer): number {
  return Math.ceil((t.clock.now() + 2 * DAY) / DAY) * DAY;
}

for (const kind of STORES) {
  describe(`availability holds (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await createTestServer(kind);
    });
    after(async () => {
      await t.close();
    });

    /** [base + h1 hours, base + h2 hours) */
    const win = (base: number, h1: number, h2: number) => ({ start_at: at(base + h1 * HOUR), end_at: at(base + h2 * HOUR) });
    const hold = (key: string, resource: string, base: number, h1: number, h2: number, extra: Record<string, unknown> = {}) =>
      t.request('POST', '/v1/holds', { key, body: { resource, ...win(base, h1, h2), ...extra } });
    const holdRows = (orgId: string) => t.store.db.selectFrom('holds').selectAll().where('org_id', '=', orgId).execute();
    const auditEvents = async (orgId: string) =>
      (
        await t.store.db
          .selectFrom('audit_events')
          .select(['event', 'actor_type', 'details'])
          .where('org_id', '=', orgId)
          .where('event', 'like', 'hold.%')
          .orderBy('created_at')
          .orderBy('id')
          .execute()
      ).map((e) => ({ ...e, details: JSON.parse(e.details) as Record<string, unknown> }));

    it('creates, reads, lists and releases a hold; release is idempotent; both are audited', async () => {
      const { session, key, agent } = await t.workspace({ name: 'release-bot', agent_type: 'scheduler' });
      const base = dayAhead(t);
      const created = await hold(key, 'release:prod', base, 10, 11, { reason: 'weekly release', metadata: { ticket: 'REL-7' } });
      assert.equal(created.status, 201);
      assert.match(created.headers.get('x-request-id') ?? '', /^req_/);
      const h = created.body.hold;
      assert.match(h.id, /^hld_/);
      assert.deepEqual(
        { ...h, id: 'x', created_at: 'x' },
        {
          id: 'x',
          agent_id: agent.id,
          resource: 'release:prod',
          resource_type: 'release',
          resource_key: 'prod',
          start_at: at(base + 10 * HOUR),
          end_at: at(base + 11 * HOUR),
          status: 'active',
          reason: 'weekly release',
          metadata: { ticket: 'REL-7' },
          expires_at: null,
          idempotency_key: null,
          created_at: 'x',
          released_at: null,
        },
      );

      const got = await t.request('GET', `/v1/holds/${h.id}`, { key });
      assert.deepEqual(got.body, { hold: h });
      const listed = await t.request('GET', '/v1/holds', { key });
      assert.deepEqual(listed.body, { data: [h], pagination: { limit: 50, offset: 0, total: 1, has_more: false } });

      const rel = await t.request('DELETE', `/v1/holds/${h.id}`, { key });
      assert.equal(rel.status, 200);
      assert.equal(rel.body.action, 'released');
      assert.equal(rel.body.hold.status, 'released');
      assert.ok(rel.body.hold.released_at);
      const again = await t.request('DELETE', `/v1/holds/${h.id}`, { key });
      assert.equal(again.body.action, 'already_released');
      assert.deepEqual(again.body.hold, rel.body.hold);

      // The released window is free again.
      assert.equal((await hold(key, 'release:prod', base, 10, 11)).status, 201);
      const events = await auditEvents(session.orgId);
      assert.deepEqual(
        events.map((e) => [e.event, e.actor_type]),
        [
          ['hold.created', 'agent'],
          ['hold.released', 'agent'],
          ['hold.created', 'agent'],
        ],
      );
      assert.equal(events[0]?.details.hold_id, h.id);
    });

    it('an overlap is 409 hold_conflict with the conflicting holds and next_free_slot; nothing is written', async () => {
      const { session, key } = await t.workspace();
      const other = await t.createAgent(session, { name: 'other' });
      const base = dayAhead(t);
      const a = await hold(key, 'release:prod', base, 10, 11);
      const b = await hold(key, 'release:prod', base, 11.5, 12.5);
      assert.equal(a.status, 201);
      assert.equal(b.status, 201);

      // [10:30, 11:30) overlaps A only (B starts at 11:30: touching). One hour fits first at 12:30.
      const c = await hold(other.key, 'release:prod', base, 10.5, 11.5, { reason: 'hotfix' });
      assert.equal(c.status, 409);
      assert.equal(c.body.error, 'hold_conflict');
      assert.match(c.body.message, /1 active hold on release:prod/);
      assert.match(c.body.request_id, /^req_/);
      assert.deepEqual(c.body.conflicts, [a.body.hold]);
      assert.deepEqual(c.body.next_free_slot, win(base, 12.5, 13.5));

      // Spanning both: both are named, oldest window first.
      const d = await hold(other.key, 'release:prod', base, 9, 13);
      assert.equal(d.status, 409);
      assert.deepEqual(
        d.body.conflicts.map((x: { id: string }) => x.id),
        [a.body.hold.id, b.body.hold.id],
      );
      assert.deepEqual(d.body.next_free_slot, win(base, 12.5, 16.5));

      assert.equal((await holdRows(session.orgId)).length, 2, 'a conflict writes no hold');
      const conflictsAudited = (await auditEvents(session.orgId)).filter((e) => e.event === 'hold.conflict');
      assert.equal(conflictsAudited.length, 2);
      assert.deepEqual(conflictsAudited[0]?.details.conflicting_hold_ids, [a.body.hold.id]);
    });

    it('touching windows do not conflict: [10:00, 11:00) and [11:00, 12:00)', async () => {
      const { session, key } = await t.workspace();
      const other = await t.createAgent(session, { name: 'other' });
      const base = dayAhead(t);
      assert.equal((await hold(key, 'calendar:alice', base, 10, 11)).status, 201);
      assert.equal((await hold(other.key, 'calendar:alice', base, 11, 12)).status, 201);
      assert.equal((await hold(other.key, 'calendar:alice', base, 9, 10)).status, 201);
      // One millisecond of overlap is an overlap.
      const oneMs = await t.request('POST', '/v1/holds', {
        key: other.key,
        body: { resource: 'calendar:alice', start_at: at(base + 12 * HOUR - 1), end_at: at(base + 13 * HOUR) },
      });
      assert.equal(oneMs.status, 409);
      // Resources are independent; so are resource types with the same key.
      assert.equal((await hold(key, 'calendar:bob', base, 10, 11)).status, 201);
      assert.equal((await hold(key, 'room:alice', base, 10, 11)).status, 201);
    });

    it('Idempotency-Key: the same request returns the same hold; a different body is 422', async () => {
      const { session, key } = await t.workspace();
      const other = await t.createAgent(session, { name: 'other' });
      const base = dayAhead(t);
      const body = { resource: 'release:prod', ...win(base, 10, 11), reason: 'nightly' };
      const first = await t.request('POST', '/v1/holds', { key, body, headers: { 'idempotency-key': 'rel-1' } });
      assert.equal(first.status, 201);
      assert.equal(first.body.hold.idempotency_key, 'rel-1');
      const replay = await t.request('POST', '/v1/holds', { key, body, headers: { 'idempotency-key': 'rel-1' } });
      assert.equal(replay.status, 201);
      assert.deepEqual(replay.body, first.body);
      assert.equal(replay.headers.get('idempotent-replayed'), 'true');
      const viaBody = await t.request('POST', '/v1/holds', { key, body: { ...body, idempotency_key: 'rel-1' } });
      assert.deepEqual(viaBody.body, first.body, 'the body field is the same key');

      const different = await t.request('POST', '/v1/holds', {
        key,
        body: { ...body, reason: 'something else' },
        headers: { 'idempotency-key': 'rel-1' },
      });
      assert.equal(different.status, 422);
      assert.equal(different.body.error, 'idempotency_key_reused');
      // Keys are scoped to the agent: the same key from another agent is a new request (and conflicts).
      const otherAgent = await t.request('POST', '/v1/holds', { key: other.key, body, headers: { 'idempotency-key': 'rel-1' } });
      assert.equal(otherAgent.status, 409);
      // A replayed conflict is the original answer, request id of its own.
      const otherReplay = await t.request('POST', '/v1/holds', { key: other.key, body, headers: { 'idempotency-key': 'rel-1' } });
      assert.equal(otherReplay.status, 409);
      assert.deepEqual(otherReplay.body.conflicts, otherAgent.body.conflicts);
      assert.notEqual(otherReplay.body.request_id, otherAgent.body.request_id);
      assert.equal((await holdRows(session.orgId)).length, 1);
    });

    it('a tentative hold lapses after ttl_minutes and frees its window; confirm makes it firm', async () => {
      const { session, key } = await t.workspace();
      const other = await t.createAgent(session, { name: 'other' });
      const base = dayAhead(t);
      const tentative = await hold(key, 'release:prod', base, 10, 11, { ttl_minutes: 30 });
      assert.equal(tentative.status, 201);
      const h = tentative.body.hold;
      assert.equal(Date.parse(h.expires_at) - Date.parse(h.created_at), 30 * MIN);
      assert.equal((await hold(other.key, 'release:prod', base, 10, 11)).status, 409, 'a tentative hold blocks until it lapses');

      t.clock.advance(30 * MIN); // exactly at expires_at: lapsed
      const read = await t.request('GET', `/v1/holds/${h.id}`, { key });
      assert.equal(read.body.hold.status, 'expired', 'reads as expired before anything marks it');
      const avail = await t.request('GET', `/v1/availability?resource=release:prod&from=${at(base)}&to=${at(base + DAY)}`, { key });
      assert.deepEqual(avail.body.busy, []);
      const taken = await hold(other.key, 'release:prod', base, 10, 11);
      assert.equal(taken.status, 201, 'the lapsed window can be held again');
      const rel = await t.request('DELETE', `/v1/holds/${h.id}`, { key });
      assert.equal(rel.body.action, 'already_released');
      assert.equal(rel.body.hold.status, 'expired');
      assert.equal(rel.body.hold.released_at, h.expires_at, 'released_at is when it lapsed');
      const lapsedConfirm = await t.request('POST', `/v1/holds/${h.id}/confirm`, { key });
      assert.equal(lapsedConfirm.status, 409);
      assert.equal(lapsedConfirm.body.error, 'conflict');
      assert.equal(lapsedConfirm.body.status, 'expired');
      const expired = (await auditEvents(session.orgId)).filter((e) => e.event === 'hold.expired');
      assert.equal(expired.length, 1);
      assert.equal(expired[0]?.actor_type, 'system');
      assert.equal(expired[0]?.details.reason, 'ttl_lapsed');

      // Confirmed before its TTL, a tentative hold stays.
      const t2 = await hold(key, 'release:prod', base, 13, 14, { ttl_minutes: 10 });
      const conf = await t.request('POST', `/v1/holds/${t2.body.hold.id}/confirm`, { key });
      assert.equal(conf.status, 200);
      assert.equal(conf.body.action, 'confirmed');
      assert.equal(conf.body.hold.expires_at, null);
      const conf2 = await t.request('POST', `/v1/holds/${t2.body.hold.id}/confirm`, { key });
      assert.equal(conf2.body.action, 'already_confirmed');
      t.clock.advance(20 * MIN);
      assert.equal((await t.request('GET', `/v1/holds/${t2.body.hold.id}`, { key })).body.hold.status, 'active');
      assert.equal((await hold(other.key, 'release:prod', base, 13, 14)).status, 409);
    });

    it('the sweeper marks lapsed holds expired and audits each once, without waiting for a request to touch them', async () => {
      const { session, key } = await t.workspace();
      const base = dayAhead(t);
      const tentative = (await hold(key, 'room:swept', base, 10, 11, { ttl_minutes: 30 })).body.hold;
      const firm = (await hold(key, 'room:swept', base, 12, 13)).body.hold;
      const confirmed = (await hold(key, 'room:swept', base, 14, 15, { ttl_minutes: 30 })).body.hold;
      assert.equal((await t.request('POST', `/v1/holds/${confirmed.id}/confirm`, { key })).body.action, 'confirmed');
      const sweepAll = async () => {
        while ((await t.services.holds.sweep(5)) > 0) {}
      };
      const state = async () => Object.fromEntries((await holdRows(session.orgId)).map((h) => [h.id, [h.status, h.released_at]]));

      await sweepAll();
      assert.deepEqual(Object.values(await state()), [
        ['active', null],
        ['active', null],
        ['active', null],
      ]);

      t.clock.advance(30 * MIN); // the tentative hold's TTL passes
      await sweepAll();
      let rows = await state();
      assert.deepEqual(rows[tentative.id], ['expired', Date.parse(tentative.expires_at)], 'marked when it lapsed');
      assert.deepEqual(rows[firm.id], ['active', null]);
      assert.deepEqual(rows[confirmed.id], ['active', null], 'a confirmed hold has no TTL');

      t.clock.advance(base + 13 * HOUR - t.clock.now()); // the firm hold's window ends
      await sweepAll();
      rows = await state();
      assert.deepEqual(rows[firm.id], ['expired', base + 13 * HOUR]);
      assert.deepEqual(rows[confirmed.id], ['active', null]);

      const expired = (await auditEvents(session.orgId)).filter((e) => e.event === 'hold.expired');
      assert.deepEqual(
        expired.map((e) => [e.actor_type, e.details.hold_id, e.details.reason]),
        [
          ['system', tentative.id, 'ttl_lapsed'],
          ['system', firm.id, 'window_ended'],
        ],
        'each lapse audited once, by the system',
      );
    });

    it("the sweeper's lookups read only active holds, through their partial indexes", async () => {
      const [ended, ttl] = lapsedHolds(t.store.db, t.clock.now(), 100).map((q) => q.compile());
      assert.ok(ended && ttl);
      const endedPlan = await planOf(t.store, ended);
      assert.match(endedPlan, /holds_lapse_end/, endedPlan);
      const ttlPlan = await planOf(t.store, ttl);
      assert.match(ttlPlan, /holds_lapse_ttl/, ttlPlan);
    });

    // PostgreSQL only: on SQLite one writer at a time leaves no room for the race.
    if (kind === 'postgres')
      it('a confirm that locked the hold before it lapsed wins over the sweeper', async () => {
        // The confirm has locked the resource and cleared the TTL, but not committed, when the TTL passes
        // and the sweeper runs on another connection (another node). The sweeper waits for the resource lock,
        // then reads the confirmed hold and leaves it. Without the lock it would read the row as it was
        // and mark a confirmed hold expired.
        const { session, key } = await t.workspace();
        const base = dayAhead(t);
        const h = (await hold(key, 'room:race', base, 10, 11, { ttl_minutes: 30 })).body.hold;
        const gate = deferred();
        const locked = deferred();
        const confirm = t.store.transaction(async (trx) => {
          await t.store.lockResources(trx, [{ org_id: session.orgId, resource_type: 'room', resource_key: 'race' }]);
          await trx.updateTable('holds').set({ expires_at: null }).where('id', '=', h.id).execute();
          locked.resolve();
          await gate.promise;
        });
        await locked.promise;
        t.clock.advance(31 * MIN);
        const sweep = t.services.holds.sweep();
        await untilWaitingOnLock(t.store.db, 'the sweeper');
        gate.resolve();
        await confirm;
        assert.equal(await sweep, 0);
        const [row] = await holdRows(session.orgId);
        assert.equal(row?.status, 'active');
        assert.equal(row?.expires_at, null);
      });

    it('availability: busy holds, free gaps within [from, to), and first_free_slot', async () => {
      const { session, key, agent } = await t.workspace();
      const other = await t.createAgent(session, { name: 'other' });
      const base = dayAhead(t);
      const a = await hold(key, 'room:blue', base, 10, 11);
      const b = await hold(other.key, 'room:blue', base, 13, 14);
      await hold(key, 'room:red', base, 11, 13); // another resource: not busy here
      const released = await hold(key, 'room:blue', base, 11, 12);
      await t.request('DELETE', `/v1/holds/${released.body.hold.id}`, { key });
      const q = (extra: string) =>
        t.request('GET', `/v1/availability?resource=room:blue&from=${at(base + 9 * HOUR)}&to=${at(base + 15 * HOUR)}${extra}`, { key });

      const two = await q('&duration_minutes=120');
      assert.equal(two.status, 200);
      assert.deepEqual(two.body, {
        resource: 'room:blue',
        from: at(base + 9 * HOUR),
        to: at(base + 15 * HOUR),
        busy: [
          { start_at: at(base + 10 * HOUR), end_at: at(base + 11 * HOUR), hold_id: a.body.hold.id, agent_id: agent.id },
          { start_at: at(base + 13 * HOUR), end_at: at(base + 14 * HOUR), hold_id: b.body.hold.id, agent_id: other.id },
        ],
        busy_count: 2,
        busy_truncated: false,
        free: [win(base, 9, 10), win(base, 11, 13), win(base, 14, 15)],
        free_count: 3,
        free_truncated: false,
        first_free_slot: win(base, 11, 13),
      });
      assert.deepEqual((await q('&duration_minutes=30')).body.first_free_slot, win(base, 9, 9.5));
      assert.equal((await q('&duration_minutes=180')).body.first_free_slot, null, 'no gap of three hours');
      assert.equal((await q('')).body.first_free_slot, null, 'only when duration_minutes is asked');

      // A range that starts inside a hold: the hold is busy whole, free starts where it ends.
      const inside = await t.request(
        'GET',
        `/v1/availability?resource=room:blue&from=${at(base + 10.5 * HOUR)}&to=${at(base + 12 * HOUR)}`,
        {
          key,
        },
      );
      assert.deepEqual(
        inside.body.busy.map((x: { hold_id: string }) => x.hold_id),
        [a.body.hold.id],
      );
      assert.deepEqual(inside.body.free, [win(base, 11, 12)]);

      // Defaults: from = now, to = from + 7 days.
      const dflt = await t.request('GET', '/v1/availability?resource=room:blue', { session });
      assert.equal(dflt.status, 200);
      assert.equal(Date.parse(dflt.body.to) - Date.parse(dflt.body.from), 7 * DAY);
      assert.equal(dflt.body.busy.length, 2);
    });

    it('conflicts/check previews the decision without writing anything', async () => {
      const { session, key } = await t.workspace();
      const base = dayAhead(t);
      const a = await hold(key, 'release:prod', base, 10, 11);
      const rowsBefore = (await holdRows(session.orgId)).length;
      const auditBefore = (await auditEvents(session.orgId)).length;

      const free = await t.request('POST', '/v1/conflicts/check', { key, body: { resource: 'release:prod', ...win(base, 11, 12) } });
      assert.equal(free.status, 200);
      assert.deepEqual(free.body, {
        conflict: false,
        conflicts: [],
        conflicts_count: 0,
        conflicts_truncated: false,
        next_free_slot: win(base, 11, 12),
      });

      const busy = await t.request('POST', '/v1/conflicts/check', { key, body: { resource: 'release:prod', ...win(base, 9.5, 10.5) } });
      assert.deepEqual(busy.body, {
        conflict: true,
        conflicts: [a.body.hold],
        conflicts_count: 1,
        conflicts_truncated: false,
        next_free_slot: win(base, 11, 12),
      });

      const bySession = await t.request('POST', '/v1/conflicts/check', {
        session,
        body: { resource: 'release:prod', ...win(base, 10, 11) },
      });
      assert.equal(bySession.body.conflict, true);

      assert.equal((await holdRows(session.orgId)).length, rowsBefore);
      assert.equal((await auditEvents(session.orgId)).length, auditBefore);
    });

    it('next_free_slot looks no further than 31 days ahead', async () => {
      const { key } = await t.workspace();
      const base = dayAhead(t);
      // Busy back to back for 32 days: 4 holds of 8 days.
      for (let i = 0; i < 4; i++) {
        const r = await t.request('POST', '/v1/holds', {
          key,
          body: { resource: 'release:prod', start_at: at(base + i * 8 * DAY), end_at: at(base + (i + 1) * 8 * DAY) },
        });
        assert.equal(r.status, 201);
      }
      const far = await t.request('POST', '/v1/conflicts/check', { key, body: { resource: 'release:prod', ...win(base, 1, 2) } });
      assert.equal(far.body.conflict, true);
      assert.equal(far.body.next_free_slot, null);
      const near = await t.request('POST', '/v1/conflicts/check', {
        key,
        body: { resource: 'release:prod', ...win(base, 2 * 24, 2 * 24 + 1) },
      });
      assert.deepEqual(near.body.next_free_slot, { start_at: at(base + 32 * DAY), end_at: at(base + 32 * DAY + HOUR) });
    });

    it('lists with filters (resource, status, agent, from/to) and pagination; agent keys see the whole workspace', async () => {
      const { session, key, agent } = await t.workspace();
      const other = await t.createAgent(session, { name: 'other' });
      const base = dayAhead(t);
      const h1 = (await hold(key, 'release:prod', base, 10, 11)).body.hold;
      const h2 = (await hold(other.key, 'release:prod', base, 12, 13)).body.hold;
      const h3 = (await hold(key, 'calendar:alice', base, 8, 9)).body.hold;
      const h4 = (await hold(key, 'calendar:alice', base, 14, 15, { ttl_minutes: 5 })).body.hold;
      const h5 = (await hold(other.key, 'release:prod', base, 20, 21)).body.hold;
      await t.request('DELETE', `/v1/holds/${h5.id}`, { key: other.key });
      t.clock.advance(5 * MIN); // h4 lapses (unmarked until touched)
      const ids = (r: Res) => r.body.data.map((x: { id: string }) => x.id);
      const get = (qs: string, who: { key?: string; session?: typeof session } = { key }) => t.request('GET', `/v1/holds${qs}`, who);

      const all = await get('');
      assert.deepEqual(ids(all), [h3.id, h1.id, h2.id, h4.id, h5.id], "ordered by start_at, the other agent's included");
      assert.deepEqual(ids(await get('?resource=release:prod')), [h1.id, h2.id, h5.id]);
      assert.deepEqual(ids(await get('?status=active')), [h3.id, h1.id, h2.id]);
      assert.deepEqual(ids(await get('?status=expired')), [h4.id]);
      assert.deepEqual(ids(await get('?status=released')), [h5.id]);
      assert.deepEqual(ids(await get(`?agent_id=${other.id}`)), [h2.id, h5.id]);
      assert.deepEqual(ids(await get(`?agent_id=${agent.id}&status=active`, { session })), [h3.id, h1.id]);
      // from/to keep windows that meet [from, to): touching at either end is out.
      assert.deepEqual(ids(await get(`?from=${at(base + 9 * HOUR)}&to=${at(base + 12 * HOUR)}`)), [h1.id]);
      assert.deepEqual(ids(await get(`?from=${at(base + 9 * HOUR)}&to=${at(base + 12 * HOUR + 1)}`)), [h1.id, h2.id]);
      const page1 = await get('?limit=2');
      assert.deepEqual(page1.body.pagination, { limit: 2, offset: 0, total: 5, has_more: true });
      const page3 = await get('?limit=2&offset=4');
      assert.deepEqual(ids(page3), [h5.id]);
      assert.equal(page3.body.pagination.has_more, false);
      assert.equal((await get('?limit=500')).body.pagination.limit, 100, 'limit is capped');
    });

    it('agents change only their own holds; a workspace session acts for any agent of its workspace', async () => {
      const { session, key, agent } = await t.workspace();
      const other = await t.createAgent(session, { name: 'other' });
      const base = dayAhead(t);
      const h = (await hold(key, 'release:prod', base, 10, 11, { ttl_minutes: 60 })).body.hold;
      assert.equal((await t.request('GET', `/v1/holds/${h.id}`, { key: other.key })).status, 200, 'any agent may read it');
      const del = await t.request('DELETE', `/v1/holds/${h.id}`, { key: other.key });
      assert.equal(del.status, 403);
      assert.equal(del.body.error, 'forbidden');
      assert.equal((await t.request('POST', `/v1/holds/${h.id}/confirm`, { key: other.key })).status, 403);

      const noAgent = await t.request('POST', '/v1/holds', { session, body: { resource: 'release:prod', ...win(base, 12, 13) } });
      assert.equal(noAgent.status, 400);
      assert.equal(noAgent.body.details.agent_id, 'required');
      const asOther = await t.request('POST', '/v1/holds', {
        session,
        body: { resource: 'release:prod', ...win(base, 12, 13), agent_id: other.id },
      });
      assert.equal(asOther.status, 201);
      assert.equal(asOther.body.hold.agent_id, other.id);
      const mismatch = await t.request('POST', '/v1/holds', {
        key,
        body: { resource: 'release:prod', ...win(base, 14, 15), agent_id: other.id },
      });
      assert.equal(mismatch.status, 403);
      const matching = await t.request('POST', '/v1/holds', {
        key,
        body: { resource: 'release:prod', ...win(base, 14, 15), agent_id: agent.id },
      });
      assert.equal(matching.status, 201);

      const byUser = await t.request('DELETE', `/v1/holds/${h.id}`, { session });
      assert.equal(byUser.body.action, 'released');
      const audit = (await auditEvents(session.orgId)).find((e) => e.event === 'hold.released');
      assert.equal(audit?.actor_type, 'user');
    });

    it("isolation: another workspace's holds are invisible and unchangeable", async () => {
      const mine = await t.workspace();
      const theirs = await t.workspace();
      const base = dayAhead(t);
      const h = (await hold(mine.key, 'release:prod', base, 10, 11)).body.hold;
      for (const who of [{ key: theirs.key }, { session: theirs.session }]) {
        for (const [method, path] of [
          ['GET', `/v1/holds/${h.id}`],
          ['DELETE', `/v1/holds/${h.id}`],
          ['POST', `/v1/holds/${h.id}/confirm`],
        ] as const) {
          const res = await t.request(method, path, who);
          assert.equal(res.status, 404, `${method} ${path}`);
          assert.equal(res.body.error, 'not_found');
        }
        assert.equal((await t.request('GET', '/v1/holds', who)).body.pagination.total, 0);
        const avail = await t.request('GET', `/v1/availability?resource=release:prod&from=${at(base)}&to=${at(base + DAY)}`, who);
        assert.deepEqual(avail.body.busy, []);
        const check = await t.request('POST', '/v1/conflicts/check', { ...who, body: { resource: 'release:prod', ...win(base, 10, 11) } });
        assert.equal(check.body.conflict, false);
      }
      // The same resource name in another workspace is another resource.
      assert.equal((await hold(theirs.key, 'release:prod', base, 10, 11)).status, 201);
      assert.equal((await t.request('GET', `/v1/holds/${h.id}`, { key: mine.key })).body.hold.status, 'active');
    });

    it('security: every hold route refuses missing, malformed, unknown and rotated keys, and cookie calls without CSRF', async () => {
      const { session, key, agent } = await t.workspace();
      const base = dayAhead(t);
      const h = (await hold(key, 'release:prod', base, 10, 11)).body.hold;
      const routes = t.routes.filter((r) => /^\/v1\/(holds|availability|conflicts)/.test(r.path));
      assert.deepEqual(routes.map((r) => `${r.method} ${r.path}`).sort(), [
        'DELETE /v1/holds/:hold_id',
        'GET /v1/availability',
        'GET /v1/holds',
        'GET /v1/holds/:hold_id',
        'POST /v1/conflicts/check',
        'POST /v1/holds',
        'POST /v1/holds/:hold_id/confirm',
      ]);
      assert.ok(routes.every((r) => r.auth === 'either'));
      const rotated = await t.createAgent(session, { name: 'rotated' });
      const rot = await t.request('POST', `/v1/orgs/${session.orgId}/agents/${rotated.id}/rotate-key`, { session });
      assert.equal(rot.status, 200);
      const body = { resource: 'release:prod', ...win(base, 12, 13), agent_id: agent.id };
      for (const r of routes) {
        const path = r.path.replace(':hold_id', h.id) + (r.path === '/v1/availability' ? '?resource=release:prod' : '');
        const send = r.method === 'POST' ? { body } : {};
        const cases: [string, Parameters<TestServer['request']>[2], number][] = [
          ['no credentials', { ...send }, 401],
          ['malformed key', { ...send, headers: { authorization: 'Bearer nope' } }, 401],
          ['unknown key', { ...send, key: `avs_live_${'x'.repeat(43)}` }, 401],
          ['rotated key', { ...send, key: rotated.key }, 401],
        ];
        if (r.method !== 'GET') cases.push(['cookie without CSRF', { ...send, session: { ...session, csrf: 'wrong' } }, 403]);
        for (const [label, call, status] of cases) {
          const res = await t.request(r.method, path, call);
          assert.equal(res.status, status, `${r.method} ${r.path}: ${label} → ${res.status} ${JSON.stringify(res.body)}`);
          assert.match(res.body.request_id, /^req_/);
        }
      }
      assert.equal((await t.request('GET', `/v1/holds/${h.id}`, { key })).body.hold.status, 'active', 'nothing changed');
    });

    it('the hold routes are in the OpenAPI document', async () => {
      const doc = await t.request('GET', '/v1/openapi.json');
      assert.equal(doc.status, 200);
      for (const [path, method] of [
        ['/v1/holds', 'post'],
        ['/v1/holds', 'get'],
        ['/v1/holds/{hold_id}', 'get'],
        ['/v1/holds/{hold_id}', 'delete'],
        ['/v1/holds/{hold_id}/confirm', 'post'],
        ['/v1/availability', 'get'],
        ['/v1/conflicts/check', 'post'],
      ] as const) {
        assert.ok(doc.body.paths[path]?.[method], `${method} ${path}`);
      }
      assert.ok(doc.body.paths['/v1/holds'].post.responses['409'], 'hold_conflict is documented');
    });

    it('bad input is 400 with details, never a 500', async () => {
      const { session, key } = await t.workspace();
      const base = dayAhead(t);
      const post = (body: Record<string, unknown>) => t.request('POST', '/v1/holds', { key, body });
      const ok = { resource: 'release:prod', ...win(base, 10, 11) };
      const cases: [string, Record<string, unknown>, string][] = [
        ['end before start', { ...ok, ...{ start_at: at(base + 11 * HOUR), end_at: at(base + 10 * HOUR) } }, 'end_at'],
        ['end equal to start', { ...ok, end_at: ok.start_at }, 'end_at'],
        ['window over 31 days', { ...ok, end_at: at(base + 10 * HOUR + 31 * DAY + 1) }, 'end_at'],
        ['window already over', { ...ok, start_at: at(t.clock.now() - 2 * DAY), end_at: at(t.clock.now() - DAY) }, 'end_at'],
        ['uppercase type', { ...ok, resource: 'Release:prod' }, 'resource'],
        ['no type', { ...ok, resource: 'release-prod' }, 'resource'],
        ['empty key', { ...ok, resource: 'release:' }, 'resource'],
        ['bad repo key', { ...ok, resource: 'repo:not-a-repo' }, 'resource'],
        ['key with spaces', { ...ok, resource: 'room:big room' }, 'resource'],
        ['not a timestamp', { ...ok, start_at: 'tomorrow' }, 'start_at'],
        ['no timezone', { ...ok, start_at: '2030-01-01T10:00:00' }, 'start_at'],
        ['ttl 0', { ...ok, ttl_minutes: 0 }, 'ttl_minutes'],
        ['ttl over a week', { ...ok, ttl_minutes: 10_081 }, 'ttl_minutes'],
        ['ttl fractional', { ...ok, ttl_minutes: 1.5 }, 'ttl_minutes'],
        ['unknown field', { ...ok, duration_minutes: 60 }, 'duration_minutes'],
        ['metadata not an object', { ...ok, metadata: [1] }, 'metadata'],
        ['missing resource', { start_at: ok.start_at, end_at: ok.end_at }, 'resource'],
      ];
      for (const [label, body, field] of cases) {
        const res = await post(body);
        assert.equal(res.status, 400, `${label}: ${res.status} ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error, 'invalid_request', label);
        // An unknown field is named either as its own key or in the message for the body.
        const named = res.body.details?.[field] !== undefined || JSON.stringify(res.body.details ?? {}).includes(field);
        assert.ok(named, `${label}: details name ${field}: ${JSON.stringify(res.body.details)}`);
      }
      // Exactly 31 days is allowed.
      assert.equal((await post({ ...ok, end_at: at(base + 10 * HOUR + 31 * DAY) })).status, 201);
      assert.equal((await t.request('POST', '/v1/holds', { key, rawBody: '{"resource":' })).status, 400);

      const check = await t.request('POST', '/v1/conflicts/check', {
        key,
        body: { resource: 'release:prod', start_at: ok.end_at, end_at: ok.start_at },
      });
      assert.equal(check.status, 400);
      assert.ok(check.body.details.end_at);
      const avail = (qs: string) => t.request('GET', `/v1/availability?${qs}`, { key });
      const from = at(base);
      for (const [label, qs, field] of [
        ['to before from', `resource=release:prod&from=${from}&to=${at(base - HOUR)}`, 'to'],
        ['range over 31 days', `resource=release:prod&from=${from}&to=${at(base + 31 * DAY + 1)}`, 'to'],
        ['bad resource', 'resource=nope', 'resource'],
        ['no resource', `from=${from}`, 'resource'],
        ['duration 0', 'resource=release:prod&duration_minutes=0', 'duration_minutes'],
        ['duration not a number', 'resource=release:prod&duration_minutes=abc', 'duration_minutes'],
      ] as const) {
        const res = await avail(qs);
        assert.equal(res.status, 400, `${label}: ${res.status} ${JSON.stringify(res.body)}`);
        assert.ok(res.body.details?.[field], `${label}: ${JSON.stringify(res.body.details)}`);
      }
      assert.equal((await t.request('GET', '/v1/holds?resource=BAD', { session })).status, 400);
      assert.equal((await t.request('GET', '/v1/holds?status=pending', { session })).status, 400);
      assert.equal((await t.request('GET', '/v1/holds/hld_unknown', { session })).status, 404);
    });

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

describe('availability arithmetic (pure)', () => {
  const w = (start: number, end: number) => ({ start, end });
  it('merges, finds gaps, first fits and next free slots on half-open windows', () => {
    assert.deepEqual(mergeWindows([w(5, 7), w(1, 3), w(3, 4), w(6, 9), w(2, 2)]), [w(1, 4), w(5, 9)]);
    assert.deepEqual(freeWindows([w(1, 3), w(5, 7)], 0, 10), [w(0, 1), w(3, 5), w(7, 10)]);
    assert.deepEqual(freeWindows([w(-5, 2), w(8, 20)], 0, 10), [w(2, 8)]);
    assert.deepEqual(freeWindows([w(0, 10)], 0, 10), []);
    assert.deepEqual(freeWindows([], 0, 10), [w(0, 10)]);
    assert.deepEqual(firstFit([w(1, 3), w(5, 7)], 0, 10, 2), w(3, 5));
    assert.deepEqual(firstFit([w(1, 3), w(5, 7)], 0, 10, 3), w(7, 10));
    assert.equal(firstFit([w(1, 3), w(5, 7)], 0, 10, 4), null);
    assert.deepEqual(nextFreeSlot([w(10, 11)], w(11, 12)), w(11, 12), 'touching is free');
    assert.deepEqual(nextFreeSlot([w(10, 11), w(11.5, 12.5)], w(10.5, 11.5)), w(12.5, 13.5));
    assert.equal(nextFreeSlot([w(0, 100)], w(1, 2), 50), null, 'not found within the horizon');
    assert.deepEqual(nextFreeSlot([w(0, 100)], w(1, 2), 99), w(100, 101), 'a start exactly at the horizon counts');
  });
});

describe('README availability holds walk-through (sqlite, real HTTP)', () => {
  const server = useReadmeServer('holds-readme');

  it('runs availability → preview → hold → conflict → confirm → release as documented', async () => {
    const readme = readmeText();
    const block = readmeBlock('holds');
    // What the first walk-through leaves in the terminal: $API, $KEY, $OTHER_KEY and json().
    const json = /^json\(\) \{.*\}$/m.exec(readme)?.[0];
    assert.ok(json, 'README defines json()');
    const api = async (path: string, init: { body?: unknown; cookie?: string; csrf?: string } = {}) => {
      const res = await fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(init.cookie ? { cookie: init.cookie } : {}),
          ...(init.csrf ? { 'x-csrf-token': init.csrf } : {}),
        },
        body: JSON.stringify(init.body),
      });
      return { body: (await res.json()) as any, cookie: /availsync_session=[^;]+/.exec(res.headers.get('set-cookie') ?? '')?.[0] };
    };
    const signup = await api('/v1/auth/signup', {
      body: { email: `holds-${Date.now()}@example.com`, password: 'correct horse battery', workspace_name: 'Acme' },
    });
    const auth = { cookie: signup.cookie as string, csrf: signup.body.csrf_token as string };
    const orgId = signup.body.workspace.id as string;
    const a = await api(`/v1/orgs/${orgId}/agents`, { ...auth, body: { name: 'release-bot', agent_type: 'scheduler' } });
    const b = await api(`/v1/orgs/${orgId}/agents`, { ...auth, body: { name: 'hotfix-bot' } });
    const stdout = await runBash(`KEY=${a.body.api_key}\nOTHER_KEY=${b.body.api_key}\n${json}\n${block}`, server.url);
    const [before, created, preview, conflict, next, confirmed, released, again, afterwards] = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(before.busy, []);
    assert.equal(before.free.length, 1);
    assert.match(before.first_free_slot.start_at, /T09:00:00.000Z$/);
    assert.equal(created.hold.status, 'active');
    assert.ok(created.hold.expires_at, 'tentative');
    assert.equal(preview.conflict, true);
    assert.equal(preview.conflicts[0].id, created.hold.id);
    assert.match(preview.next_free_slot.start_at, /T11:00:00.000Z$/);
    assert.equal(conflict.error, 'hold_conflict');
    assert.equal(next.hold.agent_id, b.body.agent.id);
    assert.equal(confirmed.action, 'confirmed');
    assert.equal(confirmed.hold.expires_at, null);
    assert.equal(released.action, 'released');
    assert.equal(again.action, 'already_released');
    assert.deepEqual(
      afterwards.busy.map((x: { hold_id: string }) => x.hold_id),
      [next.hold.id],
    );
  });
});
