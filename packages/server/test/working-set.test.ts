/**
 * Working sets: file claims inside a run. Invariant 3: no two active edit/delete file claims of different
 * runs overlap on one resource.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestServer, MIN, planOf, STORES, type TestServer } from '@availsync/testkit';
import { patternsOverlap } from '../src/domain/paths.js';
import { heldByOthers } from '../src/storage/queries/working-sets.js';

for (const kind of STORES) {
  describe(`working sets (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await createTestServer(kind);
    });
    after(async () => {
      await t.close();
    });

    /** Two project-level runs that coordinate on one repo's paths. */
    async function twoRuns() {
      const { session, key } = await t.workspace({ name: 'homepage-agent' });
      const other = await t.createAgent(session, { name: 'catalog-agent' });
      const a = await t.start(key, { resource: 'project:homepage' });
      const b = await t.start(other.key, { resource: 'project:catalog' });
      const ws = (k: string, claim: string, body: Record<string, unknown>) =>
        t.request('POST', '/v1/work/run/working-set', { key: k, body: { claim_id: claim, resource: 'repo:acme/web', ...body } });
      return {
        session,
        a: { key, claim: a.body.claim.id as string },
        b: { key: other.key, claim: b.body.claim.id as string, agentId: other.id },
        ws,
      };
    }

    it('updated, then 409 blocked for another run, with who holds it', async () => {
      const { a, b, ws } = await twoRuns();
      const first = await ws(a.key, a.claim, { paths: ['frontend/app/page.tsx'] });
      assert.equal(first.status, 200);
      assert.equal(first.body.action, 'updated');
      assert.deepEqual(
        first.body.working_set.map((f: { path: string; mode: string; resource: string }) => [f.path, f.mode, f.resource]),
        [['frontend/app/page.tsx', 'edit', 'repo:acme/web']],
      );
      const blocked = await ws(b.key, b.claim, { paths: ['frontend/app/page.tsx'] });
      assert.equal(blocked.status, 409);
      assert.equal(blocked.body.action, 'blocked');
      assert.deepEqual(blocked.body.blocked_paths, ['frontend/app/page.tsx']);
      assert.equal(blocked.body.blocking[0].claim_id, a.claim);
      assert.equal(blocked.body.blocking[0].mode, 'edit');
      const audit = await t.store.db
        .selectFrom('audit_events')
        .selectAll()
        .where('event', '=', 'working_set.conflict')
        .where('claim_id', '=', b.claim)
        .execute();
      assert.equal(audit.length, 1);
    });

    it('partial_proceed claims what it can; globs, directories and classes overlap exactly', async () => {
      const { a, b, ws } = await twoRuns();
      await ws(a.key, a.claim, { paths: ['src/', 'docs/*.md'] });
      const res = await ws(b.key, b.claim, { paths: ['src/a.ts', 'docs/guide.md', 'README.md', 'test/[ab].ts'] });
      assert.equal(res.status, 200);
      assert.equal(res.body.action, 'partial_proceed');
      assert.deepEqual(res.body.claimed_paths, ['README.md', 'test/[ab].ts']);
      assert.deepEqual(res.body.blocked_paths.sort(), ['docs/guide.md', 'src/a.ts']);
      const held = await t.request('GET', `/v1/work/claims/${b.claim}`, { key: b.key });
      assert.deepEqual(held.body.claim.working_set.map((f: { path: string }) => f.path).sort(), ['README.md', 'test/[ab].ts']);
      // src/*.ts vs src/a*: overlap that cross-matching pattern text would miss.
      const c = await ws(b.key, b.claim, { op: 'add', paths: ['lib/a*'] });
      assert.equal(c.body.action, 'updated');
      const d = await ws(a.key, a.claim, { op: 'add', paths: ['lib/*.ts'] });
      assert.equal(d.status, 409);
    });

    it('literal paths alone are still blocked by held globs, directories, classes and equal literals', async () => {
      // A request of literal file paths only takes the pre-filtered path (only equal literals and held
      // non-literals are read): each kind of held pattern must still be found.
      const { a, b, ws } = await twoRuns();
      const held = await ws(a.key, a.claim, {
        paths: ['src/', 'docs/*.md', 'lib/?.ts', 'test/[ab].ts', 'pkg/**', 'exact.txt', 'other.txt'],
      });
      assert.equal(held.body.action, 'updated');
      const requested = [
        'src/deep/a.ts',
        'docs/guide.md',
        'lib/x.ts',
        'test/a.ts',
        'pkg/x/y.ts',
        'exact.txt',
        'free.txt',
        'docs/sub/no.md',
      ];
      const res = await ws(b.key, b.claim, { paths: requested });
      assert.equal(res.body.action, 'partial_proceed');
      assert.deepEqual(res.body.claimed_paths.sort(), ['docs/sub/no.md', 'free.txt']);
      assert.deepEqual(res.body.blocked_paths.sort(), [
        'docs/guide.md',
        'exact.txt',
        'lib/x.ts',
        'pkg/x/y.ts',
        'src/deep/a.ts',
        'test/a.ts',
      ]);
      const holders = new Map(res.body.blocking.map((x: { path: string; held_path: string }) => [x.path, x.held_path]));
      assert.equal(holders.get('src/deep/a.ts'), 'src/');
      assert.equal(holders.get('test/a.ts'), 'test/[ab].ts');
      assert.equal(holders.get('exact.txt'), 'exact.txt');
    });

    it('review never blocks and is never blocked, but is visible', async () => {
      const { a, b, ws } = await twoRuns();
      await ws(a.key, a.claim, { paths: ['src/app.ts'] });
      const review = await ws(b.key, b.claim, { mode: 'review', paths: ['src/app.ts'] });
      assert.equal(review.body.action, 'updated');
      const edit = await ws(a.key, a.claim, { op: 'add', paths: ['src/other.ts'] });
      assert.equal(edit.body.action, 'updated');
      const list = await t.request('GET', '/v1/work/claims?status=active', { key: b.key });
      const mine = list.body.data.find((c: { id: string }) => c.id === b.claim);
      assert.deepEqual(
        mine.working_set.map((f: { mode: string }) => f.mode),
        ['review'],
      );
    });

    it("set replaces this mode's paths, add adds, remove removes; delete mode conflicts like edit", async () => {
      const { a, b, ws } = await twoRuns();
      await ws(a.key, a.claim, { paths: ['a.ts', 'b.ts'] });
      const set = await ws(a.key, a.claim, { paths: ['b.ts', 'c.ts'] });
      assert.deepEqual(
        set.body.working_set.map((f: { path: string }) => f.path),
        ['b.ts', 'c.ts'],
      );
      const add = await ws(a.key, a.claim, { op: 'add', paths: ['d.ts'] });
      assert.deepEqual(
        add.body.working_set.map((f: { path: string }) => f.path),
        ['b.ts', 'c.ts', 'd.ts'],
      );
      const rem = await ws(a.key, a.claim, { op: 'remove', paths: ['b.ts', 'c.ts'] });
      assert.deepEqual(
        rem.body.working_set.map((f: { path: string }) => f.path),
        ['d.ts'],
      );
      // a.ts was released by set: another run may now edit it.
      assert.equal((await ws(b.key, b.claim, { paths: ['a.ts'] })).body.action, 'updated');
      await ws(a.key, a.claim, { mode: 'delete', paths: ['old/'] });
      assert.equal((await ws(b.key, b.claim, { op: 'add', paths: ['old/x.ts'] })).status, 409);
    });

    it('file leases never outlive the claim and lapse on their own', async () => {
      const { a, b, ws } = await twoRuns();
      const res = await ws(a.key, a.claim, { paths: ['x.ts'], lease_seconds: 3600 });
      const claim = await t.request('GET', `/v1/work/claims/${a.claim}`, { key: a.key });
      assert.equal(res.body.working_set[0].expires_at, claim.body.claim.expires_at, 'capped at the claim expiry (30 min)');
      const short = await ws(a.key, a.claim, { op: 'add', paths: ['y.ts'], lease_seconds: 60 });
      const y = short.body.working_set.find((f: { path: string }) => f.path === 'y.ts');
      assert.ok(Date.parse(y.expires_at) < Date.parse(claim.body.claim.expires_at));
      t.clock.advance(2 * MIN);
      assert.equal((await ws(b.key, b.claim, { paths: ['y.ts'] })).body.action, 'updated', 'a lapsed file lease blocks nobody');
      assert.equal((await ws(b.key, b.claim, { op: 'add', paths: ['x.ts'] })).status, 409);
      // An extend may shorten the run below its file leases; once the run lapses (not yet swept), its
      // paths block nobody.
      const ext = await t.request('POST', '/v1/work/run/extend', { key: a.key, body: { claim_id: a.claim, duration_minutes: 5 } });
      assert.equal(ext.body.action, 'extended');
      t.clock.advance(6 * MIN);
      assert.equal((await ws(b.key, b.claim, { op: 'add', paths: ['x.ts'] })).body.action, 'updated', 'the lapsed run holds nothing');
    });

    it('finishing, expiring or preempting a run releases its working set', async () => {
      const { a, b, ws } = await twoRuns();
      await ws(a.key, a.claim, { paths: ['shared.ts'] });
      await t.request('POST', '/v1/work/run/finish', { key: a.key, body: { claim_id: a.claim } });
      assert.equal((await ws(b.key, b.claim, { paths: ['shared.ts'] })).body.action, 'updated');
      t.clock.advance(31 * MIN);
      const late = await ws(b.key, b.claim, { paths: ['shared.ts'] });
      assert.equal(late.status, 409);
      assert.equal(late.body.error, 'claim_not_active');
      assert.equal(late.body.status, 'expired');
    });

    it('extend can refresh the working set in the same call', async () => {
      const { a, b, ws } = await twoRuns();
      await ws(b.key, b.claim, { paths: ['taken.ts'] });
      const ext = await t.request('POST', '/v1/work/run/extend', {
        key: a.key,
        body: { claim_id: a.claim, duration_minutes: 45, working_set: { resource: 'repo:acme/web', paths: ['mine.ts', 'taken.ts'] } },
      });
      assert.equal(ext.status, 200);
      assert.equal(ext.body.action, 'extended');
      assert.equal(ext.body.working_set.action, 'partial_proceed');
      assert.deepEqual(ext.body.working_set.blocked_paths, ['taken.ts']);
      assert.deepEqual(
        ext.body.claim.working_set.map((f: { path: string }) => f.path),
        ['mine.ts'],
      );
    });

    it('every answer shows the working set exactly as the database holds it afterwards', async () => {
      // The answer is computed from what was read under the locks plus the change, not read back: ids
      // kept for held paths, leases renewed, paths on other repositories and modes untouched.
      const { a, b, ws } = await twoRuns();
      const held = async () => (await t.request('GET', `/v1/work/claims/${a.claim}`, { key: a.key })).body.claim.working_set;
      await ws(b.key, b.claim, { paths: ['shared/taken.ts', 'shared/dir/'] });
      const pool = ['x.ts', 'y.ts', 'z.ts', 'src/*.ts', 'shared/taken.ts', 'shared/dir/a.ts', 'docs/'];
      let seed = 11;
      const rand = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      let changed = 0;
      for (let i = 0; i < 60; i++) {
        t.clock.advance(rand(3) * 20_000);
        const paths = [pool[rand(pool.length)] as string, pool[rand(pool.length)] as string];
        const body = {
          paths,
          op: ['set', 'add', 'remove'][rand(3)],
          mode: ['edit', 'delete', 'review'][rand(3)],
          resource: ['repo:acme/web', 'repo:acme/api'][rand(2)],
          lease_seconds: 30 + rand(4) * 60,
        };
        const res =
          i % 5 === 4
            ? await t.request('POST', '/v1/work/run/extend', { key: a.key, body: { claim_id: a.claim, working_set: body } })
            : await ws(a.key, a.claim, body);
        assert.ok([200, 409].includes(res.status), JSON.stringify(res.body));
        const answered = i % 5 === 4 ? res.body.claim.working_set : res.body.working_set;
        assert.deepEqual(answered, await held(), `step ${i}: ${JSON.stringify(body)}`);
        if (res.status === 200) changed += 1;
      }
      assert.ok(changed > 20, `${changed} of 60 updates changed the set`);
    });

    it("the check of other runs' paths finds held literals and patterns by index, not by reading the repository", async () => {
      // A literal request can only overlap an equal literal or a held pattern; both have an index (migration
      // 004). The pattern index is partial, and a database uses it only when the query repeats its condition
      // exactly: changing one without the other would quietly bring back a scan of every held path.
      const query = heldByOthers(
        t.store.db,
        { id: 'clm_x', org_id: 'org_x' },
        { ref: { resource_type: 'repo', resource_key: 'acme/web' }, paths: ['src/a.ts', 'src/b.ts'] },
        kind === 'postgres',
      ).compile();
      const plan = await planOf(t.store, query);
      assert.match(plan, /file_claims_path/, plan);
      assert.match(plan, /file_claims_patterns/, plan);
    });

    it('only the owning agent changes a working set; bad paths are 400 and change nothing', async () => {
      const { a, b, ws } = await twoRuns();
      const foreign = await ws(b.key, a.claim, { paths: ['x.ts'] });
      assert.equal(foreign.status, 403);
      for (const bad of ['../etc/passwd', '/abs.ts', 'a/../../b', 'nul\u0000byte', 'back\\slash']) {
        const res = await ws(a.key, a.claim, { paths: ['ok.ts', bad] });
        assert.equal(res.status, 400, bad);
        assert.equal(res.body.error, 'invalid_request');
        assert.ok(res.body.details['paths.1'], JSON.stringify(res.body.details));
      }
      const claim = await t.request('GET', `/v1/work/claims/${a.claim}`, { key: a.key });
      assert.deepEqual(claim.body.claim.working_set, []);
    });

    it('invariant 3 holds under a random workload: no overlapping edit/delete claims of different runs', async () => {
      const { session } = await t.workspace();
      const agents = await Promise.all([0, 1, 2, 3].map((i) => t.createAgent(session, { name: `a${i}` })));
      const runs = await Promise.all(agents.map((ag, i) => t.start(ag.key, { resource: `project:p${i}` })));
      const pool = [
        'src/',
        'src/a.ts',
        'src/*.ts',
        'src/b/**',
        'src/b/c.ts',
        'docs/*.md',
        'docs/x.md',
        'lib/[ab].ts',
        'lib/a.ts',
        'lib/?.ts',
        '**/*.json',
        'x.json',
      ];
      let seed = 7;
      const rand = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      const ops = [];
      for (let i = 0; i < 80; i++) {
        const r = rand(4);
        const paths = [pool[rand(pool.length)] as string, pool[rand(pool.length)] as string];
        const mode = ['edit', 'delete', 'review'][rand(3)];
        const op = ['set', 'add', 'remove'][rand(3)];
        ops.push(
          t.request('POST', '/v1/work/run/working-set', {
            key: agents[r]?.key,
            body: { claim_id: runs[r]?.body.claim.id, resource: 'repo:acme/mono', paths, mode, op },
          }),
        );
      }
      const results = await Promise.all(ops);
      assert.ok(results.every((r) => [200, 409].includes(r.status)));
      const rows = await t.store.db
        .selectFrom('file_claims')
        .selectAll()
        .where('org_id', '=', session.orgId)
        .where('mode', 'in', ['edit', 'delete'])
        .execute();
      for (const x of rows) {
        for (const y of rows) {
          if (x.claim_id !== y.claim_id)
            assert.ok(!patternsOverlap(x.path, y.path), `${x.path} (${x.claim_id}) overlaps ${y.path} (${y.claim_id})`);
        }
      }
      assert.ok(rows.length > 0);
    });
  });
}
