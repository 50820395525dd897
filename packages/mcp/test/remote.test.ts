/**
 * Remote MCP at /mcp, driven by the official SDK's Streamable HTTP client transport against a
 * real listening server, on every store: the tool list, a full round trip, observe mode, plan limits,
 * isolation, presence, and the HTTP edges (401 with WWW-Authenticate, bad JSON, GET/DELETE, body limit).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { type LiveServer, STORES, startServer } from '@availsync/testkit';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { TOOLS } from '../src/index.js';

interface ToolResult {
  content: { type: string; text: string }[];
  structuredContent?: any;
  isError?: boolean;
}

const READ_ONLY = ['availsync_check', 'availsync_check_availability', 'availsync_get_claim', 'availsync_list_claims'];
const IDEMPOTENT = ['availsync_finish_run', 'availsync_release_hold'];
const text = (r: ToolResult) => r.content.map((c) => c.text).join('\n');
const INIT = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** An MCP client of `url`/mcp with `key`; every result is checked against the tool's output JSON schema. */
async function connect(url: string, key: string) {
  const client = new Client({ name: 'remote-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL('/mcp', url), {
    requestInit: { headers: { Authorization: `Bearer ${key}` } },
  });
  await client.connect(transport);
  const { tools } = await client.listTools();
  const validator = new AjvJsonSchemaValidator();
  const schemas = new Map(tools.map((t) => [t.name, t.outputSchema]));
  const call = async (name: string, args: Record<string, unknown>) => {
    const r = (await client.callTool({ name, arguments: args })) as ToolResult;
    if (!r.isError) {
      const check = validator.getValidator(schemas.get(name) as never)(r.structuredContent);
      assert.ok(check.valid, `${name}: structuredContent does not match its outputSchema: ${check.errorMessage}`);
    }
    return r;
  };
  return { client, tools, call, close: () => client.close() };
}

/** A raw POST to /mcp. */
async function post(url: string, body: string, headers: Record<string, string>) {
  const res = await fetch(`${url}/mcp`, { method: 'POST', headers: { ...MCP_HEADERS, ...headers }, body });
  const raw = await res.text();
  let json: any;
  try {
    json = JSON.parse(raw);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, body: json, raw };
}

/** A POST over a raw socket, declared Content-Length or chunked; the server may answer before the body is all written. */
function rawPost(url: string, key: string, opts: { body: string; chunked?: boolean }) {
  return new Promise<{ status: number; headers: Headers; body: any }>((resolve, reject) => {
    const { hostname, port } = new URL(url);
    const headers: Record<string, string | number> = { ...MCP_HEADERS, authorization: `Bearer ${key}` };
    if (!opts.chunked) headers['content-length'] = Buffer.byteLength(opts.body);
    const req = http.request({ host: hostname, port, method: 'POST', path: '/mcp', headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
      });
      res.on('end', () => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
        resolve({ status: res.statusCode ?? 0, headers: h, body: text ? JSON.parse(text) : undefined });
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') reject(err);
    });
    if (opts.chunked) {
      for (let i = 0; i < opts.body.length; i += 65_536) req.write(opts.body.slice(i, i + 65_536));
      req.end();
    } else req.end(opts.body);
  });
}

function assertEnvelope(res: { status: number; headers: Headers; body: any }, status: number, code: string) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body?.error, code);
  assert.equal(typeof res.body.message, 'string');
  assert.match(res.body.request_id, /^req_/);
  assert.equal(res.headers.get('x-request-id'), res.body.request_id);
  assert.equal(res.body.jsonrpc, undefined, 'never an MCP answer');
}

for (const kind of STORES) {
  describe(`remote MCP at /mcp (${kind})`, () => {
    let t: LiveServer;
    before(async () => {
      t = await startServer(kind);
    });
    after(async () => {
      await t.close();
    });

    it('lists the ten tools of the shared table with titles, output schemas and annotations', async () => {
      const ws = await t.workspace();
      const m = await connect(t.url, ws.agent.key);
      assert.deepEqual(m.tools.map((x) => x.name).sort(), TOOLS.map((x) => x.name).sort());
      assert.equal(m.tools.length, 10);
      for (const tool of m.tools) {
        const def = TOOLS.find((d) => d.name === tool.name);
        assert.equal(tool.title, def?.title);
        assert.ok(tool.title && tool.title.length > 0, `${tool.name} has a title`);
        assert.match(tool.description ?? '', /^Call /, `${tool.name} says when to call it`);
        assert.equal(tool.inputSchema.type, 'object');
        assert.equal(tool.outputSchema?.type, 'object', `${tool.name} has an output schema`);
        const a = tool.annotations;
        assert.ok(a, `${tool.name} has annotations`);
        if (READ_ONLY.includes(tool.name)) assert.equal(a.readOnlyHint, true, tool.name);
        else {
          assert.equal(a.readOnlyHint, false, tool.name);
          assert.equal(a.destructiveHint, false, tool.name);
          assert.equal(a.idempotentHint, IDEMPOTENT.includes(tool.name), tool.name);
        }
      }
      const start = m.tools.find((x) => x.name === 'availsync_start_run');
      assert.deepEqual(start?.inputSchema.required, ['resource']);
      await m.close();
    });

    it('start → working set → extend → check → list → get → finish, then availability → hold → release', async () => {
      const ws = await t.workspace({ name: 'remote-agent' });
      const m = await connect(t.url, ws.agent.key);

      const start = await m.call('availsync_start_run', { resource: 'repo:acme/remote', reason: 'fix', paths: ['src/a.ts'] });
      assert.equal(start.isError, undefined, text(start));
      assert.match(text(start), /^proceed: claim clm_\w+ on repo:acme\/remote, active, .*Claimed 1 path\(s\)\.$/);
      const claimId = start.structuredContent.claim.id as string;
      assert.equal(start.structuredContent.working_set.action, 'updated');

      const set = await m.call('availsync_update_working_set', { claim_id: claimId, paths: ['src/b/'] });
      assert.match(text(set), /^updated: you now hold 2 file claim\(s\)/);
      const ext = await m.call('availsync_extend_run', { claim_id: claimId, duration_minutes: 45 });
      assert.match(text(ext), /^extended: claim clm_\w+/);
      assert.equal(ext.structuredContent.claim.renewal_count, 1);

      const check = await m.call('availsync_check', { resource: 'repo:acme/remote-free' });
      assert.equal(check.structuredContent.available, true);
      assert.match(text(check), /^available: repo:acme\/remote-free is free now\.$/);
      const list = await m.call('availsync_list_claims', { status: 'active' });
      assert.match(text(list), new RegExp(`^1 claim\\(s\\): ${claimId} repo:acme/remote active until `));
      const got = await m.call('availsync_get_claim', { claim_id: claimId });
      assert.equal(got.structuredContent.claim.id, claimId);
      assert.deepEqual(got.structuredContent.claim.working_set.map((f: any) => f.path).sort(), ['src/a.ts', 'src/b/']);

      const fin = await m.call('availsync_finish_run', { claim_id: claimId, reason: 'done' });
      assert.equal(text(fin), `finished: claim ${claimId} on repo:acme/remote released (finished).`);
      const again = await m.call('availsync_finish_run', { claim_id: claimId });
      assert.match(text(again), /^already_finished/);
      const late = await m.call('availsync_extend_run', { claim_id: claimId });
      assert.equal(late.isError, true);
      assert.match(text(late), /no longer active \(released\)/);

      const now = t.clock.now();
      const from = new Date(now + 3_600_000).toISOString();
      const to = new Date(now + 7_200_000).toISOString();
      const hold = await m.call('availsync_create_hold', { resource: 'release:remote', start_at: from, end_at: to, reason: 'v2' });
      assert.match(text(hold), /^held: hld_\w+ on release:remote/);
      const clash = await m.call('availsync_create_hold', { resource: 'release:remote', start_at: from, end_at: to });
      assert.equal(clash.structuredContent.action, 'conflict');
      const avail = await m.call('availsync_check_availability', { resource: 'release:remote', duration_minutes: 30 });
      assert.match(text(avail), /^release:remote: 1 busy window\(s\).*First free slot/);
      const rel = await m.call('availsync_release_hold', { hold_id: hold.structuredContent.hold.id });
      assert.match(text(rel), /^released: hold hld_\w+/);
      const rel2 = await m.call('availsync_release_hold', { hold_id: hold.structuredContent.hold.id });
      assert.match(text(rel2), /^already_released/);

      // Every tool call went through the REST routes: recorded as activity like any agent call.
      await t.flushActivity();
      const activity = await t.api('GET', '/v1/activity?limit=100', { session: ws.session });
      const routes = new Set(activity.body.data.map((a: { route: string }) => a.route));
      for (const r of ['/v1/work/run/start', '/v1/work/run/working-set', '/v1/work/run/finish', '/v1/holds']) assert.ok(routes.has(r), r);
      await m.close();
    });

    it('skip_run for another agent; an observe-mode agent gets the shadow answer', async () => {
      const ws = await t.workspace({ name: 'holder' });
      const other = await ws.other({ name: 'blocked-one' });
      const observer = await ws.other({ name: 'observer', mode: 'observe' });
      const mine = await connect(t.url, ws.agent.key);
      const theirs = await connect(t.url, other.key);
      const obs = await connect(t.url, observer.key);
      const held = await mine.call('availsync_start_run', { resource: 'repo:acme/shared', reason: 'release' });
      const skip = await theirs.call('availsync_start_run', { resource: 'repo:acme/shared' });
      assert.equal(skip.isError, undefined);
      assert.match(text(skip), /^skip_run: do not edit repo:acme\/shared\. .*held by holder \(agt_\w+\)/);
      assert.equal(skip.structuredContent.blocking_claim.id, held.structuredContent.claim.id);
      const shadow = await obs.call('availsync_start_run', { resource: 'repo:acme/shared' });
      assert.match(text(shadow), /^proceed \(observe mode.*\)\. In enforce mode this would have been blocked: held by holder/);
      assert.equal(shadow.structuredContent.mode, 'observe');
      assert.equal(shadow.structuredContent.claim, null);
      assert.equal(shadow.structuredContent.would_have_blocked, true);
      await Promise.all([mine.close(), theirs.close(), obs.close()]);
    });

    it("an agent of workspace B cannot see or touch A's claims through /mcp", async () => {
      const a = await t.workspace({ name: 'a-agent' });
      const b = await t.workspace({ name: 'b-agent' });
      const ma = await connect(t.url, a.agent.key);
      const mb = await connect(t.url, b.agent.key);
      const started = await ma.call('availsync_start_run', { resource: 'repo:acme/secret' });
      const id = started.structuredContent.claim.id as string;
      const got = await mb.call('availsync_get_claim', { claim_id: id });
      assert.equal(got.isError, true);
      assert.match(text(got), /not_found/);
      const unknown = await mb.call('availsync_get_claim', { claim_id: 'clm_doesnotexist' });
      const head = (s: string) => s.split(' (GET ')[0];
      assert.equal(head(text(got)), head(text(unknown)), 'the answer does not reveal which');
      const fin = await mb.call('availsync_finish_run', { claim_id: id });
      assert.equal(fin.isError, true);
      const list = await mb.call('availsync_list_claims', {});
      assert.equal(list.structuredContent.data.length, 0);
      const check = await mb.call('availsync_check', { resource: 'repo:acme/secret' });
      assert.equal(check.structuredContent.available, true, "B does not see A's claim");
      const still = await ma.call('availsync_get_claim', { claim_id: id });
      assert.equal(still.structuredContent.claim.status, 'active');
      await Promise.all([ma.close(), mb.close()]);
    });

    it('the free plan active-claim limit is an isError result with the REST message', async () => {
      const free = await startServer(kind, { defaultPlan: 'free' });
      try {
        const ws = await free.workspace();
        const m = await connect(free.url, ws.agent.key);
        for (let i = 0; i < 3; i++) {
          const r = await m.call('availsync_start_run', { resource: `repo:acme/p${i}` });
          assert.equal(r.structuredContent.action, 'proceed');
        }
        const over = await m.call('availsync_start_run', { resource: 'repo:acme/p3' });
        assert.equal(over.isError, true);
        const rest = await free.api('POST', '/v1/work/run/start', { key: ws.agent.key, body: { resource: 'repo:acme/p4' } });
        assert.equal(rest.status, 402);
        assert.equal(rest.body.error, 'plan_limit_reached');
        assert.ok(text(over).startsWith(`Availsync plan limit reached: ${rest.body.message}`), text(over));
        await m.close();
      } finally {
        await free.close();
      }
    });

    it('presence: the agent reads as online after an /mcp request', async () => {
      const ws = await t.workspace();
      const before = await t.api('GET', '/v1/agent', { key: ws.agent.key });
      assert.equal(before.body.agent.online, false);
      const res = await post(t.url, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), {
        authorization: `Bearer ${ws.agent.key}`,
      });
      assert.equal(res.status, 200);
      assert.equal(res.body.result.tools.length, 10);
      assert.match(res.headers.get('x-request-id') ?? '', /^req_/);
      const after = await t.api('GET', '/v1/agent', { key: ws.agent.key });
      assert.equal(after.body.agent.online, true);
    });

    it('no key and a wrong key: 401 with WWW-Authenticate: Bearer and the envelope, never an MCP answer', async () => {
      const ws = await t.workspace();
      const cases: [string, Record<string, string>][] = [
        ['no key', {}],
        ['a wrong key', { authorization: `Bearer avs_live_${'x'.repeat(43)}` }],
        ['a malformed key', { authorization: 'Bearer nope' }],
        ['a session cookie', { cookie: `availsync_session=${ws.session.cookie}` }],
      ];
      for (const [what, headers] of cases) {
        const res = await post(t.url, JSON.stringify(INIT), headers);
        assertEnvelope(res, 401, 'unauthorized');
        assert.equal(res.headers.get('www-authenticate'), 'Bearer', what);
        assert.deepEqual(Object.keys(res.body).sort(), ['error', 'message', 'request_id'], what);
        for (const method of ['GET', 'DELETE']) {
          const other = await fetch(`${t.url}/mcp`, { method, headers: { accept: 'text/event-stream', ...headers } });
          assert.equal(other.status, 401, `${method} with ${what}`);
          assert.equal(other.headers.get('www-authenticate'), 'Bearer');
        }
      }
      // The SDK client sees the refusal as an error, not as a server.
      const bad = new Client({ name: 'bad', version: '1' });
      const transport = new StreamableHTTPClientTransport(new URL('/mcp', t.url), {
        requestInit: { headers: { Authorization: `Bearer avs_live_${'y'.repeat(43)}` } },
      });
      await assert.rejects(bad.connect(transport));
    });

    it('bad JSON is a 400 envelope; GET and DELETE are 405; an oversized body is 413', async () => {
      const ws = await t.workspace();
      const auth = { authorization: `Bearer ${ws.agent.key}` };
      const bad = await post(t.url, '{"jsonrpc": "2.0", "id": 1, "method":', auth);
      assertEnvelope(bad, 400, 'invalid_request');
      const notRpc = await post(t.url, '{"hello": "world"}', auth);
      assert.ok(notRpc.status >= 400 && notRpc.status < 500, `${notRpc.status} ${notRpc.raw}`);
      assert.equal(typeof notRpc.body, 'object', 'a structured answer');
      for (const method of ['GET', 'DELETE']) {
        const res = await fetch(`${t.url}/mcp`, { method, headers: { accept: 'text/event-stream', ...auth } });
        assert.equal(res.status, 405, method);
        assert.equal(res.headers.get('allow'), 'POST');
        await res.text();
      }
      const huge = JSON.stringify({ ...INIT, pad: 'x'.repeat(1024 * 1024 + 10) });
      assertEnvelope(await rawPost(t.url, ws.agent.key, { body: huge }), 413, 'payload_too_large');
      assertEnvelope(await rawPost(t.url, ws.agent.key, { body: huge, chunked: true }), 413, 'payload_too_large');
      // Bad tool arguments are an isError result, never a protocol error.
      const m = await connect(t.url, ws.agent.key);
      const r = (await m.client.callTool({ name: 'availsync_start_run', arguments: { resource: 42 } })) as ToolResult;
      assert.equal(r.isError, true);
      assert.match(text(r), /resource/);
      await m.close();
    });
  });
}
