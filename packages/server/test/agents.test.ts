/**
 * Agents and their keys on every store: agent CRUD, key rotation, deletion, idempotent
 * creation and the audit trail. Sign-up and sessions are in auth.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestServer, STORES, type TestServer } from '@availsync/testkit';
import { auditRows, KEY_FORMAT, sha256hex } from './auth-helpers.js';

for (const kind of STORES) {
  describe(`workspace auth and agents (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await createTestServer(kind);
    });
    after(async () => {
      await t.close();
    });

    const audit = (orgId: string, event: string) => auditRows(t, orgId, event);
    const liveAgents = (orgId: string) =>
      t.store.db.selectFrom('agents').selectAll().where('org_id', '=', orgId).where('deleted_at', 'is', null).execute();

    describe('agents', () => {
      it('create: defaults, a key shown once in the avs_live_ format, stored only as SHA-256', async () => {
        const s = await t.signup();
        const res = await t.request('POST', `/v1/orgs/${s.orgId}/agents`, { session: s, body: { name: 'codex-nightly' } });
        assert.equal(res.status, 201);
        assert.deepEqual(Object.keys(res.body).sort(), ['agent', 'api_key']);
        const { agent, api_key: key } = res.body;
        assert.match(agent.id, /^agt_/);
        assert.equal(agent.org_id, s.orgId);
        assert.equal(agent.name, 'codex-nightly');
        assert.equal(agent.agent_type, 'generic');
        assert.equal(agent.priority, 100);
        assert.equal(agent.mode, 'inherit');
        assert.equal(agent.effective_mode, 'enforce');
        assert.equal(agent.online, false);
        assert.equal(agent.last_seen_at, null);
        assert.match(agent.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        assert.match(key, KEY_FORMAT);
        assert.ok(key.length >= 'avs_live_'.length + 40);
        assert.ok(agent.key_prefix.startsWith('avs_live_') && agent.key_prefix.length < key.length && key.startsWith(agent.key_prefix));

        const row = await t.store.db.selectFrom('agents').selectAll().where('id', '=', agent.id).executeTakeFirstOrThrow();
        assert.equal(row.key_hash, sha256hex(key));
        assert.match(row.key_hash ?? '', /^[0-9a-f]{64}$/);
        assert.equal(row.key_prefix, agent.key_prefix);

        // Shown once: no read returns it, and (without an Idempotency-Key) no table stores it.
        const reads = [
          await t.request('GET', `/v1/orgs/${s.orgId}/agents/${agent.id}`, { session: s }),
          await t.request('GET', `/v1/orgs/${s.orgId}/agents`, { session: s }),
          await t.request('GET', '/v1/agent', { key }),
        ];
        for (const read of reads) {
          assert.equal(read.status, 200);
          const text = JSON.stringify(read.body);
          assert.ok(!text.includes('api_key') && !text.includes(key) && !text.includes('key_hash'), text);
        }
        assert.deepEqual(reads[0]?.body.agent, agent);
        for (const table of ['orgs', 'users', 'sessions', 'agents', 'claims', 'idempotency_keys', 'audit_events'] as const) {
          const rows = await t.store.db.selectFrom(table).selectAll().execute();
          assert.ok(!JSON.stringify(rows).includes(key), `${table} holds the raw key`);
        }
      });

      it('create validates its fields: priority 0-1000, known types and modes, a name, nothing else', async () => {
        const s = await t.signup();
        const cases: [Record<string, unknown>, string][] = [
          [{ name: 'p', priority: -1 }, 'priority'],
          [{ name: 'p', priority: 1001 }, 'priority'],
          [{ name: 'p', priority: 1.5 }, 'priority'],
          [{ name: 'p', priority: '100' }, 'priority'],
          [{ name: '' }, 'name'],
          [{ name: '   ' }, 'name'],
          [{}, 'name'],
          [{ name: 'p', agent_type: 'robot' }, 'agent_type'],
          [{ name: 'p', mode: 'strict' }, 'mode'],
          [{ name: 'p', api_key: 'avs_live_mine' }, 'api_key'],
        ];
        for (const [body, field] of cases) {
          const res = await t.request('POST', `/v1/orgs/${s.orgId}/agents`, { session: s, body });
          assert.equal(res.status, 400, JSON.stringify(body));
          assert.equal(res.body.error, 'invalid_request');
          assert.ok(res.body.details?.[field], `${JSON.stringify(body)} → ${JSON.stringify(res.body.details)}`);
        }
        assert.equal((await liveAgents(s.orgId)).length, 0);
        for (const priority of [0, 1000]) {
          const res = await t.request('POST', `/v1/orgs/${s.orgId}/agents`, { session: s, body: { name: `p${priority}`, priority } });
          assert.equal(res.status, 201);
          assert.equal(res.body.agent.priority, priority);
        }
        const full = await t.request('POST', `/v1/orgs/${s.orgId}/agents`, {
          session: s,
          body: { name: 'deployer', agent_type: 'automation', priority: 900, mode: 'observe' },
        });
        assert.equal(full.status, 201);
        assert.equal(full.body.agent.agent_type, 'automation');
        assert.equal(full.body.agent.effective_mode, 'observe');
      });

      it('PATCH changes name, type, priority and mode; observe changes effective_mode; bounds are 400', async () => {
        const { session: s, agent } = await t.workspace({ name: 'before' });
        const url = `/v1/orgs/${s.orgId}/agents/${agent.id}`;
        const observe = await t.request('PATCH', url, { session: s, body: { mode: 'observe' } });
        assert.equal(observe.status, 200);
        assert.equal(observe.body.agent.mode, 'observe');
        assert.equal(observe.body.agent.effective_mode, 'observe');
        const back = await t.request('PATCH', url, {
          session: s,
          body: { mode: 'inherit', name: 'after', agent_type: 'coding', priority: 0 },
        });
        assert.equal(back.body.agent.effective_mode, 'enforce', 'inherit follows the workspace default');
        assert.deepEqual([back.body.agent.name, back.body.agent.agent_type, back.body.agent.priority], ['after', 'coding', 0]);
        assert.equal((await t.request('PATCH', url, { session: s, body: { priority: 1000 } })).body.agent.priority, 1000);
        for (const body of [{ priority: 1001 }, { priority: -1 }, { mode: 'off' }, { name: '' }, { key_prefix: 'x' }]) {
          const res = await t.request('PATCH', url, { session: s, body });
          assert.equal(res.status, 400, JSON.stringify(body));
          assert.ok(Object.keys(res.body.details ?? {}).length > 0);
        }
        const now = await t.request('GET', url, { session: s });
        assert.equal(now.body.agent.priority, 1000, 'refused patches changed nothing');
        assert.equal(now.body.agent.name, 'after');
        const unchanged = await t.request('PATCH', url, { session: s, body: {} });
        assert.equal(unchanged.status, 200);
        const same = await t.request('PATCH', url, { session: s, body: { priority: 1000 } });
        assert.equal(same.status, 200);
        const events = await audit(s.orgId, 'agent.updated');
        assert.equal(events.length, 3, 'one row per effective change, none for an empty or a no-op patch');
        assert.ok(events.every((e) => e.actor_type === 'user' && e.actor_id === s.userId));
        const changes = events.map((e) => JSON.parse(e.details).changes);
        assert.ok(
          changes.some((c) => c.mode?.from === 'inherit' && c.mode?.to === 'observe'),
          JSON.stringify(changes),
        );
      });

      it('DELETE: the key stops working at once, its active claims are released and the resource is free', async () => {
        const { session: s, agent, key } = await t.workspace({ name: 'doomed' });
        const other = await t.createAgent(s, { name: 'survivor' });
        const held = await t.start(key, { resource: 'repo:acme/deleted' });
        assert.equal(held.body.action, 'proceed');
        await t.request('POST', '/v1/work/run/working-set', { key, body: { claim_id: held.body.claim.id, paths: ['src/'] } });
        assert.equal((await t.start(other.key, { resource: 'repo:acme/deleted' })).body.action, 'skip_run');

        const del = await t.request('DELETE', `/v1/orgs/${s.orgId}/agents/${agent.id}`, { session: s });
        assert.equal(del.status, 200);
        assert.equal(del.body.deleted, true);
        assert.equal(del.body.agent.id, agent.id);
        assert.ok(!JSON.stringify(del.body).includes(key));

        for (const res of [await t.request('GET', '/v1/agent', { key }), await t.start(key, { resource: 'repo:acme/other' })]) {
          assert.equal(res.status, 401);
          assert.equal(res.body.error, 'unauthorized');
        }
        const claim = await t.request('GET', `/v1/work/claims/${held.body.claim.id}`, { session: s });
        assert.equal(claim.body.claim.status, 'released');
        assert.deepEqual(claim.body.claim.working_set, []);
        const files = await t.store.db.selectFrom('file_claims').selectAll().where('claim_id', '=', held.body.claim.id).execute();
        assert.equal(files.length, 0);
        const taken = await t.start(other.key, { resource: 'repo:acme/deleted' });
        assert.equal(taken.body.action, 'proceed', 'the resource is free');
        assert.equal(taken.body.claim.fencing_token, 2);

        assert.equal((await t.request('GET', `/v1/orgs/${s.orgId}/agents/${agent.id}`, { session: s })).status, 404);
        const list = await t.request('GET', `/v1/orgs/${s.orgId}/agents`, { session: s });
        assert.deepEqual(
          list.body.data.map((a: { id: string }) => a.id),
          [other.id],
        );
        assert.equal((await t.request('DELETE', `/v1/orgs/${s.orgId}/agents/${agent.id}`, { session: s })).status, 404);
        assert.equal((await t.request('POST', `/v1/orgs/${s.orgId}/agents/${agent.id}/rotate-key`, { session: s })).status, 404);
        const row = await t.store.db.selectFrom('agents').selectAll().where('id', '=', agent.id).executeTakeFirstOrThrow();
        assert.equal(row.key_hash, null, 'no key hash is kept for a deleted agent');
        const events = await audit(s.orgId, 'agent.deleted');
        assert.equal(events.length, 1);
        assert.equal(events[0]?.actor_id, s.userId);
        assert.equal(JSON.parse(events[0]?.details ?? '{}').agent_id, agent.id);
      });

      it('rotate: the old key is 401 at once, the new one works, and the agent keeps its claims', async () => {
        const { session: s, agent, key: oldKey } = await t.workspace({ name: 'rotating' });
        const held = await t.start(oldKey, { resource: 'repo:acme/rotate' });
        const rot = await t.request('POST', `/v1/orgs/${s.orgId}/agents/${agent.id}/rotate-key`, { session: s });
        assert.equal(rot.status, 200);
        assert.deepEqual(Object.keys(rot.body).sort(), ['agent', 'api_key']);
        const newKey: string = rot.body.api_key;
        assert.match(newKey, KEY_FORMAT);
        assert.notEqual(newKey, oldKey);
        assert.equal(rot.body.agent.id, agent.id);
        assert.notEqual(rot.body.agent.key_prefix, agent.agent.key_prefix);
        assert.ok(newKey.startsWith(rot.body.agent.key_prefix));

        const old = await t.request('GET', '/v1/agent', { key: oldKey });
        assert.equal(old.status, 401);
        assert.equal(old.body.error, 'unauthorized');
        assert.equal((await t.request('POST', '/v1/work/run/extend', { key: oldKey, body: { claim_id: held.body.claim.id } })).status, 401);
        const me = await t.request('GET', '/v1/agent', { key: newKey });
        assert.equal(me.status, 200);
        assert.equal(me.body.agent.id, agent.id);
        const ext = await t.request('POST', '/v1/work/run/extend', { key: newKey, body: { claim_id: held.body.claim.id } });
        assert.equal(ext.body.action, 'extended', 'the claim belongs to the agent, not the key');

        const row = await t.store.db.selectFrom('agents').selectAll().where('id', '=', agent.id).executeTakeFirstOrThrow();
        assert.equal(row.key_hash, sha256hex(newKey));
        const events = await audit(s.orgId, 'agent.key_rotated');
        assert.equal(events.length, 1);
        assert.equal(events[0]?.actor_type, 'user');
        assert.equal(events[0]?.actor_id, s.userId);
        const details = JSON.parse(events[0]?.details ?? '{}');
        assert.equal(details.agent_id, agent.id);
        assert.ok(!events[0]?.details.includes(newKey) && !events[0]?.details.includes(oldKey), 'the audit names prefixes only');
      });

      it('GET /v1/agent: the calling agent and its effective mode', async () => {
        const { session: s, agent, key } = await t.workspace({ name: 'me', agent_type: 'mcp', priority: 250 });
        const res = await t.request('GET', '/v1/agent', { key });
        assert.equal(res.status, 200);
        assert.deepEqual(Object.keys(res.body), ['agent']);
        assert.equal(res.body.agent.id, agent.id);
        assert.equal(res.body.agent.org_id, s.orgId);
        assert.equal(res.body.agent.agent_type, 'mcp');
        assert.equal(res.body.agent.priority, 250);
        assert.equal(res.body.agent.effective_mode, 'enforce');
        await t.request('PATCH', `/v1/orgs/${s.orgId}/agents/${agent.id}`, { session: s, body: { mode: 'observe' } });
        assert.equal((await t.request('GET', '/v1/agent', { key })).body.agent.effective_mode, 'observe');
      });

      it('the agent list pages with limit and offset', async () => {
        const s = await t.signup();
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) ids.push((await t.createAgent(s, { name: `agent-${i}` })).id);
        const url = `/v1/orgs/${s.orgId}/agents`;
        const all = await t.request('GET', url, { session: s });
        assert.deepEqual(all.body.pagination, { limit: 50, offset: 0, total: 5, has_more: false });
        assert.deepEqual(all.body.data.map((a: { id: string }) => a.id).sort(), [...ids].sort());
        const pages: string[] = [];
        for (let offset = 0; offset < 6; offset += 2) {
          const page = await t.request('GET', `${url}?limit=2&offset=${offset}`, { session: s });
          assert.equal(page.status, 200);
          assert.deepEqual(page.body.pagination, { limit: 2, offset, total: 5, has_more: offset + 2 < 5 });
          pages.push(...page.body.data.map((a: { id: string }) => a.id));
        }
        assert.deepEqual(
          pages,
          all.body.data.map((a: { id: string }) => a.id),
          'pages are disjoint, in a stable order',
        );
        const capped = await t.request('GET', `${url}?limit=1000`, { session: s });
        assert.equal(capped.body.pagination.limit, 100);
        const beyond = await t.request('GET', `${url}?offset=10`, { session: s });
        assert.deepEqual(beyond.body.data, []);
        assert.equal(beyond.body.pagination.has_more, false);
        for (const q of ['limit=0', 'limit=abc', 'offset=-1', 'limit=2.5']) {
          const bad = await t.request('GET', `${url}?${q}`, { session: s });
          assert.equal(bad.status, 400, q);
          assert.equal(bad.body.error, 'invalid_request');
        }
      });

      it('Idempotency-Key on create: a replay returns the same agent, a different body is 422', async () => {
        const s = await t.signup();
        const url = `/v1/orgs/${s.orgId}/agents`;
        const headers = { 'idempotency-key': 'create-ci-agent' };
        const first = await t.request('POST', url, { session: s, body: { name: 'ci', priority: 300 }, headers });
        const replay = await t.request('POST', url, { session: s, body: { priority: 300, name: 'ci' }, headers });
        assert.equal(first.status, 201);
        assert.equal(replay.status, 201, 'the original status');
        assert.equal(replay.body.agent.id, first.body.agent.id);
        assert.deepEqual(replay.body, { ...first.body, api_key: null }, 'the original body, without the key: keys are shown once');
        assert.equal(replay.headers.get('idempotent-replayed'), 'true');
        // The key was never stored in plain text, not even for the replay.
        const stored = await t.store.db.selectFrom('idempotency_keys').select('response').execute();
        assert.ok(
          stored.every((r) => !r.response.includes(first.body.api_key)),
          'no plain key in idempotency records',
        );
        assert.equal((await liveAgents(s.orgId)).length, 1, 'no second agent');
        const different = await t.request('POST', url, { session: s, body: { name: 'ci', priority: 301 }, headers });
        assert.equal(different.status, 422);
        assert.equal(different.body.error, 'idempotency_key_reused');
        assert.match(different.body.request_id, /^req_/);
        assert.equal((await liveAgents(s.orgId)).length, 1);
        // Keys are scoped to the user: another workspace's user with the same key creates its own agent.
        const stranger = await t.signup();
        const theirs = await t.request('POST', `/v1/orgs/${stranger.orgId}/agents`, {
          session: stranger,
          body: { name: 'ci', priority: 300 },
          headers,
        });
        assert.equal(theirs.status, 201);
        assert.notEqual(theirs.body.agent.id, first.body.agent.id);
        const tooLong = await t.request('POST', url, { session: s, body: { name: 'x' }, headers: { 'idempotency-key': 'k'.repeat(256) } });
        assert.equal(tooLong.status, 400);
        assert.equal((await liveAgents(s.orgId)).length, 1);
        assert.equal((await audit(s.orgId, 'agent.created')).length, 1, 'one audit row for one agent');
      });

      it('the idempotency_key body field is the same key as the header', async () => {
        const s = await t.signup();
        const url = `/v1/orgs/${s.orgId}/agents`;
        const viaBody = await t.request('POST', url, { session: s, body: { name: 'cron', idempotency_key: 'create-cron' } });
        assert.equal(viaBody.status, 201, JSON.stringify(viaBody.body));
        const viaHeader = await t.request('POST', url, {
          session: s,
          body: { name: 'cron' },
          headers: { 'idempotency-key': 'create-cron' },
        });
        assert.equal(viaHeader.status, 201);
        assert.equal(viaHeader.body.agent.id, viaBody.body.agent.id);
        const both = await t.request('POST', url, {
          session: s,
          body: { name: 'cron', idempotency_key: 'create-cron' },
          headers: { 'idempotency-key': 'create-cron' },
        });
        assert.equal(both.body.agent.id, viaBody.body.agent.id);
        const disagree = await t.request('POST', url, {
          session: s,
          body: { name: 'cron', idempotency_key: 'one' },
          headers: { 'idempotency-key': 'two' },
        });
        assert.equal(disagree.status, 400);
        assert.ok(disagree.body.details.idempotency_key);
        assert.equal((await liveAgents(s.orgId)).length, 1);
      });

      it('agent changes are audited with the user who made them', async () => {
        const s = await t.signup();
        // A second between steps, so the audit order (created_at) is the order of the calls.
        const created = await t.createAgent(s, { name: 'audited', priority: 200 });
        t.clock.advance(1000);
        await t.request('PATCH', `/v1/orgs/${s.orgId}/agents/${created.id}`, { session: s, body: { priority: 300 } });
        t.clock.advance(1000);
        await t.request('POST', `/v1/orgs/${s.orgId}/agents/${created.id}/rotate-key`, { session: s });
        t.clock.advance(1000);
        await t.request('DELETE', `/v1/orgs/${s.orgId}/agents/${created.id}`, { session: s });
        const rows = await t.store.db.selectFrom('audit_events').selectAll().where('org_id', '=', s.orgId).orderBy('created_at').execute();
        const agentRows = rows.filter((r) => r.event.startsWith('agent.'));
        assert.deepEqual(
          agentRows.map((r) => r.event),
          ['agent.created', 'agent.updated', 'agent.key_rotated', 'agent.deleted'],
        );
        for (const r of agentRows) {
          assert.equal(r.actor_type, 'user');
          assert.equal(r.actor_id, s.userId);
          assert.equal(JSON.parse(r.details).agent_id, created.id);
          assert.ok(!r.details.includes(created.key), 'never the key');
        }
        const createdDetails = JSON.parse(agentRows[0]?.details ?? '{}');
        assert.equal(createdDetails.name, 'audited');
        assert.equal(createdDetails.priority, 200);
        assert.deepEqual(JSON.parse(agentRows[1]?.details ?? '{}').changes, { priority: { from: 200, to: 300 } });
      });
    });
  });
}
