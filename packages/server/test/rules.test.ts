/**
 * Workspace rules on every store: defaults, validation, audit, and resource dependencies that make claims
 * on two resources conflict in both directions — also under concurrency, where the whole conflict scope
 * is locked in sorted order (no deadlock, exactly one winner). Also runs the README's governance block.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestServer, MIN, type Res, type Session, STORES, type TestServer } from '@availsync/testkit';
import { readmeBlock, runBash, useReadmeServer } from './readme-server.js';

for (const kind of STORES) {
  describe(`rules and dependencies (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await createTestServer(kind);
    });
    after(async () => {
      await t.close();
    });

    const rulesPath = (s: Session) => `/v1/orgs/${s.orgId}/rules`;
    const putRules = (s: Session, body: unknown) => t.request('PUT', rulesPath(s), { session: s, body });

    it('GET returns the defaults of a new workspace', async () => {
      const { session } = await t.workspace();
      const res = await t.request('GET', rulesPath(session), { session });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { default_mode: 'enforce', default_claim_minutes: 30, max_claim_minutes: 720, dependencies: [] });
    });

    it('PUT changes what it is given, keeps the rest, dedupes dependencies and audits before/after', async () => {
      const { session } = await t.workspace();
      const res = await putRules(session, {
        default_claim_minutes: 20,
        max_claim_minutes: 90,
        dependencies: [
          { resource: 'project:homepage', depends_on: ['project:product-catalog', 'repo:acme/shared', 'project:product-catalog'] },
          { resource: 'project:homepage', depends_on: ['repo:acme/shared'] },
        ],
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const expected = {
        default_mode: 'enforce',
        default_claim_minutes: 20,
        max_claim_minutes: 90,
        dependencies: [{ resource: 'project:homepage', depends_on: ['project:product-catalog', 'repo:acme/shared'] }],
      };
      assert.deepEqual(res.body, expected);
      assert.deepEqual((await t.request('GET', rulesPath(session), { session })).body, expected);

      // Only the mode: the rest stays.
      t.clock.advance(1000);
      const mode = await putRules(session, { default_mode: 'observe' });
      assert.deepEqual(mode.body, { ...expected, default_mode: 'observe' });

      const audit = await t.store.db
        .selectFrom('audit_events')
        .selectAll()
        .where('org_id', '=', session.orgId)
        .where('event', '=', 'rules.updated')
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      assert.equal(audit.length, 2);
      const first = audit[0] as (typeof audit)[number];
      assert.equal(first.actor_type, 'user');
      assert.equal(first.actor_id, session.userId);
      const details = JSON.parse(first.details);
      assert.deepEqual(details.changed, ['default_claim_minutes', 'max_claim_minutes', 'dependencies']);
      assert.equal(details.before.max_claim_minutes, 720);
      assert.deepEqual(details.before.dependencies, []);
      assert.deepEqual(details.after, expected);
      assert.deepEqual(JSON.parse((audit[1] as (typeof audit)[number]).details).changed, ['default_mode']);

      // A PUT that changes nothing writes no audit row.
      await putRules(session, { default_mode: 'observe' });
      const again = await t.store.db
        .selectFrom('audit_events')
        .select('id')
        .where('org_id', '=', session.orgId)
        .where('event', '=', 'rules.updated')
        .execute();
      assert.equal(again.length, 2);
    });

    it('refuses bad rules with a detail per field and changes nothing', async () => {
      const { session } = await t.workspace();
      await putRules(session, { max_claim_minutes: 60 });
      const cases: [unknown, string][] = [
        [{ default_claim_minutes: 30, max_claim_minutes: 20 }, 'default_claim_minutes'],
        [{ default_claim_minutes: 61 }, 'default_claim_minutes'],
        [{ max_claim_minutes: 10 }, 'max_claim_minutes'],
        [{ max_claim_minutes: 721 }, 'max_claim_minutes'],
        [{ default_claim_minutes: 0 }, 'default_claim_minutes'],
        [{ default_mode: 'inherit' }, 'default_mode'],
        [{ dependencies: [{ resource: 'project:homepage', depends_on: ['project:homepage'] }] }, 'dependencies.0.depends_on.0'],
        [
          {
            dependencies: [
              { resource: 'project:a', depends_on: ['project:b'] },
              { resource: 'project:c', depends_on: ['project:d', 'repo:acme/c'] },
              { resource: 'repo:acme/c', depends_on: ['repo:acme/c'] },
            ],
          },
          'dependencies.2.depends_on.0',
        ],
        [{ dependencies: [{ resource: 'calendar:alice', depends_on: ['project:a'] }] }, 'dependencies.0.resource'],
        [{ dependencies: [{ resource: 'project:a', depends_on: ['release:prod'] }] }, 'dependencies.0.depends_on.0'],
        [{ dependencies: [{ resource: 'project:a', depends_on: [] }] }, 'dependencies.0.depends_on'],
        [{ dependencies: [{ resource: 'project:a', depends_on: ['project:b'], extra: 1 }] }, 'dependencies.0.extra|dependencies.0'],
        [{ plan: 'unlimited' }, 'plan|body'],
      ];
      for (const [body, field] of cases) {
        const res = await putRules(session, body);
        assert.equal(res.status, 400, `${JSON.stringify(body)} → ${res.status}`);
        assert.equal(res.body.error, 'invalid_request');
        // `a|b`: either key names the field (an unknown field is named by itself or by the object holding it).
        const named = field.split('|').some((f) => f in (res.body.details ?? {}));
        assert.ok(named, `${JSON.stringify(body)}: details ${JSON.stringify(res.body.details)} name ${field}`);
      }
      const now = await t.request('GET', rulesPath(session), { session });
      assert.deepEqual(now.body, { default_mode: 'enforce', default_claim_minutes: 30, max_claim_minutes: 60, dependencies: [] });
    });

    it('a dependency makes claims conflict in both directions', async () => {
      const { session, key } = await t.workspace({ name: 'homepage-bot' });
      const other = await t.createAgent(session, { name: 'catalog-bot' });
      const deps = await putRules(session, { dependencies: [{ resource: 'project:homepage', depends_on: ['project:product-catalog'] }] });
      assert.equal(deps.status, 200);

      // homepage held → product-catalog is blocked, by the homepage claim.
      const home = await t.start(key, { resource: 'project:homepage' });
      assert.equal(home.body.action, 'proceed');
      const catalog = await t.start(other.key, { resource: 'project:product-catalog' });
      assert.equal(catalog.body.action, 'skip_run');
      assert.equal(catalog.body.blocking_claim.id, home.body.claim.id);
      assert.equal(catalog.body.blocking_claim.resource, 'project:homepage');
      assert.equal(catalog.body.retry_after, home.body.claim.expires_at);
      const check = await t.request('POST', '/v1/work/check', { key: other.key, body: { resource: 'project:product-catalog' } });
      assert.equal(check.body.available, false);
      assert.equal(check.body.blocking_claim.id, home.body.claim.id);
      const legacy = await t.request('POST', '/v1/work/claim', { key: other.key, body: { resource: 'project:product-catalog' } });
      assert.equal(legacy.status, 409);
      // An unrelated project still runs in parallel.
      assert.equal((await t.start(other.key, { resource: 'project:blog' })).body.action, 'proceed');

      // The other direction: product-catalog held → homepage is blocked.
      await t.request('POST', '/v1/work/run/finish', { key, body: { claim_id: home.body.claim.id } });
      const catalog2 = await t.start(other.key, { resource: 'project:product-catalog' });
      assert.equal(catalog2.body.action, 'proceed');
      const home2 = await t.start(key, { resource: 'project:homepage' });
      assert.equal(home2.body.action, 'skip_run');
      assert.equal(home2.body.blocking_claim.id, catalog2.body.claim.id);
      assert.equal(home2.body.blocking_claim.resource, 'project:product-catalog');

      // Fencing tokens stay per resource.
      assert.equal(catalog2.body.claim.fencing_token, 1);

      // Removing the rule removes the conflict (for new decisions).
      await putRules(session, { dependencies: [] });
      assert.equal((await t.start(key, { resource: 'project:homepage' })).body.action, 'proceed');
    });

    it('dependencies are not transitive, and preemption reaches a dependent claim', async () => {
      const { session, key } = await t.workspace({ priority: 100 });
      const high = await t.createAgent(session, { name: 'release', priority: 900 });
      await putRules(session, {
        dependencies: [
          { resource: 'project:a', depends_on: ['project:b'] },
          { resource: 'project:b', depends_on: ['project:c'] },
        ],
      });
      const a = await t.start(key, { resource: 'project:a' });
      const c = await t.start(key, { resource: 'project:c' });
      assert.equal(a.body.action, 'proceed');
      assert.equal(c.body.action, 'proceed', 'a and c are not related');
      const b = await t.start(high.key, { resource: 'project:b' });
      assert.equal(b.body.action, 'skip_run');
      const pre = await t.start(high.key, { resource: 'project:b', preempt: true });
      assert.equal(pre.body.action, 'proceed');
      assert.deepEqual([...pre.body.preempted_claims].sort(), [a.body.claim.id, c.body.claim.id].sort());
    });

    it('default_claim_minutes, max_claim_minutes and default_mode apply to runs', async () => {
      const { session, key } = await t.workspace();
      await putRules(session, { default_claim_minutes: 10, max_claim_minutes: 15 });
      const s = await t.start(key, { resource: 'repo:acme/rules' });
      assert.equal(s.body.claim.duration_minutes, 10);
      const long = await t.start(key, { resource: 'repo:acme/rules2', duration_minutes: 60 });
      assert.equal(long.body.claim.duration_minutes, 15, 'capped by max_claim_minutes');
      await putRules(session, { default_mode: 'observe' });
      const observed = await t.start(key, { resource: 'repo:acme/rules3' });
      assert.equal(observed.body.mode, 'observe');
      assert.equal(observed.body.claim, null);
      const pinned = await t.createAgent(session, { name: 'pinned', mode: 'enforce' });
      assert.equal((await t.start(pinned.key, { resource: 'repo:acme/rules3' })).body.mode, 'enforce');
    });

    it('ten simultaneous starts across two dependent resources: exactly one proceeds, no deadlock', async () => {
      const { session } = await t.workspace();
      await putRules(session, { dependencies: [{ resource: 'project:homepage', depends_on: ['project:product-catalog'] }] });
      const agents = await Promise.all(Array.from({ length: 10 }, (_, i) => t.createAgent(session, { name: `racer-${i}` })));
      for (let round = 0; round < 3; round++) {
        const results: Res[] = await Promise.all(
          agents.map((a, i) =>
            t.start(a.key, { resource: i % 2 === 0 ? 'project:homepage' : 'project:product-catalog', duration_minutes: 1 }),
          ),
        );
        for (const r of results) assert.equal(r.status, 200, JSON.stringify(r.body));
        const proceeds = results.filter((r) => r.body.action === 'proceed');
        assert.equal(proceeds.length, 1, `round ${round}: exactly one proceed`);
        const winner = (proceeds[0] as Res).body.claim;
        for (const r of results.filter((x) => x.body.action === 'skip_run')) assert.equal(r.body.blocking_claim.id, winner.id);
        t.clock.advance(MIN);
      }
    });

    it('a rules change is refused to agents and other workspaces', async () => {
      const { session, key } = await t.workspace();
      const other = await t.workspace();
      assert.equal((await t.request('GET', rulesPath(session), { key })).status, 403);
      assert.equal((await t.request('PUT', rulesPath(session), { key, body: {} })).status, 403);
      assert.equal((await t.request('GET', rulesPath(session), { session: other.session })).status, 404);
      assert.equal((await t.request('PUT', rulesPath(session), { session: other.session, body: { max_claim_minutes: 5 } })).status, 404);
      assert.equal((await t.request('GET', rulesPath(session))).status, 401);
      const noCsrf = await t.request('PUT', rulesPath(session), {
        session,
        body: { max_claim_minutes: 5 },
        headers: { 'x-csrf-token': 'nope' },
      });
      assert.equal(noCsrf.status, 403);
      assert.equal((await t.request('GET', rulesPath(session), { session })).body.max_claim_minutes, 720);
    });
  });
}

describe('README rules, plans, activity and audit walk-through (sqlite, real HTTP)', () => {
  const server = useReadmeServer('governance-readme');

  it('runs after the first walk-through as documented', async () => {
    const stdout = await runBash(`${readmeBlock('walkthrough')}\n${readmeBlock('governance')}`, server.url);
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const [agent] = lines;
    const [rules, home, blocked, usage, finished, heartbeat, billing, audit, value, ready, setup, activity] = lines.slice(8);
    assert.deepEqual(rules.dependencies, [{ resource: 'project:homepage', depends_on: ['project:product-catalog'] }]);
    assert.equal(rules.max_claim_minutes, 240);
    assert.equal(home.action, 'proceed');
    assert.equal(blocked.action, 'skip_run');
    assert.equal(blocked.blocking_claim.id, home.claim.id);
    assert.equal(usage.usage.claim_id, home.claim.id);
    assert.equal(usage.usage.input_tokens, 12000);
    assert.equal(finished.action, 'finished');
    assert.equal(heartbeat.ok, true);
    assert.equal(billing.plan, 'unlimited');
    assert.equal(billing.usage.agents, 2);
    assert.equal(audit.data[0].event, 'claim.skipped');
    assert.equal(audit.data[0].resource, 'project:product-catalog');
    assert.equal(value.tokens_reported, 15400);
    assert.ok(value.runs_skipped >= 2, 'the walk-through skip and the dependency skip');
    assert.deepEqual(value.agents.find((a: any) => a.id === agent.agent.id).online, true);
    assert.equal(ready.ready, true);
    assert.equal(setup.ok, true);
    assert.ok(Array.isArray(activity.data));
  });
});
