/**
 * At least once across a crash: a real server process is SIGKILLed while a delivery is in
 * flight (committed, sent, not yet acknowledged), more events commit while it is down, and a new process
 * on the same store delivers every one of them, in order, the interrupted one again. Both stores. Events
 * are inserted into the log directly, as a change's transaction would.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { STORES } from '@availsync/testkit';
import Database from 'better-sqlite3';
import { apiClient, createTestDatabase, killAllServerProcesses, type SpawnOptions, startServerProcess } from './procs.js';
import { startReceiver, verifySignature } from './webhook-receiver.js';

after(killAllServerProcesses);

const ENV = { AVAILSYNC_WEBHOOK_ALLOW_PRIVATE: '1', AVAILSYNC_SECRETS_KEY: randomBytes(32).toString('base64') };

for (const kind of STORES) {
  describe(`webhook deliveries survive kill -9 (${kind})`, () => {
    it('every event committed is delivered after a restart, in order, the interrupted one at least once', async () => {
      const rx = await startReceiver();
      const db = kind === 'postgres' ? await createTestDatabase() : undefined;
      const dir = kind === 'sqlite' ? mkdtempSync(join(tmpdir(), 'availsync-wh-')) : undefined;
      const where: SpawnOptions = db ? { databaseUrl: db.url, env: ENV } : { dataDir: dir as string, env: ENV };
      let ord = 0;
      const insert = async (orgId: string, n: number) => {
        const data = JSON.stringify({ n });
        if (db) {
          await db.pool.query('insert into events (ord, org_id, type, created_at, data) values ($1, $2, $3, $4, $5)', [
            ++ord,
            orgId,
            'claim.started',
            Date.now(),
            data,
          ]);
        } else {
          const lite = new Database(join(dir as string, 'availsync.db'));
          lite.pragma('busy_timeout = 5000');
          lite
            .prepare('insert into events (ord, org_id, type, created_at, data) values (?, ?, ?, ?, ?)')
            .run(++ord, orgId, 'claim.started', Date.now(), data);
          lite.close();
        }
      };
      try {
        let server = await startServerProcess(where);
        const api = apiClient(server.url);
        const s = await api.signup();
        const made = await api.request('POST', `/v1/orgs/${s.orgId}/webhooks`, { session: s, body: { url: rx.url, events: ['*'] } });
        assert.equal(made.status, 201, JSON.stringify(made.body));
        // The first delivery is held unanswered, and the server is killed while it waits for the answer.
        let held = true;
        rx.setHold(async () => {
          if (!held) return;
          held = false;
          await server.kill('SIGKILL');
        });
        for (const n of [1, 2, 3]) await insert(s.orgId, n);
        await rx.until(1);
        await server.exited;
        for (const n of [4, 5]) await insert(s.orgId, n);
        server = await startServerProcess(where);
        // The dead node's lease lapses (20 s), then the new one delivers from the first unacknowledged event.
        await rx.until(6);
        const ns = rx.received.map((r) => (r.json.data as { n: number }).n);
        assert.deepEqual(ns, [1, 1, 2, 3, 4, 5]);
        for (const r of rx.received) assert.ok(verifySignature(made.body.secret, String(r.headers['availsync-signature']), r.body));
        await server.stop();
      } finally {
        await killAllServerProcesses();
        await rx.close();
        await db?.drop();
        if (dir) rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
