/**
 * Availability holds on every store: create / read / list / release, overlap (half-open windows),
 * idempotency, the tentative TTL and confirm, and the sweeper. Availability and conflict previews are in
 * holds-availability.test.ts, lists, access and bad input in holds-access.test.ts, invariant 4 under
 * concurrency in holds-concurrency.test.ts. Time moves only through the manual clock. Windows sit two days
 * ahead, on whole hours, so the database's own clock moving on during a test never touches them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestServer, deferred, MIN, planOf, STORES, type TestServer, untilWaitingOnLock } from '@availsync/testkit';
import { lapsedHolds } from '../src/services/holds.js';
import { at, DAY, dayAhead, HOUR, holdsOf, win } from './holds-helpers.js';

for (const kind of STORES) {
  describe(`availability holds (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await createTestServer(kind);
    });
    after(async () => {
      await t.close();
    });
    const { hold, holdRows, auditEvents } = holdsOf(() => t);

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
  });
}
