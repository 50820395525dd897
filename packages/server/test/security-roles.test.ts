/**
 * The shared security suite, roles: every route that takes a workspace session, tried with a
 * session of each role (owner, admin, member, viewer) of one workspace, against ONE table of the status
 * each role gets. A refused call is 403 `forbidden` with the error envelope and changes nothing in the
 * database; an allowed one gets the route's success status. A session route missing from the table
 * fails here, so a new route gets a row (and src/http/roles.ts an entry) before it lands.
 *
 * Objects a call may change (agents, claims, holds, members, invites, sessions) are made afresh for each
 * role; how each route is called (ids, bodies) is in security-routes.ts, shared with security.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { RouteInfo } from '../src/http/env.js';
import { type Call, createTestServer, type Res, type Session, STORES, type TestServer } from './harness.js';
import {
  bodyFor,
  fill,
  freshObjects,
  HEADERS,
  type Ids,
  SAFE_METHODS,
  SECURITY_CONFIG,
  stableRow,
  withTargets,
} from './security-routes.js';
import { addMember, type RoleName, signIn } from './teams-helpers.js';

const ROLES: readonly RoleName[] = ['owner', 'admin', 'member', 'viewer'];
type Row = readonly [owner: number, admin: number, member: number, viewer: number];
const ALL = (status: number): Row => [status, status, status, status];
const ADMINS = (status: number): Row => [status, status, 403, 403];
const MEMBERS = (status: number): Row => [status, status, status, 403];

/** What each role gets on each session route: [owner, admin, member, viewer]. */
const EXPECTED: Record<string, Row> = {
  // the caller's own session and account
  logout: ALL(200),
  getSession: ALL(200),
  changePassword: ALL(200),
  listAccountSessions: ALL(200),
  revokeAccountSession: ALL(200),
  // members and invites (the target member is a viewer)
  listMembers: ALL(200),
  updateMember: ADMINS(200),
  removeMember: ADMINS(200),
  listInvites: ADMINS(200),
  createInvite: ADMINS(201),
  revokeInvite: ADMINS(200),
  // agents and setup
  listAgents: ALL(200),
  getAgent: ALL(200),
  createAgent: ADMINS(201),
  updateAgent: ADMINS(200),
  deleteAgent: ADMINS(200),
  rotateAgentKey: ADMINS(200),
  testAgentConnection: ALL(200),
  runAgentSetupTest: ADMINS(200),
  // rules, plan, logs, value
  getRules: ALL(200),
  updateRules: ADMINS(200),
  getBillingStatus: ALL(200),
  listActivity: ALL(200),
  listAudit: ALL(200),
  getValueHealth: ALL(200),
  // work
  checkWork: ALL(200),
  getClaim: ALL(200),
  listClaims: ALL(200),
  listResources: ALL(200),
  finishRun: MEMBERS(200),
  releaseClaim: MEMBERS(200),
  startRun: ADMINS(200),
  legacyClaim: ADMINS(201),
  extendRun: ADMINS(200),
  extendClaim: ADMINS(200),
  updateWorkingSet: ADMINS(200),
  // live events
  streamEvents: ALL(200),
  // holds
  listHolds: ALL(200),
  getHold: ALL(200),
  getAvailability: ALL(200),
  checkConflicts: ALL(200),
  createHold: MEMBERS(201),
  releaseHold: MEMBERS(200),
  confirmHold: MEMBERS(200),
  // webhooks
  listWebhooks: ADMINS(200),
  createWebhook: ADMINS(201),
  updateWebhook: ADMINS(200),
  deleteWebhook: ADMINS(200),
  listWebhookDeliveries: ADMINS(200),
  testWebhook: ADMINS(200),
};

// The route table does not depend on the store: read it once.
const ROUTES: RouteInfo[] = await (async () => {
  const probe = await createTestServer('sqlite');
  try {
    return probe.routes;
  } finally {
    await probe.close();
  }
})();
const SESSION_ROUTES = ROUTES.filter((r) => r.auth === 'session' || r.auth === 'either');

/** Tables a refused call must leave alone (activity and audit may record it). */
const GUARDED = [
  'orgs',
  'users',
  'sessions',
  'memberships',
  'invites',
  'password_resets',
  'agents',
  'claims',
  'file_claims',
  'holds',
  'webhooks',
];

describe('the role table', () => {
  it('has one row for every route that takes a workspace session, and none for any other', () => {
    const session = new Set(SESSION_ROUTES.map((r) => r.operationId));
    const missing = [...session].filter((op) => !(op in EXPECTED));
    assert.deepEqual(missing, [], 'add these routes to EXPECTED here and to src/http/roles.ts');
    assert.deepEqual(
      Object.keys(EXPECTED).filter((op) => !session.has(op)),
      [],
      'rows for routes that do not exist or take no session',
    );
  });
});

for (const kind of STORES) {
  describe(`security: every session route × every role (${kind})`, () => {
    let t: TestServer;
    const who: Partial<Record<RoleName, Session>> = {};
    const as = (role: RoleName) => who[role] as Session;
    /** One set of objects for reads; calls that may change state get their own. */
    let shared: Ids;

    async function snapshot(): Promise<string> {
      const tables = await Promise.all(
        GUARDED.map(async (name) => {
          const { rows } = await sql<Record<string, unknown>>`select * from ${sql.table(name)}`.execute(t.store.db);
          const stable = rows.map(stableRow);
          return [name, stable.sort()] as const;
        }),
      );
      return JSON.stringify(tables);
    }

    function call(r: RouteInfo, ids: Ids, session: Session): Promise<Res> {
      const body = bodyFor(r, ids);
      const extra: Call = { session, ...(HEADERS[r.operationId] ? { headers: HEADERS[r.operationId] } : {}) };
      return t.request(r.method, fill(r, ids), { ...(body === undefined ? {} : { body }), ...extra });
    }

    before(async () => {
      t = await createTestServer(kind, { config: SECURITY_CONFIG });
      who.owner = await t.signup();
      for (const role of ['admin', 'member', 'viewer'] as const) who[role] = await addMember(t, as('owner'), role);
      shared = await freshObjects(t, as('owner'));
    });
    after(async () => {
      await t.close();
    });

    it('each role is signed in to the one workspace with its role', async () => {
      for (const role of ROLES) {
        const res = await t.request('GET', '/v1/session', { session: as(role) });
        assert.equal(res.status, 200);
        assert.equal(res.body.workspace.id, as('owner').orgId);
        assert.equal(res.body.workspace.role, role);
      }
    });

    for (const r of SESSION_ROUTES) {
      const row = EXPECTED[r.operationId];
      const label = row ? ROLES.map((role, i) => `${role} ${row[i]}`).join(', ') : 'no row';
      it(`${r.method} ${r.path}: ${label}`, async () => {
        assert.ok(row, `${r.operationId} has no row in EXPECTED`);
        // Everything each role's call needs, made before any call: the refused ones are then checked
        // to have changed nothing at all.
        const targets = new Map<RoleName, Ids>();
        for (const role of ROLES) {
          const base = SAFE_METHODS.has(r.method) ? shared : await freshObjects(t, as('owner'));
          targets.set(role, await withTargets(t, r, as(role), base, as('owner')));
        }
        const refused = ROLES.filter((_, i) => row[i] === 403);
        const before = await snapshot();
        for (const role of refused) {
          const res = await call(r, targets.get(role) as Ids, as(role));
          const got = `${role}: ${res.status} ${JSON.stringify(res.body)}`;
          assert.equal(res.status, 403, got);
          assert.equal(res.body.error, 'forbidden', got);
          assert.match(res.body.message, new RegExp(`you are ${role}`), got);
          assert.match(res.body.request_id, /^req_/, got);
        }
        assert.equal(await snapshot(), before, 'a refused call changed something');
        for (const [i, role] of ROLES.entries()) {
          if (row[i] === 403) continue;
          const res = await call(r, targets.get(role) as Ids, as(role));
          assert.equal(res.status, row[i], `${role}: ${res.status} ${JSON.stringify(res.body)}`);
          // Signing out (or ending the current session) ends the role's session: sign in again.
          if ((await t.request('GET', '/v1/session', { session: as(role) })).status === 401) {
            who[role] = await signIn(t, as(role).email);
          }
        }
      });
    }
  });
}
