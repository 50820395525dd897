/**
 * Invariants 1, 2 and 6 under concurrency, checked on the database rows:
 * - in-process on every store: 60 simultaneous starts on one resource from 60 agents (three rounds:
 *   fresh, after a finish, after an expiry) → exactly one proceed per round;
 * - two real server processes on one PostgreSQL database: the same race split across both nodes, then a
 *   randomized mixed workload (start / extend / finish / preempt over 3 resources, both nodes);
 * - idempotency: 50 identical concurrent starts with one Idempotency-Key → one claim, 50 identical bodies.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestServer, MIN, PG_ENABLED, type Res, STORES, type TestServer } from '@availsync/testkit';
import { ManualClock } from '../src/clock.js';
import { createPostgresStore } from '../src/storage/store.js';
import {
  type ApiClient,
  apiClient,
  createTestDatabase,
  killAllServerProcesses,
  type LeaseRow,
  leaseViolations,
  prng,
  type ServerProcess,
  startServerProcess,
  type TestDatabase,
} from './procs.js';

const RACERS = 60;
const IDEM_REQUESTS = 50;

/** Exactly one `proceed`; every other answer is `skip_run` naming the winner. Returns the winner's claim. */
function assertOneWinner(results: Res[], label: string) {
  for (const r of results) assert.equal(r.status, 200, `${label}: every start answers 200, got ${r.status} ${JSON.stringify(r.body)}`);
  const proceeds = results.filter((r) => r.body.action === 'proceed');
  const skips = results.filter((r) => r.body.action === 'skip_run');
  assert.equal(proceeds.length, 1, `${label}: exactly one proceed (got ${proceeds.length})`);
  assert.equal(skips.length, results.length - 1, `${label}: every other start is skip_run`);
  const winner = (proceeds[0] as Res).body.claim;
  assert.equal(winner.mode, 'enforce');
  for (const s of skips) {
    assert.equal(s.body.blocking_claim.id, winner.id, `${label}: a skip names the winner as its blocking claim`);
    assert.equal(s.body.retry_after, winner.expires_at);
  }
  return winner as { id: string; fencing_token: number; expires_at: string; agent_id: string };
}

/** 50 identical answers from one key: one claim, one original and 49 replays. */
function assertIdempotentReplies(replies: Res[], label: string) {
  for (const r of replies) assert.equal(r.status, 200, `${label}: ${r.status} ${JSON.stringify(r.body)}`);
  const first = (replies[0] as Res).body;
  assert.equal(first.action, 'proceed');
  for (const r of replies) assert.deepEqual(r.body, first, `${label}: every reply carries the original body`);
  const originals = replies.filter((r) => r.headers.get('idempotent-replayed') !== 'true');
  assert.equal(originals.length, 1, `${label}: exactly one request ran, the others are replays`);
  return first.claim as { id: string };
}

for (const kind of STORES) {
  describe(`concurrency in-process (${kind})`, () => {
    let t: TestServer;
    let pgdb: TestDatabase | undefined;
    before(async () => {
      if (kind === 'postgres') {
        // A database of its own rather than a schema in the shared one: nothing of this race (migrations,
        // locks, load) is shared with other PostgreSQL suites running at the same time.
        pgdb = await createTestDatabase();
        const clock = new ManualClock(Date.now());
        t = await createTestServer(kind, { clock, store: createPostgresStore({ url: pgdb.url, clock, poolSize: 20 }) });
      } else {
        t = await createTestServer(kind);
      }
    });
    after(async () => {
      await t?.close();
      await pgdb?.drop();
    });

    it(`${RACERS} simultaneous starts on one resource from ${RACERS} agents: one proceed per round, no overlapping leases`, async () => {
      const session = await t.signup();
      const agents: Awaited<ReturnType<TestServer['createAgent']>>[] = [];
      for (let i = 0; i < RACERS; i++) agents.push(await t.createAgent(session, { name: `racer-${i}` }));
      const resource = 'repo:acme/hot';
      const race = () => Promise.all(agents.map((a) => t.start(a.key, { resource, duration_minutes: 10 })));

      const w1 = assertOneWinner(await race(), 'round 1 (free resource)');
      assert.equal(w1.fencing_token, 1);
      const owner1 = agents.find((a) => a.id === w1.agent_id);
      assert.ok(owner1);
      const fin = await t.request('POST', '/v1/work/run/finish', { key: owner1.key, body: { claim_id: w1.id } });
      assert.equal(fin.body.action, 'finished');

      const w2 = assertOneWinner(await race(), 'round 2 (after finish)');
      assert.equal(w2.fencing_token, 2);
      t.clock.advance(10 * MIN); // the winner's lease lapses; nobody swept it

      const w3 = assertOneWinner(await race(), 'round 3 (after expiry)');
      assert.equal(w3.fencing_token, 3);

      const rows = await t.store.db
        .selectFrom('claims')
        .selectAll()
        .where('org_id', '=', session.orgId)
        .where('resource_type', '=', 'repo')
        .where('resource_key', '=', 'acme/hot')
        .execute();
      assert.equal(rows.length, 3, 'one claim row per round');
      assert.deepEqual(leaseViolations(rows), []);
      assert.deepEqual(
        rows.map((r) => [r.id, r.status]).sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
        [
          [w1.id, 'released'],
          [w2.id, 'expired'],
          [w3.id, 'active'],
        ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
      );
      const res = await t.store.db
        .selectFrom('resources')
        .select('fencing_token')
        .where('org_id', '=', session.orgId)
        .where('resource_key', '=', 'acme/hot')
        .executeTakeFirstOrThrow();
      assert.equal(Number(res.fencing_token), 3);
    });

    it(`${IDEM_REQUESTS} identical concurrent starts with one Idempotency-Key create one claim`, async () => {
      const { session, key } = await t.workspace();
      const body = { resource: 'repo:acme/idem-race', reason: 'nightly', duration_minutes: 15 };
      const replies = await Promise.all(
        Array.from({ length: IDEM_REQUESTS }, () =>
          t.request('POST', '/v1/work/run/start', { key, body, headers: { 'idempotency-key': 'race-key-1' } }),
        ),
      );
      const claim = assertIdempotentReplies(replies, kind);
      const rows = await t.store.db.selectFrom('claims').select(['id', 'idempotency_key']).where('org_id', '=', session.orgId).execute();
      assert.deepEqual(rows, [{ id: claim.id, idempotency_key: 'race-key-1' }]);
      const keys = await t.store.db.selectFrom('idempotency_keys').select('key').where('key', '=', 'race-key-1').execute();
      assert.equal(keys.length, 1);
    });
  });
}

describe('concurrency across two PostgreSQL server processes', { skip: !PG_ENABLED && 'PostgreSQL disabled' }, () => {
  let db: TestDatabase;
  let nodes: ServerProcess[] = [];
  let clients: ApiClient[] = [];

  before(async () => {
    db = await createTestDatabase();
    // Both nodes migrate the empty database at once.
    nodes = await Promise.all([startServerProcess({ databaseUrl: db.url }), startServerProcess({ databaseUrl: db.url })]);
    clients = nodes.map((n) => apiClient(n.url));
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await killAllServerProcesses();
    await db?.drop();
  });

  const node = (i: number) => clients[i % 2] as ApiClient;

  async function claimRows(orgId: string): Promise<LeaseRow[]> {
    const { rows } = await db.pool.query('select * from claims where org_id = $1', [orgId]);
    return rows;
  }

  it(`${RACERS} simultaneous starts split across both nodes: exactly one proceed`, async () => {
    const session = await node(0).signup();
    const agents = [];
    for (let i = 0; i < RACERS; i++) agents.push(await node(i).createAgent(session, { name: `racer-${i}` }));
    const results = await Promise.all(agents.map((a, i) => node(i).start(a.key, { resource: 'repo:acme/hot', duration_minutes: 10 })));
    const winner = assertOneWinner(results, 'two nodes');
    assert.equal(winner.fencing_token, 1);
    const rows = await claimRows(session.orgId);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.id, winner.id);
    assert.deepEqual(leaseViolations(rows), []);
  });

  it('a randomized mixed workload on both nodes keeps leases exclusive and fencing monotonic', async (ctx) => {
    const seed = Number(process.env.AVAILSYNC_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const rand = prng(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
    const label = `seed ${seed} (rerun with AVAILSYNC_TEST_SEED=${seed})`;

    const session = await node(0).signup();
    const priorities = [100, 100, 100, 100, 200, 200, 300, 300];
    const agents = [];
    for (const [i, priority] of priorities.entries()) agents.push(await node(i).createAgent(session, { name: `worker-${i}`, priority }));
    const resources = ['repo:acme/r0', 'repo:acme/r1', 'project:r2'];

    // What the API acknowledged, to compare with the rows afterwards.
    const proceeded = new Map<string, { resource: string; token: number }>();
    const lastExpiry = new Map<string, string>(); // claim id → expires_at of the latest proceed/extended answer
    const finished = new Map<string, string>(); // claim id → released_at of the `finished` answer
    const unexpected: string[] = [];

    // The plan is seeded; which answers come back still depends on the interleaving of the two nodes.
    const plans = agents.map(() =>
      Array.from({ length: 40 }, () => ({
        r: rand(),
        stick: rand(),
        node: Math.floor(rand() * 2),
        resource: pick(resources),
        d: 1 + Math.floor(rand() * 30),
      })),
    );

    await Promise.all(
      agents.map(async (agent, ai) => {
        const held = new Map<string, string>(); // resource → claim id
        for (const op of plans[ai] as (typeof plans)[number]) {
          const api = node(op.node);
          // Half the time an agent holding a claim works on it (extend or finish) rather than starting.
          const resource = held.size > 0 && op.stick < 0.5 ? ([...held.keys()][0] as string) : op.resource;
          const mine = held.get(resource);
          if (!mine) {
            const res = await api.start(agent.key, { resource, duration_minutes: op.d, preempt: op.r < 0.3 });
            if (res.status !== 200) unexpected.push(`start ${res.status} ${JSON.stringify(res.body)}`);
            else if (res.body.action === 'proceed') {
              held.set(resource, res.body.claim.id);
              proceeded.set(res.body.claim.id, { resource, token: res.body.claim.fencing_token });
              lastExpiry.set(res.body.claim.id, res.body.claim.expires_at);
            } else if (res.body.action !== 'skip_run') unexpected.push(`start answered ${res.body.action}`);
          } else if (op.r < 0.5) {
            const res = await api.extend(agent.key, mine, { duration_minutes: op.d });
            if (res.status === 200 && res.body.action === 'extended') lastExpiry.set(mine, res.body.claim.expires_at);
            else if (res.status === 409 && res.body.error === 'claim_not_active' && res.body.status === 'preempted') held.delete(resource);
            else unexpected.push(`extend ${res.status} ${JSON.stringify(res.body)}`);
          } else {
            const res = await api.finish(agent.key, mine, { outcome: pick(['finished', 'noop', 'error'] as const) });
            held.delete(resource);
            if (res.status !== 200) unexpected.push(`finish ${res.status} ${JSON.stringify(res.body)}`);
            else if (res.body.action === 'finished') finished.set(mine, res.body.claim.released_at);
            else if (!(res.body.action === 'already_finished' && res.body.claim.status === 'preempted')) {
              unexpected.push(`finish answered ${res.body.action} (${res.body.claim?.status})`);
            }
          }
        }
      }),
    );
    const preempted = (await claimRows(session.orgId)).filter((r) => r.status === 'preempted').length;
    ctx.diagnostic(`${label}: ${proceeded.size} grants, ${finished.size} finished, ${preempted} preempted`);
    assert.deepEqual(unexpected, [], label);
    assert.ok(proceeded.size >= resources.length, `${label}: the workload granted some claims (${proceeded.size})`);

    const rows = await claimRows(session.orgId);
    assert.deepEqual(leaseViolations(rows), [], label);
    assert.equal(rows.length, proceeded.size, `${label}: one row per acknowledged proceed, nothing else`);
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const [id, ack] of proceeded) {
      const row = byId.get(id);
      assert.ok(row, `${label}: acknowledged claim ${id} has a row`);
      assert.equal(Number(row.fencing_token), ack.token);
      if (row.status === 'active')
        assert.equal(Number(row.expires_at), Date.parse(lastExpiry.get(id) as string), `${label}: ${id} keeps its acknowledged expiry`);
    }
    for (const [id, releasedAt] of finished) {
      const row = byId.get(id);
      assert.equal(row?.status, 'released', `${label}: finished claim ${id}`);
      assert.equal(Number(row?.released_at), Date.parse(releasedAt));
    }
    // Per resource: tokens are exactly 1..n (one per grant, none skipped or reused) and the counter agrees.
    const { rows: counters } = await db.pool.query('select resource_type, resource_key, fencing_token from resources where org_id = $1', [
      session.orgId,
    ]);
    for (const resource of resources) {
      const [type, key] = resource.split(':') as [string, string];
      const tokens = rows
        .filter((r) => r.resource_type === type && r.resource_key === key)
        .map((r) => Number(r.fencing_token))
        .sort((a, b) => a - b);
      assert.deepEqual(
        tokens,
        Array.from({ length: tokens.length }, (_, i) => i + 1),
        `${label}: ${resource} tokens`,
      );
      const counter = counters.find((c) => c.resource_type === type && c.resource_key === key);
      if (tokens.length > 0) assert.equal(Number(counter?.fencing_token), tokens.length, `${label}: ${resource} counter`);
      const active = rows.filter((r) => r.resource_type === type && r.resource_key === key && r.status === 'active');
      assert.ok(active.length <= 1, `${label}: at most one active claim on ${resource}`);
    }
  });

  it(`${IDEM_REQUESTS} identical concurrent starts with one Idempotency-Key across both nodes create one claim`, async () => {
    const session = await node(0).signup();
    const agent = await node(1).createAgent(session, { name: 'idem' });
    const body = { resource: 'repo:acme/idem-race', reason: 'nightly', duration_minutes: 15 };
    const replies = await Promise.all(
      Array.from({ length: IDEM_REQUESTS }, (_, i) => node(i).start(agent.key, body, { idempotencyKey: 'race-key-2' })),
    );
    const claim = assertIdempotentReplies(replies, 'two nodes');
    const { rows } = await db.pool.query('select id, idempotency_key from claims where org_id = $1', [session.orgId]);
    assert.deepEqual(rows, [{ id: claim.id, idempotency_key: 'race-key-2' }]);
    const keys = await db.pool.query("select key from idempotency_keys where key = 'race-key-2'");
    assert.equal(keys.rowCount, 1);
  });
});
