/**
 * Invites (issue 19): a link with a one-time token, shown once, stored hashed, 7 days by the
 * injected clock, revocable; accepted by a new user (who sets a password), an existing one (with their
 * password) or a signed-in one; emailed through a REAL SMTP server process (fixtures/smtp-sink.mjs) when
 * AVAILSYNC_SMTP_URL is set. Bad input is a structured 4xx that changes nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { createLogger } from '../src/logger.js';
import { sha256 } from '../src/security/keys.js';
import { createTestServer, type Res, type Session, STORES, type TestServer, uniqueEmail } from './harness.js';
import { linkIn, type SmtpSink, startSmtpSink } from './smtp-sink.js';
import { addMember, createInvite, inviteToken, PASSWORD, sessionOf } from './teams-helpers.js';

const DAY = 24 * 3600_000;
const TABLES = ['users', 'memberships', 'invites', 'sessions'] as const;

function assert4xx(res: Res, status: number, code: string, what: string) {
  const got = `${what}: ${res.status} ${JSON.stringify(res.body)}`;
  assert.equal(res.status, status, got);
  assert.equal(res.body.error, code, got);
  assert.match(res.body.request_id, /^req_/, got);
}

for (const kind of STORES) {
  describe(`invites (${kind})`, { timeout: 120_000 }, () => {
    let t: TestServer;
    let sink: SmtpSink;
    const logs: string[] = [];

    /** The rows invites may change, as text. */
    async function snapshot() {
      const parts = await Promise.all(
        TABLES.map(async (name) => {
          const { rows } = await sql<Record<string, unknown>>`select * from ${sql.table(name)}`.execute(t.store.db);
          return rows.map((r) => JSON.stringify(r)).sort();
        }),
      );
      return JSON.stringify(parts);
    }
    const accept = (body: Record<string, unknown>, session?: Session) =>
      t.request('POST', '/v1/invites/accept', { body, ...(session ? { session } : {}) });
    let owner: Session;

    before(async () => {
      sink = await startSmtpSink();
      const logger = createLogger('debug', (line) => logs.push(line));
      t = await createTestServer(kind, { logger, config: { smtpUrl: sink.url, publicUrl: 'https://availsync.example.com' } });
      owner = await t.signup(uniqueEmail('owner'), PASSWORD, 'Invites Co');
    });
    after(async () => {
      await t?.close();
      await sink?.stop();
    });

    it('create: 201 { invite, invite_url, emailed }, the token in the link only, stored as SHA-256', async () => {
      const email = uniqueEmail('Ada').toUpperCase();
      const res = await t.request('POST', `/v1/orgs/${owner.orgId}/invites`, { session: owner, body: { email, role: 'member' } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.deepEqual(Object.keys(res.body).sort(), ['emailed', 'invite', 'invite_url']);
      assert.equal(res.body.emailed, true);
      const { invite } = res.body;
      assert.match(invite.id, /^inv_/);
      assert.equal(invite.email, email.toLowerCase(), 'emails are kept lower-case');
      assert.equal(invite.role, 'member');
      assert.equal(invite.status, 'pending');
      assert.equal(invite.invited_by, owner.userId);
      assert.equal(Date.parse(invite.expires_at) - Date.parse(invite.created_at), 7 * DAY);
      assert.match(res.body.invite_url, /^https:\/\/availsync\.example\.com\/#\/invite\?token=avs_inv_[A-Za-z0-9_-]{43}$/);
      const token = inviteToken(res.body.invite_url);
      assert.ok(!JSON.stringify(invite).includes(token));
      const row = await t.store.db.selectFrom('invites').selectAll().where('id', '=', invite.id).executeTakeFirstOrThrow();
      assert.equal(row.token_hash, sha256(token));
      // Never again: not in the list, not in the audit log, in no table.
      const list = await t.request('GET', `/v1/orgs/${owner.orgId}/invites`, { session: owner });
      assert.ok(list.body.data.some((i: { id: string }) => i.id === invite.id));
      assert.ok(!JSON.stringify(list.body).includes(token), 'the list never shows a token');
      const auditRows = await t.store.db.selectFrom('audit_events').selectAll().where('event', '=', 'member.invited').execute();
      assert.ok(auditRows.length >= 1);
      assert.ok(!JSON.stringify(auditRows).includes(token), 'no token in the audit log');
      for (const name of ['invites', 'audit_events', 'sessions', 'users']) {
        const { rows } = await sql`select * from ${sql.table(name)}`.execute(t.store.db);
        assert.ok(!JSON.stringify(rows).includes(token), `the raw token is in ${name}`);
      }
    });

    it('the invite is emailed through the real SMTP server; the link in it signs a new user in', async () => {
      const email = uniqueEmail('grace');
      const since = sink.messages.length;
      const created = await createInvite(t, owner, 'viewer', email);
      const mail = await sink.next(email, since);
      assert.deepEqual(mail.to, [email]);
      assert.match(mail.from, /^no-reply@availsync\.example\.com$/);
      assert.match(mail.subject, /Invites Co/);
      assert.match(mail.text, /as viewer/);
      const { url, token } = linkIn(mail.text);
      assert.equal(token, created.token, 'the emailed link carries the same one-time token');
      assert.ok(url.startsWith('https://availsync.example.com/#/invite?token='));

      const res = await accept({ token, password: PASSWORD });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const joined = sessionOf(res, email);
      assert.equal(res.body.workspace.id, owner.orgId);
      assert.equal(res.body.workspace.role, 'viewer');
      assert.deepEqual(
        res.body.workspaces.map((w: { id: string }) => w.id),
        [owner.orgId],
      );
      const me = await t.request('GET', '/v1/session', { session: joined });
      assert.equal(me.body.user.email, email);
      const joinedAudit = await t.store.db.selectFrom('audit_events').selectAll().where('event', '=', 'member.joined').execute();
      const row = joinedAudit.find((a) => JSON.parse(a.details).email === email);
      assert.ok(row, 'member.joined is audited');
      assert.equal(JSON.parse(row.details).role, 'viewer');
      assert.ok(!JSON.stringify(joinedAudit).includes(token));
      // The token never reached a log line, and neither did the SMTP password.
      await t.services.mailer.idle();
      const text = logs.join('\n');
      assert.ok(!text.includes(token), 'a token in the log');
      assert.ok(!text.includes(sink.auth.pass), 'the SMTP password in the log');
      assert.ok(logs.some((l) => l.includes('"mail.sent"') && l.includes('"kind":"invite"')));
    });

    it('accepting twice: the second is 400 used, and changes nothing', async () => {
      const email = uniqueEmail('twice');
      const invite = await createInvite(t, owner, 'member', email);
      assert.equal((await accept({ token: invite.token, password: PASSWORD })).status, 200);
      const before = await snapshot();
      const again = await accept({ token: invite.token, password: PASSWORD });
      assert4xx(again, 400, 'invalid_request', 'a used token');
      assert.equal(again.body.details.token, 'used');
      assert.equal(await snapshot(), before);
      const list = await t.request('GET', `/v1/orgs/${owner.orgId}/invites?status=accepted`, { session: owner });
      assert.ok(list.body.data.some((i: { id: string; status: string }) => i.id === invite.id && i.status === 'accepted'));
    });

    it('an invite expires after 7 days by the injected clock: 400 expired, nothing changed', async () => {
      const invite = await createInvite(t, owner, 'member');
      t.clock.advance(7 * DAY - 1);
      const pending = await t.request('GET', `/v1/orgs/${owner.orgId}/invites?status=pending`, { session: owner });
      assert.ok(
        pending.body.data.some((i: { id: string }) => i.id === invite.id),
        'still pending a millisecond before',
      );
      t.clock.advance(1);
      const before = await snapshot();
      const res = await accept({ token: invite.token, password: PASSWORD });
      assert4xx(res, 400, 'invalid_request', 'an expired token');
      assert.equal(res.body.details.token, 'expired');
      assert.equal(await snapshot(), before);
      const expired = await t.request('GET', `/v1/orgs/${owner.orgId}/invites?status=expired`, { session: owner });
      assert.ok(expired.body.data.some((i: { id: string; status: string }) => i.id === invite.id && i.status === 'expired'));
    });

    it('a revoked invite no longer works; revoking twice or after acceptance is 409', async () => {
      const invite = await createInvite(t, owner, 'member');
      const revoked = await t.request('DELETE', `/v1/orgs/${owner.orgId}/invites/${invite.id}`, { session: owner });
      assert.equal(revoked.status, 200);
      assert.equal(revoked.body.invite.status, 'revoked');
      const before = await snapshot();
      const res = await accept({ token: invite.token, password: PASSWORD });
      assert4xx(res, 400, 'invalid_request', 'a revoked token');
      assert.equal(res.body.details.token, 'revoked');
      assert4xx(await t.request('DELETE', `/v1/orgs/${owner.orgId}/invites/${invite.id}`, { session: owner }), 409, 'conflict', 'twice');
      assert.equal(await snapshot(), before);
      const used = await createInvite(t, owner, 'viewer');
      assert.equal((await accept({ token: used.token, password: PASSWORD })).status, 200);
      assert4xx(await t.request('DELETE', `/v1/orgs/${owner.orgId}/invites/${used.id}`, { session: owner }), 409, 'conflict', 'accepted');
      const events = await t.store.db.selectFrom('audit_events').select('details').where('event', '=', 'member.invite_revoked').execute();
      assert.ok(events.some((e) => JSON.parse(e.details).invite_id === invite.id));
    });

    it('bad input is a structured 4xx and creates nothing', async () => {
      const admin = await addMember(t, owner, 'admin');
      const memberEmail = uniqueEmail('already');
      await addMember(t, owner, 'member', memberEmail);
      const pendingEmail = uniqueEmail('pending');
      await createInvite(t, owner, 'viewer', pendingEmail);
      const before = await snapshot();
      const path = `/v1/orgs/${owner.orgId}/invites`;
      const cases: [string, Session, unknown, number, string, string?][] = [
        ['an invalid email', owner, { email: 'not-an-email', role: 'member' }, 400, 'invalid_request', 'email'],
        ['an empty email', owner, { email: '', role: 'member' }, 400, 'invalid_request', 'email'],
        ['a role that does not exist', owner, { email: uniqueEmail(), role: 'superuser' }, 400, 'invalid_request', 'role'],
        ['no role', owner, { email: uniqueEmail() }, 400, 'invalid_request', 'role'],
        ['an unknown field', owner, { email: uniqueEmail(), role: 'member', token: 'x' }, 400, 'invalid_request', 'token'],
        ['someone already a member', owner, { email: memberEmail, role: 'viewer' }, 409, 'conflict', 'email'],
        ['an email with a pending invite', owner, { email: pendingEmail, role: 'viewer' }, 409, 'conflict', 'email'],
        ['an admin inviting an owner', admin, { email: uniqueEmail(), role: 'owner' }, 403, 'forbidden'],
      ];
      for (const [what, session, body, status, code, field] of cases) {
        const res = await t.request('POST', path, { session, body });
        assert4xx(res, status, code, what);
        if (field) assert.ok(field in (res.body.details ?? {}), `${what}: details names ${field}: ${JSON.stringify(res.body)}`);
      }
      const accepts: [string, unknown, number, string][] = [
        ['an unknown token', { token: 'avs_inv_doesnotexist', password: PASSWORD }, 400, 'invalid_request'],
        ['no token', { password: PASSWORD }, 400, 'invalid_request'],
        ['a huge token', { token: 'x'.repeat(5000), password: PASSWORD }, 400, 'invalid_request'],
      ];
      for (const [what, body, status, code] of accepts) assert4xx(await accept(body as Record<string, unknown>), status, code, what);
      assert.equal(await snapshot(), before, 'nothing was created or changed');
      // An owner may invite an owner; an admin may invite an admin.
      assert.equal((await t.request('POST', path, { session: owner, body: { email: uniqueEmail(), role: 'owner' } })).status, 201);
      assert.equal((await t.request('POST', path, { session: admin, body: { email: uniqueEmail(), role: 'admin' } })).status, 201);
    });

    it('a new user must choose a password of 10 characters; nothing is created before', async () => {
      const invite = await createInvite(t, owner, 'member');
      const before = await snapshot();
      for (const body of [{ token: invite.token }, { token: invite.token, password: 'short' }]) {
        const res = await accept(body);
        assert4xx(res, 400, 'invalid_request', JSON.stringify(body));
        assert.ok('password' in res.body.details);
      }
      assert.equal(await snapshot(), before);
    });

    it('an existing account joins with its password (a wrong one is 401), and then has two workspaces', async () => {
      const email = uniqueEmail('existing');
      const other = await t.signup(email, PASSWORD, 'Their Own Co');
      const invite = await createInvite(t, owner, 'admin', email);
      const before = await snapshot();
      assert4xx(await accept({ token: invite.token }), 401, 'unauthorized', 'no password');
      assert4xx(await accept({ token: invite.token, password: 'wrong password!!' }), 401, 'unauthorized', 'a wrong password');
      assert.equal(await snapshot(), before);
      const res = await accept({ token: invite.token, password: PASSWORD });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.user.id, other.userId, 'the same user, no second account');
      assert.equal(res.body.workspace.id, owner.orgId);
      assert.deepEqual(
        res.body.workspaces.map((w: { id: string; role: string }) => `${w.id} ${w.role}`).sort(),
        [`${other.orgId} owner`, `${owner.orgId} admin`].sort(),
      );
    });

    it("a signed-in user joins with the session and the CSRF token; their email must be the invite's", async () => {
      const email = uniqueEmail('signedin');
      const mine = await t.signup(email, PASSWORD, 'Mine Co');
      const invite = await createInvite(t, owner, 'member', email);
      const wrong = await createInvite(t, owner, 'member');
      const before = await snapshot();
      const noCsrf = await t.request('POST', '/v1/invites/accept', {
        body: { token: invite.token },
        headers: { cookie: `availsync_session=${mine.cookie}` },
      });
      assert4xx(noCsrf, 403, 'forbidden', 'a session without its CSRF token');
      assert4xx(await accept({ token: wrong.token }, mine), 403, 'forbidden', 'an invite for another email');
      assert.equal(await snapshot(), before);
      const res = await accept({ token: invite.token }, mine);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.workspace.id, owner.orgId);
      assert.equal(res.body.workspace.role, 'member');
      const joined = sessionOf(res, email);
      assert.notEqual(joined.cookie, mine.cookie, 'a new session');
      assert.equal((await t.request('GET', '/v1/session', { session: mine })).status, 401, 'the replaced session ended');
      // The one session works in both workspaces; the URL (here the header) names which.
      const there = await t.request('GET', '/v1/session', { session: joined, headers: { 'x-availsync-workspace': mine.orgId } });
      assert.equal(there.body.workspace.id, mine.orgId);
      assert.equal(there.body.workspace.role, 'owner');
    });

    it('two accepts of one token at once: exactly one joins', async () => {
      const email = uniqueEmail('race');
      const invite = await createInvite(t, owner, 'viewer', email);
      const results = await Promise.all([0, 1, 2].map(() => accept({ token: invite.token, password: PASSWORD })));
      const statuses = results.map((r) => r.status).sort();
      assert.equal(statuses.filter((s) => s === 200).length, 1, JSON.stringify(results.map((r) => r.body)));
      for (const r of results.filter((x) => x.status !== 200)) assert.ok(r.status === 400 || r.status === 409, JSON.stringify(r.body));
      const users = await t.store.db.selectFrom('users').select('id').where('email', '=', email).execute();
      assert.equal(users.length, 1);
    });

    it('without AVAILSYNC_SMTP_URL nothing is emailed and the link is the only way', async () => {
      const plain = await createTestServer(kind);
      try {
        const o = await plain.signup();
        const res = await plain.request('POST', `/v1/orgs/${o.orgId}/invites`, {
          session: o,
          body: { email: uniqueEmail(), role: 'viewer' },
        });
        assert.equal(res.status, 201);
        assert.equal(res.body.emailed, false);
        assert.match(res.body.invite_url, /^http:\/\/localhost\/#\/invite\?token=avs_inv_/, 'the origin the inviter used');
      } finally {
        await plain.close();
      }
      const invited = await t.request('GET', '/v1/audit?event=member.invited', { session: owner });
      assert.ok(invited.body.data.length > 0, 'member.invited is in the audit log');
    });
  });
}
