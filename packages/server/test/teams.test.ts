/**
 * Members and roles (issue 19): who may change or remove whom, the last owner kept, removal
 * ending that user's sessions in the workspace only, one user in several workspaces (GET /v1/session
 * lists them; the path or X-Availsync-Workspace names the one a request acts in), every change audited,
 * and migration 007 making each existing user the owner of their workspace.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Migrator, sql } from 'kysely';
import { ManualClock } from '../src/clock.js';
import { migrationProvider } from '../src/storage/migrations/index.js';
import { createTestServer, makeStore, type Res, type Session, STORES, type TestServer, uniqueEmail } from './harness.js';
import { addMember, PASSWORD, sessionOf, signIn } from './teams-helpers.js';

function assert4xx(res: Res, status: number, code: string, what: string) {
  const got = `${what}: ${res.status} ${JSON.stringify(res.body)}`;
  assert.equal(res.status, status, got);
  assert.equal(res.body.error, code, got);
}

for (const kind of STORES) {
  describe(`members and roles (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await createTestServer(kind);
    });
    after(async () => {
      await t.close();
    });

    const members = (s: Session) => t.request('GET', `/v1/orgs/${s.orgId}/members`, { session: s });
    const patch = (s: Session, userId: string, role: string) =>
      t.request('PATCH', `/v1/orgs/${s.orgId}/members/${userId}`, { session: s, body: { role } });
    const remove = (s: Session, userId: string) => t.request('DELETE', `/v1/orgs/${s.orgId}/members/${userId}`, { session: s });
    const roleRows = async (orgId: string) =>
      JSON.stringify(await t.store.db.selectFrom('memberships').selectAll().where('org_id', '=', orgId).orderBy('user_id').execute());

    it('the member list shows everyone with their role, oldest first', async () => {
      const owner = await t.signup();
      const admin = await addMember(t, owner, 'admin');
      const viewer = await addMember(t, owner, 'viewer');
      const res = await members(viewer);
      assert.equal(res.status, 200);
      assert.deepEqual(
        res.body.data.map((m: { user_id: string; role: string }) => [m.user_id, m.role]),
        [
          [owner.userId, 'owner'],
          [admin.userId, 'admin'],
          [viewer.userId, 'viewer'],
        ],
      );
      assert.equal(res.body.pagination.total, 3);
      assert.deepEqual(Object.keys(res.body.data[0]).sort(), ['email', 'joined_at', 'last_login_at', 'role', 'user_id']);
    });

    it('admins manage admins, members and viewers; only owners grant, change or remove owner', async () => {
      const owner = await t.signup();
      const admin = await addMember(t, owner, 'admin');
      const member = await addMember(t, owner, 'member');
      const before = await roleRows(owner.orgId);
      assert4xx(await patch(admin, member.userId, 'owner'), 403, 'forbidden', 'admin makes an owner');
      assert4xx(await patch(admin, owner.userId, 'admin'), 403, 'forbidden', "admin changes an owner's role");
      assert4xx(await remove(admin, owner.userId), 403, 'forbidden', 'admin removes an owner');
      assert4xx(await patch(member, admin.userId, 'viewer'), 403, 'forbidden', 'member changes a role');
      assert4xx(await remove(member, admin.userId), 403, 'forbidden', 'member removes someone');
      assert4xx(await patch(owner, member.userId, 'superuser'), 400, 'invalid_request', 'a role that does not exist');
      assert4xx(await patch(owner, 'usr_nobody', 'viewer'), 404, 'not_found', 'an unknown user');
      assert.equal(await roleRows(owner.orgId), before, 'nothing changed');

      const promoted = await patch(admin, member.userId, 'admin');
      assert.equal(promoted.status, 200);
      assert.equal(promoted.body.member.role, 'admin');
      assert.equal((await patch(owner, member.userId, 'owner')).body.member.role, 'owner');
      const changes = await t.store.db.selectFrom('audit_events').selectAll().where('event', '=', 'member.role_changed').execute();
      const mine = changes.filter((e) => e.org_id === owner.orgId).map((e) => JSON.parse(e.details));
      assert.deepEqual(
        mine.map((d) => [d.user_id, d.from, d.to]),
        [
          [member.userId, 'member', 'admin'],
          [member.userId, 'admin', 'owner'],
        ],
      );
    });

    it('the last owner cannot be demoted or leave (409, nothing changed); with two owners one can', async () => {
      const owner = await t.signup();
      const admin = await addMember(t, owner, 'admin');
      const before = await roleRows(owner.orgId);
      const demote = await patch(owner, owner.userId, 'admin');
      assert4xx(demote, 409, 'conflict', 'demoting the last owner');
      assert.equal(demote.body.details.reason, 'last_owner');
      assert4xx(await remove(owner, owner.userId), 409, 'conflict', 'the last owner leaving');
      assert.equal(await roleRows(owner.orgId), before);
      assert.equal((await t.request('GET', '/v1/session', { session: owner })).status, 200, 'still signed in');

      assert.equal((await patch(owner, admin.userId, 'owner')).status, 200);
      assert.equal((await patch(owner, owner.userId, 'member')).body.member.role, 'member', 'no longer the last owner');
      assert4xx(await patch(admin, admin.userId, 'viewer'), 409, 'conflict', 'now the last one');
    });

    it('two owners demoting each other at once: exactly one succeeds, one owner remains', async () => {
      const a = await t.signup();
      const b = await addMember(t, a, 'owner');
      const [x, y] = await Promise.all([patch(a, b.userId, 'admin'), patch(b, a.userId, 'admin')]);
      // The second sees the first's change under the lock: no longer an owner (403), or the last one (409).
      const statuses = [x.status, y.status].sort();
      assert.equal(statuses[0], 200, JSON.stringify([x.body, y.body]));
      assert.ok(statuses[1] === 403 || statuses[1] === 409, JSON.stringify([x.body, y.body]));
      const owners = await t.store.db
        .selectFrom('memberships')
        .select('user_id')
        .where('org_id', '=', a.orgId)
        .where('role', '=', 'owner')
        .execute();
      assert.equal(owners.length, 1);
    });

    it('removing a member ends their sessions in that workspace, not in their others', async () => {
      const owner = await t.signup();
      const email = uniqueEmail('removed');
      const theirs = await t.signup(email, PASSWORD, 'Their Co');
      const invite = await t.request('POST', `/v1/orgs/${owner.orgId}/invites`, { session: owner, body: { email, role: 'member' } });
      const token = /token=(\S+)$/.exec(invite.body.invite_url)?.[1] as string;
      const joined = await t.request('POST', '/v1/invites/accept', { body: { token, password: PASSWORD } });
      assert.equal(joined.status, 200);
      const joinedSession = sessionOf(joined, email);
      const second = await signIn(t, email); // its workspace is the user's first (Their Co)
      assert.equal(second.orgId, theirs.orgId);
      assert.equal((await members(joinedSession)).status, 200);

      const res = await remove(owner, theirs.userId);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.sessions_ended, 1, 'the session signed in to this workspace');
      assert.equal((await t.request('GET', '/v1/session', { session: joinedSession })).status, 401);
      // Their other sessions live on, but no longer reach the workspace they left (404, as if unknown).
      assert.equal((await t.request('GET', '/v1/session', { session: theirs })).status, 200);
      assert4xx(await members({ ...theirs, orgId: owner.orgId }), 404, 'not_found', 'the workspace they left');
      const left = await t.request('GET', '/v1/session', { session: second });
      assert.deepEqual(
        left.body.workspaces.map((w: { id: string }) => w.id),
        [theirs.orgId],
      );
      const removed = await t.store.db.selectFrom('audit_events').selectAll().where('event', '=', 'member.removed').execute();
      const row = removed.find((e) => e.org_id === owner.orgId);
      assert.ok(row);
      assert.deepEqual(JSON.parse(row.details), {
        user_id: theirs.userId,
        email,
        role: 'member',
        left: false,
        sessions_ended: 1,
      });
    });

    it('anyone may leave; a removed user with no workspace left cannot sign in', async () => {
      const owner = await t.signup();
      const viewer = await addMember(t, owner, 'viewer');
      const res = await remove(viewer, viewer.userId);
      assert.equal(res.status, 200);
      assert.equal((await t.request('GET', '/v1/session', { session: viewer })).status, 401);
      const login = await t.request('POST', '/v1/auth/login', { body: { email: viewer.email, password: PASSWORD } });
      assert4xx(login, 403, 'forbidden', 'no workspace left');
      const rows = await t.store.db.selectFrom('sessions').select('id').where('user_id', '=', viewer.userId).execute();
      assert.equal(rows.length, 0, 'no session was opened');
    });

    it('one session, several workspaces: the path or X-Availsync-Workspace names the one; others are 404', async () => {
      const a = await t.signup(uniqueEmail('multi'), PASSWORD, 'Alpha');
      const b = await t.signup(uniqueEmail('other'), PASSWORD, 'Beta');
      const stranger = await t.signup(uniqueEmail('stranger'), PASSWORD, 'Gamma');
      const invite = await t.request('POST', `/v1/orgs/${b.orgId}/invites`, { session: b, body: { email: a.email, role: 'viewer' } });
      const token = /token=(\S+)$/.exec(invite.body.invite_url)?.[1] as string;
      assert.equal((await t.request('POST', '/v1/invites/accept', { session: a, body: { token } })).status, 200);
      const s = await signIn(t, a.email);
      const session = await t.request('GET', '/v1/session', { session: s });
      assert.equal(session.body.workspace.id, a.orgId, 'a sign-in opens the first workspace');
      assert.deepEqual(session.body.workspaces.map((w: { name: string; role: string }) => `${w.name}:${w.role}`).sort(), [
        'Alpha:owner',
        'Beta:viewer',
      ]);
      const inB = { headers: { 'x-availsync-workspace': b.orgId } };
      const viaHeader = await t.request('GET', '/v1/session', { session: s, ...inB });
      assert.equal(viaHeader.body.workspace.id, b.orgId);
      assert.equal(viaHeader.body.workspace.role, 'viewer');
      // The role is the one in the workspace named: owner in Alpha, viewer in Beta.
      assert.equal((await t.request('POST', `/v1/orgs/${a.orgId}/agents`, { session: s, body: { name: 'x' } })).status, 201);
      assert4xx(await t.request('POST', `/v1/orgs/${b.orgId}/agents`, { session: s, body: { name: 'x' } }), 403, 'forbidden', 'viewer');
      assert4xx(
        await t.request('POST', '/v1/holds', { session: s, ...inB, body: { resource: 'release:x', start_at: 'x', end_at: 'y' } }),
        403,
        'forbidden',
        'a viewer creating a hold, by header',
      );
      const audit = await t.request('GET', '/v1/audit', { session: s, ...inB });
      assert.ok(
        audit.body.data.every((e: { event: string }) => !e.event.startsWith('agent.')),
        "Beta's log, not Alpha's",
      );
      const unknown = await t.request('GET', '/v1/audit', { session: s, headers: { 'x-availsync-workspace': 'org_doesnotexist' } });
      const foreign = await t.request('GET', '/v1/audit', { session: s, headers: { 'x-availsync-workspace': stranger.orgId } });
      assert4xx(unknown, 404, 'not_found', 'an unknown workspace');
      assert4xx(foreign, 404, 'not_found', 'a workspace of which the user is no member');
      assert.equal(foreign.body.message, unknown.body.message, 'never revealing which');
      const bad = await t.request('GET', '/v1/audit', { session: s, headers: { 'x-availsync-workspace': 'o'.repeat(65) } });
      assert4xx(bad, 400, 'invalid_request', 'a header no workspace id can be');
      // The path wins over the header.
      const both = await t.request('GET', `/v1/orgs/${a.orgId}/members`, { session: s, ...inB });
      assert.equal(both.body.data[0].user_id, a.userId);
    });
  });

  describe(`the teams routes in /v1/openapi.json (${kind})`, () => {
    it('documents every new route with its request and response schemas', async () => {
      const t = await createTestServer(kind);
      try {
        const doc = (await t.request('GET', '/v1/openapi.json')).body;
        const expect: [string, string, boolean][] = [
          ['/v1/orgs/{org_id}/members', 'get', false],
          ['/v1/orgs/{org_id}/members/{user_id}', 'patch', true],
          ['/v1/orgs/{org_id}/members/{user_id}', 'delete', false],
          ['/v1/orgs/{org_id}/invites', 'get', false],
          ['/v1/orgs/{org_id}/invites', 'post', true],
          ['/v1/orgs/{org_id}/invites/{invite_id}', 'delete', false],
          ['/v1/invites/accept', 'post', true],
          ['/v1/auth/password', 'post', true],
          ['/v1/auth/sessions', 'get', false],
          ['/v1/auth/sessions/{session_id}', 'delete', false],
          ['/v1/auth/password-reset', 'post', true],
          ['/v1/auth/password-reset/confirm', 'post', true],
        ];
        for (const [path, method, body] of expect) {
          const op = doc.paths[path]?.[method];
          assert.ok(op, `${method} ${path}`);
          assert.ok(op.operationId && op.summary, `${method} ${path}: operationId and summary`);
          if (body) assert.ok(op.requestBody?.content?.['application/json']?.schema, `${method} ${path}: request schema`);
          const ok = Object.keys(op.responses).find((s) => s.startsWith('2'));
          assert.ok(ok && op.responses[ok].content?.['application/json']?.schema, `${method} ${path}: response schema`);
        }
        const invite = doc.paths['/v1/orgs/{org_id}/invites'].post.requestBody.content['application/json'].schema;
        assert.deepEqual(invite.properties.role.enum, ['owner', 'admin', 'member', 'viewer']);
        const session = doc.paths['/v1/session'].get.responses['200'].content['application/json'].schema;
        assert.ok(JSON.stringify(session).includes('workspaces'), 'the session lists workspaces');
      } finally {
        await t.close();
      }
    });
  });

  describe(`migration 007 (${kind})`, () => {
    it('every existing user becomes the owner of their workspace, and their sessions get ids', async () => {
      const clock = new ManualClock();
      const made = makeStore(kind, clock);
      try {
        const db = made.store.db;
        if (made.schema) await sql`create schema if not exists ${sql.id(made.schema)}`.execute(db);
        const migrator = new Migrator({ db, provider: migrationProvider, ...(made.schema ? { migrationTableSchema: made.schema } : {}) });
        const to006 = await migrator.migrateTo('006_hook_sessions');
        assert.equal(to006.error, undefined);
        await sql`insert into orgs (id, name, plan, default_mode, default_claim_minutes, max_claim_minutes, created_at)
                  values ('org_old', 'Old Co', 'free', 'enforce', 30, 720, 1000)`.execute(db);
        await sql`insert into users (id, org_id, email, password_hash, created_at, last_login_at)
                  values ('usr_old', 'org_old', 'old@example.com', 'x', 1000, null)`.execute(db);
        await sql`insert into sessions (token_hash, user_id, org_id, created_at, expires_at)
                  values ('abc', 'usr_old', 'org_old', 1000, 99999999999999)`.execute(db);
        await made.store.migrate();
        const memberships = await db.selectFrom('memberships').selectAll().execute();
        assert.deepEqual(
          memberships.map((m) => ({ ...m, created_at: Number(m.created_at) })),
          [{ org_id: 'org_old', user_id: 'usr_old', role: 'owner', created_at: 1000 }],
        );
        const session = await db.selectFrom('sessions').selectAll().executeTakeFirstOrThrow();
        assert.match(session.id, /^ses_[0-9a-f]{25}$/);
        assert.ok(!session.id.includes('abc'));
      } finally {
        await made.store.close();
        await made.drop();
      }
    });
  });
}
