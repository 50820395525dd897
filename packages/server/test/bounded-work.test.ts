/**
 * Bounded work through the API, on every store: working-set paths over the pattern caps are 422
 * pattern_too_complex; a request whose overlap decisions pass its budget is 422 too and changes nothing;
 * every list in an answer is capped at 100 with `_count` and `_truncated` beside it (working-set blocking,
 * blocked and claimed paths; hold conflicts; availability busy and free; value agents); and /health keeps
 * answering while the worst-case working-set request runs (event-loop delay measured in this process, which
 * runs the server).
 */
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { createTestServer, MIN, STORES, type TestServer } from '@availsync/testkit';
import { PATTERN_MAX_LENGTH, REQUEST_BUDGET } from '../src/domain/paths.js';

const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const at = (ms: number) => new Date(ms).toISOString();

/**
 * Adversarial patterns at the caps: 16 wildcards (`*`, `?`, classes) and up to 512 characters, all starting
 * with `*` so that neither their literal prefixes nor the index tell them apart, and long runs of one letter
 * between the wildcards (the shape that makes a product search big).
 */
function adversarial(i: number): string {
  const kinds = ['*', '?', '[ab]', '*'];
  let out = '';
  for (let w = 0; w < 16; w++) {
    // Distinct for every i < 2^9: bit w of i puts a 'b' into run w.
    const b = w < 9 && (i >> w) & 1 ? 'b' : '';
    out += (kinds[(w + i) % kinds.length] as string) + 'a'.repeat(20 + ((i + w) % 5)) + b + 'a'.repeat(3);
  }
  assert.ok(out.length <= PATTERN_MAX_LENGTH);
  return out;
}

for (const kind of STORES) {
  describe(`bounded work (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await createTestServer(kind);
    });
    after(async () => {
      await t.close();
    });

    async function twoAgents() {
      const { session, key } = await t.workspace({ name: 'holder' });
      const other = await t.createAgent(session, { name: 'asker' });
      return { session, key, otherKey: other.key };
    }
    const claimOn = async (key: string, resource: string) => (await t.start(key, { resource })).body.claim.id as string;
    const ws = (key: string, claim: string, body: Record<string, unknown>) =>
      t.request('POST', '/v1/work/run/working-set', { key, body: { claim_id: claim, resource: 'repo:acme/big', ...body } });
    const heldPaths = (claim: string) => t.store.db.selectFrom('file_claims').select('path').where('claim_id', '=', claim).execute();

    it('a path over the caps is 422 pattern_too_complex naming its index and the limit, and changes nothing', async () => {
      const { key } = await twoAgents();
      const claim = await claimOn(key, 'project:caps');
      const sixteen = `src/${'*a'.repeat(15)}?`;
      assert.equal((await ws(key, claim, { paths: [sixteen, 'x'.repeat(PATTERN_MAX_LENGTH)] })).status, 200);

      const cases: Array<[unknown[], number, string, number]> = [
        [['ok.ts', `src/${'*a'.repeat(16)}?`], 1, 'wildcards', 16], // 17 wildcards
        [['src/', `a/${'[ab]'.repeat(16)}/`], 1, 'wildcards', 16], // 16 classes and a trailing '/'
        [[`${'x'.repeat(PATTERN_MAX_LENGTH + 1)}`], 0, 'length', PATTERN_MAX_LENGTH],
        [['a', 'b', `d/${'?'.repeat(17)}`], 2, 'wildcards', 16],
      ];
      for (const [paths, index, limit, max] of cases) {
        const res = await ws(key, claim, { op: 'add', paths });
        assert.equal(res.status, 422, JSON.stringify(res.body));
        assert.equal(res.body.error, 'pattern_too_complex');
        assert.match(res.body.request_id, /^req_/);
        assert.equal(res.body.details.path_index, index);
        assert.equal(res.body.details.field, `paths.${index}`);
        assert.equal(res.body.details.limit, limit);
        assert.equal(res.body.details.max, max);
        assert.ok(res.body.details.actual > max);
      }
      // Nested in extend, the field says where.
      const extended = await t.request('POST', '/v1/work/run/extend', {
        key,
        body: { claim_id: claim, working_set: { paths: [`${'*x'.repeat(17)}`] } },
      });
      assert.equal(extended.status, 422);
      assert.equal(extended.body.details.field, 'working_set.paths.0');
      assert.deepEqual((await heldPaths(claim)).map((r) => r.path).sort(), [sixteen, 'x'.repeat(PATTERN_MAX_LENGTH)].sort());
    });

    it('literal paths are not limited in number: 500 literals against 500 held globs is a capped 409', async () => {
      const { key, otherKey } = await twoAgents();
      const holder = await claimOn(key, 'project:globs');
      const globs = Array.from({ length: 500 }, (_, i) => `lib/*${i}`);
      assert.equal((await ws(key, holder, { paths: globs })).status, 200);
      const literals = Array.from({ length: 500 }, (_, j) => `lib/file-${j}`);
      const asker = await claimOn(otherKey, 'project:literals');
      const res = await ws(otherKey, asker, { paths: literals });
      // Every path ends with a digit, held as `lib/*<digit>`: all blocked.
      assert.equal(res.status, 409, JSON.stringify(res.body).slice(0, 300));
      assert.equal(res.body.action, 'blocked');
      assert.deepEqual(res.body.blocked_paths, literals.slice(0, 100));
      assert.equal(res.body.blocked_paths_count, 500);
      assert.equal(res.body.blocked_paths_truncated, true);
      assert.equal(res.body.blocking.length, 100);
      const expected = literals.reduce((n, _path, j) => n + globs.filter((_, i) => String(j).endsWith(String(i))).length, 0);
      assert.equal(res.body.blocking_count, expected);
      assert.equal(res.body.blocking_truncated, true);
      assert.ok(JSON.stringify(res.body).length < 64 * 1024, 'the answer stays small');
      // Other directories are never compared with lib/'s globs: nothing blocks these.
      const apart = await ws(otherKey, asker, { paths: literals.map((p) => p.replace('lib/', 'src/')) });
      assert.equal(apart.status, 200);
      assert.equal(apart.body.working_set_count, 500);
    });

    it('a 409 with 150 overlapping holders lists 100 and says 150', async () => {
      const { key, otherKey } = await twoAgents();
      const holders: string[] = [];
      for (let i = 0; i < 150; i++) {
        const claim = await claimOn(key, `project:holder-${i}`);
        assert.equal((await ws(key, claim, { paths: [`src/h${i}/file.ts`] })).status, 200);
        holders.push(claim);
      }
      const asker = await claimOn(otherKey, 'project:asker');
      const res = await ws(otherKey, asker, { paths: ['src/**'] });
      assert.equal(res.status, 409);
      assert.equal(res.body.action, 'blocked');
      assert.deepEqual(res.body.blocked_paths, ['src/**']);
      assert.equal(res.body.blocked_paths_count, 1);
      assert.equal(res.body.blocked_paths_truncated, false);
      assert.equal(res.body.blocking.length, 100);
      assert.equal(res.body.blocking_count, 150);
      assert.equal(res.body.blocking_truncated, true);
      assert.deepEqual(res.body.working_set, []);
      assert.equal(res.body.working_set_count, 0);
      assert.equal(res.body.working_set_truncated, false);
      for (const b of res.body.blocking) assert.ok(holders.includes(b.claim_id));
      assert.equal(new Set(res.body.blocking.map((b: { claim_id: string }) => b.claim_id)).size, 100);

      // partial_proceed: 150 claimable paths, each of 120 blocked paths blocked once.
      const paths = [...Array.from({ length: 120 }, (_, i) => `src/h${i}/file.ts`), ...Array.from({ length: 150 }, (_, i) => `free/${i}`)];
      const partial = await ws(otherKey, asker, { paths });
      assert.equal(partial.status, 200);
      assert.equal(partial.body.action, 'partial_proceed');
      assert.equal(partial.body.claimed_paths.length, 100);
      assert.equal(partial.body.claimed_paths_count, 150);
      assert.equal(partial.body.claimed_paths_truncated, true);
      assert.deepEqual(partial.body.blocked_paths, paths.slice(0, 100));
      assert.equal(partial.body.blocked_paths_count, 120);
      assert.equal(partial.body.blocking_count, 120);
      assert.equal(partial.body.blocking.length, 100);
      assert.equal(partial.body.working_set.length, 150);
      assert.equal(partial.body.working_set_count, 150);
      // The claim object shows the same counts.
      const got = await t.request('GET', `/v1/work/claims/${asker}`, { key: otherKey });
      assert.equal(got.body.claim.working_set_count, 150);
      assert.equal(got.body.claim.working_set_truncated, false);
    });

    it('a working set listed in an answer stops at 500, with the whole count beside it', async () => {
      const { key } = await twoAgents();
      const claim = await claimOn(key, 'project:large-set');
      for (const part of [0, 1]) {
        const paths = Array.from({ length: 300 }, (_, i) => `big/${part}-${i}.ts`);
        assert.equal((await ws(key, claim, { op: 'add', paths })).status, 200);
      }
      const res = await ws(key, claim, { op: 'add', paths: ['big/last.ts'] });
      assert.equal(res.body.action, 'updated');
      assert.equal(res.body.working_set.length, 500);
      assert.equal(res.body.working_set_count, 601);
      assert.equal(res.body.working_set_truncated, true);
    });

    it('past the request budget the answer is 422 pattern_too_complex, and nothing changes', async () => {
      const { key, otherKey } = await twoAgents();
      const holder = await claimOn(key, 'project:adversary');
      const held = Array.from({ length: 500 }, (_, i) => adversarial(i));
      assert.equal((await ws(key, holder, { paths: held })).status, 200);
      const asker = await claimOn(otherKey, 'project:victim');
      assert.equal((await ws(otherKey, asker, { paths: ['mine.ts'] })).status, 200);
      const res = await ws(otherKey, asker, { paths: Array.from({ length: 500 }, (_, i) => adversarial(i + 1)) });
      assert.equal(res.status, 422, JSON.stringify(res.body).slice(0, 300));
      assert.equal(res.body.error, 'pattern_too_complex');
      assert.equal(res.body.details.limit, 'work');
      assert.equal(res.body.details.max, REQUEST_BUDGET);
      assert.ok(res.body.details.actual > REQUEST_BUDGET);
      assert.deepEqual(
        (await heldPaths(asker)).map((r) => r.path),
        ['mine.ts'],
      );
      const audit = await t.store.db
        .selectFrom('audit_events')
        .select('event')
        .where('claim_id', '=', asker)
        .where('event', '=', 'working_set.conflict')
        .execute();
      assert.equal(audit.length, 0);
    });

    it('/health answers while the worst-case working-set request runs: the event loop is never held long', async () => {
      const { key, otherKey } = await twoAgents();
      const holder = await claimOn(key, 'project:adversary-2');
      assert.equal((await ws(key, holder, { paths: Array.from({ length: 500 }, (_, i) => adversarial(i)) })).status, 200);
      const asker = await claimOn(otherKey, 'project:victim-2');
      const worst = { paths: Array.from({ length: 500 }, (_, i) => adversarial(i + 1)) };

      const delay = monitorEventLoopDelay({ resolution: 5 });
      delay.enable();
      let done = false;
      let healthAnswers = 0;
      const started = performance.now();
      const running = ws(otherKey, asker, worst).finally(() => {
        done = true;
      });
      // /health, again and again while the request runs: each answer needs the event loop. (In process, an
      // answer can come through promise jobs alone, so each round also waits for a turn of the loop, as a
      // client on a socket does: otherwise this loop, not the request, would hold the loop.)
      while (!done) {
        const health = await t.request('GET', '/health');
        assert.equal(health.status, 200);
        healthAnswers++;
        await new Promise((resolve) => setImmediate(resolve));
      }
      const res = await running;
      const elapsedMs = performance.now() - started;
      delay.disable();
      assert.equal(res.status, 422);
      // The request's work is sliced (the working-set path yields every OVERLAP_SLICE_STEPS steps), so no
      // turn of the loop holds it for long: the longest turn is a small part of the request, and below an
      // absolute budget. (Relative to the request, so a loaded machine slows both alike.)
      const maxMs = delay.max / 1e6;
      const detail = `longest turn ${maxMs.toFixed(1)} ms of a ${elapsedMs.toFixed(0)} ms request, /health answered ${healthAnswers} times`;
      assert.ok(maxMs < elapsedMs / 2, detail);
      assert.ok(maxMs < EVENT_LOOP_BUDGET_MS, `${detail} (budget ${EVENT_LOOP_BUDGET_MS} ms)`);
      assert.ok(healthAnswers >= 3, detail);
    });

    it('hold conflicts and availability list at most 100 windows, with counts', async () => {
      const { key } = await t.workspace({ name: 'scheduler', agent_type: 'scheduler' });
      const base = Math.ceil((t.clock.now() + 2 * DAY) / DAY) * DAY;
      for (let i = 0; i < 150; i++) {
        const res = await t.request('POST', '/v1/holds', {
          key,
          body: { resource: 'calendar:room', start_at: at(base + i * 2 * MIN), end_at: at(base + (i * 2 + 1) * MIN) },
        });
        assert.equal(res.status, 201);
      }
      const wanted = { resource: 'calendar:room', start_at: at(base), end_at: at(base + 6 * HOUR) };
      const refused = await t.request('POST', '/v1/holds', { key, body: wanted });
      assert.equal(refused.status, 409);
      assert.equal(refused.body.error, 'hold_conflict');
      assert.equal(refused.body.conflicts.length, 100);
      assert.equal(refused.body.conflicts_count, 150);
      assert.equal(refused.body.conflicts_truncated, true);
      const checked = await t.request('POST', '/v1/conflicts/check', { key, body: wanted });
      assert.equal(checked.body.conflicts.length, 100);
      assert.equal(checked.body.conflicts_count, 150);
      assert.equal(checked.body.conflicts_truncated, true);
      const free = await t.request('GET', `/v1/availability?resource=calendar:room&from=${at(base)}&to=${at(base + 6 * HOUR)}`, { key });
      assert.equal(free.status, 200);
      assert.equal(free.body.busy.length, 100);
      assert.equal(free.body.busy_count, 150);
      assert.equal(free.body.busy_truncated, true);
      assert.equal(free.body.busy[0].start_at, at(base));
      assert.equal(free.body.free.length, 100);
      assert.equal(free.body.free_count, 150); // a gap after each hold, the last one up to `to`
      assert.equal(free.body.free_truncated, true);
      const small = await t.request('GET', `/v1/availability?resource=calendar:room&from=${at(base)}&to=${at(base + 10 * MIN)}`, { key });
      assert.equal(small.body.busy_count, 5);
      assert.equal(small.body.busy_truncated, false);
    });

    it('value health lists at most 100 agents, with the count', async () => {
      const { session } = await t.workspace({ name: 'first' });
      for (let i = 0; i < 101; i++) await t.createAgent(session, { name: `agent-${i}` });
      const res = await t.request('GET', '/v1/value/health', { session });
      assert.equal(res.status, 200);
      assert.equal(res.body.agents.length, 100);
      assert.equal(res.body.agents_count, 102);
      assert.equal(res.body.agents_truncated, true);
      assert.equal(res.body.hotspots_truncated, false);
    });
  });
}

/**
 * The most one turn of the event loop may take while the worst-case request runs: far above what it takes
 * (a few milliseconds), so that a heavily loaded 2-core machine still passes; without the caps and slices the
 * same request held the loop for seconds to hours.
 */
const EVENT_LOOP_BUDGET_MS = 1000;
