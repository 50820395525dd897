/**
 * Invariant 9: every malformed request gets a structured 4xx, changes nothing, and the server keeps
 * serving. Each refused request is bracketed by a snapshot of every table a request could change, and
 * followed by a good request; `details` names the offending field; no response is ever a 500.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { type Call, createTestServer, MIN, type Res, type Session, STORES, type TestServer } from '@availsync/testkit';
import type { RouteInfo } from '../src/http/env.js';

/** A request the server must refuse: what to expect back. `field` must be named in `details`. */
interface Refusal {
  status?: number;
  error?: string;
  field?: string;
}

for (const kind of STORES) {
  describe(`bad input (${kind})`, () => {
    let t: TestServer;
    let session: Session;
    let key: string;
    let agentId: string;
    let claimId: string;
    /** Every response seen, to check at the end that none was a 500. */
    const seen: { what: string; res: Res }[] = [];
    let seq = 0;

    before(async () => {
      t = await createTestServer(kind);
      const w = await t.workspace({ name: 'bad-input-agent' });
      session = w.session;
      key = w.key;
      agentId = w.agent.id;
      const started = await t.start(key, { resource: 'repo:acme/app' });
      claimId = started.body.claim.id;
      const ws = await t.request('POST', '/v1/work/run/working-set', { key, body: { claim_id: claimId, paths: ['src/a.ts'] } });
      assert.equal(ws.status, 200);
    });
    after(async () => {
      await t.close();
    });

    async function request(method: string, path: string, call: Call = {}): Promise<Res> {
      const res = await t.request(method, path, call);
      seen.push({ what: `${method} ${path}`, res });
      return res;
    }

    /** A request without the harness's JSON content type (or with none at all). */
    async function rawRequest(method: string, path: string, headers: Record<string, string>, body?: string): Promise<Res> {
      const res = await t.app.request(path, { method, headers: { authorization: `Bearer ${key}`, ...headers }, body });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      const out: Res = { status: res.status, body: parsed, headers: res.headers };
      seen.push({ what: `${method} ${path} (raw)`, res: out });
      return out;
    }

    /** Every row a request could change (last-seen stamps aside: a valid key refreshes them by design). */
    async function snapshot(): Promise<{ text: string; claims: number }> {
      const db = t.store.db;
      const [orgs, users, sessions, agents, claims, files, resources, idem, audit] = await Promise.all([
        db.selectFrom('orgs').selectAll().orderBy('id').execute(),
        db.selectFrom('users').selectAll().orderBy('id').execute(),
        db.selectFrom('sessions').selectAll().orderBy('token_hash').execute(),
        db.selectFrom('agents').selectAll().orderBy('id').execute(),
        db.selectFrom('claims').selectAll().orderBy('id').execute(),
        db.selectFrom('file_claims').selectAll().orderBy('id').execute(),
        db.selectFrom('resources').selectAll().orderBy('org_id').orderBy('resource_type').orderBy('resource_key').execute(),
        db.selectFrom('idempotency_keys').selectAll().orderBy('scope').orderBy('key').execute(),
        db.selectFrom('audit_events').selectAll().orderBy('id').execute(),
      ]);
      const stable = agents.map(({ last_seen_at: _s, last_heartbeat_at: _h, ...rest }) => rest);
      return { text: JSON.stringify({ orgs, users, sessions, stable, claims, files, resources, idem, audit }), claims: claims.length };
    }

    /** A good request right after a bad one: the server still authenticates, validates, reads and decides. */
    async function stillServes(what: string): Promise<void> {
      const check = await request('POST', '/v1/work/check', { key, body: { resource: `repo:acme/good-${++seq}` } });
      assert.equal(check.body.available, true, `a good check after ${what}: ${JSON.stringify(check.body)}`);
    }

    /** After every test: a real run still starts and finishes. */
    afterEach(async () => {
      const ok = await request('POST', '/v1/work/run/start', { key, body: { resource: `repo:acme/good-${++seq}` } });
      assert.equal(ok.body.action, 'proceed', JSON.stringify(ok.body));
      const done = await request('POST', '/v1/work/run/finish', { key, body: { claim_id: ok.body.claim.id } });
      assert.equal(done.body.action, 'finished');
    });

    /** Send a bad request: a structured 4xx naming the field, nothing changed, and the server still serves. */
    async function refuses(what: string, send: () => Promise<Res>, expect: Refusal = {}): Promise<Res> {
      const {
        status = 400,
        error = status === 413 ? 'payload_too_large' : status === 404 ? 'not_found' : 'invalid_request',
        field,
      } = expect;
      const before = await snapshot();
      const res = await send();
      const got = `${what}: got ${res.status} ${JSON.stringify(res.body)?.slice(0, 400)}`;
      assert.equal(res.status, status, got);
      assert.equal(res.body?.error, error, got);
      assert.equal(typeof res.body.message, 'string', got);
      assert.match(res.body.request_id, /^req_/, got);
      assert.equal(res.headers.get('x-request-id'), res.body.request_id, got);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/, got);
      const now = await snapshot();
      assert.equal(now.claims, before.claims, `${what}: no claim row created`);
      assert.equal(now.text, before.text, `${what}: nothing changed`);
      await stillServes(what);
      if (field !== undefined) {
        const keys = Object.keys(res.body.details ?? {});
        assert.ok(
          keys.some((k) => k === field || k.startsWith(`${field}.`)),
          `${what}: details should name "${field}": ${JSON.stringify(res.body.details)}`,
        );
      }
      return res;
    }

    const start = (body: unknown) => () => request('POST', '/v1/work/run/start', { key, body });
    const ws = (body: Record<string, unknown>) => () =>
      request('POST', '/v1/work/run/working-set', { key, body: { claim_id: claimId, ...body } });

    it('every route that takes a JSON body refuses malformed JSON and non-object JSON', async () => {
      const doc = (await request('GET', '/v1/openapi.json')).body;
      const withBody = t.routes.filter((r) => doc.paths[r.path.replace(/:(\w+)/g, '{$1}')]?.[r.method.toLowerCase()]?.requestBody);
      const ops = withBody.map((r) => r.operationId);
      for (const op of ['startRun', 'extendRun', 'finishRun', 'updateWorkingSet', 'createAgent', 'signup', 'login'])
        assert.ok(ops.includes(op), op);
      const ids: Record<string, string> = { org_id: session.orgId, agent_id: agentId, claim_id: claimId };
      const callAs = (r: RouteInfo): Call => (r.auth === 'session' ? { session } : r.auth === 'public' ? {} : { key });
      // Every kind of bad body on run/start; a representative few on every other route.
      const bodies = [
        '{"resource":',
        '{resource: "repo:acme/app"}',
        "{'name': 'x'}",
        '{"a":1} trailing',
        '',
        '[]',
        '[{"resource":"repo:acme/app"}]',
        '"repo:acme/app"',
        'null',
        '42',
        'true',
      ];
      const few = ['{"resource":', '', '[]', 'null', '"text"'];
      for (const r of withBody) {
        const path = r.path.replace(/:(\w+)/g, (_, name: string) => ids[name] ?? name);
        for (const rawBody of r.operationId === 'startRun' ? bodies : few) {
          await refuses(`${r.operationId} with body ${JSON.stringify(rawBody)}`, () => request(r.method, path, { ...callAs(r), rawBody }), {
            field: 'body',
          });
        }
      }
    });

    it('a body that is not declared as JSON is 400, whatever it looks like', async () => {
      const json = JSON.stringify({ resource: 'repo:acme/ctype' });
      for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml']) {
        await refuses(`Content-Type ${contentType}`, () => rawRequest('POST', '/v1/work/run/start', { 'content-type': contentType }, json));
      }
      await refuses('no Content-Type', () => rawRequest('POST', '/v1/work/run/start', {}, json));
      const charset = await request('POST', '/v1/work/run/start', {
        key,
        body: { resource: 'repo:acme/charset' },
        headers: { 'content-type': 'application/json; charset=utf-8' },
      });
      assert.equal(charset.body.action, 'proceed', 'JSON with a charset is fine');
    });

    it('wrong types are 400 and name the field', async () => {
      const cases: [Record<string, unknown>, string][] = [
        [{ resource: 'repo:acme/x', duration_minutes: '45' }, 'duration_minutes'],
        [{ resource: 'repo:acme/x', preempt: 'yes' }, 'preempt'],
        [{ resource: 'repo:acme/x', preempt: 1 }, 'preempt'],
        [{ resource: 'repo:acme/x', priority: '1' }, 'priority'],
        [{ resource: 'repo:acme/x', reason: 5 }, 'reason'],
        [{ resource: 'repo:acme/x', reason: 'r'.repeat(501) }, 'reason'],
        [{ resource: 'repo:acme/x', metadata: [] }, 'metadata'],
        [{ resource: 'repo:acme/x', metadata: 'x' }, 'metadata'],
        [{ resource: 'repo:acme/x', metadata: null }, 'metadata'],
        [{ resource: 'repo:acme/x', start_at: 12345 }, 'start_at'],
        [{ resource: 'repo:acme/x', start_at: 'tomorrow' }, 'start_at'],
        [{ resource: 'repo:acme/x', start_at: '2026-13-01T00:00:00Z' }, 'start_at'],
        [{ resource: 42 }, 'resource'],
        [{ resource: ['repo:acme/x'] }, 'resource'],
        [{ resource: 'repo:acme/x', agent_id: 7 }, 'agent_id'],
        [{ resource: 'repo:acme/x', idempotency_key: '' }, 'idempotency_key'],
        [{ resource: 'repo:acme/x', idempotency_key: 'k'.repeat(256) }, 'idempotency_key'],
      ];
      for (const [body, field] of cases) await refuses(`start ${JSON.stringify(body).slice(0, 80)}`, start(body), { field });
      await refuses(
        'finish with outcome "done"',
        () => request('POST', '/v1/work/run/finish', { key, body: { claim_id: claimId, outcome: 'done' } }),
        {
          field: 'outcome',
        },
      );
      await refuses('finish with claim_id 12', () => request('POST', '/v1/work/run/finish', { key, body: { claim_id: 12 } }), {
        field: 'claim_id',
      });
      await refuses('extend without claim_id', () => request('POST', '/v1/work/run/extend', { key, body: {} }), { field: 'claim_id' });
      await refuses(
        'agent priority "high"',
        () => request('POST', `/v1/orgs/${session.orgId}/agents`, { session, body: { name: 'x', priority: 'high' } }),
        {
          field: 'priority',
        },
      );
    });

    it('schemas are strict: an unknown field is 400 and is named, even nested', async () => {
      await refuses('start with an unknown field', start({ resource: 'repo:acme/x', bogus: 1 }), { field: 'bogus' });
      await refuses('start with a misspelt field', start({ resource: 'repo:acme/x', duration_minute: 45 }), { field: 'duration_minute' });
      await refuses(
        'start with __proto__',
        () => request('POST', '/v1/work/run/start', { key, rawBody: '{"resource":"repo:acme/x","__proto__":{"admin":true}}' }),
        {
          field: '__proto__',
        },
      );
      await refuses(
        'extend with an unknown working_set field',
        () =>
          request('POST', '/v1/work/run/extend', { key, body: { claim_id: claimId, working_set: { paths: ['src/b.ts'], glob: true } } }),
        { field: 'working_set.glob' },
      );
      await refuses(
        'finish with an unknown field',
        () => request('POST', '/v1/work/run/finish', { key, body: { claim_id: claimId, status: 'released' } }),
        {
          field: 'status',
        },
      );
      await refuses('working-set with an unknown field', ws({ paths: ['src/b.ts'], exclusive: true }), { field: 'exclusive' });
      await refuses(
        'claims/:id/extend with an unknown field',
        () => request('POST', `/v1/work/claims/${claimId}/extend`, { key, body: { minutes: 5 } }),
        {
          field: 'minutes',
        },
      );
      await refuses(
        'agent create with an unknown field',
        () => request('POST', `/v1/orgs/${session.orgId}/agents`, { session, body: { name: 'x', color: 'red' } }),
        {
          field: 'color',
        },
      );
      await refuses(
        'login with an unknown field',
        () => request('POST', '/v1/auth/login', { body: { email: session.email, password: 'x', admin: true } }),
        {
          field: 'admin',
        },
      );
    });

    it('unknown resource types and malformed resource keys are 400', async () => {
      const bad = [
        'svn:x',
        'git:acme/app',
        'REPO:acme/app',
        'repo:noslash',
        'repo:a/../b',
        'repo:../b',
        'repo:a/..',
        'repo:./b',
        'repo:a/b/c',
        'repo:a/',
        'repo:/b',
        'repo:a b/c',
        'repo:',
        ':acme/app',
        'repo',
        'project:../x',
        'project:a/../b',
        'project:a b',
        `project:${'p'.repeat(201)}`,
      ];
      for (const resource of bad) await refuses(`resource ${resource.slice(0, 40)}`, start({ resource }), { field: 'resource' });
      await refuses('resource_type svn', start({ resource_type: 'svn', resource_key: 'x' }), { field: 'resource_type' });
      await refuses('resource_type repo without a slash', start({ resource_type: 'repo', resource_key: 'noslash' }), {
        field: 'resource_type',
      });
      await refuses('resource_type without resource_key', start({ resource_type: 'repo' }), { field: 'resource' });
      await refuses('both resource and resource_type', start({ resource: 'repo:a/b', resource_type: 'repo', resource_key: 'a/b' }), {
        field: 'resource',
      });
      await refuses('no resource at all', start({}), { field: 'resource' });
      await refuses('check on svn:x', () => request('POST', '/v1/work/check', { key, body: { resource: 'svn:x' } }), { field: 'resource' });
      await refuses('legacy claim on repo:noslash', () => request('POST', '/v1/work/claim', { key, body: { resource: 'repo:noslash' } }), {
        field: 'resource',
      });
      await refuses('working set on svn:x', ws({ paths: ['a.ts'], resource: 'svn:x' }), { field: 'resource' });
    });

    it('working-set paths: .., absolute, NUL, backslashes, empty, too many or too long are 400 and change nothing', async () => {
      const badPaths: [string[], string][] = [
        [['../etc/passwd'], 'paths.0'],
        [['src/../../x'], 'paths.0'],
        [['src/..'], 'paths.0'],
        [['/etc/passwd'], 'paths.0'],
        [['src/ok.ts', 'a\u0000b'], 'paths.1'],
        [['src\\windows.ts'], 'paths.0'],
        [[''], 'paths.0'],
        [['.'], 'paths.0'],
        [['src/[a'], 'paths.0'],
        [['x'.repeat(1025)], 'paths.0'],
        [[], 'paths'],
        [Array.from({ length: 501 }, (_, i) => `src/f${i}.ts`), 'paths'],
      ];
      for (const [paths, field] of badPaths) await refuses(`paths ${JSON.stringify(paths).slice(0, 60)}`, ws({ paths }), { field });
      await refuses('paths as a string', ws({ paths: 'src/a.ts' }), { field: 'paths' });
      await refuses('a path that is a number', ws({ paths: [7] }), { field: 'paths.0' });
      await refuses('mode write', ws({ paths: ['src/a.ts'], mode: 'write' }), { field: 'mode' });
      await refuses('op replace', ws({ paths: ['src/a.ts'], op: 'replace' }), { field: 'op' });
      for (const lease_seconds of [29, 3601, 0, -30, 60.5, '600']) {
        await refuses(`lease_seconds ${JSON.stringify(lease_seconds)}`, ws({ paths: ['src/a.ts'], lease_seconds }), {
          field: 'lease_seconds',
        });
      }
      // Exactly 500 paths, and the lease bounds themselves, are fine.
      const many = await request('POST', '/v1/work/run/working-set', {
        key,
        body: { claim_id: claimId, paths: Array.from({ length: 500 }, (_, i) => `docs/f${i}.md`), mode: 'review', lease_seconds: 30 },
      });
      assert.equal(many.status, 200);
      // The claim holds one earlier path too: the answer lists 500 of its 501 file claims and counts them all.
      assert.equal(many.body.working_set.length, 500);
      assert.equal(many.body.working_set_count, 501);
      assert.equal(many.body.working_set_truncated, true);
      const long = await request('POST', '/v1/work/run/working-set', {
        key,
        body: { claim_id: claimId, paths: ['src/a.ts'], lease_seconds: 3600 },
      });
      assert.equal(long.status, 200);
      assert.deepEqual(
        long.body.working_set.filter((f: { mode: string }) => f.mode === 'edit').map((f: { path: string }) => f.path),
        ['src/a.ts'],
        'the refused requests left the working set as it was',
      );
    });

    it('a bad path inside extend.working_set is 400 naming working_set.paths.N', async () => {
      // The field is named as the extend body has it (services/work/working-sets.ts prepareWorkingSet).
      await refuses(
        'a bad path in extend.working_set',
        () => request('POST', '/v1/work/run/extend', { key, body: { claim_id: claimId, working_set: { paths: ['src/ok.ts', '../x'] } } }),
        { field: 'working_set.paths.1' },
      );
    });

    it('duration_minutes outside 1-720 is 400 on start and on both extends', async () => {
      for (const duration_minutes of [0, 721, -5, 1.5, 1e9]) {
        await refuses(`start duration ${duration_minutes}`, start({ resource: 'repo:acme/d', duration_minutes }), {
          field: 'duration_minutes',
        });
        await refuses(
          `extend duration ${duration_minutes}`,
          () => request('POST', '/v1/work/run/extend', { key, body: { claim_id: claimId, duration_minutes } }),
          { field: 'duration_minutes' },
        );
        await refuses(
          `claims/:id/extend duration ${duration_minutes}`,
          () => request('POST', `/v1/work/claims/${claimId}/extend`, { key, body: { duration_minutes } }),
          { field: 'duration_minutes' },
        );
      }
      for (const duration_minutes of [1, 720]) {
        const ok = await request('POST', '/v1/work/run/start', {
          key,
          body: { resource: `repo:acme/edge-${duration_minutes}`, duration_minutes },
        });
        assert.equal(ok.body.action, 'proceed', `${duration_minutes} minutes is allowed`);
      }
    });

    it('start_at more than 5 minutes ahead is 400, pointing to holds', async () => {
      const far = new Date(t.clock.now() + 6 * MIN).toISOString();
      const res = await refuses('start_at in 6 minutes', start({ resource: 'repo:acme/later', start_at: far }), { field: 'start_at' });
      assert.match(res.body.message, /holds/);
    });

    it('metadata over 8 KiB is 400 (exactly 8 KiB is fine), however it is shaped', async () => {
      // {"x":"…"} is 8 bytes of JSON around the string.
      const exact = { x: 'm'.repeat(8 * 1024 - 8) };
      assert.equal(JSON.stringify(exact).length, 8 * 1024);
      const fits = await request('POST', '/v1/work/run/start', { key, body: { resource: 'repo:acme/meta', metadata: exact } });
      assert.equal(fits.body.action, 'proceed');
      await refuses('metadata of 8 KiB + 1', start({ resource: 'repo:acme/meta2', metadata: { x: 'm'.repeat(8 * 1024 - 7) } }), {
        field: 'metadata',
      });
      await refuses('metadata of multi-byte characters', start({ resource: 'repo:acme/meta2', metadata: { x: 'é'.repeat(5000) } }), {
        field: 'metadata',
      });
      await refuses(
        'metadata with many keys',
        start({ resource: 'repo:acme/meta2', metadata: Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`k${i}`, i])) }),
        {
          field: 'metadata',
        },
      );
      // Nested too deeply to serialise: must be a 400, not a stack overflow.
      const deep = `${'['.repeat(20000)}${']'.repeat(20000)}`;
      await refuses(
        'deeply nested metadata',
        () => request('POST', '/v1/work/run/start', { key, rawBody: `{"resource":"repo:acme/meta3","metadata":{"a":${deep}}}` }),
        {
          field: 'metadata',
        },
      );
      await refuses(
        'metadata over 8 KiB on finish',
        () => request('POST', '/v1/work/run/finish', { key, body: { claim_id: claimId, metadata: { x: 'm'.repeat(9000) } } }),
        { field: 'metadata' },
      );
    });

    it('a 2 MB body is 413 payload_too_large with the envelope, on every kind of route', async () => {
      const huge = JSON.stringify({ resource: 'repo:acme/huge', reason: 'x'.repeat(2 * 1024 * 1024) });
      const res = await refuses('a 2 MB start', () => request('POST', '/v1/work/run/start', { key, rawBody: huge }), { status: 413 });
      assert.equal(res.body.details, undefined);
      await refuses('a 2 MB agent create', () => request('POST', `/v1/orgs/${session.orgId}/agents`, { session, rawBody: huge }), {
        status: 413,
      });
      await refuses('a 2 MB signup', () => request('POST', '/v1/auth/signup', { rawBody: huge }), { status: 413 });
      await refuses(
        'a 2 MB body of garbage',
        () => request('POST', '/v1/work/run/working-set', { key, rawBody: '{'.repeat(2 * 1024 * 1024) }),
        {
          status: 413,
        },
      );
    });

    it('bad query parameters are 400 and name the parameter', async () => {
      const lists = ['/v1/work/claims', '/v1/work/resources', `/v1/orgs/${session.orgId}/agents`];
      const queries: [string, string][] = [
        ['limit=abc', 'limit'],
        ['limit=0', 'limit'],
        ['limit=-5', 'limit'],
        ['limit=2.5', 'limit'],
        ['limit=', 'limit'],
        ['limit=1&limit=2', 'limit'],
        ['limit=1e400', 'limit'],
        ['offset=-1', 'offset'],
        ['offset=abc', 'offset'],
        ['offset=0.5', 'offset'],
      ];
      for (const path of lists) {
        const call: Call = path.startsWith('/v1/orgs') ? { session } : { key };
        for (const [q, field] of queries) await refuses(`${path}?${q}`, () => request('GET', `${path}?${q}`, call), { field });
        const ok = await request('GET', `${path}?limit=1&offset=0`, call);
        assert.equal(ok.status, 200, path);
      }
      await refuses('status=bogus', () => request('GET', '/v1/work/claims?status=bogus', { key }), { field: 'status' });
      await refuses('resource=svn:x', () => request('GET', '/v1/work/claims?resource=svn:x', { key }), { field: 'resource' });
      await refuses('agent_id with NUL', () => request('GET', '/v1/work/claims?agent_id=a%00b', { session }), { field: 'agent_id' });
    });

    it('bad path parameters are 400 (too long, NUL) or 404 (unknown), never 500', async () => {
      await refuses('a 65-character claim id', () => request('GET', `/v1/work/claims/${'c'.repeat(65)}`, { key }), { field: 'claim_id' });
      await refuses('a claim id with NUL', () => request('GET', '/v1/work/claims/clm_a%00b', { key }), { field: 'claim_id' });
      await refuses('an agent id with NUL', () => request('GET', `/v1/orgs/${session.orgId}/agents/agt_a%00b`, { session }), {
        field: 'agent_id',
      });
      await refuses('an org id with NUL', () => request('GET', '/v1/orgs/org_a%00b/agents', { session }), { field: 'org_id' });
      for (const id of ['clm_unknown', '%F0%9F%98%80', '%E0%A4%A', "clm'; drop table claims;--", 'clm_x%2F..%2F..']) {
        await refuses(`claim id ${id}`, () => request('GET', `/v1/work/claims/${id}`, { key }), { status: 404 });
        await refuses(`release of claim id ${id}`, () => request('DELETE', `/v1/work/claims/${id}`, { key }), { status: 404 });
      }
    });

    it('text with a NUL character is 400 on every store (PostgreSQL cannot store it)', async () => {
      await refuses('reason with NUL', start({ resource: 'repo:acme/nul', reason: 'a\u0000b' }), { field: 'reason' });
      await refuses('metadata with NUL', start({ resource: 'repo:acme/nul', metadata: { note: 'a\u0000b' } }), { field: 'metadata.note' });
      await refuses('idempotency_key with NUL', start({ resource: 'repo:acme/nul', idempotency_key: 'a\u0000b' }), {
        field: 'idempotency_key',
      });
      await refuses('finish claim_id with NUL', () => request('POST', '/v1/work/run/finish', { key, body: { claim_id: 'clm\u0000' } }), {
        field: 'claim_id',
      });
      await refuses(
        'agent name with NUL',
        () => request('POST', `/v1/orgs/${session.orgId}/agents`, { session, body: { name: 'a\u0000b' } }),
        {
          field: 'name',
        },
      );
      await refuses(
        'login email with NUL',
        () => request('POST', '/v1/auth/login', { body: { email: 'a\u0000b@example.com', password: 'x' } }),
        {
          field: 'email',
        },
      );
      await refuses(
        'signup workspace name with NUL',
        () =>
          request('POST', '/v1/auth/signup', {
            body: { email: 'nul@example.com', password: 'correct horse battery', workspace_name: 'a\u0000b' },
          }),
        {
          field: 'workspace_name',
        },
      );
    });

    it('Idempotency-Key: too long, or different from the body field, is 400', async () => {
      await refuses(
        'a 256-character Idempotency-Key',
        () =>
          request('POST', '/v1/work/run/start', {
            key,
            body: { resource: 'repo:acme/idem' },
            headers: { 'idempotency-key': 'k'.repeat(256) },
          }),
        {
          field: 'idempotency_key',
        },
      );
      await refuses(
        'header and body keys differ',
        () =>
          request('POST', '/v1/work/run/start', {
            key,
            body: { resource: 'repo:acme/idem', idempotency_key: 'a' },
            headers: { 'idempotency-key': 'b' },
          }),
        {
          field: 'idempotency_key',
        },
      );
    });

    it('unknown routes and methods are 404 with the envelope, with or without credentials', async () => {
      const unknown: [string, string][] = [
        ['GET', '/v1/nope'],
        ['POST', '/v1/work/nope'],
        ['GET', '/v2/work/claims'],
        ['GET', '/nope'],
        ['GET', '/v1/work/claims/x/y/z'],
        ['PUT', '/v1/work/run/start'],
        ['DELETE', '/v1/work/run/start'],
        ['PATCH', '/v1/work/claims'],
      ];
      for (const [method, path] of unknown) {
        const callers: Call[] = path.startsWith('/v1/work/run') ? [{}, { key }, { session }] : [{}, { key }];
        for (const call of callers) {
          const res = await refuses(
            `${method} ${path}`,
            () => request(method, path, { ...call, ...(method === 'GET' ? {} : { body: {} }) }),
            {
              status: 404,
            },
          );
          assert.ok(res.body.message.length > 0);
        }
      }
    });

    it('after all of it the server still serves, and no response was ever a 500', async () => {
      const health = await request('GET', '/health');
      assert.equal(health.status, 200);
      assert.equal(health.body.status, 'ok');
      await stillServes('everything');
      const claim = await request('GET', `/v1/work/claims/${claimId}`, { key });
      assert.equal(claim.body.claim.status, 'active');
      assert.equal(claim.body.claim.renewal_count, 0, 'no refused extend touched it');
      assert.ok(seen.length > 300, `${seen.length} responses`);
      const errors = seen.filter(({ res }) => res.status >= 500);
      assert.deepEqual(
        errors.map(({ what, res }) => `${what}: ${res.status}`),
        [],
      );
      for (const { what, res } of seen) assert.match(res.headers.get('x-request-id') ?? '', /^req_/, what);
    });
  });
}
