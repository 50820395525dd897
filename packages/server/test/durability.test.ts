/**
 * Invariant 5 (durability) and the guards around it, with real server processes:
 * - SQLite: acknowledged answers survive `kill -9`; the OS lock dies with the process, so a restart just works;
 *   fencing continues above the pre-crash tokens; an Idempotency-Key replay after the crash returns the
 *   original claim; a second process on a data directory in use refuses to start.
 * - PostgreSQL: one of two nodes is killed (with requests in flight); the other sees every acknowledged
 *   claim and fencing keeps increasing.
 * - SQLite's clock high-water mark (in-process, manual clock): a clock stepping back never makes a lease
 *   younger, also across a restart of the store.
 * - `availsync-server migrate` from three processes at once on a fresh PostgreSQL database.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestServer, MIN, makeStore, PG_ENABLED, type Res } from '@availsync/testkit';
import SqliteDatabase from 'better-sqlite3';
import { ManualClock } from '../src/clock.js';
import { migrationProvider } from '../src/storage/migrations/index.js';
import {
  apiClient,
  createTestDatabase,
  killAllServerProcesses,
  type LeaseRow,
  leaseViolations,
  runServerCli,
  type ServerProcess,
  startServerProcess,
  type TestDatabase,
} from './procs.js';

interface ClaimRowRaw extends LeaseRow {
  outcome: string | null;
  renewal_count: number | string;
  idempotency_key: string | null;
}

/** A row matches what the API acknowledged: status, token and lease times. */
function assertRowMatches(row: ClaimRowRaw | undefined, claim: Record<string, any>, label: string) {
  assert.ok(row, `${label}: acknowledged claim ${claim.id} has a row`);
  assert.equal(row.status, claim.status, `${label}: status`);
  assert.equal(Number(row.fencing_token), claim.fencing_token, `${label}: fencing token`);
  assert.equal(Number(row.started_at), Date.parse(claim.started_at), `${label}: started_at`);
  assert.equal(Number(row.expires_at), Date.parse(claim.expires_at), `${label}: expires_at`);
  assert.equal(
    row.released_at == null ? null : Number(row.released_at),
    claim.released_at ? Date.parse(claim.released_at) : null,
    `${label}: released_at`,
  );
  assert.equal(Number(row.renewal_count), claim.renewal_count, `${label}: renewal_count`);
}

describe('durability: SQLite server process killed with SIGKILL', () => {
  const dir = mkdtempSync(join(tmpdir(), 'availsync-durable-'));
  const lockFile = join(dir, 'server.pid');
  process.on('exit', () => rmSync(dir, { recursive: true, force: true })); // also when interrupted
  let survivor: ServerProcess | undefined;

  after(async () => {
    await killAllServerProcesses();
    rmSync(dir, { recursive: true, force: true });
  });

  function readClaims(): Map<string, ClaimRowRaw> {
    const db = new SqliteDatabase(join(dir, 'availsync.db'), { readonly: true, fileMustExist: true });
    try {
      const rows = db.prepare('select * from claims').all() as ClaimRowRaw[];
      return new Map(rows.map((r) => [r.id, r]));
    } finally {
      db.close();
    }
  }

  it('every acknowledged answer survives kill -9; the stale lock is taken over; fencing continues; replays return the same claim', async () => {
    const first = await startServerProcess({ dataDir: dir });
    const A = apiClient(first.url);
    const session = await A.signup();
    const agent = await A.createAgent(session, { name: 'crash-test' });
    const other = await A.createAgent(session, { name: 'after-crash' });

    const N = 12;
    const bodyFor = (i: number) => ({ resource: `repo:acme/d${i}`, duration_minutes: 60, reason: `run ${i}` });
    const started: Res[] = await Promise.all(
      Array.from({ length: N }, (_, i) => A.start(agent.key, bodyFor(i), { idempotencyKey: `durable-${i}` })),
    );
    for (const s of started) assert.equal(s.body.action, 'proceed', JSON.stringify(s.body));
    const claims = started.map((s) => s.body.claim);
    const extended = await A.extend(agent.key, claims[0].id, { duration_minutes: 120 });
    assert.equal(extended.body.action, 'extended');
    const finished = await A.finish(agent.key, claims[1].id, { outcome: 'noop' });
    assert.equal(finished.body.action, 'finished');
    // The last acknowledged state of each claim.
    const acked = [extended.body.claim, finished.body.claim, ...claims.slice(2)];

    const exit = await first.kill('SIGKILL');
    assert.equal(exit.signal, 'SIGKILL');
    assert.equal(
      readFileSync(lockFile, 'utf8').trim(),
      String(first.pid),
      'the crashed process left its pid file behind (its OS lock died with it)',
    );

    survivor = await startServerProcess({ dataDir: dir });
    assert.equal(readFileSync(lockFile, 'utf8'), String(survivor.pid), 'the restarted server took the stale lock over');
    const B = apiClient(survivor.url);

    // The rows, read directly: every acknowledged answer is there as acknowledged.
    const rows = readClaims();
    assert.equal(rows.size, N);
    for (const c of acked) assertRowMatches(rows.get(c.id), c, `claim ${c.id}`);
    assert.equal(rows.get(claims[1].id)?.outcome, 'noop');
    assert.deepEqual(leaseViolations([...rows.values()]), []);
    // And the API over the restarted process agrees.
    for (const c of acked) {
      const got = await B.getClaim(agent.key, c.id);
      assert.equal(got.status, 200);
      assert.equal(got.body.claim.status, c.status);
      assert.equal(got.body.claim.expires_at, c.expires_at);
    }

    // A lease acknowledged before the crash still blocks; a released resource is granted with a larger token.
    const blocked = await B.start(other.key, { resource: 'repo:acme/d0' });
    assert.equal(blocked.body.action, 'skip_run');
    assert.equal(blocked.body.blocking_claim.id, claims[0].id);
    const next = await B.start(other.key, { resource: 'repo:acme/d1' });
    assert.equal(next.body.action, 'proceed');
    assert.ok(
      next.body.claim.fencing_token > claims[1].fencing_token,
      `token ${next.body.claim.fencing_token} > ${claims[1].fencing_token}`,
    );

    // Replaying an acknowledged request with its Idempotency-Key returns the original claim, creates nothing.
    const replay = await B.start(agent.key, bodyFor(2), { idempotencyKey: 'durable-2' });
    assert.equal(replay.status, started[2]?.status);
    assert.deepEqual(replay.body, started[2]?.body);
    assert.equal(replay.headers.get('idempotent-replayed'), 'true');
    const after = readClaims();
    assert.equal(after.size, N + 1, 'only the post-crash start added a row');
    assert.deepEqual(leaseViolations([...after.values()]), []);
  });

  it('a second process on the same data directory refuses to start, naming the other pid and DATABASE_URL', async () => {
    assert.ok(survivor, 'needs the server of the previous test');
    const second = await runServerCli([], { dataDir: dir, timeoutMs: 60_000 });
    assert.equal(second.timedOut, false, `the second process must exit, not serve; stderr:\n${second.stderr}`);
    assert.notEqual(second.code, 0);
    assert.match(second.stderr, new RegExp(`pid ${survivor.pid}\\b`));
    assert.match(second.stderr, /DATABASE_URL/);
    assert.equal(readFileSync(lockFile, 'utf8'), String(survivor.pid), 'the refused process left the lock alone');
    const health = await fetch(`${survivor.url}/health`);
    assert.equal(health.status, 200, 'the running server is unaffected');

    const exit = await survivor.stop();
    assert.equal(exit.code, 0, `SIGTERM drains and exits cleanly; stderr:\n${survivor.stderr()}`);
    assert.equal(existsSync(lockFile), false, 'a clean stop removes the pid file');
  });
});

describe('durability: PostgreSQL, one of two nodes killed with SIGKILL', { skip: !PG_ENABLED && 'PostgreSQL disabled' }, () => {
  let db: TestDatabase;
  let nodes: ServerProcess[] = [];

  before(async () => {
    db = await createTestDatabase();
    nodes = await Promise.all([startServerProcess({ databaseUrl: db.url }), startServerProcess({ databaseUrl: db.url })]);
  });
  after(async () => {
    await killAllServerProcesses();
    await db?.drop();
  });

  it('each node opened its whole pool before it listened, named in pg_stat_activity', async () => {
    // store.warm() at start-up: the first requests after a (re)start do not each wait for a new connection.
    const { rows } = await db.pool.query<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity where datname = $1 and application_name = 'availsync'`,
      [db.name],
    );
    assert.equal(rows[0]?.n, 2 * 10, 'two nodes × the default pool of 10');
  });

  it('the surviving node serves every acknowledged claim and fencing keeps increasing', async () => {
    const [victim, survivor] = nodes as [ServerProcess, ServerProcess];
    const A = apiClient(victim.url);
    const B = apiClient(survivor.url);
    const session = await A.signup();
    const agent = await B.createAgent(session, { name: 'crash-test' });
    const other = await A.createAgent(session, { name: 'after-crash' });

    const claims = [];
    for (let i = 0; i < 6; i++) {
      const s = await (i % 2 ? B : A).start(agent.key, { resource: `repo:acme/p${i}`, duration_minutes: 60 });
      assert.equal(s.body.action, 'proceed');
      claims.push(s.body.claim);
    }
    const extended = await A.extend(agent.key, claims[0].id, { duration_minutes: 90 });
    assert.equal(extended.body.action, 'extended');
    const finished = await A.finish(agent.key, claims[1].id);
    assert.equal(finished.body.action, 'finished');
    const acked = [extended.body.claim, finished.body.claim, ...claims.slice(2)];

    // Twenty starts in flight on the victim; it dies once the first few have been answered.
    const inFlight: Record<string, any>[] = [];
    let lost = 0;
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        A.start(agent.key, { resource: `repo:acme/q${i}`, duration_minutes: 60 }).then(
          (r) => {
            if (r.status === 200 && r.body.action === 'proceed') inFlight.push(r.body.claim);
            if (inFlight.length === 3) victim.child.kill('SIGKILL');
          },
          () => {
            lost += 1; // the connection died with the process: not acknowledged
          },
        ),
      ),
    );
    victim.child.kill('SIGKILL'); // in case it answered everything before the third answer was counted
    assert.equal((await victim.exited).signal, 'SIGKILL');
    assert.ok(inFlight.length >= 3, `at least three in-flight starts were acknowledged (${inFlight.length}, ${lost} lost)`);

    const health = await fetch(`${survivor.url}/health`);
    assert.equal(health.status, 200);

    const { rows } = await db.pool.query<ClaimRowRaw>('select * from claims where org_id = $1', [session.orgId]);
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const c of [...acked, ...inFlight]) assertRowMatches(byId.get(c.id), c, `claim ${c.id}`);
    assert.deepEqual(leaseViolations(rows), []);
    for (const c of [...acked, ...inFlight]) {
      const got = await B.getClaim(agent.key, c.id);
      assert.equal(got.status, 200);
      assert.equal(got.body.claim.status, c.status);
      assert.equal(got.body.claim.fencing_token, c.fencing_token);
    }

    // Acknowledged leases still block on the survivor; the finished resource gets a larger token.
    for (const c of [extended.body.claim, ...inFlight]) {
      const s = await B.start(other.key, { resource: c.resource });
      assert.equal(s.body.action, 'skip_run', `${c.resource} is still held by ${c.id}`);
      assert.equal(s.body.blocking_claim.id, c.id);
    }
    const next = await B.start(other.key, { resource: 'repo:acme/p1' });
    assert.equal(next.body.action, 'proceed');
    assert.ok(next.body.claim.fencing_token > claims[1].fencing_token);
    // Whatever the victim committed without answering, tokens stay unique and ordered on every resource.
    const { rows: final } = await db.pool.query<ClaimRowRaw>('select * from claims where org_id = $1', [session.orgId]);
    assert.deepEqual(leaseViolations(final), []);
  });
});

describe('durability: the SQLite clock high-water mark', () => {
  it('a clock stepping back never makes a lease younger, also across a restart of the store', async () => {
    const clock = new ManualClock(Date.parse('2026-03-01T12:00:00.000Z'));
    const made = makeStore('sqlite', clock);
    let t = await createTestServer('sqlite', { clock, store: made.store });
    try {
      const { session, key } = await t.workspace();
      const c1 = (await t.start(key, { resource: 'repo:acme/hwm-1', duration_minutes: 30 })).body.claim;
      const c1Start = Date.parse(c1.started_at);

      clock.advance(-10 * MIN); // the machine clock steps back
      const c2 = (await t.start(key, { resource: 'repo:acme/hwm-2', duration_minutes: 30 })).body.claim;
      assert.ok(Date.parse(c2.started_at) >= c1Start, `c2 started ${c2.started_at}, before c1 ${c1.started_at}`);
      const ext = await t.request('POST', '/v1/work/run/extend', { key, body: { claim_id: c1.id, duration_minutes: 30 } });
      assert.equal(ext.body.action, 'extended');
      assert.ok(
        Date.parse(ext.body.claim.expires_at) >= Date.parse(c1.expires_at),
        'an extend never shortens the lease below its start + duration',
      );
      const fin = await t.request('POST', '/v1/work/run/finish', { key, body: { claim_id: c2.id } });
      assert.ok(Date.parse(fin.body.claim.released_at) >= Date.parse(c2.started_at), 'released_at is never before started_at');

      // Restart on the same directory with a clock an hour further back.
      await t.close();
      const clock2 = new ManualClock(clock.now() - 60 * MIN);
      const reopened = makeStore('sqlite', clock2, { dir: made.dir });
      t = await createTestServer('sqlite', { clock: clock2, store: reopened.store });
      const c3 = (await t.start(key, { resource: 'repo:acme/hwm-3', duration_minutes: 30 })).body.claim;
      assert.ok(Date.parse(c3.started_at) >= c1Start, `after restart c3 started ${c3.started_at}, before c1 ${c1.started_at}`);
      // c1 is still live: the earlier clock did not make it look younger or older than acknowledged.
      const blocked = await t.start(key, { resource: 'repo:acme/hwm-1' });
      assert.equal(blocked.body.action, 'skip_run');
      assert.equal(blocked.body.blocking_claim.id, c1.id);

      const rows = await t.store.db.selectFrom('claims').selectAll().where('org_id', '=', session.orgId).execute();
      const maxStart = Math.max(...rows.map((r) => Number(r.started_at)));
      const hwm = await t.store.db.selectFrom('meta').select('value').where('key', '=', 'clock_hwm').executeTakeFirstOrThrow();
      assert.ok(Number(hwm.value) >= maxStart, 'the stored high-water mark covers every started_at');
      for (const r of rows) {
        if (r.released_at != null) assert.ok(Number(r.released_at) >= Number(r.started_at), `${r.id}: released before it started`);
      }
      assert.deepEqual(leaseViolations(rows), []);
    } finally {
      await t.close();
      await made.drop();
    }
  });
});

describe('durability: availsync-server migrate from three processes at once', { skip: !PG_ENABLED && 'PostgreSQL disabled' }, () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => {
    await killAllServerProcesses();
    await db?.drop();
  });

  it('all exit 0 and every migration is applied exactly once', async () => {
    const runs = await Promise.all([1, 2, 3].map(() => runServerCli(['migrate'], { databaseUrl: db.url, timeoutMs: 60_000 })));
    for (const r of runs) {
      assert.equal(r.timedOut, false);
      assert.equal(r.code, 0, `migrate failed:\n${r.stderr}`);
      assert.match(r.stdout, /migrations applied \(postgres\)/);
    }
    const expected = Object.keys(await migrationProvider.getMigrations()).sort();
    const { rows } = await db.pool.query<{ name: string; n: string }>(
      'select name, count(*) as n from kysely_migration group by name order by name',
    );
    assert.deepEqual(
      rows.map((r) => [r.name, Number(r.n)]),
      expected.map((name) => [name, 1]),
    );
    const tables = await db.pool.query(
      "select table_name from information_schema.tables where table_schema = 'public' and table_name in ('claims', 'resources', 'idempotency_keys')",
    );
    assert.equal(tables.rowCount, 3);
    const oneActive = await db.pool.query(
      "select indexname from pg_indexes where schemaname = 'public' and indexname = 'claims_one_active'",
    );
    assert.equal(oneActive.rowCount, 1);
  });

  it('succeeds when another schema of the database already holds Kysely migration tables', async () => {
    // Another application (or another Availsync schema) using Kysely in the same database. Availsync's
    // migration bookkeeping lives in its own schema and must not be confused by someone else's.
    const other = await createTestDatabase();
    try {
      await other.pool.query(`
        create schema other_app;
        create table other_app.kysely_migration (name varchar(255) primary key, timestamp varchar(255) not null);
        create table other_app.kysely_migration_lock (id varchar(255) primary key, is_locked integer not null default 0);
        insert into other_app.kysely_migration_lock values ('migration_lock', 0);`);
      const run = await runServerCli(['migrate'], { databaseUrl: other.url, timeoutMs: 60_000 });
      assert.equal(run.code, 0, `migrate failed:\n${run.stderr}`);
      const expected = Object.keys(await migrationProvider.getMigrations()).sort();
      const { rows } = await other.pool.query<{ name: string }>('select name from public.kysely_migration order by name');
      assert.deepEqual(
        rows.map((r) => r.name),
        expected,
      );
      const { rowCount } = await other.pool.query('select 1 from other_app.kysely_migration');
      assert.equal(rowCount, 0, "the other application's bookkeeping is untouched");
    } finally {
      await other.drop();
    }
  });
});
