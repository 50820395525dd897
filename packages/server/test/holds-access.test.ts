/**
 * Availability holds on every store: list filters and pagination, who may change which hold,
 * workspace isolation, credentials on every hold route, the OpenAPI document and bad input.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestServer, MIN, type Res, STORES, type TestServer } from '@availsync/testkit';
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
    const { hold, auditEvents } = holdsOf(() => t);

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
  });
}
