/**
 * Fault scenarios for live events (issue 18), on two server processes sharing one PostgreSQL: clients
 * start and finish runs on both nodes while node A is killed with SIGKILL and restarted, and PostgreSQL is
 * restarted (when pg_ctlcluster is available). A subscriber keeps reconnecting, to whichever node is up,
 * with its Last-Event-ID. Checked at the end, from the database and from what the subscriber saw:
 *   1. every committed change has exactly one event (audit rows of changes ↔ events, one to one);
 *   2. the subscriber saw every event of the workspace once, in increasing id order (nothing lost across
 *      reconnects, kills and the restart; nothing repeated).
 * Run by the lead with the rest of the fault suite (it restarts PostgreSQL): never beside other suites.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { PG_ENABLED } from '@availsync/testkit';
import {
  apiClient,
  createTestDatabase,
  killAllServerProcesses,
  type ServerProcess,
  startServerProcess,
  type TestDatabase,
} from '../procs.js';
import { openSse, type SseClient } from '../sse-client.js';

const AUDITED: Record<string, string> = {
  'claim.started': 'claim.started',
  'claim.extended': 'claim.extended',
  'claim.finished': 'claim.finished',
  'claim.released': 'claim.released',
  'claim.expired': 'claim.expired',
  'claim.preempted': 'claim.preempted',
  'claim.skipped': 'run.skipped',
};
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('faults: live events under node kill and PostgreSQL restart', { skip: !PG_ENABLED && 'PostgreSQL not configured' }, () => {
  let db: TestDatabase;
  const nodes: ServerProcess[] = [];
  after(async () => {
    await killAllServerProcesses();
    await db?.drop();
  });

  it('exactly one event per committed change; a reconnecting subscriber sees each event once, in order', async () => {
    db = await createTestDatabase();
    nodes.push(await startServerProcess({ databaseUrl: db.url }), await startServerProcess({ databaseUrl: db.url }));
    const first = apiClient((nodes[0] as ServerProcess).url);
    const session = await first.signup();
    const keys = [(await first.createAgent(session, { name: 'w0' })).key, (await first.createAgent(session, { name: 'w1' })).key];
    const cookie = `availsync_session=${session.cookie}`;

    // The subscriber: one stream at a time, to whichever node answers, resumed from its last id.
    const seen: number[] = [];
    let running = true;
    let current: SseClient | undefined;
    const subscriber = (async () => {
      let n = 0;
      while (running) {
        const node = nodes[n++ % nodes.length] as ServerProcess;
        const last = seen.at(-1);
        try {
          current = await openSse(`${node.url}/v1/events`, { cookie, ...(last ? { 'last-event-id': String(last) } : {}) });
          if (current.status !== 200) throw new Error(String(current.status));
          let taken = 0;
          const take = () => {
            for (const e of (current as SseClient).events().slice(taken)) seen.push(e.id);
            taken = (current as SseClient).messages.length;
          };
          while (running) {
            const done = await Promise.race([current.ended.then(() => true), pause(100).then(() => false)]);
            take();
            if (done) break;
          }
          current.close();
        } catch {
          await pause(100);
        }
      }
    })();

    // The workload: starts and finishes on both nodes; errors while a node or the database is down are
    // retried by the next iteration (a change either committed with its event or did not happen).
    let working = true;
    const workload = (async () => {
      let i = 0;
      while (working) {
        const api = apiClient((nodes[i % nodes.length] as ServerProcess).url);
        const key = keys[i % keys.length] as string;
        i += 1;
        try {
          const res = await api.start(key, { resource: `repo:faults/r${i % 5}` });
          if (res.body?.action === 'proceed') await api.finish(key, res.body.claim.id);
        } catch {
          await pause(50);
        }
      }
    })();

    await pause(1_500);
    // Node A dies mid-stream and comes back on a new port.
    await (nodes[0] as ServerProcess).kill('SIGKILL');
    await pause(500);
    nodes[0] = await startServerProcess({ databaseUrl: db.url });
    await pause(1_500);
    const version = existsSync('/etc/postgresql') ? readdirSync('/etc/postgresql')[0] : undefined;
    if (version && process.env.AVAILSYNC_TEST_PG_RESTART !== '0') {
      await promisify(execFile)('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'stop', '-m', 'fast']);
      await pause(500);
      await promisify(execFile)('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start']);
      await pause(2_000);
    }
    working = false;
    await workload;

    // Everything committed is numbered (the nodes' feeds do it) and reaches the subscriber.
    const orgEvents = async () =>
      (
        await db.pool.query<{ seq: string | null; type: string; data: string }>(
          'select seq, type, data from events where org_id = $1 order by seq nulls last',
          [session.orgId],
        )
      ).rows;
    for (let tries = 0; ; tries++) {
      const rows = await orgEvents();
      const numbered = rows.filter((r) => r.seq !== null);
      if (numbered.length === rows.length && seen.length >= rows.length) break;
      assert.ok(tries < 300, `the subscriber caught up (saw ${seen.length} of ${rows.length})`);
      await pause(100);
    }
    running = false;
    current?.close();
    await subscriber;

    const rows = await orgEvents();
    assert.deepEqual(
      seen,
      rows.map((r) => Number(r.seq)),
      'every event once, in order',
    );
    const audit = (
      await db.pool.query<{ event: string; claim_id: string | null }>('select event, claim_id from audit_events where org_id = $1', [
        session.orgId,
      ])
    ).rows;
    const auditKeys = audit.filter((a) => a.event in AUDITED).map((a) => `${AUDITED[a.event]} ${a.claim_id}`);
    const eventKeys = rows.map((r) => {
      const data = JSON.parse(r.data) as { claim?: { id: string }; blocking_claim?: { id: string } };
      return `${r.type} ${(data.claim ?? data.blocking_claim)?.id}`;
    });
    assert.deepEqual([...eventKeys].sort(), [...auditKeys].sort(), 'exactly one event per committed change');
    assert.ok(rows.length > 20, `the workload made changes (${rows.length} events)`);
  });
});
