/**
 * Plans and limits on every store: 402 plan_limit_reached with its details for agents, active claims,
 * protected resources and monthly API calls; limits under concurrency (ten simultaneous starts with one
 * slot left create exactly one claim, in-process on each store and split over two PostgreSQL server
 * processes); billing status; the operator command `plan set`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createTestServer, MIN, PG_ENABLED, type Res, type Session, STORES, type TestServer } from '@availsync/testkit';
import { ManualClock } from '../src/clock.js';
import { periodOf } from '../src/domain/plans.js';
import { planCommand } from '../src/operator.js';
import { createSqliteStore } from '../src/storage/store.js';
import {
  type ApiClient,
  apiClient,
  createTestDatabase,
  killAllServerProcesses,
  runServerCli,
  type ServerProcess,
  startServerProcess,
  type TestDatabase,
} from './procs.js';

const run = promisify(execFile);

function assertLimit(res: Res, limit: string, current: number, max: number, plan = 'free') {
  assert.equal(res.status, 402, `expected 402, got ${res.status} ${JSON.stringify(res.body)}`);
  assert.equal(res.body.error, 'plan_limit_reached');
  assert.deepEqual(res.body.details, { limit, current, max, plan });
  assert.match(res.body.request_id, /^req_/);
  assert.match(res.body.message, new RegExp(`${plan} plan allows ${max}`));
}

for (const kind of STORES) {
  describe(`plans and limits (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await createTestServer(kind);
    });
    after(async () => {
      await t.close();
    });

    const setPlan = (orgId: string, plan: string) => t.store.db.updateTable('orgs').set({ plan }).where('id', '=', orgId).execute();

    /** A workspace on `plan` with one agent. */
    async function onPlan(plan: string, agentFields: Record<string, unknown> = {}) {
      const w = await t.workspace(agentFields);
      await setPlan(w.session.orgId, plan);
      return w;
    }

    it('agents: the free plan allows 3; the 4th is 402; deleting one frees a slot', async () => {
      const { session } = await onPlan('free');
      await t.createAgent(session, { name: 'two' });
      const third = await t.createAgent(session, { name: 'three' });
      const fourth = await t.request('POST', `/v1/orgs/${session.orgId}/agents`, { session, body: { name: 'four' } });
      assertLimit(fourth, 'agents', 3, 3);
      await t.request('DELETE', `/v1/orgs/${session.orgId}/agents/${third.id}`, { session });
      const again = await t.request('POST', `/v1/orgs/${session.orgId}/agents`, { session, body: { name: 'four' } });
      assert.equal(again.status, 201);
    });

    it('active claims: the 4th concurrent run on free is 402; finishing or expiry frees a slot; observe is never limited', async () => {
      const { session, key } = await onPlan('free');
      const claims: string[] = [];
      for (const r of ['repo:acme/a', 'repo:acme/b', 'repo:acme/c']) {
        const s = await t.start(key, { resource: r, duration_minutes: 10 });
        assert.equal(s.body.action, 'proceed');
        claims.push(s.body.claim.id);
      }
      assertLimit(await t.start(key, { resource: 'repo:acme/d' }), 'active_claims', 3, 3);
      // The legacy endpoint is limited the same way.
      assertLimit(await t.request('POST', '/v1/work/claim', { key, body: { resource: 'repo:acme/d' } }), 'active_claims', 3, 3);
      // A refused start changes nothing: no claim, no new protected resource.
      const rows = await t.store.db
        .selectFrom('resources')
        .selectAll()
        .where('org_id', '=', session.orgId)
        .where('resource_key', '=', 'acme/d')
        .execute();
      assert.equal(rows.filter((r) => r.last_claimed_at !== null).length, 0);
      // A skip is not a new claim: it is answered as usual, not 402.
      assert.equal((await t.start(key, { resource: 'repo:acme/a' })).body.action, 'skip_run');
      // Observe mode creates no lease, so it is never refused.
      const watcher = await t.createAgent(session, { name: 'watcher', mode: 'observe' });
      assert.equal((await t.start(watcher.key, { resource: 'repo:acme/e' })).body.mode, 'observe');

      await t.request('POST', '/v1/work/run/finish', { key, body: { claim_id: claims[0] } });
      assert.equal((await t.start(key, { resource: 'repo:acme/d', duration_minutes: 30 })).body.action, 'proceed');
      assertLimit(await t.start(key, { resource: 'repo:acme/f' }), 'active_claims', 3, 3);
      t.clock.advance(10 * MIN); // b and c lapse (not yet swept): they no longer count
      assert.equal((await t.start(key, { resource: 'repo:acme/f' })).body.action, 'proceed');
    });

    it('protected resources: a new resource beyond 25 on free is 402; known ones still run; holds count', async () => {
      const { session, key } = await onPlan('free');
      const now = t.clock.now();
      await t.store.db
        .insertInto('resources')
        .values(
          Array.from({ length: 24 }, (_, i) => ({
            org_id: session.orgId,
            resource_type: 'project',
            resource_key: `p${i}`,
            fencing_token: 1,
            created_at: now,
            last_claimed_at: now,
          })),
        )
        .execute();
      // A resource that was only looked at (observe mode, check) is not protected.
      const watcher = await t.createAgent(session, { name: 'watcher', mode: 'observe' });
      await t.start(watcher.key, { resource: 'project:peek' });
      await t.request('POST', '/v1/work/check', { key, body: { resource: 'project:peek2' } });
      // A hold protects its resource: 25 now.
      const hold = await t.request('POST', '/v1/holds', {
        key,
        body: {
          resource: 'release:prod',
          start_at: new Date(now + 60 * MIN).toISOString(),
          end_at: new Date(now + 90 * MIN).toISOString(),
        },
      });
      assert.equal(hold.status, 201, JSON.stringify(hold.body));
      assertLimit(await t.start(key, { resource: 'project:new' }), 'protected_resources', 25, 25);
      // Already protected: a claim on it is not a new protected resource.
      assert.equal((await t.start(key, { resource: 'project:p3' })).body.action, 'proceed');
      const status = await t.request('GET', '/v1/billing/status', { session });
      assert.equal(status.body.usage.protected_resources, 25);
    });

    it('monthly API calls: 402 on agent routes once used up; heartbeats pass; a new month starts again', async () => {
      const { session, key, agent } = await onPlan('free');
      const { period } = periodOf(t.clock.now());
      await t.store.db.insertInto('usage_counters').values({ org_id: session.orgId, period, api_calls: 9_998 }).execute();
      assert.equal((await t.request('GET', '/v1/agent', { key })).status, 200);
      assert.equal((await t.start(key, { resource: 'repo:acme/quota' })).body.action, 'proceed');
      const refused = await t.request('GET', '/v1/agent', { key });
      assertLimit(refused, 'monthly_api_calls', 10_000, 10_000);
      assertLimit(await t.start(key, { resource: 'repo:acme/quota2' }), 'monthly_api_calls', 10_000, 10_000);
      // Refused calls are not counted; heartbeats are neither refused nor counted.
      const hb = await t.request('POST', '/v1/mcp/heartbeat', { key, body: { client: 'availsync-mcp' } });
      assert.equal(hb.status, 200);
      // Workspace (session) routes are not API calls.
      assert.equal((await t.request('GET', `/v1/orgs/${session.orgId}/agents`, { session })).status, 200);

      await t.services.activity.recorder.flush();
      const counter = await t.store.db
        .selectFrom('usage_counters')
        .selectAll()
        .where('org_id', '=', session.orgId)
        .executeTakeFirstOrThrow();
      assert.equal(counter.api_calls, 10_000);
      const rows = await t.store.db.selectFrom('activity_events').selectAll().where('agent_id', '=', agent.id).execute();
      assert.equal(rows.filter((r) => r.status_code === 402).length, 2, 'refused calls are still recorded as activity');
      const billing = await t.request('GET', '/v1/billing/status', { session });
      assert.equal(billing.body.usage.monthly_api_calls, 10_000);

      // Next calendar month: a fresh count.
      const { end } = periodOf(t.clock.now());
      t.clock.advance(end - t.clock.now() + 1000);
      assert.equal((await t.request('GET', '/v1/agent', { key })).status, 200);
    });

    it('ten simultaneous starts on distinct resources with one slot left create exactly one claim', async () => {
      const { session, key } = await onPlan('free');
      await t.start(key, { resource: 'repo:race/a' });
      await t.start(key, { resource: 'repo:race/b' });
      for (let round = 0; round < 2; round++) {
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => t.start(key, { resource: `repo:race/r${round}-${i}`, duration_minutes: 5 })),
        );
        const proceeds = results.filter((r) => r.status === 200 && r.body.action === 'proceed');
        const refused = results.filter((r) => r.status === 402);
        assert.equal(proceeds.length, 1, `round ${round}: ${JSON.stringify(results.map((r) => r.status))}`);
        assert.equal(refused.length, 9);
        for (const r of refused) assert.deepEqual(r.body.details, { limit: 'active_claims', current: 3, max: 3, plan: 'free' });
        const now = await t.store.readNow();
        const active = await t.store.db
          .selectFrom('claims')
          .select('id')
          .where('org_id', '=', session.orgId)
          .where('status', '=', 'active')
          .where('expires_at', '>', now)
          .execute();
        assert.equal(active.length, 3, 'never more than the plan allows');
        t.clock.advance(5 * MIN); // the round's winner lapses; a and b (30 min) stay
      }
    });

    it('agents under concurrency: five simultaneous creates with one slot left create exactly one', async () => {
      const { session } = await onPlan('free');
      await t.createAgent(session, { name: 'two' });
      const results = await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          t.request('POST', `/v1/orgs/${session.orgId}/agents`, { session, body: { name: `racer-${i}` } }),
        ),
      );
      assert.equal(results.filter((r) => r.status === 201).length, 1);
      for (const r of results.filter((x) => x.status !== 201)) assertLimit(r, 'agents', 3, 3);
      const agents = await t.request('GET', `/v1/orgs/${session.orgId}/agents`, { session });
      assert.equal(agents.body.pagination.total, 3);
    });

    it('billing status: plan, limits, usage and upgrade hints at 80% or more', async () => {
      const { session, key } = await onPlan('free');
      await t.createAgent(session, { name: 'two' });
      await t.createAgent(session, { name: 'three' });
      await t.start(key, { resource: 'repo:acme/one' });
      const res = await t.request('GET', '/v1/billing/status', { session });
      assert.equal(res.status, 200);
      const { period, start, end } = periodOf(t.clock.now());
      assert.deepEqual(res.body.limits, { agents: 3, active_claims: 3, protected_resources: 25, monthly_api_calls: 10_000 });
      assert.equal(res.body.plan, 'free');
      assert.deepEqual(res.body.usage, {
        agents: 3,
        active_claims: 1,
        protected_resources: 1,
        monthly_api_calls: 1,
        period,
        period_start: new Date(start).toISOString(),
        period_end: new Date(end).toISOString(),
      });
      assert.equal(res.body.upgrade_hints.length, 1);
      const hint = res.body.upgrade_hints[0];
      assert.deepEqual(
        { ...hint, message: undefined },
        { limit: 'agents', current: 3, max: 3, suggested_plan: 'team', message: undefined },
      );
      assert.match(hint.message, /reached the free plan's 3 agents.*team plan allows up to 50/);

      await setPlan(session.orgId, 'team');
      const team = await t.request('GET', '/v1/billing/status', { session });
      assert.equal(team.body.plan, 'team');
      assert.equal(team.body.limits.agents, 50);
      assert.deepEqual(team.body.upgrade_hints, []);

      await setPlan(session.orgId, 'unlimited');
      const unlimited = await t.request('GET', '/v1/billing/status', { session });
      assert.deepEqual(unlimited.body.limits, { agents: null, active_claims: null, protected_resources: null, monthly_api_calls: null });
      assert.deepEqual(unlimited.body.upgrade_hints, []);
      assert.equal((await t.request('GET', '/v1/billing/status', { key })).status, 403, 'not for agent keys');
    });

    it('plan set (operator command): by email or workspace id, audited; unknown plan or workspace refused', async () => {
      const session: Session = await t.signup();
      const out: string[] = [];
      const err: string[] = [];
      const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
      const orgPlan = async () =>
        (await t.store.db.selectFrom('orgs').select('plan').where('id', '=', session.orgId).executeTakeFirstOrThrow()).plan;

      assert.equal(await planCommand(['set', session.email, 'gold'], t.store, t.clock.now(), io), 2);
      assert.match(err.at(-1) ?? '', /unknown plan "gold": choose one of free, team, unlimited/);
      assert.equal(await planCommand(['set', 'nobody@example.com', 'team'], t.store, t.clock.now(), io), 1);
      assert.match(err.at(-1) ?? '', /no workspace matches "nobody@example.com"/);
      assert.equal(await planCommand(['set', 'org_missing', 'team'], t.store, t.clock.now(), io), 1);
      assert.equal(await planCommand(['set', session.email], t.store, t.clock.now(), io), 2);
      assert.match(err.at(-1) ?? '', /Usage: availsync-server plan set/);
      assert.equal(await orgPlan(), 'unlimited');

      assert.equal(await planCommand(['set', session.email.toUpperCase(), 'team'], t.store, t.clock.now(), io), 0);
      assert.match(out.at(-1) ?? '', new RegExp(`workspace ${session.orgId} \\(Acme\\): plan unlimited → team`));
      assert.equal(await orgPlan(), 'team');
      t.clock.advance(1000);
      assert.equal(await planCommand(['set', session.orgId, 'free'], t.store, t.clock.now(), io), 0);
      assert.equal(await orgPlan(), 'free');
      assert.equal(await planCommand(['set', session.orgId, 'free'], t.store, t.clock.now(), io), 0);
      assert.match(out.at(-1) ?? '', /already on the free plan/);

      const audit = await t.request('GET', '/v1/audit?event=plan.changed', { session });
      assert.equal(audit.body.data.length, 2);
      assert.deepEqual(
        audit.body.data.map((e: any) => [e.actor_type, e.actor_id, e.details.from, e.details.to]),
        [
          ['system', null, 'team', 'free'],
          ['system', null, 'unlimited', 'team'],
        ],
      );
      // The running server sees the new plan on the next request.
      assert.equal((await t.request('GET', '/v1/billing/status', { session })).body.plan, 'free');
    });
  });
}

describe('availsync-server plan set (real process, embedded store)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'availsync-plan-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const main = new URL('../src/main.ts', import.meta.url).pathname;
  const cli = (...args: string[]) =>
    run(process.execPath, ['--conditions=source', '--import', 'tsx', main, 'plan', ...args], {
      env: { ...process.env, AVAILSYNC_DATA_DIR: dir, DATABASE_URL: '', LOG_LEVEL: 'silent' },
    }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  it('changes the plan beside a running server, and exits non-zero on bad input', async () => {
    // The "running server": the store holds the data directory's lock file while the command runs.
    const server = createSqliteStore({ dataDir: dir, clock: new ManualClock() });
    await server.migrate();
    const now = Date.now();
    await server.db
      .insertInto('orgs')
      .values({
        id: 'org_cli',
        name: 'CLI Co',
        plan: 'free',
        default_mode: 'enforce',
        default_claim_minutes: 30,
        max_claim_minutes: 720,
        created_at: now,
      })
      .execute();
    await server.db
      .insertInto('users')
      .values({ id: 'usr_cli', org_id: 'org_cli', email: 'ops@example.com', password_hash: 'x', created_at: now, last_login_at: null })
      .execute();

    const bad = await cli('set', 'ops@example.com', 'platinum');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown plan "platinum"/);
    const ok = await cli('set', 'ops@example.com', 'team');
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /workspace org_cli \(CLI Co\): plan free → team/);
    const org = await server.db.selectFrom('orgs').select('plan').where('id', '=', 'org_cli').executeTakeFirstOrThrow();
    assert.equal(org.plan, 'team');
    await server.close();
  });
});

describe('plan limits across two PostgreSQL server processes', { skip: !PG_ENABLED && 'PostgreSQL is not reachable' }, () => {
  let db: TestDatabase;
  let nodes: ServerProcess[] = [];
  before(async () => {
    db = await createTestDatabase();
    const env = { AVAILSYNC_DEFAULT_PLAN: 'free' };
    nodes = await Promise.all([startServerProcess({ databaseUrl: db.url, env }), startServerProcess({ databaseUrl: db.url, env })]);
  });
  after(async () => {
    await killAllServerProcesses();
    await db?.drop();
  });

  it('ten simultaneous starts split over both nodes with one slot left create exactly one claim; plan set lifts the limit', async () => {
    const [a, b] = nodes.map((n) => apiClient(n.url)) as [ApiClient, ApiClient];
    const session = await a.signup();
    const agent = await a.createAgent(session, { name: 'two-nodes' });
    assert.equal((await a.start(agent.key, { resource: 'repo:nodes/a' })).body.action, 'proceed');
    assert.equal((await b.start(agent.key, { resource: 'repo:nodes/b' })).body.action, 'proceed');
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).start(agent.key, { resource: `repo:nodes/r${i}` })),
    );
    assert.equal(
      results.filter((r) => r.status === 200 && r.body.action === 'proceed').length,
      1,
      JSON.stringify(results.map((r) => r.status)),
    );
    const refused = results.filter((r) => r.status === 402);
    assert.equal(refused.length, 9);
    for (const r of refused) assert.deepEqual(r.body.details, { limit: 'active_claims', current: 3, max: 3, plan: 'free' });
    const active = await db.pool.query("select count(*)::int as n from claims where status = 'active'");
    assert.equal(active.rows[0].n, 3);

    // Agents, split over both nodes, with one slot left (the free plan allows 3).
    await b.createAgent(session, { name: 'second' });
    const creates = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        (i % 2 === 0 ? a : b).request('POST', `/v1/orgs/${session.orgId}/agents`, { session, body: { name: `racer-${i}` } }),
      ),
    );
    assert.equal(creates.filter((r) => r.status === 201).length, 1);
    assert.equal(creates.filter((r) => r.status === 402).length, 5);

    // The operator lifts the plan while both nodes run: the next start proceeds on either node.
    const cli = await runServerCli(['plan', 'set', session.email, 'team'], { databaseUrl: db.url });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /plan free → team/);
    assert.equal((await b.start(agent.key, { resource: 'repo:nodes/after' })).body.action, 'proceed');
    assert.equal((await a.request('GET', '/v1/billing/status', { session })).body.plan, 'team');
  });
});
