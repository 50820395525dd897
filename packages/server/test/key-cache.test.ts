/**
 * The key cache of the claim path (services/principals.ts). Start, extend, finish and working-set updates may
 * take the caller's agent and workspace from this node's cache, and confirm them inside their own
 * transaction. Every change below
 * is written straight into the database, as another node (or an operator) would: this node's cache never
 * hears of it, so only the confirmation can catch it. Each must take effect on the very next request,
 * exactly as if the key had been read first, and a refused request must change nothing.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createTestServer, STORES, type TestServer } from '@availsync/testkit';

for (const kind of STORES) {
  describe(`key cache of the claim path (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await createTestServer(kind);
    });
    after(async () => {
      await t.close();
    });

    /** A workspace whose agent's key this node has cached: one claim started and finished with it. */
    async function cachedAgent(fields: Record<string, unknown> = {}) {
      const w = await t.workspace(fields);
      const warm = await t.start(w.key, { resource: 'repo:acme/warm' });
      assert.equal(warm.body.action, 'proceed');
      await t.request('POST', '/v1/work/run/finish', { key: w.key, body: { claim_id: warm.body.claim.id } });
      assert.ok(t.services.keys.cached(sha256Of(w.key)), 'the key is cached');
      return w;
    }
    const rowsOf = async (orgId: string) => ({
      claims: await t.store.db
        .selectFrom('claims')
        .select(['id', 'status', 'expires_at'])
        .where('org_id', '=', orgId)
        .orderBy('id')
        .execute(),
      audit: (await t.store.db.selectFrom('audit_events').select('id').where('org_id', '=', orgId).execute()).length,
      keys: (await t.store.db.selectFrom('idempotency_keys').select('key').execute()).length,
      files: (await t.store.db.selectFrom('file_claims').select('id').where('org_id', '=', orgId).execute()).length,
    });

    it('a key replaced elsewhere is refused at once by start, extend, finish and working-set updates, and nothing changes', async () => {
      const { session, agent, key } = await cachedAgent();
      const held = await t.start(key, { resource: 'repo:acme/held' });
      await t.store.db
        .updateTable('agents')
        .set({ key_hash: 'f'.repeat(64) })
        .where('id', '=', agent.id)
        .execute();
      const before = await rowsOf(session.orgId);

      const start = await t.request('POST', '/v1/work/run/start', {
        key,
        headers: { 'idempotency-key': 'after-rotation' },
        body: { resource: 'repo:acme/new' },
      });
      const extend = await t.request('POST', '/v1/work/run/extend', { key, body: { claim_id: held.body.claim.id } });
      const finish = await t.request('POST', '/v1/work/run/finish', { key, body: { claim_id: held.body.claim.id } });
      const ws = await t.request('POST', '/v1/work/run/working-set', {
        key,
        body: { claim_id: held.body.claim.id, paths: ['src/a.ts'] },
      });
      const release = await t.request('DELETE', `/v1/work/claims/${held.body.claim.id}`, { key });
      for (const res of [start, extend, finish, ws, release]) {
        assert.equal(res.status, 401);
        assert.equal(res.body.error, 'unauthorized');
        assert.equal(res.body.message, 'Unknown or rotated API key');
      }
      assert.deepEqual(await rowsOf(session.orgId), before, 'no claim, audit row or idempotency record was written');
      assert.equal(t.services.keys.cached(sha256Of(key)), undefined, 'the stale entry is gone');
    });

    it('a key gone elsewhere is 401 even where the request fails before its transaction (an invalid body)', async () => {
      const { agent, key } = await cachedAgent();
      await t.store.db
        .updateTable('agents')
        .set({ key_hash: 'e'.repeat(64) })
        .where('id', '=', agent.id)
        .execute();
      for (const body of [{ resource: 42 }, { resource: 'repo:acme/x', priority: 5000 }]) {
        const res = await t.request('POST', '/v1/work/run/start', { key, body });
        assert.equal(res.status, 401, JSON.stringify(res.body));
        assert.equal(res.body.error, 'unauthorized');
      }
      const ws = await t.request('POST', '/v1/work/run/extend', {
        key,
        body: { claim_id: 'clm_unknown', working_set: { paths: ['src/a.ts'] } },
      });
      assert.equal(ws.status, 401);
    });

    it('a raised priority is seen by the check made before the transaction', async () => {
      const { agent, key } = await cachedAgent({ priority: 50 });
      await t.store.db.updateTable('agents').set({ priority: 200 }).where('id', '=', agent.id).execute();
      const res = await t.start(key, { resource: 'repo:acme/raised', priority: 150 });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.claim.priority, 150);
    });

    it('with a cached key still valid, errors are the same errors', async () => {
      const { key } = await cachedAgent();
      const other = await cachedAgent();
      const theirs = await t.start(other.key, { resource: 'repo:acme/theirs' });
      const unknown = await t.request('POST', '/v1/work/run/finish', { key, body: { claim_id: 'clm_unknown' } });
      assert.equal(unknown.status, 404);
      const cross = await t.request('POST', '/v1/work/run/extend', {
        key,
        body: { claim_id: theirs.body.claim.id, working_set: { paths: ['src/a.ts'] } },
      });
      assert.equal(cross.status, 404, 'a claim of another workspace');
      const crossWs = await t.request('POST', '/v1/work/run/working-set', {
        key,
        body: { claim_id: theirs.body.claim.id, paths: ['src/a.ts'] },
      });
      assert.equal(crossWs.status, 404, 'a working set of a claim of another workspace');
      const invalid = await t.request('POST', '/v1/work/run/start', { key, body: { resource: 42 } });
      assert.equal(invalid.status, 400);
      assert.equal(invalid.body.error, 'invalid_request');
    });

    it('a deleted agent is refused at once', async () => {
      const { session, agent, key } = await cachedAgent();
      await t.store.db.updateTable('agents').set({ deleted_at: t.clock.now() }).where('id', '=', agent.id).execute();
      const before = await rowsOf(session.orgId);
      const res = await t.start(key, { resource: 'repo:acme/after-delete' });
      assert.equal(res.status, 401);
      assert.deepEqual(await rowsOf(session.orgId), before);
    });

    it("a lowered priority, an agent switched to observe and a workspace's new lease length apply to the next request", async () => {
      const { session, agent, key } = await cachedAgent({ priority: 200 });
      await t.store.db.updateTable('agents').set({ priority: 50 }).where('id', '=', agent.id).execute();
      const tooHigh = await t.start(key, { resource: 'repo:acme/priority', priority: 150 });
      assert.equal(tooHigh.status, 400);
      assert.match(tooHigh.body.message, /\(50\)/, 'judged by the priority in the database, not the cached 200');
      const own = await t.start(key, { resource: 'repo:acme/priority' });
      assert.equal(own.body.claim.priority, 50);

      await t.store.db.updateTable('orgs').set({ default_claim_minutes: 7 }).where('id', '=', session.orgId).execute();
      const lease = await t.start(key, { resource: 'repo:acme/lease' });
      assert.equal(Date.parse(lease.body.claim.expires_at) - Date.parse(lease.body.claim.started_at), 7 * 60_000);

      await t.store.db.updateTable('agents').set({ mode: 'observe' }).where('id', '=', agent.id).execute();
      const observed = await t.start(key, { resource: 'repo:acme/observe' });
      assert.equal(observed.body.mode, 'observe');
      assert.equal(observed.body.claim, null);
    });

    it('a key read afresh after a change is cached again: the next request uses the cache', async () => {
      const { agent, key } = await cachedAgent();
      await t.store.db.updateTable('agents').set({ name: 'renamed' }).where('id', '=', agent.id).execute();
      const first = await t.start(key, { resource: 'repo:acme/renamed' });
      assert.equal(first.body.action, 'proceed');
      assert.equal(t.services.keys.cached(sha256Of(key))?.agent.name, 'renamed');
      const blocked = await t.start(key, { resource: 'repo:acme/renamed' });
      assert.equal(blocked.body.blocking_claim.agent_name, 'renamed');
    });

    it('an agent last seen elsewhere (last_seen_at, last_heartbeat_at) is not a change', async () => {
      const { agent, key } = await cachedAgent();
      const cached = t.services.keys.cached(sha256Of(key));
      await t.store.db
        .updateTable('agents')
        .set({ last_seen_at: t.clock.now() + 1, last_heartbeat_at: t.clock.now() + 1 })
        .where('id', '=', agent.id)
        .execute();
      const res = await t.start(key, { resource: 'repo:acme/seen' });
      assert.equal(res.body.action, 'proceed');
      assert.equal(t.services.keys.cached(sha256Of(key))?.unconfirmed?.fingerprint, cached?.unconfirmed?.fingerprint);
    });

    it('routes outside the claim path read the key every time', async () => {
      const { agent, key } = await cachedAgent();
      await t.store.db.updateTable('agents').set({ name: 'read-fresh' }).where('id', '=', agent.id).execute();
      const me = await t.request('GET', '/v1/agent', { key });
      assert.equal(me.body.agent.name, 'read-fresh');
    });
  });
}

function sha256Of(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}
