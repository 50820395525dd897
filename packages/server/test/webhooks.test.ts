/**
 * Webhooks on both stores with the injected clock and real HTTP receivers: a create answers
 * the secret once and stores it sealed; deliveries are signed and in order per endpoint; a failure backs
 * off on the clock and the same event is tried again; three days of failures disable (audited); the Slack
 * format; SSRF refusal; bad input changes nothing; workspaces and agent keys cannot reach others' webhooks.
 * Events are appended here directly (the events helper's routes append them in production).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createTestServer, type Session, STORES, type TestServer } from '@availsync/testkit';
import { appendEvents } from '../src/storage/queries/events.js';
import { type Receiver, startReceiver, until, verifySignature } from './webhook-receiver.js';

const DAY = 24 * 3_600_000;
/** PostgreSQL has no data dir to keep a generated key in: the key is configured (SQLite generates its own). */
const keyConfig = (kind: string) => (kind === 'postgres' ? { secretsKey: randomBytes(32).toString('base64') } : {});

async function append(t: TestServer, orgId: string, events: { type: string; n: number }[]) {
  const store = t.store;
  await store.transaction(async (trx) => {
    await appendEvents(
      store,
      trx,
      events.map((e) => ({ org_id: orgId, type: e.type, created_at: t.clock.now(), data: { n: e.n, resource: 'repo:acme/app' } })),
    );
  });
}

async function countRows(t: TestServer, table: 'webhooks' | 'webhook_deliveries' | 'audit_events', orgId: string): Promise<number> {
  const row = await t.store.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('org_id', '=', orgId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

for (const kind of STORES) {
  describe(`webhooks (${kind})`, () => {
    let t: TestServer;
    let rx: Receiver;
    let A: Session;
    let nudge: NodeJS.Timeout | undefined;
    before(async () => {
      t = await createTestServer(kind, { config: { webhookAllowPrivate: true, ...keyConfig(kind) } });
      rx = await startReceiver();
      A = await t.signup();
      // PostgreSQL numbers events below the cluster's oldest running transaction: one of another suite
      // (any database) can hold a commit's numbering back past its notification, and the feed's fallback
      // poll runs on the ManualClock, which these tests move only for backoff. Stand in for that poll.
      nudge = setInterval(() => void t.services.events.wake(), 50);
    });
    after(async () => {
      clearInterval(nudge);
      await t.close();
      await rx.close();
    });

    const hooks = (s: Session) => `/v1/orgs/${s.orgId}/webhooks`;
    const create = (s: Session, body: Record<string, unknown>) => t.request('POST', hooks(s), { session: s, body });

    it('create answers the secret once; it is stored sealed and never listed; audited', async () => {
      const res = await create(A, { url: rx.url, events: ['*'], description: 'ci' });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.match(res.body.secret, /^whsec_[A-Za-z0-9_-]{20,}$/);
      assert.equal(res.body.webhook.enabled, true);
      const list = await t.request('GET', hooks(A), { session: A });
      assert.equal(list.status, 200);
      assert.ok(!JSON.stringify(list.body).includes(res.body.secret));
      const row = await t.store.db.selectFrom('webhooks').select('secret').where('id', '=', res.body.webhook.id).executeTakeFirstOrThrow();
      assert.ok(!row.secret.includes(res.body.secret.slice(6)), 'the secret is not stored in plain text');
      const audit = await t.store.db.selectFrom('audit_events').select('event').where('org_id', '=', A.orgId).execute();
      assert.ok(audit.some((a) => a.event === 'webhook.created'));
      if (t.store.dataDir !== undefined) {
        // The embedded store without AVAILSYNC_SECRETS_KEY: a key made once beside the database, owner-only.
        const key = join(t.store.dataDir, 'secrets.key');
        assert.equal(statSync(key).mode & 0o777, 0o600);
        assert.equal(Buffer.from(readFileSync(key, 'utf8').trim(), 'base64').length, 32);
      }
      await t.request('DELETE', `${hooks(A)}/${res.body.webhook.id}`, { session: A });
    });

    it('delivers signed events in order, only the subscribed types, each once', async () => {
      const s = await t.signup();
      const made = await create(s, { url: rx.url, events: ['claim.started', 'claim.finished'] });
      assert.equal(made.status, 201);
      const secret = made.body.secret as string;
      const start = rx.received.length;
      await append(t, s.orgId, [
        { type: 'claim.started', n: 1 },
        { type: 'hold.created', n: 2 },
        { type: 'claim.finished', n: 3 },
      ]);
      await append(t, s.orgId, [
        { type: 'claim.started', n: 4 },
        { type: 'claim.finished', n: 5 },
      ]);
      await rx.until(start + 4);
      await until(() => t.services.webhookWorker.idle, 'worker idle');
      const mine = rx.received.slice(start).filter((r) => r.json.workspace_id === s.orgId);
      assert.deepEqual(
        mine.map((r) => (r.json.data as { n: number }).n),
        [1, 3, 4, 5],
      );
      const ids = mine.map((r) => Number(r.json.id));
      assert.deepEqual(
        ids,
        [...ids].sort((a, b) => a - b),
      );
      for (const r of mine) {
        assert.equal(r.headers['content-type'], 'application/json');
        assert.equal(r.headers['availsync-event-id'], String(r.json.id));
        assert.match(String(r.headers['user-agent']), /^Availsync-Webhooks\//);
        const sig = String(r.headers['availsync-signature']);
        assert.match(sig, /^t=\d+,v1=[0-9a-f]{64}$/);
        assert.ok(verifySignature(secret, sig, r.body), 'signature valid');
        assert.ok(!verifySignature(`${secret}x`, sig, r.body));
        assert.equal(sig.split(',')[0], `t=${Math.floor(t.clock.now() / 1000)}`);
      }
      const log = await t.request('GET', `${hooks(s)}/${made.body.webhook.id}/deliveries`, { session: s });
      assert.equal(log.body.data.length, 4);
      assert.ok(log.body.data.every((d: { ok: boolean; status: number }) => d.ok && d.status === 200));
    });

    it('a failure backs off on the clock, retries the same event, then delivers the rest in order', async () => {
      const s = await t.signup();
      const made = await create(s, { url: rx.url, events: ['*'] });
      const id = made.body.webhook.id as string;
      rx.setStatus(500);
      const start = rx.received.length;
      await append(t, s.orgId, [
        { type: 'claim.started', n: 1 },
        { type: 'claim.finished', n: 2 },
      ]);
      await rx.until(start + 1);
      await until(
        async () => t.services.webhookWorker.idle && (await countRows(t, 'webhook_deliveries', s.orgId)) === 1,
        'first attempt logged',
      );
      // Nothing more until the clock moves: the retry sleeps on it.
      await t.services.webhookWorker.wake();
      await until(() => t.services.webhookWorker.idle, 'idle again');
      assert.equal(rx.received.length, start + 1);
      const row = await t.store.db.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      assert.equal(row.attempts, 1);
      assert.ok(Number(row.next_attempt_at) - t.clock.now() <= 1_000, 'the first retry is within 1 s');
      t.clock.advance(1_000);
      await rx.until(start + 2);
      await until(async () => (await countRows(t, 'webhook_deliveries', s.orgId)) === 2, 'second attempt logged');
      rx.setStatus(200);
      t.clock.advance(2_000);
      await rx.until(start + 4);
      await until(async () => (await countRows(t, 'webhook_deliveries', s.orgId)) === 4, 'all attempts logged');
      const mine = rx.received.slice(start);
      assert.deepEqual(
        mine.map((r) => (r.json.data as { n: number }).n),
        [1, 1, 1, 2],
      );
      const log = await t.request('GET', `${hooks(s)}/${id}/deliveries`, { session: s });
      assert.deepEqual(log.body.data.map((d: { attempt: number; status: number }) => [d.attempt, d.status]).reverse(), [
        [1, 500],
        [2, 500],
        [3, 200],
        [1, 200],
      ]);
    });

    it('an endpoint failing for 3 days is disabled, and that is audited', async () => {
      const s = await t.signup();
      const made = await create(s, { url: rx.url, events: ['*'] });
      const id = made.body.webhook.id as string;
      rx.setStatus(503);
      const start = rx.received.length;
      await append(t, s.orgId, [{ type: 'claim.started', n: 1 }]);
      await rx.until(start + 1);
      await until(async () => t.services.webhookWorker.idle && (await countRows(t, 'webhook_deliveries', s.orgId)) === 1, 'first failure');
      t.clock.advance(DAY);
      await rx.until(start + 2);
      await until(async () => (await countRows(t, 'webhook_deliveries', s.orgId)) === 2, 'a retry a day later');
      let got = await t.request('GET', hooks(s), { session: s });
      assert.equal(got.body.data[0].enabled, true, 'one day of failure does not disable');
      t.clock.advance(2 * DAY);
      await until(async () => {
        const r = await t.store.db.selectFrom('webhooks').select('enabled').where('id', '=', id).executeTakeFirstOrThrow();
        return r.enabled === 0;
      }, 'disabled');
      rx.setStatus(200);
      got = await t.request('GET', hooks(s), { session: s });
      assert.equal(got.body.data[0].enabled, false);
      assert.equal(got.body.data[0].disabled_reason, 'failing');
      const audit = await t.store.db
        .selectFrom('audit_events')
        .selectAll()
        .where('org_id', '=', s.orgId)
        .where('event', '=', 'webhook.disabled')
        .execute();
      assert.equal(audit.length, 1);
      assert.equal(audit[0]?.actor_type, 'system');
      // Enabled again, it delivers what it missed.
      const n = rx.received.length;
      const patched = await t.request('PATCH', `${hooks(s)}/${id}`, { session: s, body: { enabled: true } });
      assert.equal(patched.status, 200);
      await rx.until(n + 1);
    });

    it("docs/webhooks.md's signature check, as written, accepts a delivery and refuses a changed one", async () => {
      const s = await t.signup();
      const made = await create(s, { url: rx.url, events: ['claim.started'] });
      const start = rx.received.length;
      await append(t, s.orgId, [{ type: 'claim.started', n: 9 }]);
      await rx.until(start + 1);
      const r = rx.received[start];
      assert.ok(r);
      const doc = readFileSync(fileURLToPath(new URL('../../../docs/webhooks.md', import.meta.url)), 'utf8');
      const code = /```js\n([\s\S]*?)```/.exec(doc)?.[1];
      assert.ok(code, 'the doc has a js block');
      const dir = mkdtempSync(join(tmpdir(), 'availsync-doc-'));
      const file = join(dir, 'verify.mjs');
      writeFileSync(file, code);
      const { verifyAvailsync } = (await import(pathToFileURL(file).href)) as {
        verifyAvailsync: (secret: string, header: string, body: string, tol?: number, now?: number) => boolean;
      };
      rmSync(dir, { recursive: true, force: true });
      const header = String(r.headers['availsync-signature']);
      assert.equal(verifyAvailsync(made.body.secret, header, r.body, 300, t.clock.now()), true);
      assert.equal(verifyAvailsync(made.body.secret, header, `${r.body} `, 300, t.clock.now()), false);
      assert.equal(verifyAvailsync(made.body.secret, header, r.body, 300, t.clock.now() + 3_600_000), false, 'too old');
    });

    it('format "slack" sends {"text": …}, signed the same way', async () => {
      const s = await t.signup();
      const made = await create(s, { url: rx.url, events: ['claim.started'], format: 'slack' });
      const start = rx.received.length;
      await append(t, s.orgId, [{ type: 'claim.started', n: 7 }]);
      await rx.until(start + 1);
      const r = rx.received[start];
      assert.ok(r);
      assert.deepEqual(Object.keys(r.json), ['text']);
      assert.match(String(r.json.text), /claim\.started/);
      assert.match(String(r.json.text), /repo:acme\/app/);
      assert.ok(verifySignature(made.body.secret, String(r.headers['availsync-signature']), r.body));
    });

    it('"send test" delivers a webhook.test event now and logs it', async () => {
      const s = await t.signup();
      const made = await create(s, { url: rx.url, events: ['*'] });
      const start = rx.received.length;
      const res = await t.request('POST', `${hooks(s)}/${made.body.webhook.id}/test`, { session: s });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.delivery.ok, true);
      assert.equal(rx.received[start]?.json.type, 'webhook.test');
      assert.ok(
        verifySignature(made.body.secret, String(rx.received[start]?.headers['availsync-signature']), rx.received[start]?.body ?? ''),
      );
      const log = await t.request('GET', `${hooks(s)}/${made.body.webhook.id}/deliveries`, { session: s });
      assert.equal(log.body.data[0].event_type, 'webhook.test');
    });

    it('bad input is a structured 400 and creates nothing', async () => {
      const s = await t.signup();
      const bad = [
        { url: 'ftp://example.com/hook', events: ['*'] },
        { url: 'not a url', events: ['*'] },
        { url: rx.url, events: ['claim.exploded'] },
        { url: rx.url, events: [] },
        { url: rx.url, events: ['*', 'claim.started'] },
        { url: rx.url, events: ['*'], format: 'xml' },
        { url: rx.url, events: ['*'], secret: 'mine' },
      ];
      for (const body of bad) {
        const res = await create(s, body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(res.body.error, 'invalid_request');
        assert.match(res.body.request_id, /^req_/);
      }
      assert.equal(await countRows(t, 'webhooks', s.orgId), 0);
      const made = await create(s, { url: rx.url, events: ['*'] });
      const patch = await t.request('PATCH', `${hooks(s)}/${made.body.webhook.id}`, { session: s, body: { url: 'gopher://x' } });
      assert.equal(patch.status, 400);
      const list = await t.request('GET', hooks(s), { session: s });
      assert.equal(list.body.data[0].url, rx.url);
    });

    it("a workspace's webhooks are invisible to another; an agent key cannot manage them", async () => {
      const s = await t.signup();
      const B = await t.signup();
      const made = await create(s, { url: rx.url, events: ['*'] });
      const id = made.body.webhook.id as string;
      assert.equal((await t.request('GET', hooks(B), { session: B })).body.data.length, 0);
      for (const [method, path] of [
        ['PATCH', `${hooks(B)}/${id}`],
        ['DELETE', `${hooks(B)}/${id}`],
        ['GET', `${hooks(B)}/${id}/deliveries`],
        ['POST', `${hooks(B)}/${id}/test`],
      ] as const) {
        const res = await t.request(method, path, { session: B, ...(method === 'PATCH' ? { body: { enabled: false } } : {}) });
        assert.equal(res.status, 404, `${method} ${path}`);
      }
      const foreign = await t.request('GET', hooks(s), { session: B });
      assert.equal(foreign.status, 404);
      const agent = await t.createAgent(s, { name: 'hooker' });
      for (const res of [
        await t.request('GET', hooks(s), { key: agent.key }),
        await t.request('POST', hooks(s), { key: agent.key, body: { url: rx.url, events: ['*'] } }),
        await t.request('DELETE', `${hooks(s)}/${id}`, { key: agent.key }),
      ]) {
        assert.ok(res.status === 401 || res.status === 403, String(res.status));
      }
      const still = await t.request('GET', hooks(s), { session: s });
      assert.equal(still.body.data.length, 1);
      assert.equal(still.body.data[0].enabled, true);
    });
  });

  if (kind === 'postgres') {
    it('PostgreSQL without AVAILSYNC_SECRETS_KEY: creating a webhook says to set it, and creates nothing', async () => {
      const t = await createTestServer(kind, { config: { webhookAllowPrivate: true } });
      try {
        const s = await t.signup();
        const res = await t.request('POST', `/v1/orgs/${s.orgId}/webhooks`, {
          session: s,
          body: { url: 'http://127.0.0.1:9/x', events: ['*'] },
        });
        assert.equal(res.status, 503);
        assert.equal(res.body.details.reason, 'secrets_key_missing');
        assert.match(res.body.message, /AVAILSYNC_SECRETS_KEY/);
        assert.equal(await countRows(t, 'webhooks', s.orgId), 0);
      } finally {
        await t.close();
      }
    });
  }

  describe(`webhook SSRF protection (${kind})`, () => {
    let t: TestServer;
    let rx: Receiver;
    before(async () => {
      t = await createTestServer(kind, { config: keyConfig(kind) });
      rx = await startReceiver();
    });
    after(async () => {
      await t.close();
      await rx.close();
    });

    it('refuses loopback, private, link-local, unique-local, multicast and unspecified targets without AVAILSYNC_WEBHOOK_ALLOW_PRIVATE', async () => {
      const s = await t.signup();
      for (const url of [
        rx.url,
        'http://localhost:9/x',
        'http://10.1.2.3/x',
        'http://192.168.0.1/x',
        'http://169.254.169.254/latest/meta-data',
        'http://[::1]/x',
        'http://[fd00::1]/x',
        'http://[::ffff:127.0.0.1]/x',
        'http://224.0.0.1/x',
        'http://0.0.0.0/x',
      ]) {
        const res = await t.request('POST', `/v1/orgs/${s.orgId}/webhooks`, { session: s, body: { url, events: ['*'] } });
        assert.equal(res.status, 400, url);
        assert.equal(res.body.details?.reason, 'private_address', url);
      }
      assert.equal(rx.received.length, 0);
      assert.equal(await countRows(t, 'webhooks', s.orgId), 0);
    });
  });
}
