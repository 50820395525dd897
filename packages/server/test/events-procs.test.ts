/**
 * Live events across nodes: two real server processes on one PostgreSQL. An event committed on one node
 * reaches a subscriber on the other (LISTEN/NOTIFY, the feed's poll as a fallback), and a subscriber that
 * moves to the other node with its Last-Event-ID sees every later event once, in order.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PG_ENABLED } from '@availsync/testkit';
import {
  apiClient,
  createTestDatabase,
  killAllServerProcesses,
  type ServerProcess,
  startServerProcess,
  type TestDatabase,
} from './procs.js';
import { openSse } from './sse-client.js';

describe('live events across two server processes on one PostgreSQL', { skip: !PG_ENABLED && 'PostgreSQL not configured' }, () => {
  let db: TestDatabase;
  let nodeA: ServerProcess;
  let nodeB: ServerProcess;
  before(async () => {
    db = await createTestDatabase();
    nodeA = await startServerProcess({ databaseUrl: db.url });
    nodeB = await startServerProcess({ databaseUrl: db.url });
  });
  after(async () => {
    await nodeA?.stop();
    await nodeB?.stop();
    await killAllServerProcesses();
    await db?.drop();
  });

  it('an event committed on A reaches a subscriber on B; resuming on A with Last-Event-ID loses and repeats nothing', async () => {
    const a = apiClient(nodeA.url);
    const session = await a.signup();
    const agent = await a.createAgent(session, { name: 'cross' });
    const cookie = { cookie: `availsync_session=${session.cookie}` };
    const onB = await openSse(`${nodeB.url}/v1/events`, cookie);
    assert.equal(onB.status, 200);
    await onB.until(1, 'comments');
    for (let i = 0; i < 3; i++) assert.equal((await a.start(agent.key, { resource: `repo:x/r${i}` })).body.action, 'proceed');
    await onB.until(3);
    const seen = onB.events();
    assert.deepEqual(
      seen.map((e) => e.data.resource),
      ['repo:x/r0', 'repo:x/r1', 'repo:x/r2'],
    );
    onB.close();
    // Committed on B while the subscriber moves to A.
    const b = apiClient(nodeB.url);
    for (let i = 3; i < 6; i++) await b.start(agent.key, { resource: `repo:x/r${i}` });
    const last = seen[1]?.id as number;
    const onA = await openSse(`${nodeA.url}/v1/events`, { ...cookie, 'last-event-id': String(last) });
    await onA.until(4);
    assert.deepEqual(
      onA.events().map((e) => e.data.resource),
      ['repo:x/r2', 'repo:x/r3', 'repo:x/r4', 'repo:x/r5'],
    );
    onA.close();
  });
});
