/**
 * Behind PgBouncer in transaction mode, as the README's configuration table says it runs
 * (`AVAILSYNC_PG_PREPARED_STATEMENTS=off`). A real PgBouncer process in front of the test PostgreSQL, a real
 * server process behind it, and concurrent claims through both.
 *
 * PgBouncer: Debian's `pgbouncer` (`apt-get install -y pgbouncer`; .ci/run installs it), or AVAILSYNC_PGBOUNCER.
 * Missing on a developer machine, the suite is skipped with a loud message; in CI (CI=true) it fails.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PG_ENABLED, PG_URL } from '@availsync/testkit';
import {
  type ApiClient,
  apiClient,
  createTestDatabase,
  freePort,
  killAllServerProcesses,
  type LeaseRow,
  leaseViolations,
  startServerProcess,
  type TestDatabase,
} from './procs.js';

const PGBOUNCER = process.env.AVAILSYNC_PGBOUNCER ?? '/usr/sbin/pgbouncer';
const HAVE_PGBOUNCER = existsSync(PGBOUNCER);
if (PG_ENABLED && !HAVE_PGBOUNCER) {
  const msg = `*** ${PGBOUNCER} not found: the PgBouncer suite is SKIPPED. Install it with: apt-get install -y pgbouncer ***`;
  if (process.env.CI) throw new Error(msg.replace('is SKIPPED', 'is required in CI'));
  console.warn(`\n${msg}\n`);
}

/** PgBouncer in transaction mode on a free port, in front of the test PostgreSQL. */
async function startPgBouncer(): Promise<{ port: number; stop(): Promise<void>; log(): string }> {
  const dir = mkdtempSync(join(tmpdir(), 'availsync-pgbouncer-'));
  chmodSync(dir, 0o755);
  const port = await freePort();
  const pg = new URL(PG_URL);
  writeFileSync(join(dir, 'users.txt'), `"${decodeURIComponent(pg.username)}" ""\n`);
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${pg.hostname} port=${pg.port || 5432}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'users.txt')}`,
      'pool_mode = transaction',
      'default_pool_size = 8',
      'max_client_conn = 200',
      '',
    ].join('\n'),
  );
  for (const f of ['users.txt', 'pgbouncer.ini']) chmodSync(join(dir, f), 0o644);
  // PgBouncer refuses to run as root: it takes another identity when started as root.
  const asRoot = process.getuid?.() === 0;
  const child: ChildProcess = spawn(PGBOUNCER, [...(asRoot ? ['-u', 'postgres'] : []), join(dir, 'pgbouncer.ini')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout?.on('data', (c: Buffer) => {
    log += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    log += c.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (up) break;
    if (child.exitCode !== null || i > 100) throw new Error(`pgbouncer did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    log: () => log,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('behind PgBouncer (transaction mode)', { skip: !PG_ENABLED || !HAVE_PGBOUNCER }, () => {
  let db: TestDatabase;
  let bouncer: Awaited<ReturnType<typeof startPgBouncer>>;
  let api: ApiClient;
  before(async () => {
    db = await createTestDatabase();
    bouncer = await startPgBouncer();
    const url = new URL(db.url);
    url.port = String(bouncer.port);
    // Migrations, the pool's warm-up and every request go through PgBouncer.
    const server = await startServerProcess({
      databaseUrl: url.toString(),
      env: { AVAILSYNC_PG_PREPARED_STATEMENTS: 'off' },
    });
    api = apiClient(server.url);
  });
  after(async () => {
    await killAllServerProcesses();
    await bouncer?.stop();
    await db?.drop();
  });

  it('starts (no startup parameter PgBouncer refuses), and concurrent claims keep mutual exclusion and fencing', async () => {
    const session = await api.signup();
    const agents = await Promise.all(Array.from({ length: 4 }, (_, i) => api.createAgent(session, { name: `bounced-${i}` })));
    // 16 clients: each claims and finishes resources of its own, and all of them race for one hot resource.
    const results = await Promise.all(
      Array.from({ length: 16 }, async (_, c) => {
        const key = agents[c % agents.length]?.key as string;
        const statuses: number[] = [];
        let hot = 0;
        for (let i = 0; i < 8; i++) {
          const started = await api.start(key, { resource: `repo:bounced/c${c}-${i}` }, { idempotencyKey: `c${c}-${i}` });
          statuses.push(started.status);
          if (started.body?.action === 'proceed') statuses.push((await api.finish(key, started.body.claim.id)).status);
          const race = await api.start(key, { resource: 'repo:bounced/hot', duration_minutes: 60 });
          statuses.push(race.status);
          if (race.body?.action === 'proceed') hot += 1;
        }
        return { statuses, hot };
      }),
    );
    assert.deepEqual([...new Set(results.flatMap((r) => r.statuses))], [200], bouncer.log());
    assert.equal(
      results.reduce((n, r) => n + r.hot, 0),
      1,
      'one grant of the hot resource, held for an hour',
    );
    const { rows } = await db.pool.query<LeaseRow>('select * from claims');
    assert.equal(rows.length, 16 * 8 + 1);
    assert.deepEqual(leaseViolations(rows), []);
  });

  it('the wait queue hands over behind PgBouncer (LISTEN may hear nothing there: the poll wakes the head)', async () => {
    const session = await api.signup();
    const holder = await api.createAgent(session, { name: 'bounced-holder' });
    const waiter = await api.createAgent(session, { name: 'bounced-waiter' });
    const held = await api.start(holder.key, { resource: 'repo:bounced/queue' });
    assert.equal(held.body.action, 'proceed');
    const pending = api.start(waiter.key, { resource: 'repo:bounced/queue', wait_seconds: 60 });
    for (let i = 0; i < 2000; i++) {
      const { rows } = await db.pool.query('select id from queue_waiters where org_id = $1', [session.orgId]);
      if (rows.length === 1) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal((await api.finish(holder.key, held.body.claim.id)).status, 200);
    const got = await pending;
    assert.equal(got.body.action, 'proceed', JSON.stringify(got.body));
    assert.equal(got.body.claim.agent_id, waiter.id);
  });
});
