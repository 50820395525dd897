/**
 * Fault injection for webhooks (issue 18's third invariant), PostgreSQL with three real server nodes on
 * one database and one endpoint: events commit continuously while nodes are killed with SIGKILL and
 * restarted, and PostgreSQL itself is restarted (skipped without pg_ctlcluster). Checked at the receiver:
 * every committed event arrives at least once, with a valid signature; the first arrivals come in `seq`
 * order (per-endpoint order across nodes: the lease), and an event repeated is only ever one that a node
 * sent and died (or lost the database) before it was acknowledged.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { PG_ENABLED } from '@availsync/testkit';
import { apiClient, createTestDatabase, killAllServerProcesses, prng, type ServerProcess, startServerProcess } from '../procs.js';
import { startReceiver, verifySignature } from '../webhook-receiver.js';

after(killAllServerProcesses);

const ENV = { AVAILSYNC_WEBHOOK_ALLOW_PRIVATE: '1', AVAILSYNC_SECRETS_KEY: randomBytes(32).toString('base64') };
const EVENTS = 300;

describe('webhooks under node kills and a PostgreSQL restart (3 nodes)', { skip: !PG_ENABLED }, () => {
  it('every committed event is delivered at least once, signed, in order per endpoint', async () => {
    const db = await createTestDatabase();
    const rx = await startReceiver();
    const random = prng(18);
    try {
      const where = { databaseUrl: db.url, env: ENV };
      const nodes: ServerProcess[] = [];
      for (let i = 0; i < 3; i++) nodes.push(await startServerProcess(where));
      const api = apiClient((nodes[0] as ServerProcess).url);
      const s = await api.signup();
      const made = await api.request('POST', `/v1/orgs/${s.orgId}/webhooks`, { session: s, body: { url: rx.url, events: ['*'] } });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      const secret = made.body.secret as string;

      let committed = 0;
      const writer = (async () => {
        for (let n = 1; n <= EVENTS; n++) {
          for (;;) {
            try {
              await db.pool.query('insert into events (ord, org_id, type, created_at, data) values ($1, $2, $3, $4, $5)', [
                n,
                s.orgId,
                'claim.started',
                Date.now(),
                JSON.stringify({ n }),
              ]);
              committed = n;
              break;
            } catch {
              await new Promise((r) => setTimeout(r, 100)); // PostgreSQL is restarting
            }
          }
          await new Promise((r) => setTimeout(r, 5));
        }
      })();

      for (let round = 0; round < 3; round++) {
        await new Promise((r) => setTimeout(r, 300 + Math.floor(random() * 700)));
        const i = Math.floor(random() * nodes.length);
        await (nodes[i] as ServerProcess).kill('SIGKILL');
        nodes[i] = await startServerProcess(where);
      }
      const version = existsSync('/etc/postgresql') ? readdirSync('/etc/postgresql')[0] : undefined;
      if (version && process.env.AVAILSYNC_TEST_PG_RESTART !== '0') {
        await promisify(execFile)('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'restart', '-m', 'fast']);
      }
      await writer;
      assert.equal(committed, EVENTS);

      // Each distinct event arrives; a lapsed lease of a killed node can take up to 20 s to pass on.
      const distinct = () => new Set(rx.received.map((r) => (r.json.data as { n: number }).n)).size;
      const deadline = Date.now() + 120_000;
      while (distinct() < EVENTS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.equal(distinct(), EVENTS, 'every committed event was delivered');

      let highest = 0;
      const firstSeen: number[] = [];
      for (const r of rx.received) {
        assert.ok(verifySignature(secret, String(r.headers['availsync-signature']), r.body), 'signed');
        const id = Number(r.json.id);
        if (id > highest) {
          firstSeen.push(id);
          highest = id;
        }
      }
      assert.equal(firstSeen.length, EVENTS, 'no event first arrived after a later one: in order per endpoint');
      for (const n of nodes) await n.stop();
    } finally {
      await killAllServerProcesses();
      await rx.close();
      await db.drop();
    }
  });
});
