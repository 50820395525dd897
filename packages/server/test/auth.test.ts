/**
 * Workspace auth (SPEC §6) and agents with their keys (§2, §6) on every store: sign-up, sign-in, sign-out,
 * the session, the sign-in rate limit, how credentials are stored, agent CRUD, rotation, deletion,
 * idempotent creation and the audit trail. Time moves only through the manual clock.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createApp } from '../src/http/app.js';
import { silentLogger } from '../src/logger.js';
import { createTestServer, MIN, type Session, STORES, type TestServer, uniqueEmail } from './harness.js';

const PASSWORD = 'correct horse battery';
const sha256hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const KEY_FORMAT = /^avs_live_[0-9A-Za-z]{40,}$/;

/** The session cookie's attributes, from a Set-Cookie header. */
function parseCookie(setCookie: string | null) {
  assert.ok(setCookie, 'a Set-Cookie header');
  const [pair = '', ...attrs] = setCookie.split(';').map((s) => s.trim());
  const [name, ...value] = pair.split('=');
  const flags = new Map(attrs.map((a) => [a.split('=')[0]?.toLowerCase() ?? '', a.split('=').slice(1).join('=')]));
  return { name, value: value.join('='), flags };
}

for (const kind of STORES) {
  describe(`workspace auth and agents (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await createTestServer(kind);
    });
    after(async () => {
      await t.close();
    });

    const login = (email: string, password = PASSWORD) => t.request('POST', '/v1/auth/login', { body: { email, password } });
    const sessionFrom = (res: { headers: Headers; body: any }, email: string): Session => ({
      cookie: parseCookie(res.headers.get('set-cookie')).value,
      csrf: res.body.csrf_token,
      orgId: res.body.workspace.id,
      userId: res.body.user.id,
      email,
    });
    const audit = (orgId: string, event: string) =>
      t.store.db.selectFrom('audit_events').selectAll().where('org_id', '=', orgId).where('event', '=', event).execute();
    const countUsers = async () =>
      Number(
        (
          await t.store.db
            .selectFrom('users')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const liveAgents = (orgId: string) =>
      t.store.db.selectFrom('agents').selectAll().where('org_id', '=', orgId).where('deleted_at', 'is', null).execute();

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
        assert.deepEqual(res.body.workspaces, [res.body.workspace], 'SPEC §12: every workspace of the user, with roles');
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

    describe('agents', () => {
      it('create: defaults, a key shown once in the avs_live_ format, stored only as SHA-256', async () => {
        const s = await t.signup();
        const res = await t.request('POST', `/v1/orgs/${s.orgId}/agents`, { session: s, body: { name: 'codex-nightly' } });
        assert.equal(res.status, 201);
        assert.deepEqual(Object.keys(res.body).sort(), ['agent', 'api_key']);
        const { agent, api_key: key } = res.body;
        assert.match(agent.id, /^agt_/);
        assert.equal(agent.org_id, s.orgId);
        assert.equal(agent.name, 'codex-nightly');
        assert.equal(agent.agent_type, 'generic');
        assert.equal(agent.priority, 100);
        assert.equal(agent.mode, 'inherit');
        assert.equal(agent.effective_mode, 'enforce');
        assert.equal(agent.online, false);
        assert.equal(agent.last_seen_at, null);
        assert.match(agent.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        assert.match(key, KEY_FORMAT);
        assert.ok(key.length >= 'avs_live_'.length + 40);
        assert.ok(agent.key_prefix.startsWith('avs_live_') && agent.key_prefix.length < key.length && key.startsWith(agent.key_prefix));

        const row = await t.store.db.selectFrom('agents').selectAll().where('id', '=', agent.id).executeTakeFirstOrThrow();
        assert.equal(row.key_hash, sha256hex(key));
        assert.match(row.key_hash ?? '', /^[0-9a-f]{64}$/);
        assert.equal(row.key_prefix, agent.key_prefix);

        // Shown once: no read returns it, and (without an Idempotency-Key) no table stores it.
        const reads = [
          await t.request('GET', `/v1/orgs/${s.orgId}/agents/${agent.id}`, { session: s }),
          await t.request('GET', `/v1/orgs/${s.orgId}/agents`, { session: s }),
          await t.request('GET', '/v1/agent', { key }),
        ];
        for (const read of reads) {
          assert.equal(read.status, 200);
          const text = JSON.stringify(read.body);
          assert.ok(!text.includes('api_key') && !text.includes(key) && !text.includes('key_hash'), text);
        }
        assert.deepEqual(reads[0]?.body.agent, agent);
        for (const table of ['orgs', 'users', 'sessions', 'agents', 'claims', 'idempotency_keys', 'audit_events'] as const) {
          const rows = await t.store.db.selectFrom(table).selectAll().execute();
          assert.ok(!JSON.stringify(rows).includes(key), `${table} holds the raw key`);
        }
      });

      it('create validates its fields: priority 0-1000, known types and modes, a name, nothing else', async () => {
        const s = await t.signup();
        const cases: [Record<string, unknown>, string][] = [
          [{ name: 'p', priority: -1 }, 'priority'],
          [{ name: 'p', priority: 1001 }, 'priority'],
          [{ name: 'p', priority: 1.5 }, 'priority'],
          [{ name: 'p', priority: '100' }, 'priority'],
          [{ name: '' }, 'name'],
          [{ name: '   ' }, 'name'],
          [{}, 'name'],
          [{ name: 'p', agent_type: 'robot' }, 'agent_type'],
          [{ name: 'p', mode: 'strict' }, 'mode'],
          [{ name: 'p', api_key: 'avs_live_mine' }, 'api_key'],
        ];
        for (const [body, field] of cases) {
          const res = await t.request('POST', `/v1/orgs/${s.orgId}/agents`, { session: s, body });
          assert.equal(res.status, 400, JSON.stringify(body));
          assert.equal(res.body.error, 'invalid_request');
          assert.ok(res.body.details?.[field], `${JSON.stringify(body)} → ${JSON.stringify(res.body.details)}`);
        }
        assert.equal((await liveAgents(s.orgId)).length, 0);
        for (const priority of [0, 1000]) {
          const res = await t.request('POST', `/v1/orgs/${s.orgId}/agents`, { session: s, body: { name: `p${priority}`, priority } });
          assert.equal(res.status, 201);
          assert.equal(res.body.agent.priority, priority);
        }
        const full = await t.request('POST', `/v1/orgs/${s.orgId}/agents`, {
          session: s,
          body: { name: 'deployer', agent_type: 'automation', priority: 900, mode: 'observe' },
        });
        assert.equal(full.status, 201);
        assert.equal(full.body.agent.agent_type, 'automation');
        assert.equal(full.body.agent.effective_mode, 'observe');
      });

      it('PATCH changes name, type, priority and mode; observe changes effective_mode; bounds are 400', async () => {
        const { session: s, agent } = await t.workspace({ name: 'before' });
        const url = `/v1/orgs/${s.orgId}/agents/${agent.id}`;
        const observe = await t.request('PATCH', url, { session: s, body: { mode: 'observe' } });
        assert.equal(observe.status, 200);
        assert.equal(observe.body.agent.mode, 'observe');
        assert.equal(observe.body.agent.effective_mode, 'observe');
        const back = await t.request('PATCH', url, {
          session: s,
          body: { mode: 'inherit', name: 'after', agent_type: 'coding', priority: 0 },
        });
        assert.equal(back.body.agent.effective_mode, 'enforce', 'inherit follows the workspace default');
        assert.deepEqual([back.body.agent.name, back.body.agent.agent_type, back.body.agent.priority], ['after', 'coding', 0]);
        assert.equal((await t.request('PATCH', url, { session: s, body: { priority: 1000 } })).body.agent.priority, 1000);
        for (const body of [{ priority: 1001 }, { priority: -1 }, { mode: 'off' }, { name: '' }, { key_prefix: 'x' }]) {
          const res = await t.request('PATCH', url, { session: s, body });
          assert.equal(res.status, 400, JSON.stringify(body));
          assert.ok(Object.keys(res.body.details ?? {}).length > 0);
        }
        const now = await t.request('GET', url, { session: s });
        assert.equal(now.body.agent.priority, 1000, 'refused patches changed nothing');
        assert.equal(now.body.agent.name, 'after');
        const unchanged = await t.request('PATCH', url, { session: s, body: {} });
        assert.equal(unchanged.status, 200);
        const same = await t.request('PATCH', url, { session: s, body: { priority: 1000 } });
        assert.equal(same.status, 200);
        const events = await audit(s.orgId, 'agent.updated');
        assert.equal(events.length, 3, 'one row per effective change, none for an empty or a no-op patch');
        assert.ok(events.every((e) => e.actor_type === 'user' && e.actor_id === s.userId));
        const changes = events.map((e) => JSON.parse(e.details).changes);
        assert.ok(
          changes.some((c) => c.mode?.from === 'inherit' && c.mode?.to === 'observe'),
          JSON.stringify(changes),
        );
      });

      it('DELETE: the key stops working at once, its active claims are released and the resource is free', async () => {
        const { session: s, agent, key } = await t.workspace({ name: 'doomed' });
        const other = await t.createAgent(s, { name: 'survivor' });
        const held = await t.start(key, { resource: 'repo:acme/deleted' });
        assert.equal(held.body.action, 'proceed');
        await t.request('POST', '/v1/work/run/working-set', { key, body: { claim_id: held.body.claim.id, paths: ['src/'] } });
        assert.equal((await t.start(other.key, { resource: 'repo:acme/deleted' })).body.action, 'skip_run');

        const del = await t.request('DELETE', `/v1/orgs/${s.orgId}/agents/${agent.id}`, { session: s });
        assert.equal(del.status, 200);
        assert.equal(del.body.deleted, true);
        assert.equal(del.body.agent.id, agent.id);
        assert.ok(!JSON.stringify(del.body).includes(key));

        for (const res of [await t.request('GET', '/v1/agent', { key }), await t.start(key, { resource: 'repo:acme/other' })]) {
          assert.equal(res.status, 401);
          assert.equal(res.body.error, 'unauthorized');
        }
        const claim = await t.request('GET', `/v1/work/claims/${held.body.claim.id}`, { session: s });
        assert.equal(claim.body.claim.status, 'released');
        assert.deepEqual(claim.body.claim.working_set, []);
        const files = await t.store.db.selectFrom('file_claims').selectAll().where('claim_id', '=', held.body.claim.id).execute();
        assert.equal(files.length, 0);
        const taken = await t.start(other.key, { resource: 'repo:acme/deleted' });
        assert.equal(taken.body.action, 'proceed', 'the resource is free');
        assert.equal(taken.body.claim.fencing_token, 2);

        assert.equal((await t.request('GET', `/v1/orgs/${s.orgId}/agents/${agent.id}`, { session: s })).status, 404);
        const list = await t.request('GET', `/v1/orgs/${s.orgId}/agents`, { session: s });
        assert.deepEqual(
          list.body.data.map((a: { id: string }) => a.id),
          [other.id],
        );
        assert.equal((await t.request('DELETE', `/v1/orgs/${s.orgId}/agents/${agent.id}`, { session: s })).status, 404);
        assert.equal((await t.request('POST', `/v1/orgs/${s.orgId}/agents/${agent.id}/rotate-key`, { session: s })).status, 404);
        const row = await t.store.db.selectFrom('agents').selectAll().where('id', '=', agent.id).executeTakeFirstOrThrow();
        assert.equal(row.key_hash, null, 'no key hash is kept for a deleted agent');
        const events = await audit(s.orgId, 'agent.deleted');
        assert.equal(events.length, 1);
        assert.equal(events[0]?.actor_id, s.userId);
        assert.equal(JSON.parse(events[0]?.details ?? '{}').agent_id, agent.id);
      });

      it('rotate: the old key is 401 at once, the new one works, and the agent keeps its claims', async () => {
        const { session: s, agent, key: oldKey } = await t.workspace({ name: 'rotating' });
        const held = await t.start(oldKey, { resource: 'repo:acme/rotate' });
        const rot = await t.request('POST', `/v1/orgs/${s.orgId}/agents/${agent.id}/rotate-key`, { session: s });
        assert.equal(rot.status, 200);
        assert.deepEqual(Object.keys(rot.body).sort(), ['agent', 'api_key']);
        const newKey: string = rot.body.api_key;
        assert.match(newKey, KEY_FORMAT);
        assert.notEqual(newKey, oldKey);
        assert.equal(rot.body.agent.id, agent.id);
        assert.notEqual(rot.body.agent.key_prefix, agent.agent.key_prefix);
        assert.ok(newKey.startsWith(rot.body.agent.key_prefix));

        const old = await t.request('GET', '/v1/agent', { key: oldKey });
        assert.equal(old.status, 401);
        assert.equal(old.body.error, 'unauthorized');
        assert.equal((await t.request('POST', '/v1/work/run/extend', { key: oldKey, body: { claim_id: held.body.claim.id } })).status, 401);
        const me = await t.request('GET', '/v1/agent', { key: newKey });
        assert.equal(me.status, 200);
        assert.equal(me.body.agent.id, agent.id);
        const ext = await t.request('POST', '/v1/work/run/extend', { key: newKey, body: { claim_id: held.body.claim.id } });
        assert.equal(ext.body.action, 'extended', 'the claim belongs to the agent, not the key');

        const row = await t.store.db.selectFrom('agents').selectAll().where('id', '=', agent.id).executeTakeFirstOrThrow();
        assert.equal(row.key_hash, sha256hex(newKey));
        const events = await audit(s.orgId, 'agent.key_rotated');
        assert.equal(events.length, 1);
        assert.equal(events[0]?.actor_type, 'user');
        assert.equal(events[0]?.actor_id, s.userId);
        const details = JSON.parse(events[0]?.details ?? '{}');
        assert.equal(details.agent_id, agent.id);
        assert.ok(!events[0]?.details.includes(newKey) && !events[0]?.details.includes(oldKey), 'the audit names prefixes only');
      });

      it('GET /v1/agent: the calling agent and its effective mode', async () => {
        const { session: s, agent, key } = await t.workspace({ name: 'me', agent_type: 'mcp', priority: 250 });
        const res = await t.request('GET', '/v1/agent', { key });
        assert.equal(res.status, 200);
        assert.deepEqual(Object.keys(res.body), ['agent']);
        assert.equal(res.body.agent.id, agent.id);
        assert.equal(res.body.agent.org_id, s.orgId);
        assert.equal(res.body.agent.agent_type, 'mcp');
        assert.equal(res.body.agent.priority, 250);
        assert.equal(res.body.agent.effective_mode, 'enforce');
        await t.request('PATCH', `/v1/orgs/${s.orgId}/agents/${agent.id}`, { session: s, body: { mode: 'observe' } });
        assert.equal((await t.request('GET', '/v1/agent', { key })).body.agent.effective_mode, 'observe');
      });

      it('the agent list pages with limit and offset', async () => {
        const s = await t.signup();
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) ids.push((await t.createAgent(s, { name: `agent-${i}` })).id);
        const url = `/v1/orgs/${s.orgId}/agents`;
        const all = await t.request('GET', url, { session: s });
        assert.deepEqual(all.body.pagination, { limit: 50, offset: 0, total: 5, has_more: false });
        assert.deepEqual(all.body.data.map((a: { id: string }) => a.id).sort(), [...ids].sort());
        const pages: string[] = [];
        for (let offset = 0; offset < 6; offset += 2) {
          const page = await t.request('GET', `${url}?limit=2&offset=${offset}`, { session: s });
          assert.equal(page.status, 200);
          assert.deepEqual(page.body.pagination, { limit: 2, offset, total: 5, has_more: offset + 2 < 5 });
          pages.push(...page.body.data.map((a: { id: string }) => a.id));
        }
        assert.deepEqual(
          pages,
          all.body.data.map((a: { id: string }) => a.id),
          'pages are disjoint, in a stable order',
        );
        const capped = await t.request('GET', `${url}?limit=1000`, { session: s });
        assert.equal(capped.body.pagination.limit, 100);
        const beyond = await t.request('GET', `${url}?offset=10`, { session: s });
        assert.deepEqual(beyond.body.data, []);
        assert.equal(beyond.body.pagination.has_more, false);
        for (const q of ['limit=0', 'limit=abc', 'offset=-1', 'limit=2.5']) {
          const bad = await t.request('GET', `${url}?${q}`, { session: s });
          assert.equal(bad.status, 400, q);
          assert.equal(bad.body.error, 'invalid_request');
        }
      });

      it('Idempotency-Key on create: a replay returns the same agent, a different body is 422', async () => {
        const s = await t.signup();
        const url = `/v1/orgs/${s.orgId}/agents`;
        const headers = { 'idempotency-key': 'create-ci-agent' };
        const first = await t.request('POST', url, { session: s, body: { name: 'ci', priority: 300 }, headers });
        const replay = await t.request('POST', url, { session: s, body: { priority: 300, name: 'ci' }, headers });
        assert.equal(first.status, 201);
        assert.equal(replay.status, 201, 'the original status');
        assert.equal(replay.body.agent.id, first.body.agent.id);
        assert.deepEqual(replay.body, { ...first.body, api_key: null }, 'the original body, without the key: keys are shown once');
        assert.equal(replay.headers.get('idempotent-replayed'), 'true');
        // The key was never stored in plain text, not even for the replay.
        const stored = await t.store.db.selectFrom('idempotency_keys').select('response').execute();
        assert.ok(
          stored.every((r) => !r.response.includes(first.body.api_key)),
          'no plain key in idempotency records',
        );
        assert.equal((await liveAgents(s.orgId)).length, 1, 'no second agent');
        const different = await t.request('POST', url, { session: s, body: { name: 'ci', priority: 301 }, headers });
        assert.equal(different.status, 422);
        assert.equal(different.body.error, 'idempotency_key_reused');
        assert.match(different.body.request_id, /^req_/);
        assert.equal((await liveAgents(s.orgId)).length, 1);
        // Keys are scoped to the user: another workspace's user with the same key creates its own agent.
        const stranger = await t.signup();
        const theirs = await t.request('POST', `/v1/orgs/${stranger.orgId}/agents`, {
          session: stranger,
          body: { name: 'ci', priority: 300 },
          headers,
        });
        assert.equal(theirs.status, 201);
        assert.notEqual(theirs.body.agent.id, first.body.agent.id);
        const tooLong = await t.request('POST', url, { session: s, body: { name: 'x' }, headers: { 'idempotency-key': 'k'.repeat(256) } });
        assert.equal(tooLong.status, 400);
        assert.equal((await liveAgents(s.orgId)).length, 1);
        assert.equal((await audit(s.orgId, 'agent.created')).length, 1, 'one audit row for one agent');
      });

      it('the idempotency_key body field is the same key as the header (SPEC §3)', async () => {
        const s = await t.signup();
        const url = `/v1/orgs/${s.orgId}/agents`;
        const viaBody = await t.request('POST', url, { session: s, body: { name: 'cron', idempotency_key: 'create-cron' } });
        assert.equal(viaBody.status, 201, JSON.stringify(viaBody.body));
        const viaHeader = await t.request('POST', url, {
          session: s,
          body: { name: 'cron' },
          headers: { 'idempotency-key': 'create-cron' },
        });
        assert.equal(viaHeader.status, 201);
        assert.equal(viaHeader.body.agent.id, viaBody.body.agent.id);
        const both = await t.request('POST', url, {
          session: s,
          body: { name: 'cron', idempotency_key: 'create-cron' },
          headers: { 'idempotency-key': 'create-cron' },
        });
        assert.equal(both.body.agent.id, viaBody.body.agent.id);
        const disagree = await t.request('POST', url, {
          session: s,
          body: { name: 'cron', idempotency_key: 'one' },
          headers: { 'idempotency-key': 'two' },
        });
        assert.equal(disagree.status, 400);
        assert.ok(disagree.body.details.idempotency_key);
        assert.equal((await liveAgents(s.orgId)).length, 1);
      });

      it('agent changes are audited with the user who made them', async () => {
        const s = await t.signup();
        // A second between steps, so the audit order (created_at) is the order of the calls.
        const created = await t.createAgent(s, { name: 'audited', priority: 200 });
        t.clock.advance(1000);
        await t.request('PATCH', `/v1/orgs/${s.orgId}/agents/${created.id}`, { session: s, body: { priority: 300 } });
        t.clock.advance(1000);
        await t.request('POST', `/v1/orgs/${s.orgId}/agents/${created.id}/rotate-key`, { session: s });
        t.clock.advance(1000);
        await t.request('DELETE', `/v1/orgs/${s.orgId}/agents/${created.id}`, { session: s });
        const rows = await t.store.db.selectFrom('audit_events').selectAll().where('org_id', '=', s.orgId).orderBy('created_at').execute();
        const agentRows = rows.filter((r) => r.event.startsWith('agent.'));
        assert.deepEqual(
          agentRows.map((r) => r.event),
          ['agent.created', 'agent.updated', 'agent.key_rotated', 'agent.deleted'],
        );
        for (const r of agentRows) {
          assert.equal(r.actor_type, 'user');
          assert.equal(r.actor_id, s.userId);
          assert.equal(JSON.parse(r.details).agent_id, created.id);
          assert.ok(!r.details.includes(created.key), 'never the key');
        }
        const createdDetails = JSON.parse(agentRows[0]?.details ?? '{}');
        assert.equal(createdDetails.name, 'audited');
        assert.equal(createdDetails.priority, 200);
        assert.deepEqual(JSON.parse(agentRows[1]?.details ?? '{}').changes, { priority: { from: 200, to: 300 } });
      });
    });
  });
}
