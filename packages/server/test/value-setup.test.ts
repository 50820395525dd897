/**
 * Value and health, setup checks (test-connection, setup-test) and the MCP heartbeat on every store, plus
 * the security checks of every governance route (no credential, the wrong kind, another workspace).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestServer, MIN, STORES, type TestServer } from '@availsync/testkit';

const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

for (const kind of STORES) {
  describe(`value, setup checks and heartbeat (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await createTestServer(kind);
    });
    after(async () => {
      await t.close();
    });

    const setPlan = (orgId: string, plan: string) => t.store.db.updateTable('orgs').set({ plan }).where('id', '=', orgId).execute();
    const setSeen = (agentId: string, at: number | null) =>
      t.store.db.updateTable('agents').set({ last_seen_at: at, last_heartbeat_at: null }).where('id', '=', agentId).execute();

    it('value/health after a scripted scenario', async () => {
      const { session, key, agent } = await t.workspace({ name: 'builder' });
      const rival = await t.createAgent(session, { name: 'rival' });
      const watcher = await t.createAgent(session, { name: 'watcher', mode: 'observe' });
      const sleeper = await t.createAgent(session, { name: 'sleeper' });
      const fresh = await t.createAgent(session, { name: 'fresh' });

      // Before: a claim started 8 days ago counts in the window, not in claims_started_7d.
      const old = await t.start(key, { resource: 'repo:acme/old', duration_minutes: 1 });
      assert.equal(old.body.action, 'proceed');
      t.clock.advance(8 * DAY);

      const app = await t.start(key, { resource: 'repo:acme/app' }); // started
      await t.start(rival.key, { resource: 'repo:acme/app' }); // runs_skipped 1
      await t.request('POST', '/v1/work/claim', { key: rival.key, body: { resource: 'repo:acme/app' } }); // runs_skipped 2 (legacy 409)
      await t.start(watcher.key, { resource: 'repo:acme/app' }); // would_have_blocked 1
      await t.start(watcher.key, { resource: 'repo:acme/free' }); // observed, not blocked
      await t.request('POST', '/v1/work/run/working-set', { key, body: { claim_id: app.body.claim.id, paths: ['src/a.ts', 'docs/'] } });
      const web = await t.start(rival.key, { resource: 'repo:acme/web' }); // started
      const ws = await t.request('POST', '/v1/work/run/working-set', {
        key: rival.key,
        body: { claim_id: web.body.claim.id, resource: 'repo:acme/app', paths: ['src/a.ts', 'docs/x.md', 'lib/'] },
      });
      assert.equal(ws.body.action, 'partial_proceed'); // working_set_conflicts 1: src/a.ts and docs/x.md
      await t.request('POST', '/v1/activity/usage', { key, body: { input_tokens: 1000, output_tokens: 250, cost_usd: 0.5 } });
      await t.request('POST', '/v1/activity/usage', { key: rival.key, body: { input_tokens: 100, model: 'x' } });
      await t.request('POST', '/v1/mcp/heartbeat', { key, body: { client: 'availsync-mcp', version: '0.1.0' } });
      await setSeen(rival.id, t.clock.now() - 3 * DAY);
      await setSeen(watcher.id, t.clock.now() - 10 * DAY);
      await setSeen(sleeper.id, t.clock.now() - 23 * HOUR);

      const res = await t.request('GET', '/v1/value/health', { session });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const v = res.body;
      assert.equal(v.window.days, 30);
      assert.deepEqual(
        {
          conflicts_prevented: v.conflicts_prevented,
          runs_skipped: v.runs_skipped,
          would_have_blocked: v.would_have_blocked,
          working_set_conflicts: v.working_set_conflicts,
          active_claims: v.active_claims,
          claims_started_7d: v.claims_started_7d,
          tokens_reported: v.tokens_reported,
          cost_reported_usd: v.cost_reported_usd,
        },
        {
          conflicts_prevented: 3,
          runs_skipped: 2,
          would_have_blocked: 1,
          working_set_conflicts: 1,
          active_claims: 2,
          claims_started_7d: 2,
          tokens_reported: 1350,
          cost_reported_usd: 0.5,
        },
      );
      assert.deepEqual(v.hotspots, [
        { resource: 'repo:acme/app', conflicts: 2 },
        { resource: 'repo:acme/app', path: 'docs/x.md', conflicts: 1 },
        { resource: 'repo:acme/app', path: 'src/a.ts', conflicts: 1 },
      ]);
      const health = Object.fromEntries(v.agents.map((a: any) => [a.name, [a.health, a.online]]));
      assert.deepEqual(health, {
        builder: ['healthy', true],
        rival: ['idle', false],
        watcher: ['stale', false],
        sleeper: ['healthy', false],
        fresh: ['never_seen', false],
      });
      const builder = v.agents.find((a: any) => a.id === agent.id);
      assert.equal(builder.last_seen_at, new Date(t.clock.now()).toISOString());
      assert.equal(v.agents.find((a: any) => a.id === fresh.id).last_seen_at, null);

      // A shorter window leaves out what happened before it.
      t.clock.advance(2 * DAY);
      const short = await t.request('GET', '/v1/value/health?days=1', { session });
      assert.equal(short.body.runs_skipped, 0);
      assert.equal(short.body.tokens_reported, 0);
      assert.equal(short.body.active_claims, 0, 'the 30-minute leases have lapsed');
      assert.equal(short.body.agents.find((a: any) => a.id === agent.id).health, 'idle');
      assert.equal((await t.request('GET', '/v1/value/health?days=0', { session })).status, 400);
      assert.equal((await t.request('GET', '/v1/value/health?days=91', { session })).status, 400);
      // Nothing of another workspace.
      const stranger = await t.workspace();
      const empty = (await t.request('GET', '/v1/value/health', { session: stranger.session })).body;
      assert.deepEqual([empty.runs_skipped, empty.hotspots, empty.agents.length], [0, [], 1]);
    });

    it('heartbeat: online for 2 minutes, then not; the body is validated', async () => {
      const { session, key, agent } = await t.workspace();
      assert.equal((await t.request('GET', '/v1/agent', { key })).body.agent.online, false);
      const hb = await t.request('POST', '/v1/mcp/heartbeat', { key, body: { client: 'availsync-mcp', version: '0.1.0' } });
      assert.equal(hb.status, 200);
      assert.deepEqual(hb.body, { ok: true, server_time: new Date(t.clock.now()).toISOString() });
      assert.equal((await t.request('GET', '/v1/agent', { key })).body.agent.online, true);
      const viaSession = await t.request('GET', `/v1/orgs/${session.orgId}/agents/${agent.id}`, { session });
      assert.equal(viaSession.body.agent.online, true);
      t.clock.advance(3 * MIN);
      assert.equal((await t.request('GET', '/v1/agent', { key })).body.agent.online, false);
      assert.equal((await t.request('POST', '/v1/mcp/heartbeat', { key })).status, 200, 'the body is optional');
      assert.equal((await t.request('POST', '/v1/mcp/heartbeat', { key, body: { client: 'x', pid: 1 } })).status, 400);
      assert.equal((await t.request('POST', '/v1/mcp/heartbeat', { session, body: {} })).status, 401);
    });

    it('test-connection: read-only readiness with each check', async () => {
      const { session, key, agent } = await t.workspace({ name: 'codex' });
      const path = `/v1/orgs/${session.orgId}/agents/${agent.id}/test-connection`;
      const auditBefore = await t.store.db.selectFrom('audit_events').select('id').where('org_id', '=', session.orgId).execute();

      const never = await t.request('POST', path, { session });
      assert.equal(never.status, 200);
      assert.equal(never.body.ready, false);
      assert.equal(never.body.agent_id, agent.id);
      assert.deepEqual(
        never.body.checks.map((c: any) => [c.name, c.ok]),
        [
          ['agent', true],
          ['api_key', true],
          ['seen_recently', false],
          ['effective_mode', true],
          ['plan_capacity', true],
        ],
      );
      assert.match(never.body.checks[2].message, /Never seen/);
      assert.match(never.body.checks[3].message, /^enforce/);

      await t.request('POST', '/v1/mcp/heartbeat', { key, body: {} });
      const ready = await t.request('POST', path, { session });
      assert.equal(ready.body.ready, true, JSON.stringify(ready.body));
      assert.match(ready.body.checks[2].message, /Last request less than a minute ago/);

      // Plan capacity: free plan with every active-claim slot in use.
      await setPlan(session.orgId, 'free');
      for (const r of ['a', 'b', 'c']) await t.start(key, { resource: `repo:acme/${r}` });
      const full = await t.request('POST', path, { session });
      assert.equal(full.body.ready, false);
      assert.match(full.body.checks[4].message, /all 3 active claims are in use/);

      // Stale and observe.
      t.clock.advance(2 * DAY);
      await t.request('PATCH', `/v1/orgs/${session.orgId}/agents/${agent.id}`, { session, body: { mode: 'observe' } });
      const stale = await t.request('POST', path, { session });
      assert.match(stale.body.checks[2].message, /Last request 2 days ago \(idle\)/);
      assert.match(stale.body.checks[3].message, /^observe/);

      // Read-only: no audit rows, no claims from the checks themselves.
      const auditAfter = await t.store.db
        .selectFrom('audit_events')
        .select('event')
        .where('org_id', '=', session.orgId)
        .where('event', 'not like', 'claim.%')
        .where('event', '!=', 'agent.updated')
        .execute();
      assert.equal(auditAfter.length, auditBefore.length);

      const stranger = await t.workspace();
      assert.equal((await t.request('POST', path, { session: stranger.session })).status, 404);
      assert.equal(
        (await t.request('POST', `/v1/orgs/${stranger.session.orgId}/agents/${agent.id}/test-connection`, { session: stranger.session }))
          .status,
        404,
      );
      assert.equal((await t.request('POST', `/v1/orgs/${session.orgId}/agents/agt_nope/test-connection`, { session })).status, 404);
    });

    it('setup-test runs start → working-set → extend → finish as the agent, recorded as setup_test', async () => {
      const { session, key, agent } = await t.workspace({ name: 'mcp-client' });
      const path = `/v1/orgs/${session.orgId}/agents/${agent.id}/setup-test`;
      const res = await t.request('POST', path, { session });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.ok, true);
      assert.equal(res.body.resource, 'project:availsync-setup-test');
      assert.deepEqual(
        res.body.steps.map((s: any) => [s.name, s.ok, s.status_code, s.action]),
        [
          ['start', true, 200, 'proceed'],
          ['working_set', true, 200, 'updated'],
          ['extend', true, 200, 'extended'],
          ['finish', true, 200, 'finished'],
        ],
      );
      const claimId = res.body.claim_id;
      assert.equal(res.body.steps[0].result.claim.id, claimId);
      assert.equal(res.body.steps[0].result.claim.agent_id, agent.id);
      assert.equal(res.body.steps[1].result.working_set[0].path, 'README.md');
      assert.equal(res.body.steps[3].result.claim.status, 'released');

      await t.services.activity.recorder.flush();
      // Compared in step order: on the embedded store with a manual clock all rows share one timestamp.
      const stepOrder = ['/v1/work/run/start', '/v1/work/run/working-set', '/v1/work/run/extend', '/v1/work/run/finish'];
      const acts = (await t.request('GET', '/v1/activity?type=setup_test', { session })).body.data;
      acts.sort((a: any, b: any) => stepOrder.indexOf(a.route) - stepOrder.indexOf(b.route));
      assert.deepEqual(
        acts.map((a: any) => [a.agent_id, a.route, a.status_code, a.action, a.resource, a.request_id]),
        [
          [agent.id, '/v1/work/run/start', 200, 'proceed', 'project:availsync-setup-test', res.headers.get('x-request-id')],
          [agent.id, '/v1/work/run/working-set', 200, 'updated', 'project:availsync-setup-test', res.headers.get('x-request-id')],
          [agent.id, '/v1/work/run/extend', 200, 'extended', 'project:availsync-setup-test', res.headers.get('x-request-id')],
          [agent.id, '/v1/work/run/finish', 200, 'finished', 'project:availsync-setup-test', res.headers.get('x-request-id')],
        ],
      );
      const audit = (await t.request('GET', `/v1/audit?claim_id=${claimId}`, { session })).body.data;
      assert.deepEqual(audit.map((e: any) => [e.event, e.actor_type, e.actor_id]).sort(), [
        ['agent.setup_test', 'user', session.userId],
        ['claim.extended', 'agent', agent.id],
        ['claim.finished', 'agent', agent.id],
        ['claim.started', 'agent', agent.id],
      ]);
      // Not an API call of the agent: nothing counted toward the monthly quota.
      assert.equal((await t.request('GET', '/v1/billing/status', { session })).body.usage.monthly_api_calls, 0);

      // Blocked by another run of the setup resource: start skips, the rest is not run.
      const other = await t.createAgent(session, { name: 'other' });
      const held = await t.start(other.key, { resource: 'project:availsync-setup-test' });
      const blocked = await t.request('POST', path, { session });
      assert.equal(blocked.body.ok, false);
      assert.deepEqual(
        blocked.body.steps.map((s: any) => [s.name, s.ok, s.action]),
        [
          ['start', false, 'skip_run'],
          ['working_set', false, null],
          ['extend', false, null],
          ['finish', false, null],
        ],
      );
      assert.equal(blocked.body.steps[0].result.blocking_claim.id, held.body.claim.id);
      assert.equal(blocked.body.claim_id, null);
      await t.request('POST', '/v1/work/run/finish', { key: other.key, body: { claim_id: held.body.claim.id } });

      // A plan limit is a failed step, not an error.
      await setPlan(session.orgId, 'free');
      for (const r of ['a', 'b', 'c']) await t.start(key, { resource: `repo:acme/${r}` });
      const limited = await t.request('POST', path, { session });
      assert.equal(limited.status, 200);
      assert.equal(limited.body.steps[0].status_code, 402);
      assert.equal(limited.body.steps[0].result.error, 'plan_limit_reached');
      assert.match(limited.body.steps[0].message, /start failed: The free plan allows 3 active work claims/);

      // Observe mode: start proceeds without a lease; the rest has nothing to act on.
      const watcher = await t.createAgent(session, { name: 'watcher', mode: 'observe' });
      const observed = await t.request('POST', `/v1/orgs/${session.orgId}/agents/${watcher.id}/setup-test`, { session });
      assert.equal(observed.body.ok, true);
      assert.equal(observed.body.steps[0].result.mode, 'observe');
      assert.match(observed.body.steps[1].message, /observe mode creates no lease/);

      const stranger = await t.workspace();
      assert.equal((await t.request('POST', path, { session: stranger.session })).status, 404);
      assert.equal((await t.request('POST', path, { key })).status, 403);
    });
  });

  describe(`governance routes: security (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await createTestServer(kind);
    });
    after(async () => {
      await t.close();
    });

    const MINE = [
      '/v1/orgs/:org_id/rules',
      '/v1/billing/status',
      '/v1/activity',
      '/v1/activity/usage',
      '/v1/mcp/heartbeat',
      '/v1/audit',
      '/v1/value/health',
      '/v1/orgs/:org_id/agents/:agent_id/test-connection',
      '/v1/orgs/:org_id/agents/:agent_id/setup-test',
    ];

    it('every governance route refuses missing credentials, the wrong kind, and other workspaces', async () => {
      const routes = t.routes.filter((r) => MINE.includes(r.path));
      assert.equal(routes.length, 10, routes.map((r) => `${r.method} ${r.path}`).join(', '));
      const { session, key, agent } = await t.workspace();
      const stranger = await t.workspace();
      const fill = (path: string, orgId: string, agentId: string) => path.replace(':org_id', orgId).replace(':agent_id', agentId);
      for (const r of routes) {
        const label = `${r.method} ${r.path}`;
        const path = fill(r.path, session.orgId, agent.id);
        const body = r.method === 'GET' ? undefined : {};
        assert.equal((await t.request(r.method, path, { body })).status, 401, `${label}: no credential`);
        const badKey = await t.request(r.method, path, { body, key: `avs_live_${'0'.repeat(43)}` });
        assert.equal(badKey.status, 401, `${label}: unknown key`);
        if (r.auth === 'session') {
          assert.equal((await t.request(r.method, path, { body, key })).status, 403, `${label}: agent key on a workspace route`);
          if (r.path.includes(':org_id')) {
            assert.equal((await t.request(r.method, path, { body, session: stranger.session })).status, 404, `${label}: another workspace`);
          }
          if (r.method !== 'GET') {
            const noCsrf = await t.request(r.method, path, { body, session, headers: { 'x-csrf-token': 'forged' } });
            assert.equal(noCsrf.status, 403, `${label}: CSRF`);
          }
        } else {
          assert.equal(r.auth, 'agent', label);
          assert.equal((await t.request(r.method, path, { body, session })).status, 401, `${label}: a cookie is not a key`);
        }
      }
    });

    it('every governance route is in the OpenAPI document', async () => {
      const doc = (await t.request('GET', '/v1/openapi.json')).body;
      for (const p of MINE) {
        const openapi = p.replace(/:(\w+)/g, '{$1}');
        assert.ok(doc.paths[openapi], `${openapi} documented`);
      }
      assert.ok(doc.paths['/v1/work/run/start'].post.responses['402'], '402 plan_limit_reached is documented');
    });
  });
}
