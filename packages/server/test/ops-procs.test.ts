/**
 * Operations as an operator runs them, against real server processes on the embedded store:
 * the start line, `migrate` beside a running server, an online `backup` restored into a fresh data dir,
 * and `export audit` of 200k rows in flat memory. PostgreSQL: `backup` points to pg_dump.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PG_ENABLED, PG_URL } from '@availsync/testkit';
import SqliteDatabase from 'better-sqlite3';
import { sql } from 'kysely';
import { ManualClock } from '../src/clock.js';
import { createSqliteStore } from '../src/storage/store.js';
import { apiClient, createTestDatabase, killAllServerProcesses, runServerCli, startServerProcess } from './procs.js';

const MAX_RSS = fileURLToPath(new URL('./fixtures/max-rss.cjs', import.meta.url));
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'availsync-ops-'));
  dirs.push(d);
  return d;
};
after(async () => {
  await killAllServerProcesses();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const HOUR = 3_600_000;
type Row = Record<string, unknown> & { id: string };

/** Every row of the tables a backup must keep, read beside the running server (a second, read-only connection). */
function rowsOf(file: string): Record<'claims' | 'holds' | 'audit_events', Map<string, Row>> {
  const db = new SqliteDatabase(file, { readonly: true, fileMustExist: true });
  try {
    const read = (table: string) => new Map((db.prepare(`select * from ${table} order by id`).all() as Row[]).map((r) => [r.id, r]));
    return { claims: read('claims'), holds: read('holds'), audit_events: read('audit_events') };
  } finally {
    db.close();
  }
}

describe('availsync-server operations [sqlite processes]', () => {
  it('ends its start-up with one plain line naming the dashboard URL; migrate beside it says who holds the data dir', async () => {
    const dir = tempDir();
    const server = await startServerProcess({ dataDir: dir });
    for (let i = 0; i < 200 && !server.stdout().includes('\n'); i++) await new Promise((r) => setTimeout(r, 25));
    const lines = server.stdout().split('\n').filter(Boolean);
    assert.equal(lines.length, 1, server.stdout());
    assert.match(lines[0] as string, new RegExp(`^Availsync \\S+: (dashboard and )?API at http://127\\.0\\.0\\.1:${server.port}/ `));
    // The logs stay JSON, on stderr.
    for (const line of server.stderr().split('\n').filter(Boolean)) JSON.parse(line);

    const migrate = await runServerCli(['migrate'], { dataDir: dir });
    assert.equal(migrate.code, 1);
    assert.match(migrate.stderr, new RegExp(`another availsync-server \\(pid ${server.pid}\\) holds the data directory ${dir}`));
    assert.doesNotMatch(migrate.stderr, /failed to start/);
    assert.equal((await fetch(`${server.url}/health/ready`)).status, 200, 'the server is unharmed');
    await server.stop();
  });

  it('backs up online while the server writes; the restored copy serves every claim, hold and audit row', async () => {
    const dir = tempDir();
    const server = await startServerProcess({ dataDir: dir });
    const api = apiClient(server.url);
    const session = await api.signup();
    const { key } = await api.createAgent(session, { name: 'backup-agent' });
    const claimIds: string[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await api.start(key, { resource: `repo:acme/backup-${i}` });
      assert.equal(res.body.action, 'proceed');
      claimIds.push(res.body.claim.id);
      if (i % 3 === 0) assert.equal((await api.finish(key, res.body.claim.id)).status, 200);
    }
    const base = Date.now() + 24 * HOUR;
    const holdIds: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await api.request('POST', '/v1/holds', {
        key,
        body: {
          resource: `release:backup-${i}`,
          start_at: new Date(base + i * HOUR).toISOString(),
          end_at: new Date(base + (i + 1) * HOUR).toISOString(),
        },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      holdIds.push(res.body.hold.id);
    }
    const file = join(dir, 'availsync.db');
    const seeded = rowsOf(file);
    assert.equal(seeded.claims.size, 12);
    assert.equal(seeded.holds.size, 5);
    assert.ok(seeded.audit_events.size >= 12 + 4 + 5);

    // The server keeps writing (starts and finishes, each with its audit rows) for the whole backup.
    let writing = true;
    let written = 0;
    const writer = (async () => {
      for (let n = 0; writing; n++) {
        const res = await api.start(key, { resource: `repo:acme/busy-${n}` });
        if (res.body.claim) await api.finish(key, res.body.claim.id);
        written++;
      }
    })();
    const target = join(tempDir(), 'availsync-backup.db');
    const backup = await runServerCli(['backup', target], { dataDir: dir });
    writing = false;
    await writer;
    assert.equal(backup.code, 0, backup.stderr);
    assert.match(backup.stdout, /backup of .* written to /);
    assert.ok(written > 0);
    await server.stop();

    // The copy is one committed state: every claim in it has its claim.started row, and nothing is torn.
    const copy = new SqliteDatabase(target, { readonly: true });
    try {
      assert.equal(copy.pragma('integrity_check', { simple: true }), 'ok');
      assert.equal(copy.pragma('journal_mode', { simple: true }), 'delete', 'a self-contained file');
      const orphans = copy
        .prepare(
          "select count(*) as n from claims c where not exists (select 1 from audit_events a where a.claim_id = c.id and a.event = 'claim.started')",
        )
        .get() as { n: number };
      assert.equal(orphans.n, 0);
    } finally {
      copy.close();
    }

    const restoredDir = tempDir();
    copyFileSync(target, join(restoredDir, 'availsync.db'));
    const restored = await startServerProcess({ dataDir: restoredDir });
    try {
      assert.equal((await fetch(`${restored.url}/health/ready`)).status, 200);
      const after = rowsOf(join(restoredDir, 'availsync.db'));
      for (const table of ['claims', 'holds', 'audit_events'] as const) {
        for (const [id, row] of seeded[table]) assert.deepEqual(after[table].get(id), row, `${table} ${id}`);
      }
      // And through the API, with the same session and key (their rows came along).
      const r = apiClient(restored.url);
      for (const id of claimIds) {
        const res = await r.getClaim(key, id);
        assert.equal(res.status, 200);
        assert.equal(res.body.claim.id, id);
      }
      for (const id of holdIds) assert.equal((await r.request('GET', `/v1/holds/${id}`, { key })).status, 200);
      for (const id of claimIds) {
        const audit = await r.request('GET', `/v1/audit?claim_id=${id}&limit=100`, { session });
        assert.equal(audit.status, 200);
        const expected = [...seeded.audit_events.values()].filter((e) => e.claim_id === id).map((e) => e.id);
        assert.deepEqual(audit.body.data.map((e: { id: string }) => e.id).sort(), expected.sort());
      }
    } finally {
      await restored.stop();
    }
  });

  it('backup: bad usage exits 2', async () => {
    const none = await runServerCli(['backup'], { dataDir: tempDir() });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /Usage: availsync-server backup <file>/);
  });

  it('export audit: 200k rows stream in flat memory (peak RSS against a 100-row export); bad arguments exit 2', async () => {
    const dir = tempDir();
    const store = createSqliteStore({ dataDir: dir, clock: new ManualClock(Date.now()) });
    await store.migrate();
    const details = JSON.stringify({ note: 'x'.repeat(600) });
    // One statement: 200,000 rows, the first 100 in a small workspace.
    await sql`
      with recursive n(i) as (select 1 union all select i + 1 from n where i < 200000)
      insert into audit_events (id, org_id, actor_type, actor_id, event, resource, claim_id, details, created_at)
      select printf('aud_%012d', i), case when i <= 100 then 'org_small' else 'org_big' end, 'agent', 'agt_1',
             'claim.started', 'repo:acme/app', null, ${details}, 1700000000000 + i from n`.execute(store.db);
    await store.close();

    const run = async (args: string[]) => {
      const res = await runServerCli(['export', 'audit', ...args], {
        dataDir: dir,
        env: { NODE_OPTIONS: `--require ${MAX_RSS}` },
        timeoutMs: 120_000,
      });
      assert.equal(res.code, 0, res.stderr);
      const rss = Number(/max_rss_kib=(\d+)/.exec(res.stderr)?.[1]);
      assert.ok(rss > 0, res.stderr);
      return { ...res, rss };
    };
    const small = await run(['--format', 'ndjson', '--org', 'org_small']);
    assert.match(small.stderr, /exported 100 audit events \(ndjson\)/);
    const big = await run(['--format', 'ndjson']);
    assert.match(big.stderr, /exported 200000 audit events \(ndjson\)/);
    assert.ok(big.stdout.trimEnd().endsWith('}'));
    assert.equal(JSON.parse(big.stdout.trimEnd().split('\n').at(-1) as string).id, 'aud_000000200000');
    // About 140 MB of output: held in memory, it would raise the peak by more than half (measured here: 1.16 streamed, 3.2 with the output buffered).
    assert.ok(big.rss / small.rss < 1.4, `peak RSS ${big.rss} KiB for 200k rows against ${small.rss} KiB for 100`);
    // Each bad argument is tested in process (ops.test.ts); here, what the command does with one.
    const bad = await runServerCli(['export', 'audit', '--format', 'xml'], { dataDir: dir });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Usage: availsync-server export audit --format ndjson\|csv/);
    assert.equal(bad.stdout, '');
  });
});

describe('availsync-server backup [postgres]', { skip: !PG_ENABLED }, () => {
  it('says to use pg_dump and exits non-zero, without echoing the database URL', async () => {
    const res = await runServerCli(['backup', join(tempDir(), 'x.db')], { databaseUrl: PG_URL });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /pg_dump/);
    assert.equal(res.stderr.includes(PG_URL), false);
  });

  it('a search_path naming a missing schema: the server says it is not ready, and /health/ready answers 503', async () => {
    const db = await createTestDatabase();
    try {
      assert.equal((await runServerCli(['migrate'], { databaseUrl: db.url })).code, 0);
      const url = `${db.url}?options=${encodeURIComponent('-c search_path=missing')}`;
      const server = await startServerProcess({ databaseUrl: url });
      try {
        assert.equal((await fetch(`${server.url}/health`)).status, 200);
        const ready = await fetch(`${server.url}/health/ready`);
        assert.equal(ready.status, 503);
        const body = (await ready.json()) as { checks: { name: string; ok: boolean }[] };
        assert.equal(body.checks.find((c) => c.name === 'schema')?.ok, false);
        // Logged once the check after listening has run.
        for (let i = 0; i < 200 && !server.stderr().includes('not ready'); i++) await new Promise((r) => setTimeout(r, 25));
        const warning = server
          .stderr()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l))
          .find((l) => l.level === 'warn' && /not ready/.test(l.msg));
        assert.ok(warning, server.stderr());
        assert.ok(warning.checks.some((c: { name: string }) => c.name === 'schema'));
      } finally {
        await server.stop();
      }
    } finally {
      await db.drop();
    }
  });
});
