/**
 * Availability holds: availability (busy holds, free gaps, first_free_slot), conflict previews and
 * next_free_slot on every store, the window arithmetic they rest on, and the README's walk-through run as
 * documented.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestServer, STORES, type TestServer } from '@availsync/testkit';
import { firstFit, freeWindows, mergeWindows, nextFreeSlot } from '../src/domain/holds.js';
import { at, DAY, dayAhead, HOUR, holdsOf, win } from './holds-helpers.js';
import { readmeBlock, readmeText, runBash, useReadmeServer } from './readme-server.js';

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
  });
}

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
