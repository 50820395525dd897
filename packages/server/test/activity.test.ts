/**
 * Activity, usage, audit and retention on every store. Activity is written in batches: tests call the
 * recorder's flush() instead of waiting.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestServer, MIN, type Session, STORES, type TestServer, testConfig } from '@availsync/testkit';
import { ManualClock } from '../src/clock.js';
import { createLogger } from '../src/logger.js';
import { ActivityRecorder } from '../src/services/activity.js';
import { RetentionService } from '../src/services/retention.js';
import type { Store } from '../src/storage/store.js';

const DAY = 24 * 60 * MIN;

for (const kind of STORES) {
  describe(`activity, usage and audit (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await createTestServer(kind);
    });
    after(async () => {
      await t.close();
    });

    const flush = () => t.services.activity.recorder.flush();
    const activity = async (session: Session, query = '') => {
      await flush();
      const res = await t.request('GET', `/v1/activity${query ? `?${query}` : ''}`, { session });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body as { data: any[]; pagination: any };
    };

    it('records every agent-key request with its route, status, action and resource', async () => {
      const { session, key, agent } = await t.workspace();
      const other = await t.createAgent(session, { name: 'other' });
      const watcher = await t.createAgent(session, { name: 'watcher', mode: 'observe' });
      const start = await t.start(key, { resource: 'repo:acme/app' });
      const skip = await t.request('POST', '/v1/work/run/start', {
        key: other.key,
        body: { resource_type: 'repo', resource_key: 'acme/app' },
      });
      const shadow = await t.start(watcher.key, { resource: 'repo:acme/app' });
      const get = await t.request('GET', `/v1/work/claims/${start.body.claim.id}`, { key });
      const finish = await t.request('POST', '/v1/work/run/finish', { key, body: { claim_id: start.body.claim.id } });
      const bad = await t.request('POST', '/v1/work/run/start', { key, body: { resource: 'svn:nope' } });
      const missing = await t.request('GET', '/v1/work/claims/clm_missing', { key });
      // Not agent-key requests: a session call and an unauthenticated one.
      await t.request('GET', '/v1/work/claims', { session });
      await t.request('GET', '/v1/agent', { key: 'avs_live_' + 'x'.repeat(43) });

      const { data, pagination } = await activity(session);
      assert.equal(pagination.total, 7);
      const byRequest = new Map(data.map((a) => [a.request_id, a]));
      const row = (res: { headers: Headers }) => byRequest.get(res.headers.get('x-request-id'));
      assert.deepEqual(
        { ...row(start), id: undefined, latency_ms: undefined, created_at: undefined },
        {
          id: undefined,
          agent_id: agent.id,
          type: 'work',
          method: 'POST',
          route: '/v1/work/run/start',
          status_code: 200,
          action: 'proceed',
          resource: 'repo:acme/app',
          latency_ms: undefined,
          request_id: start.headers.get('x-request-id'),
          created_at: undefined,
        },
      );
      assert.match(row(start).id, /^act_/);
      assert.ok(row(start).latency_ms >= 0);
      assert.equal(row(start).created_at, new Date(t.clock.now()).toISOString());
      assert.deepEqual([row(skip).agent_id, row(skip).action, row(skip).resource], [other.id, 'skip_run', 'repo:acme/app']);
      assert.deepEqual([row(shadow).action, row(shadow).status_code], ['shadow_skip_run', 200]);
      assert.deepEqual(
        [row(get).route, row(get).method, row(get).action, row(get).resource],
        ['/v1/work/claims/:claim_id', 'GET', null, 'repo:acme/app'],
      );
      assert.deepEqual([row(finish).action, row(finish).resource], ['finished', 'repo:acme/app']);
      assert.deepEqual([row(bad).status_code, row(bad).action], [400, null]);
      assert.deepEqual([row(missing).status_code, row(missing).type], [404, 'work']);
      // Newest first.
      const times = data.map((a) => `${a.created_at}`);
      assert.deepEqual(times, [...times].sort().reverse());
    });

    it('filters by agent, status, type and time, and paginates', async () => {
      const { session, key, agent } = await t.workspace();
      const other = await t.createAgent(session, { name: 'other' });
      const t0 = t.clock.now();
      await t.request('GET', '/v1/agent', { key }); // 200 other
      await t.start(key, { resource: 'repo:acme/f1' }); // 200 work
      t.clock.advance(MIN);
      const t1 = t.clock.now();
      await t.request('GET', '/v1/work/claims/clm_nope', { key }); // 404 work
      await t.request('POST', '/v1/mcp/heartbeat', { key: other.key, body: {} }); // 200 heartbeat
      await t.request('POST', '/v1/activity/usage', { key: other.key, body: { input_tokens: -1 } }); // 400 usage

      assert.equal((await activity(session)).pagination.total, 5);
      assert.equal((await activity(session, `agent_id=${agent.id}`)).pagination.total, 3);
      assert.deepEqual((await activity(session, 'status=error')).data.map((a) => a.status_code).sort(), [400, 404]);
      assert.equal((await activity(session, 'status=ok')).pagination.total, 3);
      assert.deepEqual(
        (await activity(session, 'status=404')).data.map((a) => a.route),
        ['/v1/work/claims/:claim_id'],
      );
      assert.deepEqual(
        (await activity(session, 'type=heartbeat')).data.map((a) => [a.agent_id, a.route]),
        [[other.id, '/v1/mcp/heartbeat']],
      );
      assert.equal((await activity(session, 'type=usage')).data[0].status_code, 400);
      const from = new Date(t1).toISOString();
      assert.equal((await activity(session, `from=${encodeURIComponent(from)}`)).pagination.total, 3);
      assert.equal((await activity(session, `to=${encodeURIComponent(from)}`)).pagination.total, 2);
      assert.equal(
        (await activity(session, `from=${encodeURIComponent(new Date(t0).toISOString())}&to=${encodeURIComponent(from)}&type=work`))
          .pagination.total,
        1,
      );

      const p1 = await activity(session, 'limit=2');
      const p2 = await activity(session, 'limit=2&offset=2');
      const p3 = await activity(session, 'limit=2&offset=4');
      assert.deepEqual(p1.pagination, { limit: 2, offset: 0, total: 5, has_more: true });
      assert.deepEqual(p3.pagination, { limit: 2, offset: 4, total: 5, has_more: false });
      const ids = [...p1.data, ...p2.data, ...p3.data].map((a) => a.id);
      assert.equal(new Set(ids).size, 5);
      assert.equal((await activity(session, 'limit=500')).pagination.limit, 100);

      for (const q of [
        'status=bad',
        'type=nope',
        'from=yesterday',
        `from=${encodeURIComponent(from)}&to=${encodeURIComponent(new Date(t0).toISOString())}`,
        'limit=0',
      ]) {
        const res = await t.request('GET', `/v1/activity?${q}`, { session });
        assert.equal(res.status, 400, q);
      }
      // Another workspace sees none of it; agents cannot read activity.
      const stranger = await t.workspace();
      assert.equal((await activity(stranger.session)).pagination.total, 0);
      assert.equal((await t.request('GET', '/v1/activity', { key })).status, 403);
    });

    it('usage reports: 201, own claims only, validated, idempotent, recorded as usage activity', async () => {
      const { session, key, agent } = await t.workspace();
      const other = await t.createAgent(session, { name: 'other' });
      const mine = await t.start(key, { resource: 'repo:acme/usage' });
      const theirs = await t.start(other.key, { resource: 'repo:acme/usage2' });
      const body = {
        claim_id: mine.body.claim.id,
        model: 'claude-sonnet',
        input_tokens: 1200,
        output_tokens: 300,
        cost_usd: 0.0123,
        external_run_id: 'run-42',
        metadata: { task: 'refactor' },
      };
      const res = await t.request('POST', '/v1/activity/usage', { key, body, headers: { 'idempotency-key': 'u-1' } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.match(res.body.usage.id, /^usg_/);
      assert.deepEqual(
        { ...res.body.usage, id: undefined, created_at: undefined },
        { ...body, id: undefined, agent_id: agent.id, created_at: undefined },
      );
      const replay = await t.request('POST', '/v1/activity/usage', { key, body, headers: { 'idempotency-key': 'u-1' } });
      assert.deepEqual(replay.body, res.body);
      assert.equal(replay.headers.get('idempotent-replayed'), 'true');
      const reused = await t.request('POST', '/v1/activity/usage', {
        key,
        body: { ...body, input_tokens: 1 },
        headers: { 'idempotency-key': 'u-1' },
      });
      assert.equal(reused.status, 422);
      const minimal = await t.request('POST', '/v1/activity/usage', { key, body: {} });
      assert.equal(minimal.status, 201);
      assert.equal(minimal.body.usage.claim_id, null);
      assert.equal((await t.request('POST', '/v1/activity/usage', { key, body: { claim_id: theirs.body.claim.id } })).status, 403);
      assert.equal((await t.request('POST', '/v1/activity/usage', { key, body: { claim_id: 'clm_nope' } })).status, 404);
      for (const bad of [{ input_tokens: -1 }, { cost_usd: -0.5 }, { input_tokens: 1.5 }, { model: '' }, { tokens: 5 }]) {
        const r = await t.request('POST', '/v1/activity/usage', { key, body: bad });
        assert.equal(r.status, 400, JSON.stringify(bad));
      }
      assert.equal((await t.request('POST', '/v1/activity/usage', { session, body: {} })).status, 401, 'a session is not an agent key');
      const rows = await t.store.db.selectFrom('usage_reports').selectAll().where('org_id', '=', session.orgId).execute();
      assert.equal(rows.length, 2);
      const usage = (await activity(session, 'type=usage')).data;
      assert.equal(usage.length, 11);
      assert.ok(usage.some((a) => a.status_code === 201 && a.resource === null));
    });

    it('a failed activity write is logged and dropped, never thrown', async () => {
      const lines: string[] = [];
      const logger = createLogger('warn', (l) => lines.push(l));
      const broken = { ...t.store, transaction: async () => Promise.reject(new Error('disk full')) } as Store;
      const recorder = new ActivityRecorder({ store: broken, clock: new ManualClock(), logger, config: testConfig });
      const row = {
        org_id: 'org_x',
        agent_id: 'agt_x',
        type: 'work' as const,
        method: 'GET',
        route: '/v1/agent',
        status_code: 200,
        action: null,
        resource: null,
        latency_ms: 1,
        request_id: 'req_x',
      };
      recorder.record(row);
      recorder.record(row);
      await recorder.flush();
      assert.equal(lines.length, 1);
      assert.match(lines[0] ?? '', /activity write failed; rows dropped.*"rows":2.*disk full/);
      await recorder.close();
    });

    it('audit: every governance event with its actor, filterable and paginated', async () => {
      const { session, key, agent } = await t.workspace({ name: 'auditor' });
      const other = await t.createAgent(session, { name: 'other' });
      await t.request('PUT', `/v1/orgs/${session.orgId}/rules`, { session, body: { max_claim_minutes: 120 } });
      const s = await t.start(key, { resource: 'repo:acme/audit' });
      t.clock.advance(MIN);
      const mark = t.clock.now();
      await t.start(other.key, { resource: 'repo:acme/audit' });
      t.clock.advance(1000);
      await t.request('POST', '/v1/work/run/extend', { key, body: { claim_id: s.body.claim.id } });
      t.clock.advance(1000);
      await t.request('POST', '/v1/work/run/finish', { key, body: { claim_id: s.body.claim.id } });
      await t.request('POST', `/v1/orgs/${session.orgId}/agents/${other.id}/rotate-key`, { session });

      const list = async (q = '') => {
        const res = await t.request('GET', `/v1/audit${q ? `?${q}` : ''}`, { session });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        return res.body as { data: any[]; pagination: any };
      };
      const all = await list('limit=100');
      const events = all.data.map((e) => e.event);
      for (const e of [
        'workspace.created',
        'agent.created',
        'rules.updated',
        'claim.started',
        'claim.skipped',
        'claim.extended',
        'claim.finished',
        'agent.key_rotated',
      ]) {
        assert.ok(events.includes(e), `${e} in ${events}`);
      }
      for (const e of all.data) {
        assert.ok(['agent', 'user', 'system'].includes(e.actor_type));
        if (e.actor_type !== 'system') assert.ok(e.actor_id, `${e.event} has its actor`);
        assert.match(e.id, /^aud_/);
      }
      const started = (await list('event=claim.started')).data;
      assert.equal(started.length, 1);
      assert.deepEqual(
        [started[0].actor_type, started[0].actor_id, started[0].resource, started[0].claim_id],
        ['agent', agent.id, 'repo:acme/audit', s.body.claim.id],
      );
      assert.equal(started[0].details.fencing_token, 1);
      assert.deepEqual(
        (await list('event=claim.*')).data.map((e) => e.event),
        ['claim.finished', 'claim.extended', 'claim.skipped', 'claim.started'],
      );
      assert.deepEqual(
        (await list(`agent_id=${other.id}`)).data.map((e) => e.event),
        ['claim.skipped'],
      );
      assert.ok((await list('actor_type=user')).data.every((e) => e.actor_type === 'user' && e.actor_id === session.userId));
      assert.equal((await list('resource=repo:acme/audit')).pagination.total, 4);
      assert.equal((await list(`claim_id=${s.body.claim.id}`)).pagination.total, 4, 'a skip names the blocking claim');
      assert.deepEqual(
        (await list(`from=${encodeURIComponent(new Date(mark).toISOString())}&event=claim.*`)).data.map((e) => e.event),
        ['claim.finished', 'claim.extended', 'claim.skipped'],
      );
      assert.deepEqual(
        (await list(`to=${encodeURIComponent(new Date(mark).toISOString())}&event=claim.*`)).data.map((e) => e.event),
        ['claim.started'],
      );
      const p1 = await list('limit=3');
      const p2 = await list('limit=3&offset=3');
      assert.equal(p1.pagination.total, all.pagination.total);
      assert.equal(p1.pagination.has_more, true);
      assert.deepEqual(
        [...p1.data, ...p2.data].map((e) => e.id),
        all.data.slice(0, 6).map((e) => e.id),
      );

      for (const q of ['event=Claim', 'event=claim.%25', 'resource=nocolon', 'actor_type=robot', 'from=2026-13-01']) {
        assert.equal((await t.request('GET', `/v1/audit?${q}`, { session })).status, 400, q);
      }
      const stranger = await t.workspace();
      assert.equal(
        (await t.request('GET', `/v1/audit?claim_id=${s.body.claim.id}`, { session: stranger.session })).body.pagination.total,
        0,
      );
      assert.equal((await t.request('GET', '/v1/audit', { key })).status, 403);
      assert.equal((await t.request('GET', '/v1/audit')).status, 401);
    });

    it('retention prunes old activity and idempotency records, keeps audit, and never keeps keys under 24 h', async () => {
      const { session, key } = await t.workspace();
      await t.request('GET', '/v1/agent', { key });
      await t.request('POST', '/v1/work/run/start', { key, body: { resource: 'repo:acme/ret' }, headers: { 'idempotency-key': 'ret-1' } });
      await flush();
      const auditBefore = (await t.request('GET', '/v1/audit', { session })).body.pagination.total;
      const now = t.clock.now();
      // Nothing is old enough yet.
      const strict = new RetentionService(t.services.deps, { activityDays: 30, idempotencyHours: 1 });
      assert.equal(strict.idempotencyHours, 24, 'never below 24 hours');
      const r0 = await strict.prune(now + 23 * 60 * MIN);
      assert.deepEqual({ activity: r0.activity, idempotency_keys: r0.idempotency_keys }, { activity: 0, idempotency_keys: 0 });
      const idem = () => t.store.db.selectFrom('idempotency_keys').select('key').where('key', '=', 'ret-1').execute();
      assert.equal((await idem()).length, 1);
      // 25 hours later the idempotency record goes (other workspaces' rows of these tests may go too).
      const r1 = await strict.prune(now + 25 * 60 * MIN);
      assert.ok(r1.idempotency_keys >= 1);
      assert.equal((await idem()).length, 0);
      assert.equal((await activity(session)).pagination.total, 2);
      // 31 days later the activity goes; the audit log stays.
      const r2 = await t.services.retention.prune(now + 31 * DAY);
      assert.ok(r2.activity >= 2);
      assert.equal((await activity(session)).pagination.total, 0);
      assert.equal((await t.request('GET', '/v1/audit', { session })).body.pagination.total, auditBefore);
    });
  });
}
