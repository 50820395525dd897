/**
 * Fault injection for the wait queue on three PostgreSQL nodes. Each scenario checks the
 * queue's invariants: never two grants at once (no overlapping leases on a resource), and no lost wake-up
 * (every waiter is answered — granted or wait_timeout — before its wait_seconds plus a margin).
 * - node kill: a waiter's node is killed (-9); its row must not block the queue: a waiter on another node
 *   is granted once the dead row goes stale (QUEUE_STALE_MS), not after its whole wait;
 * - PostgreSQL restart while a waiter is queued: the holder's finish (retried through the 503s) still
 *   hands over, by the LISTEN reconnect's re-read or the poll;
 * - a paused node (SIGSTOP) with a queued waiter: the others are not blocked past the stale window; when it
 *   resumes, its waiter is answered within its wait and no two leases overlap.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { PG_ENABLED, type Res } from '@availsync/testkit';
import { QUEUE_STALE_MS } from '../../src/domain/queue.js';
import {
  type ApiClient,
  apiClient,
  createTestDatabase,
  killAllServerProcesses,
  type LeaseRow,
  leaseViolations,
  type ServerProcess,
  startServerProcess,
  type TestDatabase,
} from '../procs.js';

const MARGIN_MS = 5_000;

describe('wait queue under faults (postgres, three nodes)', { skip: !PG_ENABLED }, () => {
  let db: TestDatabase;
  let servers: ServerProcess[] = [];
  let apis: ApiClient[] = [];
  before(async () => {
    db = await createTestDatabase();
    servers = await Promise.all([0, 1, 2].map(() => startServerProcess({ databaseUrl: db.url })));
    apis = servers.map((s) => apiClient(s.url));
  });
  after(async () => {
    await killAllServerProcesses();
    await db?.drop();
  });

  const api = (i: number) => apis[i] as ApiClient;
  async function queued(orgId: string, n: number) {
    for (let i = 0; i < 4000; i++) {
      const { rows } = await db.pool.query('select id from queue_waiters where org_id = $1', [orgId]);
      if (rows.length === n) return;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`never ${n} waiters`);
  }
  async function noOverlap(orgId: string) {
    const { rows } = await db.pool.query('select * from claims where org_id = $1', [orgId]);
    assert.deepEqual(leaseViolations(rows as LeaseRow[]), []);
  }
  /** Answered within `ms` (a lost wake-up would hang until the request's own timeout). */
  async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    });
    try {
      return await Promise.race([p, late]);
    } finally {
      clearTimeout(timer);
    }
  }
  async function retry(call: () => Promise<Res>): Promise<Res> {
    for (let i = 0; ; i++) {
      const res = await call().catch(() => undefined);
      if (res && res.status < 500) return res;
      if (i > 200) throw new Error('never answered');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it("a killed node's waiter does not block the queue past the stale window", async () => {
    const session = await api(0).signup();
    const [holder, doomed, alive] = [
      await api(0).createAgent(session, { name: 'holder' }),
      await api(0).createAgent(session, { name: 'doomed' }),
      await api(0).createAgent(session, { name: 'alive' }),
    ];
    const held = await api(0).start(holder.key, { resource: 'repo:acme/kill' });
    void api(1)
      .start(doomed.key, { resource: 'repo:acme/kill', wait_seconds: 600 })
      .catch(() => undefined);
    await queued(session.orgId, 1);
    const pending = api(2).start(alive.key, { resource: 'repo:acme/kill', wait_seconds: 120 });
    await queued(session.orgId, 2);
    await servers[1]!.kill('SIGKILL');
    await api(0).finish(holder.key, held.body.claim.id);
    const got = await within(pending, QUEUE_STALE_MS + MARGIN_MS, 'the waiter behind a dead node');
    assert.equal(got.body.action, 'proceed', JSON.stringify(got.body));
    await noOverlap(session.orgId);
    servers[1] = await startServerProcess({ databaseUrl: db.url });
    apis[1] = apiClient(servers[1].url);
  });

  it('a PostgreSQL restart while a waiter is queued loses no wake-up', async (t) => {
    const version = existsSync('/etc/postgresql') ? readdirSync('/etc/postgresql')[0] : undefined;
    if (!version || process.env.AVAILSYNC_TEST_PG_RESTART === '0') {
      t.skip('PostgreSQL cannot be restarted here');
      return;
    }
    const session = await api(0).signup();
    const holder = await api(0).createAgent(session, { name: 'holder' });
    const waiter = await api(0).createAgent(session, { name: 'waiter' });
    const held = await api(0).start(holder.key, { resource: 'repo:acme/restart' });
    const pending = api(1).start(waiter.key, { resource: 'repo:acme/restart', wait_seconds: 60 });
    await queued(session.orgId, 1);
    await promisify(execFile)('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'restart', '-m', 'fast']);
    await retry(() => api(0).finish(holder.key, held.body.claim.id));
    const got = await within(pending, 60_000 + MARGIN_MS, 'the waiter across a restart');
    // Granted, or (if the restart broke its request) an error answer: never a hang.
    if (got.status === 200) assert.ok(['proceed', 'skip_run'].includes(got.body.action), JSON.stringify(got.body));
    await noOverlap(session.orgId);
  });

  it('a paused node does not block the others; resumed, its waiter is answered within its wait', async () => {
    const session = await api(0).signup();
    const holder = await api(0).createAgent(session, { name: 'holder' });
    const paused = await api(0).createAgent(session, { name: 'paused' });
    const other = await api(0).createAgent(session, { name: 'other' });
    const held = await api(0).start(holder.key, { resource: 'repo:acme/pause' });
    const sleeper = api(1).start(paused.key, { resource: 'repo:acme/pause', wait_seconds: 90 });
    await queued(session.orgId, 1);
    const pending = api(2).start(other.key, { resource: 'repo:acme/pause', wait_seconds: 90 });
    await queued(session.orgId, 2);
    servers[1]!.child.kill('SIGSTOP');
    try {
      await api(0).finish(holder.key, held.body.claim.id);
      const got = await within(pending, QUEUE_STALE_MS + MARGIN_MS, 'the waiter behind a paused node');
      assert.equal(got.body.action, 'proceed', JSON.stringify(got.body));
    } finally {
      servers[1]!.child.kill('SIGCONT');
    }
    const late = await within(sleeper, 90_000 + MARGIN_MS, 'the resumed waiter');
    assert.ok(['proceed', 'skip_run'].includes(late.body.action), JSON.stringify(late.body));
    await noOverlap(session.orgId);
  });
});
