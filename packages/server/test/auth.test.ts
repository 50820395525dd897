/**
 * Workspace auth on every store: sign-up, sign-in, sign-out, the session, the sign-in rate limit
 * and how credentials are stored. Agents and their keys are in agents.test.ts. Time moves only through the
 * manual clock.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestServer, MIN, type Session, STORES, type TestServer, uniqueEmail } from '@availsync/testkit';
import { createApp } from '../src/http/app.js';
import { silentLogger } from '../src/logger.js';
import { auditRows, PASSWORD, parseCookie, sha256hex } from './auth-helpers.js';

for (const kind of STORES) {
  describe(`workspace auth and agents (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await createTestServer(kind);
    });
    after(async () => {
      await t.close();
    });

    const audit = (orgId: string, event: string) => auditRows(t, orgId, event);
    const login = (email: string, password = PASSWORD) => t.request('POST', '/v1/auth/login', { body: { email, password } });
    const sessionFrom = (res: { headers: Headers; body: any }, email: string): Session => ({
      cookie: parseCookie(res.headers.get('set-cookie')).value,
      csrf: res.body.csrf_token,
      orgId: res.body.workspace.id,
      userId: res.body.user.id,
      email,
    });
    const countUsers = async () =>
      Number(
        (
          await t.store.db
            .selectFrom('users')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );

    describe('sign-up, sign-in, sign-out', () => {
      it('signup: 201, the session in an HttpOnly SameSite=Lax cookie on /, not Secure over plain http', async () => {
        const email = uniqueEmail('signup');
        const res = await t.request('POST', '/v1/auth/signup', { body: { email, password: PASSWORD, workspace_name: 'Acme Robotics' } });
        assert.equal(res.status, 201);
        assert.deepEqual(Object.keys(res.body).sort(), ['csrf_token', 'user', 'workspace', 'workspaces']);
        assert.equal(res.body.workspace.role, 'owner', 'who signs up owns the workspace');
        assert.deepEqual(res.body.workspaces, [res.body.workspace]);
        assert.match(res.body.user.id, /^usr_/);
        assert.equal(res.body.user.email, email);
        assert.match(res.body.workspace.id, /^org_/);
        assert.equal(res.body.workspace.name, 'Acme Robotics');
        assert.equal(res.body.workspace.plan, 'unlimited', 'the configured default plan');
        const cookie = parseCookie(res.headers.get('set-cookie'));
        assert.equal(cookie.name, 'availsync_session');
        assert.ok(cookie.value.length >= 32);
        assert.ok(cookie.flags.has('httponly'));
        assert.equal(cookie.flags.get('samesite'), 'Lax');
        assert.equal(cookie.flags.get('path'), '/');
        assert.ok(!cookie.flags.has('secure'), 'no Secure without https');
        assert.ok(!JSON.stringify(res.body).includes(cookie.value), 'the token is only in the cookie');
        const session = await t.request('GET', '/v1/session', { session: sessionFrom(res, email) });
        assert.equal(session.status, 200);
        assert.equal(session.body.user.id, res.body.user.id);
      });

      it('signup with https configured sets a Secure cookie', async () => {
        // The same services behind an app configured for https (AVAILSYNC_PUBLIC_URL=https://...).
        const { app } = createApp({ services: t.services, logger: silentLogger, secureCookies: true });
        const res = await app.request('/v1/auth/signup', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: uniqueEmail('secure'), password: PASSWORD, workspace_name: 'Secure' }),
        });
        assert.equal(res.status, 201);
        const cookie = parseCookie(res.headers.get('set-cookie'));
        assert.ok(cookie.flags.has('secure'));
        assert.ok(cookie.flags.has('httponly'));
        assert.equal(cookie.flags.get('samesite'), 'Lax');
        assert.equal(cookie.flags.get('path'), '/');
      });

      it('signup refuses a taken email (any case) with 409, and a short password with 400; neither creates a user', async () => {
        const email = uniqueEmail('taken');
        await t.signup(email);
        const users = await countUsers();
        for (const again of [email, email.toUpperCase(), `${email[0]?.toUpperCase()}${email.slice(1)}`]) {
          const res = await t.request('POST', '/v1/auth/signup', { body: { email: again, password: PASSWORD, workspace_name: 'Dup' } });
          assert.equal(res.status, 409, again);
          assert.equal(res.body.error, 'conflict');
          assert.match(res.body.request_id, /^req_/);
          assert.equal(res.headers.get('set-cookie'), null, 'no session for a refused sign-up');
        }
        const short = await t.request('POST', '/v1/auth/signup', {
          body: { email: uniqueEmail('short'), password: '123456789', workspace_name: 'Short' },
        });
        assert.equal(short.status, 400);
        assert.equal(short.body.error, 'invalid_request');
        assert.ok(short.body.details.password, JSON.stringify(short.body.details));
        const badEmail = await t.request('POST', '/v1/auth/signup', {
          body: { email: 'not-an-email', password: PASSWORD, workspace_name: 'X' },
        });
        assert.equal(badEmail.status, 400);
        assert.ok(badEmail.body.details.email);
        const noName = await t.request('POST', '/v1/auth/signup', {
          body: { email: uniqueEmail(), password: PASSWORD, workspace_name: '  ' },
        });
        assert.equal(noName.status, 400);
        assert.ok(noName.body.details.workspace_name);
        assert.equal(await countUsers(), users);
        const exactlyTen = await t.request('POST', '/v1/auth/signup', {
          body: { email: uniqueEmail('ten'), password: '0123456789', workspace_name: 'Ten' },
        });
        assert.equal(exactlyTen.status, 201, 'ten characters is enough');
      });

      it('login: 200 with a new session; a wrong password and an unknown email are the same 401', async () => {
        const { email, orgId, userId } = await t.signup(uniqueEmail('login'));
        const ok = await login(email.toUpperCase());
        assert.equal(ok.status, 200, 'emails are case-insensitive');
        assert.equal(ok.body.user.id, userId);
        assert.equal(ok.body.workspace.id, orgId);
        const cookie = parseCookie(ok.headers.get('set-cookie'));
        assert.ok(cookie.flags.has('httponly'));
        assert.equal(cookie.flags.get('samesite'), 'Lax');
        assert.ok(!JSON.stringify(ok.body).includes(cookie.value));
        const me = await t.request('GET', '/v1/session', { session: sessionFrom(ok, email) });
        assert.equal(me.status, 200);

        const wrong = await login(email, 'wrong password!!');
        const unknown = await login(uniqueEmail('nobody'), 'wrong password!!');
        for (const res of [wrong, unknown]) {
          assert.equal(res.status, 401);
          assert.equal(res.body.error, 'unauthorized');
          assert.equal(res.headers.get('set-cookie'), null);
        }
        assert.equal(wrong.body.message, unknown.body.message, 'the message never tells which emails exist');
        const malformed = await t.request('POST', '/v1/auth/login', { body: { email, password: PASSWORD, remember: true } });
        assert.equal(malformed.status, 400);
      });

      it('logout clears the cookie and ends that session only', async () => {
        const first = await t.signup(uniqueEmail('logout'));
        const secondRes = await login(first.email);
        const second = sessionFrom(secondRes, first.email);
        const out = await t.request('POST', '/v1/auth/logout', { session: first });
        assert.equal(out.status, 200);
        assert.deepEqual(out.body, { ok: true });
        const cleared = parseCookie(out.headers.get('set-cookie'));
        assert.equal(cleared.name, 'availsync_session');
        assert.equal(cleared.value, '');
        assert.ok(cleared.flags.get('max-age') === '0' || Date.parse(cleared.flags.get('expires') ?? '') < Date.now(), 'expired');
        assert.equal(cleared.flags.get('path'), '/');
        const after = await t.request('GET', '/v1/session', { session: first });
        assert.equal(after.status, 401);
        assert.equal(after.body.error, 'unauthorized');
        const agents = await t.request('GET', `/v1/orgs/${first.orgId}/agents`, { session: first });
        assert.equal(agents.status, 401);
        const rows = await t.store.db
          .selectFrom('sessions')
          .select('token_hash')
          .where('token_hash', '=', sha256hex(first.cookie))
          .execute();
        assert.equal(rows.length, 0, 'the session row is gone');
        assert.equal((await t.request('GET', '/v1/session', { session: second })).status, 200, 'other sessions stay');
        const again = await t.request('POST', '/v1/auth/logout', { session: first });
        assert.equal(again.status, 401);
        assert.equal((await audit(first.orgId, 'user.signed_out')).length, 1);
      });

      it('GET /v1/session returns { user, workspace, workspaces, csrf_token }', async () => {
        const s = await t.signup(uniqueEmail('me'), PASSWORD, 'Session Co');
        const res = await t.request('GET', '/v1/session', { session: s });
        assert.equal(res.status, 200);
        assert.deepEqual(Object.keys(res.body).sort(), ['csrf_token', 'user', 'workspace', 'workspaces']);
        assert.deepEqual(Object.keys(res.body.user).sort(), ['created_at', 'email', 'id']);
        assert.deepEqual(Object.keys(res.body.workspace).sort(), ['created_at', 'id', 'name', 'plan', 'role']);
        assert.deepEqual(res.body.workspaces, [res.body.workspace], 'every workspace of the user, with roles');
        assert.equal(res.body.user.email, s.email);
        assert.equal(res.body.workspace.id, s.orgId);
        assert.equal(res.body.workspace.name, 'Session Co');
        assert.equal(res.body.csrf_token, s.csrf, 'the same token as at sign-up');
        assert.match(res.body.user.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        assert.notEqual(res.body.csrf_token, s.cookie);
      });

      it('sign-in slows down per (address, email): five tries, then growing waits; a success starts over', async () => {
        t.clock.advance(15 * MIN); // a fresh window for this (shared, in-process) address
        const { email } = await t.signup(uniqueEmail('limited'));
        const bystander = await t.signup(uniqueEmail('bystander'));
        for (let i = 1; i <= 5; i++) assert.equal((await login(email, `wrong password ${i}`)).status, 401, `attempt ${i}`);
        const limited = await login(email);
        assert.equal(limited.status, 429, 'the sixth try from this address waits, even with the right password');
        assert.equal(limited.body.error, 'rate_limited');
        assert.match(limited.body.request_id, /^req_/);
        assert.equal(limited.headers.get('retry-after'), '30');
        assert.equal(limited.headers.get('set-cookie'), null);
        assert.equal((await login(email.toUpperCase())).status, 429, 'the same email in another case');
        assert.equal((await login(bystander.email)).status, 200, 'another email from the same address is not slowed');
        // Waiting is not made longer by knocking: the refused tries above were not counted.
        t.clock.advance(30_000);
        assert.equal((await login(email, 'wrong password 6')).status, 401, 'the sixth try after 30 s');
        const second = await login(email);
        assert.equal(second.status, 429);
        assert.equal(second.headers.get('retry-after'), '30', 'the seventh waits until 60 s after the window opened');
        t.clock.advance(30_000);
        assert.equal((await login(email, 'wrong password 7')).status, 401);
        assert.equal((await login(email)).headers.get('retry-after'), '60', 'then 2 minutes: each wait doubles');
        t.clock.advance(60_000);
        assert.equal((await login(email)).status, 200, 'the right password after the wait');
        // A success clears this address's failures for the email: five tries at once again.
        for (let i = 1; i <= 5; i++) assert.equal((await login(email, `again ${i}`)).status, 401, `attempt ${i} after a success`);
        assert.equal((await login(email)).status, 429);
        // Never longer than one window.
        t.clock.advance(15 * MIN);
        assert.equal((await login(email)).status, 200);
      });

      it('sign-in is rate limited per client address too', async () => {
        t.clock.advance(15 * MIN); // a fresh window for this address
        const { email } = await t.signup(uniqueEmail('ip'));
        let limitedAt = 0;
        for (let i = 1; i <= 60 && limitedAt === 0; i++) {
          const res = await login(uniqueEmail(`spray${i}`), 'password spray');
          if (res.status === 429) limitedAt = i;
          else assert.equal(res.status, 401);
        }
        assert.equal(limitedAt, 51, 'fifty attempts per address per window');
        const blocked = await login(email);
        assert.equal(blocked.status, 429, 'a real user behind that address waits too');
        assert.ok(Number(blocked.headers.get('retry-after')) > 0);
        t.clock.advance(15 * MIN);
        assert.equal((await login(email)).status, 200);
      });

      it('a password is stored only as argon2id; a session only as a SHA-256 hash', async () => {
        const password = 'a very particular passphrase';
        const s = await t.signup(uniqueEmail('stored'), password);
        const user = await t.store.db.selectFrom('users').selectAll().where('id', '=', s.userId).executeTakeFirstOrThrow();
        assert.ok(user.password_hash.startsWith('$argon2id$'), user.password_hash.slice(0, 12));
        assert.ok(!user.password_hash.includes(password));
        assert.equal(user.email, s.email.toLowerCase());
        const sessions = await t.store.db.selectFrom('sessions').selectAll().where('user_id', '=', s.userId).execute();
        assert.equal(sessions.length, 1);
        assert.notEqual(sessions[0]?.token_hash, s.cookie);
        assert.equal(sessions[0]?.token_hash, sha256hex(s.cookie));
        const raw = await t.store.db.selectFrom('sessions').select('token_hash').where('token_hash', '=', s.cookie).execute();
        assert.equal(raw.length, 0, 'no row holds the raw token');
        // And the sign-in writes an audit row naming the user.
        const ok = await login(s.email, password);
        assert.equal(ok.status, 200);
        const signedIn = await audit(s.orgId, 'user.signed_in');
        assert.equal(signedIn.length, 1);
        assert.equal(signedIn[0]?.actor_type, 'user');
        assert.equal(signedIn[0]?.actor_id, s.userId);
        assert.ok(!signedIn[0]?.details.includes(password));
      });
    });
  });
}
