/**
 * The security suite every route runs , generated from the route table, so a route
 * added later is covered without touching this file: no credentials, bad / malformed / rotated keys, a cookie
 * as a key and a key as a cookie, the wrong kind of credential, another workspace's ids (404, never revealing
 * which), CSRF on cookie calls, and no secret in any response. Every refused request is checked to have
 * changed nothing in the database.
 *
 * A new route is covered as soon as it is registered. Where this file cannot yet call it successfully (a path
 * parameter PARAMS does not know, a required body or query that BODIES / QUERIES lack, per /v1/openapi.json),
 * the "valid credentials" test only checks that the credentials were accepted; teach it the route for more
 * (security-routes.ts, shared with the role × route suite, security-roles.test.ts).
 * Routes outside the OpenAPI document (/mcp) are in the route table too and covered the same way; HEADERS
 * gives a route the headers its protocol needs (MCP's Accept).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { RouteInfo } from '../src/http/env.js';
import { type Call, createTestServer, type Res, type Session, STORES, type TestServer } from './harness.js';
import {
  BODIES,
  bodyFor,
  createWebhook,
  fill,
  HEADERS,
  HOUR,
  hasParam,
  type Ids,
  iso,
  needsFields,
  nextSeq,
  OBJECT_PARAMS,
  PARAMS,
  paramsOf,
  QUERIES,
  SAFE_METHODS,
  SECURITY_CONFIG,
  SHAPE,
  stableRow,
  withTargets,
} from './security-routes.js';

// The route table does not depend on the store: read it once, so each route gets tests of its own.
const ROUTES: RouteInfo[] = await (async () => {
  const probe = await createTestServer('sqlite');
  try {
    return probe.routes;
  } finally {
    await probe.close();
  }
})();
const PROTECTED = ROUTES.filter((r) => r.auth !== 'public');

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** A well-formed key that was never issued: `avs_live_` + 43 random base62 characters. */
function randomKey(): string {
  return `avs_live_${Array.from(randomBytes(43), (b) => BASE62[b % 62]).join('')}`;
}
const API_KEY_PATTERN = /avs_live_[0-9A-Za-z]{40,}/;
const acceptsKey = (r: RouteInfo) => r.auth === 'agent' || r.auth === 'either';
const acceptsSession = (r: RouteInfo) => r.auth === 'session' || r.auth === 'either';

/** The error envelope: { error, message, request_id }, and X-Request-Id equal to request_id. */
function assertError(res: Res, status: number, code: string, what: string): void {
  const got = `${what}: got ${res.status} ${JSON.stringify(res.body)}`;
  assert.equal(res.status, status, got);
  assert.equal(res.body?.error, code, got);
  assert.equal(typeof res.body.message, 'string', got);
  assert.ok(res.body.message.length > 0, got);
  assert.match(res.body.request_id, /^req_/, got);
  assert.equal(res.headers.get('x-request-id'), res.body.request_id, got);
}

/** Authentication passed: neither 401 nor 403, and never a 500. */
function assertAdmitted(res: Res, what: string): void {
  const got = `${what}: got ${res.status} ${JSON.stringify(res.body)}`;
  assert.ok(res.status !== 401 && res.status !== 403 && res.status < 500, got);
}

interface World {
  session: Session;
  agentId: string;
  key: string;
  claimId: string;
  holdId: string;
  resource: string;
  ids: Ids;
}

/** Tables whose rows a refused request must leave alone (those that exist). Activity and audit may log it. */
const GUARDED_TABLES = [
  'orgs',
  'users',
  'sessions',
  'memberships',
  'invites',
  'password_resets',
  'agents',
  'resources',
  'claims',
  'file_claims',
  'idempotency_keys',
  'webhooks',
  'holds',
  'resource_dependencies',
  'usage_reports',
];

for (const kind of STORES) {
  describe(`security: every route (${kind})`, () => {
    let t: TestServer;
    /** Workspaces A (the caller) and B (a stranger), each with an agent, a key and an active claim. */
    let A: World;
    let B: World;
    /** An agent of A whose key was rotated: `oldKey` is dead, `newKey` works. */
    let R: { oldKey: string; newKey: string; ids: Ids };
    /** The workspace the "valid credentials" tests work in (replaced when a route such as logout ends its session). */
    let P: Session;
    let forReads: World | undefined;

    /** Every response this suite saw, with the credentials it sent: scanned for secrets at the end. */
    const seen: { what: string; route: RouteInfo | undefined; res: Res; sent: string[] }[] = [];
    const sessions: string[] = [];

    async function send(r: RouteInfo, ids: Ids, call: Call, what: string, body = bodyFor(r, ids)): Promise<Res> {
      const extra = HEADERS[r.operationId];
      const withHeaders = extra ? { ...call, headers: { ...extra, ...call.headers } } : call;
      const res = await t.request(r.method, fill(r, ids), { ...(body === undefined ? {} : { body }), ...withHeaders });
      // The secret part of each credential sent (not "Bearer ", which error messages rightly mention).
      const sent = [
        call.key,
        call.session?.cookie,
        call.headers?.authorization?.replace(/^\S+\s+/, '').trim(),
        call.headers?.cookie?.replace(/^availsync_session=/, ''),
      ].filter((x): x is string => x !== undefined && x.length >= 16);
      seen.push({ what: `${r.method} ${r.path}: ${what}`, route: r, res, sent });
      return res;
    }

    /** A new agent of `session`'s workspace, with an active claim (and a working set) and a hold. */
    async function objectsIn(session: Session): Promise<World> {
      const seq = nextSeq();
      const agent = await t.createAgent(session, { name: `security-agent-${seq}` });
      const now = t.clock.now();
      const resource = `repo:acme/app-${seq}`;
      const started = await t.start(agent.key, { resource });
      assert.equal(started.body.action, 'proceed');
      const claimId = started.body.claim.id as string;
      const ws = await t.request('POST', '/v1/work/run/working-set', { key: agent.key, body: { claim_id: claimId, paths: ['src/a.ts'] } });
      assert.equal(ws.status, 200);
      let holdId = 'hld_none';
      if (ROUTES.some((r) => r.operationId === 'createHold')) {
        const body = { resource: `release:app-${seq}`, start_at: iso(now + HOUR), end_at: iso(now + 2 * HOUR) };
        const hold = await t.request('POST', '/v1/holds', { key: agent.key, body });
        assert.equal(hold.status, 201, JSON.stringify(hold.body));
        holdId = hold.body.hold.id;
      }
      const webhookId = ROUTES.some((r) => r.operationId === 'createWebhook') ? await createWebhook(t, session) : undefined;
      const ids = { orgId: session.orgId, agentId: agent.id, claimId, holdId, now, ...(webhookId ? { webhookId } : {}) };
      return { session, agentId: agent.id, key: agent.key, claimId, holdId, resource, ids };
    }

    /** A new workspace, with the objects above. */
    async function world(): Promise<World> {
      const session = await t.signup();
      sessions.push(session.cookie);
      return objectsIn(session);
    }

    let guarded: string[] = [];
    /** The rows a request could change, as text: guarded tables only, last-seen stamps aside (a valid key refreshes them). */
    async function snapshot(): Promise<string> {
      const tables = await Promise.all(
        guarded.map(async (name) => {
          const { rows } = await sql<Record<string, unknown>>`select * from ${sql.table(name)}`.execute(t.store.db);
          const stable = rows.map(stableRow);
          return [name, stable.sort()] as const;
        }),
      );
      return JSON.stringify(tables);
    }

    /** Routes this file knows how to call successfully (see the header). */
    const callable = new Set<string>();

    before(async () => {
      t = await createTestServer(kind, { config: SECURITY_CONFIG });
      const listed =
        kind === 'sqlite'
          ? await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(t.store.db)
          : await sql<{
              name: string;
            }>`select table_name as name from information_schema.tables where table_schema = current_schema()`.execute(t.store.db);
      const existing = new Set(listed.rows.map((r) => r.name));
      guarded = GUARDED_TABLES.filter((name) => existing.has(name));
      const doc = (await t.request('GET', '/v1/openapi.json')).body;
      for (const r of ROUTES) {
        const op = doc.paths[r.path.replace(/:(\w+)/g, '{$1}')]?.[r.method.toLowerCase()];
        const needsQuery = (op?.parameters ?? []).some((p: { in: string; required?: boolean }) => p.in === 'query' && p.required);
        const known =
          paramsOf(r).every((p) => p in PARAMS) &&
          (!op?.requestBody || r.operationId in BODIES || !needsFields(op.requestBody)) &&
          (!needsQuery || r.operationId in QUERIES);
        if (known) callable.add(r.operationId);
      }
      A = await world();
      B = await world();
      const rotated = await objectsIn(A.session);
      const rot = await t.request('POST', `/v1/orgs/${A.session.orgId}/agents/${rotated.agentId}/rotate-key`, { session: A.session });
      assert.equal(rot.status, 200);
      assert.notEqual(rot.body.api_key, rotated.key);
      R = { oldKey: rotated.key, newKey: rot.body.api_key, ids: rotated.ids };
      P = await t.signup();
      sessions.push(P.cookie);
    });
    after(async () => {
      await t.close();
    });

    it('the route table lists every route with its auth mode', () => {
      assert.ok(t.routes.length > 0);
      assert.deepEqual(t.routes, ROUTES);
      const ops = new Set(t.routes.map((r) => r.operationId));
      for (const op of ['startRun', 'getClaim', 'createAgent', 'rotateAgentKey', 'getOwnAgent', 'getSession']) assert.ok(ops.has(op), op);
      assert.equal(ops.size, t.routes.length, 'operationIds are unique');
      for (const r of t.routes) assert.ok(['agent', 'session', 'either', 'public'].includes(r.auth), `${r.operationId}: ${r.auth}`);
      assert.equal(t.routes.find((r) => r.operationId === 'startRun')?.auth, 'either');
      assert.equal(t.routes.find((r) => r.operationId === 'createAgent')?.auth, 'session');
      assert.equal(t.routes.find((r) => r.operationId === 'getOwnAgent')?.auth, 'agent');
      // Remote MCP is not in the OpenAPI document, but it is in the table, as an agent route.
      assert.deepEqual(
        t.routes.find((r) => r.operationId === 'mcp'),
        { method: 'POST', path: '/mcp', auth: 'agent', operationId: 'mcp' },
      );
    });

    it('public routes answer without credentials', async () => {
      for (const r of ROUTES.filter((x) => x.auth === 'public')) {
        const res = await send(r, A.ids, {}, 'no credentials');
        assert.ok(res.status !== 401 && res.status !== 403 && res.status < 500, `${r.path}: ${res.status}`);
      }
    });

    for (const r of PROTECTED) {
      describe(`${r.method} ${r.path} [${r.auth}]`, () => {
        // Every request refused below must leave the database as it was; checked once, after them all.
        let baseline: string;
        before(async () => {
          baseline = await snapshot();
        });

        it('no credentials: 401 unauthorized, with the error envelope', async () => {
          const res = await send(r, A.ids, {}, 'no credentials');
          assertError(res, 401, 'unauthorized', 'no credentials');
          assert.deepEqual(Object.keys(res.body).sort(), ['error', 'message', 'request_id']);
        });

        it('unknown, malformed and rotated keys: 401, even beside a valid cookie', async () => {
          const cookie = `availsync_session=${A.session.cookie}`;
          const headers: [string, Record<string, string>][] = [
            ['an unknown well-formed key', { authorization: `Bearer ${randomKey()}` }],
            ['the rotated (old) key', { authorization: `Bearer ${R.oldKey}` }],
            ['a key without the Bearer scheme', { authorization: A.key }],
            ['Basic auth', { authorization: `Basic ${Buffer.from('user:pass').toString('base64')}` }],
            ['an empty Bearer', { authorization: 'Bearer ' }],
            ['an empty header', { authorization: '' }],
            ['a truncated key', { authorization: `Bearer ${A.key.slice(0, 20)}` }],
            ['a key with a trailing token', { authorization: `Bearer ${A.key} extra` }],
            ['a key of the wrong prefix', { authorization: `Bearer sk_live_${A.key.slice(9)}` }],
            ['a very long key', { authorization: `Bearer avs_live_${'a'.repeat(500)}` }],
            ['a bad key beside a valid cookie', { authorization: `Bearer ${randomKey()}`, cookie, 'x-csrf-token': A.session.csrf }],
            ['the rotated key beside a valid cookie', { authorization: `Bearer ${R.oldKey}`, cookie, 'x-csrf-token': A.session.csrf }],
          ];
          for (const [what, h] of headers) assertError(await send(r, A.ids, { headers: h }, what), 401, 'unauthorized', what);
        });

        it('a session cookie never works as a key, and a key never works as a cookie: 401', async () => {
          const attempts: [string, Record<string, string>][] = [
            ['the cookie value as a Bearer key', { authorization: `Bearer ${A.session.cookie}` }],
            ['the cookie value dressed as an API key', { authorization: `Bearer avs_live_${A.session.cookie}` }],
            ['an agent key as the session cookie', { cookie: `availsync_session=${A.key}`, 'x-csrf-token': A.session.csrf }],
            ['an unknown session cookie', { cookie: `availsync_session=${randomBytes(32).toString('base64url')}` }],
          ];
          for (const [what, h] of attempts) assertError(await send(r, A.ids, { headers: h }, what), 401, 'unauthorized', what);
        });

        if (r.auth === 'agent') {
          it('a valid session cookie is not an agent key: 401', async () => {
            assertError(await send(r, A.ids, { session: A.session }, 'session cookie'), 401, 'unauthorized', 'session on an agent route');
          });
        }

        if (r.auth === 'session') {
          it('a valid agent key is refused on a workspace route: 403 forbidden', async () => {
            assertError(await send(r, A.ids, { key: A.key }, 'agent key'), 403, 'forbidden', 'agent key on a session route');
            assertError(await send(r, R.ids, { key: R.newKey }, 'rotated-in key'), 403, 'forbidden', 'new key on a session route');
          });
        }

        if (acceptsSession(r) && hasParam(r, 'org_id')) {
          it("another workspace's org id is 404 not_found, exactly like an unknown one", async () => {
            const foreign = await send(r, { ...A.ids, orgId: B.ids.orgId }, { session: A.session }, "B's org id");
            assertError(foreign, 404, 'not_found', "A's session on B's org id");
            const foreignAll = await send(r, B.ids, { session: A.session }, "all of B's ids");
            assertError(foreignAll, 404, 'not_found', "A's session on all of B's ids");
            const unknown = await send(r, { ...A.ids, orgId: 'org_doesnotexist' }, { session: A.session }, 'unknown org');
            assertError(unknown, 404, 'not_found', 'unknown org id');
            assert.equal(foreign.body.message, unknown.body.message, 'the message does not reveal which');
          });
        }

        if (acceptsSession(r) && hasParam(r, 'agent_id')) {
          it("another workspace's agent id is 404 not_found, exactly like an unknown one", async () => {
            const foreign = await send(r, { ...A.ids, agentId: B.agentId }, { session: A.session }, "B's agent id");
            assertError(foreign, 404, 'not_found', "A's session on B's agent");
            const unknown = await send(r, { ...A.ids, agentId: 'agt_doesnotexist' }, { session: A.session }, 'unknown agent');
            assertError(unknown, 404, 'not_found', 'unknown agent id');
            assert.equal(foreign.body.message, unknown.body.message, 'the message does not reveal which');
          });
        }

        if (acceptsSession(r) && !SAFE_METHODS.has(r.method)) {
          it('a cookie call that changes state needs the X-CSRF-Token: 403 without it or with a wrong one', async () => {
            const cookie = `availsync_session=${A.session.cookie}`;
            const attempts: [string, Record<string, string>][] = [
              ['no X-CSRF-Token', { cookie }],
              ['an empty X-CSRF-Token', { cookie, 'x-csrf-token': '' }],
              ['a wrong X-CSRF-Token', { cookie, 'x-csrf-token': 'x'.repeat(A.session.csrf.length) }],
              ["another session's X-CSRF-Token", { cookie, 'x-csrf-token': B.session.csrf }],
              ['the session token as X-CSRF-Token', { cookie, 'x-csrf-token': A.session.cookie }],
            ];
            for (const [what, h] of attempts) assertError(await send(r, A.ids, { headers: h }, what), 403, 'forbidden', what);
          });
        } else if (acceptsSession(r)) {
          it('a read with the cookie needs no CSRF token', async () => {
            const cookie = `availsync_session=${A.session.cookie}`;
            assertAdmitted(await send(r, A.ids, { headers: { cookie } }, 'cookie without CSRF'), 'a GET without X-CSRF-Token');
          });
        }

        // Objects named in the path (:claim_id, :hold_id) or in the body (claim_id).
        const objects = Object.entries(OBJECT_PARAMS).filter(([param]) => hasParam(r, param));
        if ('claim_id' in (bodyFor(r, SHAPE) ?? {}) && !hasParam(r, 'claim_id')) objects.push(['claim_id', 'claimId']);
        for (const [param, field] of objects) {
          it(`another workspace's ${param} is 404 not_found for its key and its session, exactly like an unknown one`, async () => {
            const foreignIds = { ...B.ids, [field]: A.ids[field] };
            const unknownIds = { ...B.ids, [field]: `${param.slice(0, 3)}_doesnotexist` };
            const callers: [string, Call][] = [];
            if (acceptsKey(r)) callers.push(["B's key", { key: B.key }]);
            if (acceptsSession(r)) callers.push(["B's session", { session: B.session }]);
            assert.ok(callers.length > 0);
            for (const [who, call] of callers) {
              const foreign = await send(r, foreignIds, call, `${who} on A's ${param}`);
              assertError(foreign, 404, 'not_found', `${who} on A's ${param}`);
              const unknown = await send(r, unknownIds, call, `${who} on an unknown ${param}`);
              assertError(unknown, 404, 'not_found', `${who} on an unknown ${param}`);
              assert.equal(foreign.body.message, unknown.body.message, 'the message does not reveal which');
            }
            const claim = await t.request('GET', `/v1/work/claims/${A.claimId}`, { key: A.key });
            assert.equal(claim.body.claim.status, 'active');
            assert.equal(claim.body.claim.renewal_count, 0);
            assert.deepEqual(
              claim.body.claim.working_set.map((f: { path: string }) => f.path),
              ['src/a.ts'],
            );
          });
        }

        if (acceptsSession(r) && 'agent_id' in (bodyFor(r, SHAPE) ?? {})) {
          it("a session acting for another workspace's agent is 404; a key naming another agent is 403", async () => {
            const foreign = await send(r, { ...B.ids, agentId: A.agentId }, { session: B.session }, "B's session for A's agent");
            assertError(foreign, 404, 'not_found', "B's session acting for A's agent");
            const unknown = await send(r, { ...B.ids, agentId: 'agt_doesnotexist' }, { session: B.session }, 'unknown agent');
            assertError(unknown, 404, 'not_found', 'a session acting for an unknown agent');
            assert.equal(foreign.body.message, unknown.body.message);
            if (acceptsKey(r)) {
              const mismatch = await send(r, { ...B.ids, agentId: A.agentId }, { key: B.key }, "B's key naming A's agent");
              assertError(mismatch, 403, 'forbidden', "B's key naming A's agent");
              const other = await send(r, { ...B.ids, agentId: 'agt_doesnotexist' }, { key: B.key }, "B's key naming an unknown agent");
              assertError(other, 403, 'forbidden', "B's key naming an unknown agent");
            }
          });
        }

        it('none of the refused requests above changed anything', async () => {
          assert.equal(await snapshot(), baseline);
        });

        if (acceptsKey(r)) {
          it('the rotated-in key works where keys are accepted', async () => {
            assertAdmitted(await send(r, R.ids, { key: R.newKey }, 'the new key'), 'the new key after rotation');
          });
        }

        it('valid credentials are accepted, and the answer carries no secret', async () => {
          if ((await t.request('GET', '/v1/session', { session: P })).status !== 200) {
            P = await t.signup(); // the previous route ended the session (logout)
            sessions.push(P.cookie);
            forReads = undefined;
          }
          // Reads share one set of objects; a route that may change state gets its own, so destructive routes
          // (delete, rotate, release) harm nothing else.
          if (SAFE_METHODS.has(r.method) && !forReads) forReads = await objectsIn(P);
          const w = SAFE_METHODS.has(r.method) && forReads ? forReads : await objectsIn(P);
          const callers: [string, Call][] = [];
          if (acceptsSession(r)) callers.push(['session', { session: w.session }]);
          if (acceptsKey(r)) callers.push(['agent key', { key: w.key }]);
          for (const [who, call] of callers) {
            const res = await send(r, await withTargets(t, r, w.session, w.ids), call, `valid ${who}`);
            const hint = `with a valid ${who}: ${res.status} ${JSON.stringify(res.body)}`;
            if (callable.has(r.operationId)) assert.ok(res.status >= 200 && res.status < 300, hint);
            else assertAdmitted(res, `${hint} (teach PARAMS/BODIES/QUERIES this route for a full check)`);
            assert.match(res.headers.get('x-request-id') ?? '', /^req_/);
            const text = JSON.stringify(res.body);
            assert.ok(!text.includes(w.session.cookie), `${who}: the session token leaked`);
            assert.ok(!text.includes(w.key), `${who}: the agent's key leaked`);
            for (const field of ['password_hash', 'key_hash', 'token_hash', 'password'])
              assert.ok(!text.includes(field), `${who}: ${field}`);
            const mayShowKey = r.operationId === 'createAgent' || r.operationId === 'rotateAgentKey';
            assert.equal(API_KEY_PATTERN.test(text), mayShowKey, `${who}: an API key is shown only on create and rotate`);
          }
        });
      });
    }

    it('nothing of one workspace is listed to another', async () => {
      const claims = await t.request('GET', '/v1/work/claims?limit=100', { key: B.key });
      assert.ok(claims.body.data.every((c: { agent_id: string }) => c.agent_id === B.agentId));
      const byAgent = await t.request('GET', `/v1/work/claims?agent_id=${A.agentId}`, { session: B.session });
      assert.equal(byAgent.status, 200);
      assert.deepEqual(byAgent.body.data, []);
      const all = await t.request('GET', '/v1/work/claims?limit=100', { session: B.session });
      assert.ok(all.body.data.every((c: { id: string }) => c.id !== A.claimId));
      const agents = await t.request('GET', `/v1/orgs/${B.session.orgId}/agents?limit=100`, { session: B.session });
      assert.ok(agents.body.data.every((a: { org_id: string }) => a.org_id === B.session.orgId));
      const resources = await t.request('GET', '/v1/work/resources?limit=100', { session: B.session });
      const listed = resources.body.data.map((x: { resource: string }) => x.resource);
      assert.ok(listed.includes(B.resource), JSON.stringify(listed));
      assert.ok(!listed.includes(A.resource), "never A's resource");
    });

    it('no response of this suite carried a secret, a stack trace or a 500; each had no-store and nosniff', () => {
      assert.ok(seen.length > PROTECTED.length * 5, `${seen.length} responses`);
      for (const { what, route, res, sent } of seen) {
        assert.ok(res.status < 500, `${what}: ${res.status}`);
        assert.match(res.headers.get('x-request-id') ?? '', /^req_/, what);
        // No cache keeps an answer (keys, CSRF tokens, live state) and nothing sniffs its type.
        if (route?.path.startsWith('/v1/')) assert.equal(res.headers.get('cache-control'), 'no-store', what);
        assert.equal(res.headers.get('x-content-type-options'), 'nosniff', what);
        const text = JSON.stringify(res.body ?? '');
        for (const s of sent) assert.ok(!text.includes(s), `${what}: echoed a credential it was sent`);
        for (const s of sessions) assert.ok(!text.includes(s), `${what}: a session token`);
        for (const field of ['password_hash', 'key_hash', 'token_hash']) assert.ok(!text.includes(field), `${what}: ${field}`);
        assert.doesNotMatch(text, /node:internal|\.[jt]s:\d+:\d+/, `${what}: a stack trace`);
        const mayShowKey = res.status < 300 && (route?.operationId === 'createAgent' || route?.operationId === 'rotateAgentKey');
        if (!mayShowKey) assert.ok(!API_KEY_PATTERN.test(text), `${what}: an API key in the body`);
        for (const [name, value] of res.headers) {
          if (name === 'set-cookie') continue;
          for (const s of [...sent, ...sessions]) assert.ok(!value.includes(s), `${what}: header ${name} carries a credential`);
          assert.ok(!API_KEY_PATTERN.test(value), `${what}: header ${name} carries an API key`);
        }
      }
    });
  });
}
