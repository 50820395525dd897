/**
 * The work-coordination API on every store: decisions, fencing, leases, expiry, preemption, observe mode,
 * idempotency. Time moves only through the manual clock.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestServer, MIN, STORES, type TestServer } from '@availsync/testkit';

for (const kind of STORES) {
  describe(`work coordination (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await createTestServer(kind);
    });
    after(async () => {
      await t.close();
    });

    it('proceeds, then skips a second run with the blocking claim and retry_after', async () => {
      const { key, agent } = await t.workspace({ name: 'codex-nightly' });
      const first = await t.start(key, { duration_minutes: 45, reason: 'scheduled Codex run' });
      assert.equal(first.status, 200);
      assert.equal(first.body.action, 'proceed');
      assert.equal(first.body.mode, 'enforce');
      assert.equal(first.body.retry_after, null);
      assert.match(first.body.claim.id, /^clm_/);
      assert.equal(first.body.claim.status, 'active');
      assert.equal(first.body.claim.fencing_token, 1);
      assert.equal(Date.parse(first.body.claim.expires_at) - Date.parse(first.body.claim.started_at), 45 * MIN);
      assert.match(first.headers.get('x-request-id') ?? '', /^req_/);

      const second = await t.start(key, {});
      assert.equal(second.body.action, 'skip_run');
      // The blocking claim is the caller's own: the reason says so (it has no "priority" over itself).
      assert.equal(second.body.reason, 'This agent already holds this resource with another active work claim: finish or extend that run');
      assert.equal(second.body.retry_after, first.body.claim.expires_at);
      assert.deepEqual(second.body.blocking_claim, {
        id: first.body.claim.id,
        agent_id: agent.id,
        agent_name: 'codex-nightly',
        resource: 'repo:acme/app',
        reason: 'scheduled Codex run',
        priority: 100,
        expires_at: first.body.claim.expires_at,
      });
    });

    it('accepts resource_type + resource_key and keeps resources independent', async () => {
      const { key } = await t.workspace();
      const a = await t.request('POST', '/v1/work/run/start', { key, body: { resource_type: 'repo', resource_key: 'owner/repo' } });
      const b = await t.request('POST', '/v1/work/run/start', { key, body: { resource: 'project:homepage' } });
      assert.equal(a.body.action, 'proceed');
      assert.equal(b.body.action, 'proceed');
      assert.equal(a.body.claim.resource, 'repo:owner/repo');
    });

    it('fencing tokens strictly increase per resource across finish, expiry and preemption', async () => {
      const { session, key } = await t.workspace({ priority: 100 });
      const high = await t.createAgent(session, { name: 'high', priority: 500 });
      const tokens: number[] = [];
      const s1 = await t.start(key);
      tokens.push(s1.body.claim.fencing_token);
      await t.request('POST', '/v1/work/run/finish', { key, body: { claim_id: s1.body.claim.id } });
      const s2 = await t.start(key, { duration_minutes: 1 });
      tokens.push(s2.body.claim.fencing_token);
      t.clock.advance(2 * MIN);
      const s3 = await t.start(key);
      tokens.push(s3.body.claim.fencing_token);
      const s4 = await t.start(high.key, { preempt: true });
      assert.equal(s4.body.action, 'proceed');
      tokens.push(s4.body.claim.fencing_token);
      assert.deepEqual(tokens, [1, 2, 3, 4]);
      // Another workspace's resource of the same name has its own sequence.
      const other = await t.workspace();
      assert.equal((await t.start(other.key)).body.claim.fencing_token, 1);
    });

    it('extend sets now + duration (not additive) and counts renewals', async () => {
      const { key } = await t.workspace();
      const s = await t.start(key, { duration_minutes: 30 });
      t.clock.advance(10 * MIN);
      const e = await t.request('POST', '/v1/work/run/extend', { key, body: { claim_id: s.body.claim.id, duration_minutes: 20 } });
      assert.equal(e.status, 200);
      assert.equal(e.body.action, 'extended');
      assert.equal(e.body.claim.renewal_count, 1);
      // now (≥ started + 10 min) + 20 min; PostgreSQL's clock also moves on by itself between the calls.
      const lease = Date.parse(e.body.claim.expires_at) - Date.parse(s.body.claim.started_at);
      assert.ok(lease >= 30 * MIN && lease < 31 * MIN, `lease ${lease}`);
      const e2 = await t.request('POST', `/v1/work/claims/${s.body.claim.id}/extend`, { key, body: {} });
      assert.equal(e2.body.claim.renewal_count, 2);
      assert.equal(e2.body.claim.duration_minutes, 30, 'defaults to the original duration');
    });

    it('an expired lease is expired for every decision at once and is never revived', async () => {
      const { session, key } = await t.workspace();
      const other = await t.createAgent(session, { name: 'other' });
      const s = await t.start(key, { duration_minutes: 5 });
      t.clock.advance(5 * MIN); // exactly at expires_at: expired
      const check = await t.request('POST', '/v1/work/check', { key: other.key, body: { resource: 'repo:acme/app' } });
      assert.equal(check.body.available, true);
      const get = await t.request('GET', `/v1/work/claims/${s.body.claim.id}`, { key });
      assert.equal(get.body.claim.status, 'expired', 'reads as expired before any sweep');
      const ext = await t.request('POST', '/v1/work/run/extend', { key, body: { claim_id: s.body.claim.id } });
      assert.equal(ext.status, 409);
      assert.equal(ext.body.error, 'claim_not_active');
      assert.equal(ext.body.status, 'expired');
      assert.match(ext.body.request_id, /^req_/);
      const taken = await t.start(other.key);
      assert.equal(taken.body.action, 'proceed');
      const late = await t.request('POST', '/v1/work/run/extend', { key, body: { claim_id: s.body.claim.id } });
      assert.equal(late.status, 409);
      const fin = await t.request('POST', '/v1/work/run/finish', { key, body: { claim_id: s.body.claim.id } });
      assert.equal(fin.body.action, 'already_finished');
      assert.equal(fin.body.claim.status, 'expired');
    });

    it('the sweeper marks lapsed claims expired, releases working sets and audits it', async () => {
      const { key } = await t.workspace();
      const s = await t.start(key, { duration_minutes: 1 });
      await t.request('POST', '/v1/work/run/working-set', { key, body: { claim_id: s.body.claim.id, paths: ['src/a.ts'] } });
      t.clock.advance(61_000);
      const swept = await t.services.work.sweep();
      assert.ok(swept >= 1);
      const row = await t.store.db.selectFrom('claims').selectAll().where('id', '=', s.body.claim.id).executeTakeFirstOrThrow();
      assert.equal(row.status, 'expired');
      assert.equal(row.released_at, row.expires_at);
      const files = await t.store.db.selectFrom('file_claims').selectAll().where('claim_id', '=', s.body.claim.id).execute();
      assert.equal(files.length, 0);
      const audit = await t.store.db
        .selectFrom('audit_events')
        .selectAll()
        .where('claim_id', '=', s.body.claim.id)
        .where('event', '=', 'claim.expired')
        .execute();
      assert.equal(audit.length, 1);
      assert.equal(await t.services.work.sweep(), 0, 'a second sweep finds nothing');
    });

    it('finish is idempotent and releases the resource', async () => {
      const { session, key } = await t.workspace();
      const other = await t.createAgent(session, { name: 'other' });
      const s = await t.start(key);
      const f1 = await t.request('POST', '/v1/work/run/finish', {
        key,
        body: { claim_id: s.body.claim.id, outcome: 'noop', metadata: { commits: 0 } },
      });
      assert.equal(f1.body.action, 'finished');
      assert.equal(f1.body.claim.status, 'released');
      assert.equal(f1.body.claim.outcome, 'noop');
      assert.deepEqual(f1.body.claim.metadata, { commits: 0 });
      const f2 = await t.request('POST', '/v1/work/run/finish', { key, body: { claim_id: s.body.claim.id } });
      assert.equal(f2.body.action, 'already_finished');
      assert.equal(f2.body.claim.outcome, 'noop');
      assert.equal((await t.start(other.key)).body.action, 'proceed');
    });

    it('priority: a higher-priority agent preempts only when it asks to', async () => {
      const { session, key } = await t.workspace({ priority: 100 });
      const high = await t.createAgent(session, { name: 'deploy', priority: 900 });
      const low = await t.start(key);
      const noPreempt = await t.start(high.key);
      assert.equal(noPreempt.body.action, 'skip_run');
      assert.match(noPreempt.body.reason, /preempt/);
      const pre = await t.start(high.key, { preempt: true });
      assert.equal(pre.body.action, 'proceed');
      assert.deepEqual(pre.body.preempted_claims, [low.body.claim.id]);
      const lowNow = await t.request('GET', `/v1/work/claims/${low.body.claim.id}`, { key });
      assert.equal(lowNow.body.claim.status, 'preempted');
      const ext = await t.request('POST', '/v1/work/run/extend', { key, body: { claim_id: low.body.claim.id } });
      assert.equal(ext.status, 409);
      assert.equal(ext.body.status, 'preempted');
      // Equal or higher priority is never preempted.
      const again = await t.start(key, { preempt: true });
      assert.equal(again.body.action, 'skip_run');
      // Blocked by a higher priority, the reason says so; at equal priority it says the first claim holds it.
      assert.equal(again.body.reason, 'Another active work claim has priority');
      const peer = await t.createAgent(session, { name: 'peer', priority: 900 });
      const even = await t.start(peer.key);
      assert.equal(even.body.reason, 'Another active work claim of equal priority holds this resource until it ends');
      // A request may lower its priority but not raise it above the agent's own.
      const tooHigh = await t.start(key, { resource: 'repo:acme/other', priority: 101 });
      assert.equal(tooHigh.status, 400);
      assert.equal(tooHigh.body.error, 'invalid_request');
    });

    it('observe mode proceeds without a lease and reports the shadow decision', async () => {
      const { session, key } = await t.workspace();
      const watcher = await t.createAgent(session, { name: 'watcher', mode: 'observe' });
      const free = await t.start(watcher.key, { resource: 'repo:acme/free' });
      assert.deepEqual(
        {
          action: free.body.action,
          mode: free.body.mode,
          shadow_mode: free.body.shadow_mode,
          claim: free.body.claim,
          would: free.body.would_have_blocked,
        },
        { action: 'proceed', mode: 'observe', shadow_mode: true, claim: null, would: false },
      );
      const held = await t.start(key);
      const shadow = await t.start(watcher.key);
      assert.equal(shadow.body.action, 'proceed');
      assert.equal(shadow.body.would_have_blocked, true);
      assert.equal(shadow.body.shadow_decision.action, 'skip_run');
      assert.equal(shadow.body.shadow_decision.blocking_claim.id, held.body.claim.id);
      // No lease was created: the enforce agent's claim is still the only one.
      const claims = await t.store.db.selectFrom('claims').select('id').where('org_id', '=', session.orgId).execute();
      assert.equal(claims.length, 1);
      const audit = await t.store.db
        .selectFrom('audit_events')
        .select('details')
        .where('org_id', '=', session.orgId)
        .where('event', '=', 'claim.observed')
        .execute();
      assert.equal(audit.length, 2);
    });

    it('start_at may absorb up to 5 minutes of clock skew; later points to holds', async () => {
      const { key } = await t.workspace();
      const now = t.clock.now();
      const near = await t.start(key, { start_at: new Date(now + 4 * MIN).toISOString() });
      assert.equal(near.body.action, 'proceed');
      const far = await t.start(key, { resource: 'repo:acme/later', start_at: new Date(now + 6 * MIN).toISOString() });
      assert.equal(far.status, 400);
      assert.match(far.body.message, /holds/);
      const nothing = await t.request('GET', '/v1/work/claims?resource=repo:acme/later', { key });
      assert.equal(nothing.body.data.length, 0, 'a refused start changes nothing');
    });

    it('duration defaults to 30 minutes and is capped at the workspace maximum', async () => {
      const { key } = await t.workspace();
      const s = await t.start(key);
      assert.equal(s.body.claim.duration_minutes, 30);
      const tooLong = await t.start(key, { resource: 'repo:acme/x', duration_minutes: 721 });
      assert.equal(tooLong.status, 400);
    });

    it('check previews without mutating anything', async () => {
      const { session, key } = await t.workspace();
      const other = await t.createAgent(session, { name: 'other' });
      const free = await t.request('POST', '/v1/work/check', { key, body: { resource: 'repo:acme/app' } });
      assert.deepEqual(free.body, {
        available: true,
        action: 'proceed',
        mode: 'enforce',
        reason: null,
        blocking_claim: null,
        retry_after: null,
      });
      const count = await t.store.db.selectFrom('claims').select('id').where('org_id', '=', session.orgId).execute();
      assert.equal(count.length, 0);
      const held = await t.start(key);
      const busy = await t.request('POST', '/v1/work/check', { key: other.key, body: { resource: 'repo:acme/app' } });
      assert.equal(busy.body.available, false);
      assert.equal(busy.body.blocking_claim.id, held.body.claim.id);
      assert.equal(busy.body.retry_after, held.body.claim.expires_at);
    });

    it('legacy work/claim: 201 or 409 conflict, with deprecation headers', async () => {
      const { session, key } = await t.workspace();
      const other = await t.createAgent(session, { name: 'other' });
      const ok = await t.request('POST', '/v1/work/claim', { key, body: { resource: 'repo:acme/legacy' } });
      assert.equal(ok.status, 201);
      assert.equal(ok.body.claim.status, 'active');
      assert.equal(ok.headers.get('deprecation'), 'true');
      assert.ok(ok.headers.get('sunset'));
      assert.equal(ok.headers.get('link'), '</v1/work/run/start>; rel="successor-version"');
      const conflict = await t.request('POST', '/v1/work/claim', { key: other.key, body: { resource: 'repo:acme/legacy' } });
      assert.equal(conflict.status, 409);
      assert.equal(conflict.body.error, 'conflict');
      assert.equal(conflict.body.blocking_claim.id, ok.body.claim.id);
      assert.equal(conflict.body.retry_after, ok.body.claim.expires_at);
      assert.match(conflict.body.request_id, /^req_/);
      assert.equal(conflict.headers.get('deprecation'), 'true');
      const rel = await t.request('DELETE', `/v1/work/claims/${ok.body.claim.id}`, { key });
      assert.equal(rel.body.action, 'released');
      const rel2 = await t.request('DELETE', `/v1/work/claims/${ok.body.claim.id}`, { key });
      assert.equal(rel2.body.action, 'already_released');
    });

    it('Idempotency-Key replays the original answer and refuses a different body with 422', async () => {
      const { session, key } = await t.workspace();
      const other = await t.createAgent(session, { name: 'other' });
      const body = { resource: 'repo:acme/idem', reason: 'nightly' };
      const a = await t.request('POST', '/v1/work/run/start', { key, body, headers: { 'idempotency-key': 'run-1' } });
      const audits = () => t.store.db.selectFrom('audit_events').select('event').where('org_id', '=', session.orgId).execute();
      const written = await audits();
      const b = await t.request('POST', '/v1/work/run/start', { key, body, headers: { 'idempotency-key': 'run-1' } });
      assert.deepEqual(b.body, a.body);
      assert.equal(b.headers.get('idempotent-replayed'), 'true');
      const viaBody = await t.request('POST', '/v1/work/run/start', { key, body: { ...body, idempotency_key: 'run-1' } });
      assert.deepEqual(viaBody.body, a.body, 'the body field is the same key');
      // A replay's decision runs before its key is known to be used (the key goes out with the lock), and
      // would be a skip with an audit row: it is rolled back whole.
      assert.deepEqual(await audits(), written, 'a replay writes nothing');
      const diff = await t.request('POST', '/v1/work/run/start', {
        key,
        body: { ...body, reason: 'other' },
        headers: { 'idempotency-key': 'run-1' },
      });
      assert.equal(diff.status, 422);
      assert.equal(diff.body.error, 'idempotency_key_reused');
      // Keys are scoped per agent: the same key from another agent is a new request.
      const otherAgent = await t.request('POST', '/v1/work/run/start', { key: other.key, body, headers: { 'idempotency-key': 'run-1' } });
      assert.equal(otherAgent.body.action, 'skip_run');
      const claims = await t.store.db.selectFrom('claims').select('id').where('org_id', '=', session.orgId).execute();
      assert.equal(claims.length, 1);
      assert.equal(a.body.claim.idempotency_key, 'run-1');
    });

    it('lists claims (own only for an agent key) and protected resources with pagination', async () => {
      const { session, key, agent } = await t.workspace();
      const other = await t.createAgent(session, { name: 'other' });
      for (const r of ['repo:acme/a', 'repo:acme/b', 'repo:acme/c']) await t.start(key, { resource: r });
      await t.start(other.key, { resource: 'repo:acme/d' });
      const mine = await t.request('GET', '/v1/work/claims?limit=2', { key });
      assert.equal(mine.body.data.length, 2);
      assert.deepEqual(mine.body.pagination, { limit: 2, offset: 0, total: 3, has_more: true });
      assert.ok(mine.body.data.every((c: { agent_id: string }) => c.agent_id === agent.id));
      const forbidden = await t.request('GET', `/v1/work/claims?agent_id=${other.id}`, { key });
      assert.equal(forbidden.status, 403);
      const all = await t.request('GET', '/v1/work/claims?limit=500', { session });
      assert.equal(all.body.pagination.limit, 100, 'limit is capped');
      assert.equal(all.body.pagination.total, 4);
      const active = await t.request('GET', '/v1/work/claims?status=active&resource=repo:acme/d', { session });
      assert.equal(active.body.data.length, 1);
      const resources = await t.request('GET', '/v1/work/resources?limit=3', { key });
      assert.equal(resources.body.pagination.total, 4);
      assert.equal(resources.body.data.length, 3);
      assert.equal(resources.body.data[0].active_claims, 1);
      assert.equal(resources.body.data[0].fencing_token, 1);
    });

    it('a workspace session acts for an agent of its own workspace only', async () => {
      const { session, agent } = await t.workspace();
      const noAgent = await t.request('POST', '/v1/work/run/start', { session, body: { resource: 'repo:acme/s' } });
      assert.equal(noAgent.status, 400);
      const ok = await t.request('POST', '/v1/work/run/start', { session, body: { resource: 'repo:acme/s', agent_id: agent.id } });
      assert.equal(ok.body.action, 'proceed');
      const stranger = await t.workspace();
      const foreign = await t.request('POST', '/v1/work/run/start', {
        session: stranger.session,
        body: { resource: 'repo:acme/s', agent_id: agent.id },
      });
      assert.equal(foreign.status, 404);
      const mismatch = await t.request('POST', '/v1/work/run/start', {
        key: stranger.key,
        body: { resource: 'repo:acme/s', agent_id: agent.id },
      });
      assert.equal(mismatch.status, 403);
    });

    it('every claim transition writes an audit row in the same transaction', async () => {
      const { session, key } = await t.workspace();
      const s = await t.start(key);
      await t.start(key);
      await t.request('POST', '/v1/work/run/extend', { key, body: { claim_id: s.body.claim.id } });
      await t.request('POST', '/v1/work/run/finish', { key, body: { claim_id: s.body.claim.id } });
      const events = await t.store.db
        .selectFrom('audit_events')
        .select(['event', 'actor_type'])
        .where('org_id', '=', session.orgId)
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      assert.deepEqual(
        events.map((e) => e.event).filter((e) => e.startsWith('claim.')),
        ['claim.started', 'claim.skipped', 'claim.extended', 'claim.finished'],
      );
    });
  });
}
