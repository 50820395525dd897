/**
 * The MCP server through a real MCP client, against a real Availsync server (SQLite, HTTP on port 0): over
 * InMemoryTransport in-process, and over stdio by spawning the bin (from source, through tsx).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type LiveServer, startServer } from '@availsync/testkit';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { createMcpServer, type McpConfig } from '../src/index.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const BIN = join(ROOT, 'packages/mcp/src/bin.ts');
const TSX = import.meta.resolve('tsx');

const TOOLS = [
  'availsync_check',
  'availsync_check_availability',
  'availsync_create_hold',
  'availsync_extend_run',
  'availsync_finish_run',
  'availsync_get_claim',
  'availsync_list_claims',
  'availsync_release_hold',
  'availsync_start_run',
  'availsync_update_working_set',
];

interface ToolResult {
  content: { type: string; text: string }[];
  structuredContent?: any;
  isError?: boolean;
}

async function connect(config: McpConfig) {
  const logs: string[] = [];
  const made = createMcpServer({ config, logger: { info: (m) => logs.push(m), warn: (m) => logs.push(`WARN ${m}`) } });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await made.server.connect(serverSide);
  const client = new Client({ name: 'test', version: '1.0.0' });
  await client.connect(clientSide);
  const call = async (name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as ToolResult;
  return { client, call, logs, made, close: () => client.close() };
}

const text = (r: ToolResult) => r.content.map((c) => c.text).join('\n');

describe('availsync MCP server (real client, real server)', () => {
  let t: LiveServer;
  before(async () => {
    t = await startServer('sqlite');
  });
  after(async () => {
    await t.close();
  });

  it('lists the ten tools, each with a description for a model, an input schema and an output schema', async () => {
    const ws = await t.workspace();
    const m = await connect({ apiKey: ws.agent.key, agentId: ws.agent.id, apiUrl: t.url });
    const { tools } = await m.client.listTools();
    assert.deepEqual(tools.map((x) => x.name).sort(), TOOLS);
    for (const tool of tools) {
      assert.ok(tool.description && /^Call /.test(tool.description), `${tool.name} description says when to call it`);
      assert.equal(tool.inputSchema.type, 'object');
      assert.equal(tool.outputSchema?.type, 'object', `${tool.name} has an output schema`);
    }
    const start = tools.find((x) => x.name === 'availsync_start_run');
    assert.match(start?.description ?? '', /before editing files in this repo/);
    assert.deepEqual(start?.inputSchema.required, ['resource']);
    await m.close();
  });

  it('start → working set → extend → finish, one actionable line each plus structuredContent', async () => {
    const ws = await t.workspace({ name: 'claude-code' });
    const m = await connect({ apiKey: ws.agent.key, agentId: ws.agent.id, apiUrl: t.url });
    const verified = await m.made.verify();
    assert.equal(verified.ok, true);
    assert.match(m.logs.join('\n'), /connected to .* as claude-code \(agt_\w+\), enforce mode/);

    const start = await m.call('availsync_start_run', { resource: 'repo:acme/app', reason: 'fix login', paths: ['src/login.ts'] });
    assert.equal(start.isError, undefined);
    assert.match(text(start), /^proceed: claim clm_\w+ on repo:acme\/app, active, expires .*Claimed 1 path\(s\)\.$/);
    const claimId = start.structuredContent.claim.id as string;
    assert.equal(start.structuredContent.action, 'proceed');
    assert.equal(start.structuredContent.working_set.action, 'updated');

    const set = await m.call('availsync_update_working_set', { claim_id: claimId, paths: ['src/auth/'] });
    assert.match(text(set), /^updated: you now hold 2 file claim\(s\)/);
    assert.deepEqual(set.structuredContent.working_set.map((f: any) => f.path).sort(), ['src/auth/', 'src/login.ts']);

    const ext = await m.call('availsync_extend_run', { claim_id: claimId, duration_minutes: 45 });
    assert.match(text(ext), /^extended: claim clm_\w+ on repo:acme\/app, active/);
    assert.equal(ext.structuredContent.claim.renewal_count, 1);

    const got = await m.call('availsync_get_claim', { claim_id: claimId });
    assert.equal(got.structuredContent.claim.id, claimId);
    const list = await m.call('availsync_list_claims', { status: 'active' });
    assert.match(text(list), new RegExp(`^1 claim\\(s\\): ${claimId} repo:acme/app active until `));

    // Bad paths after a successful start: the run's claim id still reaches the model.
    const bad = await m.call('availsync_start_run', { resource: 'repo:acme/other', paths: ['../etc/passwd'] });
    assert.equal(bad.isError, undefined);
    assert.match(text(bad), /^proceed: claim clm_\w+ .* Claiming the paths failed \(Availsync error invalid_request/);
    await m.call('availsync_finish_run', { claim_id: bad.structuredContent.claim.id });

    const fin = await m.call('availsync_finish_run', { claim_id: claimId, reason: 'done' });
    assert.equal(text(fin), `finished: claim ${claimId} on repo:acme/app released (finished).`);
    const again = await m.call('availsync_finish_run', { claim_id: claimId });
    assert.match(text(again), /^already_finished/);

    // An ended claim cannot be extended: an isError result with the reason.
    const late = await m.call('availsync_extend_run', { claim_id: claimId });
    assert.equal(late.isError, true);
    assert.match(text(late), /no longer active \(released\).*availsync_start_run/);
    await m.close();
  });

  it('skip_run names the holder and until when; blocked files name their holder; check says held', async () => {
    const ws = await t.workspace({ name: 'codex-nightly' });
    const other = await ws.other({ name: 'cursor-alice' });
    const mine = await connect({ apiKey: ws.agent.key, agentId: ws.agent.id, apiUrl: t.url });
    const theirs = await connect({ apiKey: other.key, agentId: other.id, apiUrl: t.url });

    const held = await mine.call('availsync_start_run', { resource: 'repo:acme/web', reason: 'nightly deps bump' });
    const heldId = held.structuredContent.claim.id;
    const skip = await theirs.call('availsync_start_run', { resource: 'repo:acme/web' });
    assert.equal(skip.isError, undefined);
    assert.match(
      text(skip),
      new RegExp(
        `^skip_run: do not edit repo:acme/web\\. Another active work claim of equal priority holds this resource until it ends: held by codex-nightly \\(${ws.agent.id}\\), claim ${heldId} "nightly deps bump", until \\S+\\. Retry after `,
      ),
    );
    assert.equal(skip.structuredContent.blocking_claim.agent_name, 'codex-nightly');

    const check = await theirs.call('availsync_check', { resource: 'repo:acme/web' });
    assert.match(text(check), /^held: repo:acme\/web: .*held by codex-nightly/);
    assert.equal(check.structuredContent.available, false);

    // Working sets on a shared repo from two project claims.
    await mine.call('availsync_update_working_set', { claim_id: heldId, paths: ['src/a.ts'] });
    const proj = await theirs.call('availsync_start_run', { resource: 'project:web-docs' });
    const blocked = await theirs.call('availsync_update_working_set', {
      claim_id: proj.structuredContent.claim.id,
      paths: ['src/*.ts'],
      resource: 'repo:acme/web',
    });
    assert.equal(blocked.isError, undefined);
    assert.equal(blocked.structuredContent.action, 'blocked');
    assert.match(
      text(blocked),
      new RegExp(`^blocked: do not edit src/\\*\\.ts: src/\\*\\.ts \\(held as src/a\\.ts by ${ws.agent.id}, claim ${heldId}, until `),
    );
    await mine.close();
    await theirs.close();
  });

  it('observe mode: proceeds with no lease and says whether it would have been blocked', async () => {
    const ws = await t.workspace({ name: 'holder' });
    const observer = await ws.other({ name: 'observer', mode: 'observe' });
    const holder = await connect({ apiKey: ws.agent.key, agentId: ws.agent.id, apiUrl: t.url });
    const m = await connect({ apiKey: observer.key, agentId: observer.id, apiUrl: t.url });
    assert.match((await m.made.verify()).message, /observe mode: decisions are recorded, nothing is enforced/);
    const free = await m.call('availsync_start_run', { resource: 'repo:acme/obs' });
    assert.equal(text(free), 'proceed (observe mode: no lease was taken, nothing is enforced for this agent). You may edit repo:acme/obs.');
    assert.equal(free.structuredContent.claim, null);
    await holder.call('availsync_start_run', { resource: 'repo:acme/obs', reason: 'release' });
    const shadow = await m.call('availsync_start_run', { resource: 'repo:acme/obs' });
    assert.match(text(shadow), /^proceed \(observe mode.*\)\. In enforce mode this would have been blocked: held by holder \(agt_\w+\)/);
    assert.equal(shadow.structuredContent.would_have_blocked, true);
    await holder.close();
    await m.close();
  });

  it('holds: availability, create, conflict with the next free slot, release', async () => {
    const ws = await t.workspace();
    const m = await connect({ apiKey: ws.agent.key, agentId: ws.agent.id, apiUrl: t.url });
    const start = new Date(Date.now() + 3_600_000).toISOString();
    const end = new Date(Date.now() + 7_200_000).toISOString();
    const h = await m.call('availsync_create_hold', { resource: 'release:prod', start_at: start, end_at: end, reason: 'v2' });
    assert.match(text(h), /^held: hld_\w+ on release:prod/);
    const c = await m.call('availsync_create_hold', { resource: 'release:prod', start_at: start, end_at: end });
    assert.equal(c.structuredContent.action, 'conflict');
    assert.match(text(c), /^conflict: .*Next free slot: /);
    const avail = await m.call('availsync_check_availability', { resource: 'release:prod', duration_minutes: 30 });
    assert.match(text(avail), /^release:prod: 1 busy window\(s\).*First free slot/);
    const rel = await m.call('availsync_release_hold', { hold_id: h.structuredContent.hold.id });
    assert.match(text(rel), /^released: hold hld_\w+/);
    await m.close();
  });

  it('a missing key, a wrong key and an unreachable server are clear isError messages, never a crash', async () => {
    const missing = await connect({ apiKey: undefined, agentId: undefined, apiUrl: t.url });
    assert.match((await missing.made.verify()).message, /AVAILSYNC_API_KEY is not set/);
    const r1 = await missing.call('availsync_start_run', { resource: 'repo:a/b' });
    assert.equal(r1.isError, true);
    assert.match(text(r1), /AVAILSYNC_API_KEY is not set/);

    const wrong = await connect({ apiKey: 'avs_live_wrongwrongwrongwrongwrongwrong', agentId: undefined, apiUrl: t.url });
    assert.equal((await wrong.made.verify()).ok, false);
    assert.match(wrong.logs.join('\n'), /WARN Availsync rejected the API key/);
    const r2 = await wrong.call('availsync_check', { resource: 'repo:a/b' });
    assert.equal(r2.isError, true);
    assert.match(text(r2), /^Availsync rejected the API key \(unauthorized\)/);
    assert.doesNotMatch(text(r2), /wrongwrong/);

    const down = await connect({ apiKey: 'avs_live_x', agentId: undefined, apiUrl: 'http://127.0.0.1:9' });
    const r3 = await down.call('availsync_list_claims', {});
    assert.equal(r3.isError, true);
    assert.match(text(r3), /^The Availsync server at http:\/\/127\.0\.0\.1:9 cannot be reached/);
    // Still serving after every failure.
    assert.equal((await down.client.listTools()).tools.length, 10);
    await missing.close();
    await wrong.close();
    await down.close();
  });

  it('a wrong key is warned about once, not by both the start-up check and the heartbeat', async () => {
    const wrong = await connect({ apiKey: 'avs_live_wrongwrongwrongwrongwrongwrong', agentId: undefined, apiUrl: t.url });
    assert.equal((await wrong.made.verify()).ok, false);
    assert.equal(await wrong.made.heartbeat(), false);
    assert.equal(await wrong.made.heartbeat(), false);
    const warnings = wrong.logs.filter((l) => l.startsWith('WARN'));
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0] ?? '', /^WARN Availsync rejected the API key/);
    await wrong.close();

    // A heartbeat that recovers forgets the problem: a later failure is warned about again.
    const ws = await t.workspace();
    const ok = await connect({ apiKey: ws.agent.key, agentId: ws.agent.id, apiUrl: t.url });
    assert.equal(await ok.made.heartbeat(), true);
    assert.equal(ok.logs.filter((l) => l.startsWith('WARN')).length, 0);
    await ok.close();
  });

  it('over stdio (the bin as a process): start-up message on stderr, tools work, stdout is only MCP', async () => {
    const ws = await t.workspace({ name: 'stdio-agent' });
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ['--conditions=source', '--import', TSX, BIN],
      env: { PATH: process.env.PATH ?? '', AVAILSYNC_API_KEY: ws.agent.key, AVAILSYNC_AGENT_ID: ws.agent.id, AVAILSYNC_API_URL: t.url },
      stderr: 'pipe',
      cwd: ROOT,
    });
    let stderr = '';
    const connected = new Promise<void>((resolve) => {
      transport.stderr?.on('data', (d: Buffer) => {
        stderr += String(d);
        if (stderr.includes('connected to')) resolve();
      });
    });
    const client = new Client({ name: 'stdio-test', version: '1.0.0' });
    await client.connect(transport);
    assert.equal((await client.listTools()).tools.length, 10);
    const r = (await client.callTool({ name: 'availsync_start_run', arguments: { resource: 'repo:acme/stdio' } })) as ToolResult;
    assert.match(text(r), /^proceed: claim clm_\w+/);
    const fin = (await client.callTool({
      name: 'availsync_finish_run',
      arguments: { claim_id: r.structuredContent.claim.id },
    })) as ToolResult;
    assert.match(text(fin), /^finished/);
    await connected;
    assert.match(stderr, /availsync-mcp: connected to http:\/\/127\.0\.0\.1:\d+ as stdio-agent/);
    // The heartbeat marked the agent online.
    let online = false;
    for (let i = 0; i < 100 && !online; i++) {
      online = (await t.api('GET', '/v1/agent', { key: ws.agent.key })).body.agent.online === true;
      if (!online) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(online, true);
    await client.close();
  });

  it('over stdio with no key: the reason on stderr at start-up and in every call', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ['--conditions=source', '--import', TSX, BIN],
      env: { PATH: process.env.PATH ?? '' },
      stderr: 'pipe',
      cwd: ROOT,
    });
    let stderr = '';
    transport.stderr?.on('data', (d: Buffer) => {
      stderr += String(d);
    });
    const client = new Client({ name: 'stdio-test', version: '1.0.0' });
    await client.connect(transport);
    const r = (await client.callTool({ name: 'availsync_check', arguments: { resource: 'repo:a/b' } })) as ToolResult;
    assert.equal(r.isError, true);
    assert.match(text(r), /AVAILSYNC_API_KEY is not set/);
    assert.match(stderr, /availsync-mcp: WARNING: Availsync is not configured: AVAILSYNC_API_KEY is not set/);
    await client.close();
  });
});
