/**
 * Issue 16 on every store: sign-up and sign-in throttling by client address (behind a trusted
 * proxy too, IPv6 by /64) with its audit trail, quota exemptions for finish/release/heartbeats, the
 * headers every /v1 answer carries, the __Host- cookie over https, and keys redacted from 404s and logs.
 * Address tests go over a real HTTP server on port 0 (X-Forwarded-For is only honoured with
 * AVAILSYNC_TRUST_PROXY); time moves only through the manual clock.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { createTestServer, MIN, readResponse, STORES, type TestServer, uniqueEmail } from '@availsync/testkit';
import { ConfigError, type HttpLimits, loadConfig } from '../src/config.js';
import { limitKeyOf } from '../src/domain/addresses.js';
import { periodOf } from '../src/domain/plans.js';
import { decideAttempt } from '../src/domain/throttle.js';
import { createApp } from '../src/http/app.js';
import { clientAddress, parseTrustProxy } from '../src/http/client-address.js';
import { HSTS } from '../src/http/middleware/headers.js';
import { serveHttp } from '../src/http/node-server.js';
import { createLogger } from '../src/logger.js';
import { LOGIN_PER_ADDRESS_EMAIL } from '../src/services/accounts.js';

const PASSWORD = 'correct horse battery';

describe('client addresses and trusted proxies (pure)', () => {
  it('without AVAILSYNC_TRUST_PROXY the socket peer is the client, whatever X-Forwarded-For says', () => {
    const none = parseTrustProxy(undefined);
    assert.equal(clientAddress('203.0.113.9', '1.1.1.1', none), '203.0.113.9');
    assert.equal(clientAddress('::ffff:203.0.113.9', undefined, none), '203.0.113.9', 'IPv4-mapped IPv6 is the IPv4 address');
    assert.equal(clientAddress(undefined, '1.1.1.1', none), 'unknown');
    assert.deepEqual(parseTrustProxy(''), none);
  });

  it('a hop count trusts that many proxies from the right; a list trusts those addresses and CIDRs', () => {
    const one = parseTrustProxy('1');
    assert.equal(clientAddress('10.0.0.5', '198.51.100.1, 192.0.2.44', one), '192.0.2.44', 'the spoofed left entry is ignored');
    assert.equal(clientAddress('10.0.0.5', undefined, one), '10.0.0.5');
    const two = parseTrustProxy('2');
    assert.equal(clientAddress('10.0.0.5', '198.51.100.1, 192.0.2.44, 10.0.0.9', two), '192.0.2.44');
    const list = parseTrustProxy('10.0.0.0/8, ::1');
    assert.equal(clientAddress('10.1.2.3', '192.0.2.44, 10.0.0.9', list), '192.0.2.44', 'past every trusted hop');
    assert.equal(clientAddress('::1', '[2001:db8::7]:4711', list), '2001:db8::7');
    assert.equal(clientAddress('192.0.2.200', '1.1.1.1', list), '192.0.2.200', 'an untrusted peer is the client');
    assert.equal(clientAddress('10.1.2.3', 'not-an-ip', list), '10.1.2.3', 'a malformed entry stops the walk');
    assert.equal(clientAddress('::ffff:10.1.2.3', '192.0.2.44', list), '192.0.2.44', 'IPv4 proxies on a dual-stack socket');
    assert.throws(() => parseTrustProxy('10.0.0.0/99'), /prefix/);
    assert.throws(() => parseTrustProxy('proxy.example.com'), /not an address/);
  });

  it('configuration: the default limits, AVAILSYNC_TRUST_PROXY parsed at start-up, a bad value refused', () => {
    const c = loadConfig({});
    assert.deepEqual(c.http, {
      headersTimeoutMs: 20_000,
      requestTimeoutMs: 60_000,
      bodyIdleTimeoutMs: 30_000,
      maxConnectionsPerAddress: 256,
    });
    assert.equal(c.signupsPerHour, 20);
    assert.deepEqual(c.trustProxy, { kind: 'none' });
    assert.deepEqual(loadConfig({ AVAILSYNC_TRUST_PROXY: '2' }).trustProxy, { kind: 'hops', hops: 2 });
    assert.equal(loadConfig({ AVAILSYNC_TRUST_PROXY: '10.0.0.0/8,::1' }).trustProxy?.kind, 'list');
    assert.throws(
      () => loadConfig({ AVAILSYNC_TRUST_PROXY: 'my-proxy' }),
      (e) => e instanceof ConfigError && /AVAILSYNC_TRUST_PROXY/.test(e.message),
    );
    assert.throws(() => loadConfig({ AVAILSYNC_MAX_CONNECTIONS_PER_ADDRESS: '0' }), ConfigError);
  });

  it('IPv6 addresses are limited by their /64, IPv4 addresses one by one', () => {
    assert.equal(limitKeyOf('2001:db8:1:2::1'), '2001:db8:1:2::/64');
    assert.equal(limitKeyOf('2001:0db8:0001:0002:ffff:ffff:ffff:fffe'), '2001:db8:1:2::/64');
    assert.equal(limitKeyOf('2001:db8:1:3::1'), '2001:db8:1:3::/64');
    assert.equal(limitKeyOf('::1'), '0:0:0:0::/64');
    assert.equal(limitKeyOf('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(limitKeyOf('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(limitKeyOf('192.0.2.1'), '192.0.2.1');
  });

  it('the slow-down decider: free tries, doubling waits, never past the window, refusals change nothing', () => {
    const p = LOGIN_PER_ADDRESS_EMAIL;
    let state = { window_start: 0, count: 0 };
    for (let i = 1; i <= p.free; i++) {
      const d = decideAttempt(state, p, 0);
      assert.ok(d.ok);
      state = d.next;
    }
    assert.deepEqual(decideAttempt(state, p, 0), { ok: false, retryAfterS: 30 });
    assert.deepEqual(decideAttempt({ window_start: 0, count: 7 }, p, 0), { ok: false, retryAfterS: 120 });
    assert.deepEqual(decideAttempt({ window_start: 0, count: 40 }, p, 1000), { ok: false, retryAfterS: 899 }, 'capped at the window');
    assert.deepEqual(decideAttempt({ window_start: 0, count: 40 }, p, p.windowMs), {
      ok: true,
      next: { window_start: p.windowMs, count: 1 },
    });
  });
});

/** A real HTTP server over the test server's app; `call` sends one request from `from` (X-Forwarded-For). */
async function overHttp(t: TestServer) {
  const server = await serveHttp(t.app.fetch, 0, '127.0.0.1');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const call = async (path: string, body: unknown, from?: string) =>
    readResponse(
      await fetch(base + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(from ? { 'x-forwarded-for': from } : {}) },
        body: JSON.stringify(body),
      }),
    );
  return {
    server,
    login: (email: string, password: string, from?: string) => call('/v1/auth/login', { email, password }, from),
    signup: (email: string, from?: string) => call('/v1/auth/signup', { email, password: PASSWORD, workspace_name: 'W' }, from),
    close: () => closeServer(server),
  };
}

function closeServer(server: Server) {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

for (const kind of STORES) {
  describe(`sign-up and sign-in throttling behind a trusted proxy (${kind})`, () => {
    let t: TestServer;
    let h: Awaited<ReturnType<typeof overHttp>>;
    before(async () => {
      t = await createTestServer(kind, { config: { trustProxy: parseTrustProxy('1'), signupsPerHour: 3 } });
      h = await overHttp(t);
    });
    after(async () => {
      await h.close();
      await t.close();
    });
    const audit = (orgId: string, event: string) =>
      t.store.db.selectFrom('audit_events').selectAll().where('org_id', '=', orgId).where('event', '=', event).execute();

    it("someone else's failures never refuse the right password from a new address", async () => {
      const victim = uniqueEmail('victim');
      assert.equal((await h.signup(victim, '192.0.2.10')).status, 201);
      for (let i = 1; i <= 5; i++) assert.equal((await h.login(victim, `guess ${i}`, '203.0.113.7')).status, 401);
      const slowed = await h.login(victim, 'guess 6', '203.0.113.7');
      assert.equal(slowed.status, 429);
      assert.equal(slowed.headers.get('retry-after'), '30');
      assert.equal(slowed.body.error, 'rate_limited');
      assert.equal((await h.login(victim, PASSWORD, '203.0.113.7')).status, 429, 'the attacking address waits even with it');
      const real = await h.login(victim, PASSWORD, '198.51.100.20');
      assert.equal(real.status, 200, 'the user from their own address signs in');
      assert.equal((await h.login(victim, 'guess', '203.0.113.8')).status, 401, 'another address gets its own tries');
      // Eleven requests every 15 minutes no longer keep anyone out.
      for (let i = 0; i < 11; i++) await h.login(victim, `spam ${i}`, '203.0.113.9');
      assert.equal((await h.login(victim, PASSWORD, '198.51.100.21')).status, 200);
    });

    it('failed and throttled sign-ins are audited in the workspace of the email, with address and email, never the password', async () => {
      const email = uniqueEmail('audited');
      const s = await h.signup(email, '192.0.2.11');
      const orgId = s.body.workspace.id as string;
      for (let i = 1; i <= 5; i++) await h.login(email, `secret-guess-${i}`, '203.0.113.50');
      for (let i = 0; i < 4; i++) assert.equal((await h.login(email, 'secret-guess-x', '203.0.113.50')).status, 429);
      const failed = await audit(orgId, 'auth.failed');
      assert.equal(failed.length, 5);
      const details = JSON.parse(failed[0]?.details ?? '{}');
      assert.equal(details.email, email);
      assert.equal(details.address, '203.0.113.50');
      assert.equal(details.user_id, s.body.user.id);
      assert.equal(failed[0]?.actor_type, 'system');
      const throttled = await audit(orgId, 'auth.throttled');
      assert.equal(throttled.length, 1, 'once per bucket and window, however often it knocks');
      const td = JSON.parse(throttled[0]?.details ?? '{}');
      assert.equal(td.limit, 'address_email');
      assert.equal(td.address, '203.0.113.50');
      assert.equal(td.retry_after_s, 30);
      const all = await t.store.db.selectFrom('audit_events').select('details').where('org_id', '=', orgId).execute();
      assert.ok(!all.some((r) => r.details.includes('secret-guess')), 'no password in any audit row');
      // An unknown email has no workspace: nothing is written to any audit log.
      const nobody = uniqueEmail('nobody');
      for (let i = 0; i < 7; i++) await h.login(nobody, 'whatever!!', '203.0.113.51');
      const rows = await t.store.db.selectFrom('audit_events').select('details').execute();
      assert.ok(!rows.some((r) => r.details.includes(nobody)));
    });

    it('IPv6 clients share their /64: another address in it is slowed, another /64 is not', async () => {
      const email = uniqueEmail('v6');
      await h.signup(email, '192.0.2.12');
      for (let i = 1; i <= 5; i++) assert.equal((await h.login(email, `g${i}`, `2001:db8:aa:1::${i}`)).status, 401);
      assert.equal((await h.login(email, 'g6', '2001:db8:aa:1:ffff::77')).status, 429, 'the same /64');
      assert.equal((await h.login(email, 'g6', '2001:db8:aa:2::1')).status, 401, 'the next /64');
    });

    it('sign-up is limited per address: 429 with Retry-After, other addresses unaffected; a taken email is 409', async () => {
      t.clock.advance(61 * MIN);
      for (let i = 0; i < 3; i++) assert.equal((await h.signup(uniqueEmail('burst'), '192.0.2.99')).status, 201);
      const refused = await h.signup(uniqueEmail('burst'), '192.0.2.99');
      assert.equal(refused.status, 429);
      assert.equal(refused.body.error, 'rate_limited');
      assert.equal(refused.headers.get('retry-after'), '3600');
      assert.equal(refused.headers.get('set-cookie'), null);
      const other = uniqueEmail('other');
      assert.equal((await h.signup(other, '192.0.2.100')).status, 201);
      assert.equal((await h.signup(other, '192.0.2.101')).status, 409);
      t.clock.advance(60 * MIN);
      assert.equal((await h.signup(uniqueEmail('burst'), '192.0.2.99')).status, 201, 'a new hour');
    });

    it('the retention sweep prunes rate-limit rows whose window lapsed', async () => {
      const count = async () =>
        Number(
          (
            await t.store.db
              .selectFrom('rate_limits')
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        );
      await h.login(uniqueEmail('prune'), 'whatever!!', '192.0.2.150');
      assert.ok((await count()) > 0);
      const kept = await t.services.retention.prune(t.clock.now() + 30 * MIN);
      assert.ok((await count()) > 0, 'windows not lapsed stay');
      const pruned = await t.services.retention.prune(t.clock.now() + 61 * MIN);
      assert.ok(pruned.rate_limits > 0 || kept.rate_limits > 0);
      assert.equal(await count(), 0);
    });
  });

  describe(`without a trusted proxy X-Forwarded-For is ignored (${kind})`, () => {
    let t: TestServer;
    let h: Awaited<ReturnType<typeof overHttp>>;
    before(async () => {
      t = await createTestServer(kind, { config: { trustProxy: parseTrustProxy('10.0.0.0/8') } });
      h = await overHttp(t);
    });
    after(async () => {
      await h.close();
      await t.close();
    });

    it('a client cannot pick a fresh address per request by sending X-Forwarded-For', async () => {
      const email = uniqueEmail('spoof');
      await h.signup(email);
      for (let i = 1; i <= 5; i++) assert.equal((await h.login(email, `g${i}`, `198.51.100.${i}`)).status, 401);
      assert.equal((await h.login(email, 'g6', '198.51.100.6')).status, 429, 'the socket address (not a trusted proxy) counts');
      const rows = await t.store.db.selectFrom('audit_events').select('details').where('event', '=', 'auth.failed').execute();
      assert.ok(rows.every((r) => JSON.parse(r.details).address === '127.0.0.1'));
    });
  });

  describe(`quota, headers, cookies and redaction (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await createTestServer(kind);
    });
    after(async () => {
      await t.close();
    });

    it('a spent monthly quota never refuses finish, release or heartbeats, and the 402 says so', async () => {
      const { session, key } = await t.workspace();
      await t.store.db.updateTable('orgs').set({ plan: 'free' }).where('id', '=', session.orgId).execute();
      const { period } = periodOf(t.clock.now());
      // Three calls left: two starts and a hold use them up.
      await t.store.db.insertInto('usage_counters').values({ org_id: session.orgId, period, api_calls: 9_997 }).execute();
      const a = (await t.start(key, { resource: 'repo:acme/q1' })).body.claim.id as string;
      const b = (await t.start(key, { resource: 'repo:acme/q2' })).body.claim.id as string;
      const hold = await t.request('POST', '/v1/holds', {
        key,
        body: {
          resource: 'release:q',
          start_at: new Date(t.clock.now() + 60 * MIN).toISOString(),
          end_at: new Date(t.clock.now() + 90 * MIN).toISOString(),
        },
      });
      assert.equal(hold.status, 201);
      const refused = await t.start(key, { resource: 'repo:acme/q3' });
      assert.equal(refused.status, 402);
      assert.equal(refused.body.details.limit, 'monthly_api_calls');
      assert.match(refused.body.message, /^Monthly API calls used up: .*Finish, release and heartbeats still work/);
      const finish = await t.request('POST', '/v1/work/run/finish', { key, body: { claim_id: a } });
      assert.equal(finish.status, 200, JSON.stringify(finish.body));
      const release = await t.request('DELETE', `/v1/work/claims/${b}`, { key });
      assert.equal(release.status, 200, JSON.stringify(release.body));
      const holdRelease = await t.request('DELETE', `/v1/holds/${hold.body.hold.id}`, { key });
      assert.equal(holdRelease.status, 200, JSON.stringify(holdRelease.body));
      assert.equal((await t.request('POST', '/v1/mcp/heartbeat', { key, body: { client: 'x' } })).status, 200);
      assert.equal((await t.request('GET', '/v1/agent', { key })).status, 402, 'other calls stay refused');
      await t.services.activity.recorder.flush();
      const status = await t.request('GET', '/v1/billing/status', { session });
      assert.equal(status.body.usage.monthly_api_calls, 10_000, 'the exempt calls were not counted');
    });

    it('every /v1 answer, errors included, carries Cache-Control: no-store and nosniff; no HSTS over http', async () => {
      const s = await t.signup();
      const answers = [
        await t.request('GET', '/v1/session', { session: s }),
        await t.request('GET', '/v1/session'),
        await t.request('GET', '/v1/no-such-route'),
        await t.request('POST', '/v1/auth/login', { rawBody: '{"email":' }),
        await t.request('POST', '/v1/auth/login', { body: { email: 'x' } }),
        await t.request('POST', '/v1/work/run/start', { key: `avs_live_${'a'.repeat(40)}`, body: {} }),
        await t.request('POST', '/v1/auth/signup', { headers: { 'content-length': String(2 * 1024 * 1024) }, rawBody: '{}' }),
      ];
      for (const res of answers) {
        assert.equal(res.headers.get('cache-control'), 'no-store', `${res.status}`);
        assert.equal(res.headers.get('x-content-type-options'), 'nosniff', `${res.status}`);
        assert.equal(res.headers.get('strict-transport-security'), null);
      }
      assert.deepEqual(
        answers.map((r) => r.status),
        [200, 401, 404, 400, 400, 401, 413],
      );
    });

    it('over https: a __Host- Secure cookie that signs in, reads the session, logs out; HSTS on answers', async () => {
      const { app } = createApp({ services: t.services, logger: createLogger('silent'), secureCookies: true });
      const send = async (method: string, path: string, init: { body?: unknown; cookie?: string; csrf?: string } = {}) =>
        readResponse(
          await app.request(path, {
            method,
            headers: {
              'content-type': 'application/json',
              ...(init.cookie ? { cookie: init.cookie } : {}),
              ...(init.csrf ? { 'x-csrf-token': init.csrf } : {}),
            },
            body: init.body === undefined ? undefined : JSON.stringify(init.body),
          }),
        );
      const email = uniqueEmail('https');
      const up = await send('POST', '/v1/auth/signup', { body: { email, password: PASSWORD, workspace_name: 'S' } });
      assert.equal(up.status, 201);
      assert.equal(up.headers.get('strict-transport-security'), HSTS);
      const login = await send('POST', '/v1/auth/login', { body: { email, password: PASSWORD } });
      assert.equal(login.status, 200);
      const setCookie = login.headers.get('set-cookie') ?? '';
      assert.match(setCookie, /^__Host-availsync_session=/);
      assert.match(setCookie, /; Secure/i);
      assert.match(setCookie, /; Path=\//);
      assert.doesNotMatch(setCookie, /Domain=/i);
      const token = /^__Host-availsync_session=([^;]+)/.exec(setCookie)?.[1] ?? '';
      const cookie = `__Host-availsync_session=${token}`;
      const me = await send('GET', '/v1/session', { cookie });
      assert.equal(me.status, 200);
      assert.equal(me.headers.get('strict-transport-security'), HSTS);
      assert.equal(
        (await send('GET', '/v1/session', { cookie: `availsync_session=${token}` })).status,
        401,
        'the unprefixed name is not read',
      );
      const out = await send('POST', '/v1/auth/logout', { cookie, csrf: me.body.csrf_token });
      assert.equal(out.status, 200);
      assert.match(out.headers.get('set-cookie') ?? '', /^__Host-availsync_session=;.*Max-Age=0/i);
      assert.equal((await send('GET', '/v1/session', { cookie })).status, 401);
    });

    it('a key pasted into a URL path is redacted in the 404 and in the log lines', async () => {
      const { key } = await t.workspace();
      const lines: string[] = [];
      const logger = createLogger('debug', (l) => lines.push(l));
      const { app } = createApp({ services: t.services, logger, secureCookies: false });
      const res = await readResponse(await app.request(`/v1/work/claims/x/${key}`));
      assert.equal(res.status, 404);
      assert.equal(res.body.error, 'not_found');
      assert.ok(!JSON.stringify(res.body).includes(key.slice(9)), res.body.message);
      assert.match(res.body.message, /avs_live_\[redacted\]/);
      assert.ok(lines.length > 0, 'the request was logged');
      assert.ok(!lines.join('').includes(key.slice(9)));
    });
  });
}

/** A raw TCP client: what the server sent, and a promise that settles when the server closes the socket. */
function rawClient(port: number) {
  const socket = connect(port, '127.0.0.1');
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => {
    received += d;
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, closed, received: () => received };
}

/** Write `text` one byte at a time, `everyMs` apart, until done or the socket closes; true when all was sent. */
async function trickle(socket: Socket, text: string, everyMs: number): Promise<boolean> {
  for (const ch of text) {
    if (socket.destroyed || !socket.writable) return false;
    socket.write(ch);
    await delay(everyMs);
  }
  return !socket.destroyed;
}

/** The HTTP answer in raw text: status and JSON body. */
function parseRaw(text: string) {
  const [head = '', body = ''] = text.split('\r\n\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
  return { status, head: head.toLowerCase(), body: body ? JSON.parse(body) : undefined };
}

for (const kind of STORES) {
  describe(`Node server limits: timeouts, connections per address, parser errors (${kind})`, () => {
    let t: TestServer;
    const servers: Server[] = [];
    before(async () => {
      t = await createTestServer(kind);
    });
    after(async () => {
      for (const s of servers) await closeServer(s);
      await t.close();
    });
    async function serveWith(limits: Partial<HttpLimits>) {
      const server = await serveHttp(t.app.fetch, 0, '127.0.0.1', { limits });
      servers.push(server);
      return (server.address() as AddressInfo).port;
    }
    /** Resolves once the last server started holds `n` open connections (its own count, not a guess). */
    async function untilConnections(n: number) {
      const server = servers.at(-1) as Server;
      for (let polls = 0; ; polls++) {
        assert.ok(polls < 10_000, `never down to ${n} connections`);
        const open = await new Promise<number>((resolve) => server.getConnections((_e, count) => resolve(count)));
        if (open === n) return;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }

    it('a slowloris client sending its headers byte by byte is cut off (408, the JSON envelope)', async () => {
      const port = await serveWith({ headersTimeoutMs: 200, requestTimeoutMs: 60_000 });
      const c = rawClient(port);
      c.socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\n');
      const finished = await trickle(c.socket, `X-Slow: ${'a'.repeat(2_000)}\r\n\r\n`, 5);
      await c.closed;
      assert.equal(finished, false, 'closed before the headers were done');
      const res = parseRaw(c.received());
      assert.equal(res.status, 408);
      assert.equal(res.body.error, 'invalid_request');
      assert.match(res.body.request_id, /^req_/);
      assert.match(res.head, /content-type: application\/json/);
      assert.match(res.head, /x-content-type-options: nosniff/);
    });

    it('a request body that stalls is closed', async () => {
      // The other limits far away: only the idle-body timer can end this.
      const port = await serveWith({ bodyIdleTimeoutMs: 200, headersTimeoutMs: 3_600_000, requestTimeoutMs: 3_600_000 });
      const c = rawClient(port);
      c.socket.write(
        'POST /v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"email"',
      );
      await c.closed; // nothing more is sent: only the server can end this
      assert.ok(c.socket.destroyed);
      assert.equal(parseRaw(c.received()).status === 200, false);
    });

    it('after a request with a body, an idle keep-alive connection is still closed by the keep-alive timeout', async () => {
      const port = await serveWith({ bodyIdleTimeoutMs: 60_000 });
      (servers.at(-1) as Server).keepAliveTimeout = 200;
      const c = rawClient(port);
      const body = JSON.stringify({ email: uniqueEmail('ka'), password: 'wrong password!!' });
      c.socket.write(
        `POST /v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
      await c.closed; // kept alive, then closed by the server: the body timer did not cancel the keep-alive one
      assert.equal(parseRaw(c.received()).status, 401);
    });

    it('a body that keeps trickling is cut off at the whole-request limit', async () => {
      const port = await serveWith({ headersTimeoutMs: 200, requestTimeoutMs: 400, bodyIdleTimeoutMs: 60_000 });
      const c = rawClient(port);
      c.socket.write('POST /v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n');
      const finished = await trickle(c.socket, ' '.repeat(5_000), 5);
      await c.closed;
      assert.equal(finished, false, 'closed before the body was done');
    });

    it('connections past the per-address cap are closed at once; the others still work', async () => {
      const port = await serveWith({ maxConnectionsPerAddress: 2 });
      const first = rawClient(port);
      const second = rawClient(port);
      await Promise.all([once(first.socket, 'connect'), once(second.socket, 'connect')]);
      const third = rawClient(port);
      await third.closed;
      assert.equal(third.received(), '', 'closed without an answer');
      first.socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
      await first.closed;
      assert.equal(parseRaw(first.received()).status, 200);
      // A slot is free again once a connection closes (on the server's side too).
      await untilConnections(1);
      const fourth = rawClient(port);
      fourth.socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
      await fourth.closed;
      assert.equal(parseRaw(fourth.received()).status, 200);
      second.socket.destroy();
    });

    it("Node's parser errors answer with the JSON envelope: 400 for a bad request line, 431 for huge headers", async () => {
      const port = await serveWith({});
      const bad = rawClient(port);
      bad.socket.write('THIS IS NOT HTTP\r\n\r\n');
      await bad.closed;
      const res = parseRaw(bad.received());
      assert.equal(res.status, 400);
      assert.equal(res.body.error, 'invalid_request');
      assert.match(res.body.request_id, /^req_/);
      assert.match(res.head, /cache-control: no-store/);
      const huge = rawClient(port);
      huge.socket.write(`GET /health HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`);
      await huge.closed;
      const big = parseRaw(huge.received());
      assert.equal(big.status, 431);
      assert.equal(big.body.error, 'invalid_request');
    });
  });
}
