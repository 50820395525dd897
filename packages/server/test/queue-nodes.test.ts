/**
 * The wait queue across two real server processes on one PostgreSQL: a waiter on node B is granted when
 * node A's holder finishes (the claim's end reaches B by NOTIFY); a waiter whose HTTP connection closes
 * leaves the queue at once; a start on node A does not jump B's waiter. Real clocks (each process its
 * own): nothing here waits for a lease or a deadline to pass.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PG_ENABLED, requestInit } from '@availsync/testkit';
import {
  apiClient,
  createTestDatabase,
  killAllServerProcesses,
  type ServerProcess,
  startServerProcess,
  type TestDatabase,
} from './procs.js';

type ApiClient = ReturnType<typeof apiClient>;

describe('wait queue across two nodes (postgres)', { skip: !PG_ENABLED }, () => {
  let db: TestDatabase;
  let nodes: ServerProcess[] = [];
  let clients: ApiClient[] = [];
  before(async () => {
    db = await createTestDatabase();
    nodes = await Promise.all([startServerProcess({ databaseUrl: db.url }), startServerProcess({ databaseUrl: db.url })]);
    clients = nodes.map((n) => apiClient(n.url));
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await killAllServerProcesses();
    await db?.drop();
  });

  const a = () => clients[0] as ApiClient;
  const b = () => clients[1] as ApiClient;
  async function queued(orgId: string, n: number) {
    for (let i = 0; i < 2000; i++) {
      const { rows } = await db.pool.query('select id from queue_waiters where org_id = $1', [orgId]);
      if (rows.length === n) return;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`never ${n} waiters`);
  }

  it("a waiter on node B is granted when node A's holder finishes; no jumping meanwhile", async () => {
    const session = await a().signup();
    const holder = await a().createAgent(session, { name: 'holder' });
    const waiter = await a().createAgent(session, { name: 'waiter' });
    const other = await a().createAgent(session, { name: 'other' });
    const held = await a().start(holder.key, { resource: 'repo:acme/nodes' });
    assert.equal(held.body.action, 'proceed');
    const pending = b().start(waiter.key, { resource: 'repo:acme/nodes', wait_seconds: 60 });
    await queued(session.orgId, 1);
    const jumper = await a().start(other.key, { resource: 'repo:acme/nodes' });
    assert.equal(jumper.body.action, 'skip_run');
    assert.equal(jumper.body.queue_length, 1);
    const done = await a().finish(holder.key, held.body.claim.id);
    assert.equal(done.body.action, 'finished');
    const granted = await pending;
    assert.equal(granted.body.action, 'proceed', JSON.stringify(granted.body));
    assert.equal(granted.body.claim.agent_id, waiter.id);
    assert.equal(typeof granted.body.waited_ms, 'number');
    await queued(session.orgId, 0);
  });

  it('a waiter whose HTTP connection closes leaves the queue at once', async () => {
    const session = await a().signup();
    const holder = await a().createAgent(session, { name: 'holder' });
    const waiter = await a().createAgent(session, { name: 'waiter' });
    await a().start(holder.key, { resource: 'repo:acme/close' });
    const closer = new AbortController();
    const init = requestInit('POST', { key: waiter.key, body: { resource: 'repo:acme/close', wait_seconds: 600 } });
    const gone = fetch(`${b().url}/v1/work/run/start`, { ...init, signal: closer.signal }).catch(() => 'closed');
    await queued(session.orgId, 1);
    closer.abort();
    assert.equal(await gone, 'closed');
    await queued(session.orgId, 0);
    const { rows } = await db.pool.query(`select data from events where org_id = $1 and type = 'queue.left'`, [session.orgId]);
    assert.deepEqual(
      rows.map((r: { data: string }) => JSON.parse(r.data).reason),
      ['closed'],
    );
  });
});
