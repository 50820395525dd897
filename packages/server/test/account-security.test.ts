/**
 * Account security (issue 19): changing the password ends the user's other sessions; the
 * sessions list marks the current one and each can be ended; a password reset answers alike for known and
 * unknown emails, emails a link through a REAL SMTP server process, and its token works once, for an hour
 * by the injected clock, and ends every session. No password or token in a log line or an audit row.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { ConfigError, loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { sha256 } from '../src/security/keys.js';
import { createMailer } from '../src/services/mailer.js';
import { parseSmtpUrl, redactSmtpUrl } from '../src/services/smtp-url.js';
import { createTestServer, type Res, type Session, STORES, type TestServer, uniqueEmail } from './harness.js';
import { linkIn, type SmtpSink, startSmtpSink } from './smtp-sink.js';
import { addMember, PASSWORD, signIn } from './teams-helpers.js';

const NEW_PASSWORD = 'a brand new passphrase';
const HOUR = 3600_000;

function assert4xx(res: Res, status: number, code: string, what: string) {
  const got = `${what}: ${res.status} ${JSON.stringify(res.body)}`;
  assert.equal(res.status, status, got);
  assert.equal(res.body.error, code, got);
}

describe('AVAILSYNC_SMTP_URL', () => {
  it('takes smtp:// and smtps:// URLs, and no error or log form of it shows the password', () => {
    assert.deepEqual(parseSmtpUrl('smtp://mailer:p%40ss@mail.example.com'), {
      host: 'mail.example.com',
      port: 587,
      secure: false,
      auth: { user: 'mailer', pass: 'p@ss' },
    });
    assert.deepEqual(parseSmtpUrl('smtps://u:v@[::1]'), { host: '::1', port: 465, secure: true, auth: { user: 'u', pass: 'v' } });
    assert.deepEqual(parseSmtpUrl('smtp://relay:2525'), { host: 'relay', port: 2525, secure: false });
    assert.equal(redactSmtpUrl('smtps://mailer:hunter2-secret@mail.example.com:465'), 'smtps://mailer:***@mail.example.com:465');
    assert.equal(loadConfig({ AVAILSYNC_SMTP_URL: 'smtp://a:b@h:25' }).smtpUrl, 'smtp://a:b@h:25');
    assert.equal(loadConfig({ AVAILSYNC_SMTP_URL: '' }).smtpUrl, undefined);
    for (const bad of ['http://u:hunter2-secret@h', 'hunter2-secret', 'smtp://u:hunter2-secret@h/path']) {
      assert.throws(
        () => loadConfig({ AVAILSYNC_SMTP_URL: bad }),
        (err: unknown) => err instanceof ConfigError && err.message.includes('AVAILSYNC_SMTP_URL') && !err.message.includes('hunter2'),
        bad,
      );
    }
  });

  it('a failed delivery is logged without the password', async () => {
    const sink = await startSmtpSink({ user: 'availsync', pass: 'the-right-secret' });
    const lines: string[] = [];
    try {
      const url = `smtp://availsync:${encodeURIComponent('a-wrong-secret-123')}@127.0.0.1:${sink.port}`;
      const mailer = createMailer(
        { smtpUrl: url, smtpFrom: undefined, publicUrl: undefined },
        createLogger('debug', (l) => lines.push(l)),
      );
      mailer.send({ kind: 'invite', to: 'x@example.com', subject: 's', text: 't' });
      await mailer.close();
    } finally {
      await sink.stop();
    }
    const text = lines.join('\n');
    assert.match(text, /"mail\.failed"/);
    assert.ok(!text.includes('a-wrong-secret-123'), text);
    assert.equal(sink.messages.length, 0);
  });
});

for (const kind of STORES) {
  describe(`account security (${kind})`, { timeout: 120_000 }, () => {
    let t: TestServer;
    let sink: SmtpSink;
    const logs: string[] = [];
    const live = async (s: Session) => (await t.request('GET', '/v1/session', { session: s })).status === 200;
    const password = (s: Session, body: Record<string, unknown>) => t.request('POST', '/v1/auth/password', { session: s, body });
    const reset = (email: string) => t.request('POST', '/v1/auth/password-reset', { body: { email } });
    const confirm = (token: string, newPassword = NEW_PASSWORD) =>
      t.request('POST', '/v1/auth/password-reset/confirm', { body: { token, new_password: newPassword } });
    const userRow = (id: string) => t.store.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

    before(async () => {
      sink = await startSmtpSink();
      t = await createTestServer(kind, {
        logger: createLogger('debug', (line) => logs.push(line)),
        config: { smtpUrl: sink.url, publicUrl: 'https://availsync.example.com' },
      });
    });
    after(async () => {
      await t?.close();
      await sink?.stop();
      const text = logs.join('\n');
      assert.ok(!text.includes(sink.auth.pass), 'the SMTP password reached a log line');
      for (const secret of [PASSWORD, NEW_PASSWORD]) assert.ok(!text.includes(secret), 'a password reached a log line');
    });

    it('change password: the current one must be right; the other sessions end, this one stays', async () => {
      const s = await t.signup();
      const other = await signIn(t, s.email);
      const before = await userRow(s.userId);
      const wrong = await password(s, { current_password: 'not my password', new_password: NEW_PASSWORD });
      assert4xx(wrong, 400, 'invalid_request', 'a wrong current password');
      assert.equal(wrong.body.details.current_password, 'incorrect');
      assert4xx(await password(s, { current_password: PASSWORD, new_password: 'short' }), 400, 'invalid_request', 'too short');
      assert.deepEqual(await userRow(s.userId), before, 'nothing changed');
      assert.ok(await live(other));

      const res = await password(s, { current_password: PASSWORD, new_password: NEW_PASSWORD });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body, { ok: true, sessions_ended: 1 });
      assert.ok(await live(s), 'this session stays');
      assert.ok(!(await live(other)), 'the other one ended');
      assert4xx(await t.request('POST', '/v1/auth/login', { body: { email: s.email, password: PASSWORD } }), 401, 'unauthorized', 'old');
      await signIn(t, s.email, NEW_PASSWORD);
      const events = await t.store.db.selectFrom('audit_events').selectAll().where('event', '=', 'user.password_changed').execute();
      const mine = events.filter((e) => e.org_id === s.orgId);
      assert.equal(mine.length, 1);
      assert.deepEqual(JSON.parse(mine[0]?.details ?? '{}'), { user_id: s.userId, via: 'change', sessions_ended: 1 });
      assert.ok(!JSON.stringify(events).includes(NEW_PASSWORD) && !JSON.stringify(events).includes(PASSWORD));
    });

    it('sessions: listed in every workspace, the current one marked; one can be ended, and the current one signs out', async () => {
      const owner = await t.signup();
      const s = await addMember(t, owner, 'viewer');
      const other = await signIn(t, s.email);
      const stranger = await t.signup();
      const list = await t.request('GET', '/v1/auth/sessions', { session: s, headers: { 'user-agent': 'probe/1.0' } });
      assert.equal(list.status, 200);
      assert.equal(list.body.pagination.total, 2);
      const current = list.body.data.filter((x: { current: boolean }) => x.current);
      assert.equal(current.length, 1);
      for (const row of list.body.data) {
        assert.match(row.id, /^ses_/);
        assert.deepEqual(Object.keys(row).sort(), ['address', 'created_at', 'current', 'expires_at', 'id', 'user_agent', 'workspace_id']);
      }
      const text = JSON.stringify(list.body);
      assert.ok(!text.includes(s.cookie) && !text.includes(sha256(s.cookie)), 'neither a token nor its hash');
      const otherId = list.body.data.find((x: { current: boolean }) => !x.current).id;

      assert4xx(await t.request('DELETE', `/v1/auth/sessions/${otherId}`, { session: stranger }), 404, 'not_found', "another's session");
      assert.ok(await live(other));
      const ended = await t.request('DELETE', `/v1/auth/sessions/${otherId}`, { session: s });
      assert.deepEqual(ended.body, { revoked: true, current: false });
      assert.ok(!(await live(other)));
      assert.ok(await live(s));
      const self = await t.request('DELETE', `/v1/auth/sessions/${current[0].id}`, { session: s });
      assert.deepEqual(self.body, { revoked: true, current: true });
      assert.match(self.headers.get('set-cookie') ?? '', /availsync_session=;/, 'the cookie is cleared');
      assert.ok(!(await live(s)));
      const audit = await t.store.db.selectFrom('audit_events').select('details').where('event', '=', 'user.session_revoked').execute();
      assert.ok(audit.some((a) => JSON.parse(a.details).session_id === otherId));
    });

    it('reset: the same answer for a known and an unknown email; only the known one gets an email', async () => {
      const s = await t.signup();
      const unknown = uniqueEmail('nobody');
      const since = sink.messages.length;
      const a = await reset(s.email);
      const b = await reset(unknown);
      assert.equal(a.status, 200);
      assert.equal(b.status, a.status);
      assert.deepEqual(a.body, { ok: true });
      assert.deepEqual(b.body, a.body);
      assert4xx(await reset('not-an-email'), 400, 'invalid_request', 'an invalid email');
      const mail = await sink.next(s.email, since);
      await t.services.mailer.idle();
      assert.equal(sink.messages.slice(since).filter((m) => m.to.includes(unknown)).length, 0, 'nothing for an unknown email');
      assert.match(mail.subject, /Reset your Availsync password/);
      const { url, token } = linkIn(mail.text);
      assert.match(url, /^https:\/\/availsync\.example\.com\/#\/reset-password\?token=avs_rst_/);
      const rows = await t.store.db.selectFrom('password_resets').selectAll().where('user_id', '=', s.userId).execute();
      assert.equal(rows.length, 1);
      assert.equal(rows[0]?.token_hash, sha256(token), 'stored only as its hash');
      assert.ok(!logs.join('\n').includes(token), 'the token never reaches a log line');
    });

    it('reset confirm: sets the password, ends every session, and the token works once', async () => {
      const s = await t.signup();
      const other = await signIn(t, s.email);
      const since = sink.messages.length;
      await reset(s.email);
      const { token } = linkIn((await sink.next(s.email, since)).text);
      assert4xx(await confirm(token, 'short'), 400, 'invalid_request', 'a short password');
      assert4xx(await confirm('avs_rst_unknown'), 400, 'invalid_request', 'an unknown token');
      assert.ok(await live(s), 'nothing changed yet');

      const res = await confirm(token);
      assert.deepEqual(res.body, { ok: true });
      assert.ok(!(await live(s)) && !(await live(other)), 'every session ended');
      await signIn(t, s.email, NEW_PASSWORD);
      const before = await userRow(s.userId);
      const again = await confirm(token, 'yet another passphrase');
      assert4xx(again, 400, 'invalid_request', 'a used token');
      assert.equal(again.body.details.token, 'used');
      assert.deepEqual(await userRow(s.userId), before, 'the second use changed nothing');
      const audit = await t.store.db.selectFrom('audit_events').selectAll().where('org_id', '=', s.orgId).execute();
      const changed = audit.filter((e) => e.event === 'user.password_changed').map((e) => JSON.parse(e.details));
      assert.deepEqual(changed, [{ user_id: s.userId, via: 'reset', sessions_ended: 2 }]);
      assert.ok(!JSON.stringify(audit).includes(token));
    });

    it('a reset token expires after an hour by the injected clock: 400, nothing changed', async () => {
      const s = await t.signup();
      const since = sink.messages.length;
      await reset(s.email);
      const { token } = linkIn((await sink.next(s.email, since)).text);
      t.clock.advance(HOUR);
      const before = await userRow(s.userId);
      const res = await confirm(token);
      assert4xx(res, 400, 'invalid_request', 'an expired token');
      assert.equal(res.body.details.token, 'expired');
      assert.deepEqual(await userRow(s.userId), before);
      assert.ok(await live(s));
    });

    it('a password change uses up a pending reset link', async () => {
      const s = await t.signup();
      const since = sink.messages.length;
      await reset(s.email);
      const { token } = linkIn((await sink.next(s.email, since)).text);
      assert.equal((await password(s, { current_password: PASSWORD, new_password: NEW_PASSWORD })).status, 200);
      assert4xx(await confirm(token, 'an attackers passphrase'), 400, 'invalid_request', 'a reset link from before the change');
    });

    it('reset requests are limited per address (429) and per account (the same answer, no more emails)', async () => {
      await sql`delete from rate_limits`.execute(t.store.db);
      const s = await t.signup();
      const since = sink.messages.length;
      for (let i = 0; i < 5; i++) assert.deepEqual((await reset(s.email)).body, { ok: true });
      await t.services.mailer.idle();
      await sink.next(s.email, since);
      const sent = () => sink.messages.slice(since).filter((m) => m.to.includes(s.email)).length;
      // Three emails an hour per account; the messages already delivered are counted once all arrived.
      while (sent() < 3) await sink.next(s.email, sink.messages.length);
      await t.services.mailer.idle();
      assert.equal(sent(), 3);
      const tokens = await t.store.db.selectFrom('password_resets').select('token_hash').where('user_id', '=', s.userId).execute();
      assert.equal(tokens.length, 3, 'no token for the requests past the limit');
      for (let i = 0; i < 20; i++) await reset(uniqueEmail('flood'));
      assert4xx(await reset(s.email), 429, 'rate_limited', 'past 20 an hour from one address');
      await sql`delete from rate_limits`.execute(t.store.db);
    });
  });
}
