/**
 * The README sections "Claude Code in one command", "Codex / Cursor / Windsurf" and "Enforce with hooks",
 * exercised as written: the shown setup commands run (with a real key and server URL in place of the
 * placeholders) and must produce exactly the command and config files the README shows; the MCP tools it
 * names are the server's tools; the guard install lines run in a real git repository.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createMcpServer } from '@availsync/mcp';
import { type LiveServer, ROOT, shimDir, startServer } from '@availsync/testkit';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { main } from '../src/index.js';

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
/** The README's blocks, and docs/integrations.md's (the hook configuration setup writes). */
const DOCS = `${README}\n${readFileSync(join(ROOT, 'docs/integrations.md'), 'utf8')}`;

function block(name: string, lang: string): string {
  const m = new RegExp(`<!-- ${name}:start -->\\s*\`\`\`${lang}\\n([\\s\\S]*?)\`\`\`\\s*<!-- ${name}:end -->`).exec(DOCS);
  assert.ok(m?.[1], `README.md or docs/integrations.md has the ${name} block`);
  return m[1];
}

function section(title: string): string {
  const start = README.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `README has the section "${title}"`);
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end);
}

describe('README: Claude Code in one command, Codex / Cursor / Windsurf, Enforce with hooks', () => {
  let t: LiveServer;
  let key: string;
  let agentId: string;
  before(async () => {
    t = await startServer('sqlite');
    const ws = await t.workspace({ name: 'readme' });
    key = ws.agent.key;
    agentId = ws.agent.id;
  });
  after(async () => {
    await t.close();
  });

  /** The README's placeholders, made real. */
  const real = (s: string) => s.split('avs_live_...').join(key).split('agt_...').join(agentId).split('http://127.0.0.1:8787').join(t.url);

  async function runShown(name: string, extra: string[] = []) {
    const line = block(name, 'sh').trim();
    assert.match(line, /^npx availsync-setup /);
    const args = real(line).split(/\s+/).slice(2).concat(extra);
    const home = mkdtempSync(join(tmpdir(), 'availsync-readme-home-'));
    const cwd = mkdtempSync(join(tmpdir(), 'availsync-readme-proj-'));
    // The project is a clone of acme/app: the hooks claim on repo:acme/app, from its origin.
    execFileSync('git', ['init', '-q'], { cwd });
    execFileSync('git', ['remote', 'add', 'origin', 'https://github.com/acme/app.git'], { cwd });
    let stdout = '';
    let stderr = '';
    const code = await main(args, {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      env: { PATH: '' },
      home,
      cwd,
    });
    assert.equal(code, 0, stderr);
    return { stdout, home, cwd };
  }

  it('Claude Code in one command: the setup line prints exactly the claude mcp add command shown', async () => {
    const { stdout } = await runShown('setup-claude');
    assert.ok(stdout.includes(`\n  ${real(block('claude-mcp-add', 'sh').trim())}\n`), stdout);
  });

  it('Claude Code in one command: the tools named are exactly the MCP server tools', async () => {
    const made = createMcpServer({ config: { apiKey: key, agentId, apiUrl: t.url }, logger: { info() {}, warn() {} } });
    const [a, b] = InMemoryTransport.createLinkedPair();
    await made.server.connect(b);
    const client = new Client({ name: 'readme', version: '1' });
    await client.connect(a);
    const names = (await client.listTools()).tools.map((x) => x.name).sort();
    await client.close();
    const named = [...new Set(section('Claude Code in one command').match(/availsync_[a-z_]+/g))].sort();
    assert.deepEqual(named, names);
  });

  it('Codex / Cursor / Windsurf: the setup line writes exactly the config shown for each client', async () => {
    const { home, stdout } = await runShown('setup-clients');
    assert.equal(readFileSync(join(home, '.codex', 'config.toml'), 'utf8'), real(block('codex-toml', 'toml')));
    // The README's JSON is laid out by hand; the content is the same. Windsurf: serverUrl for url.
    const shown = JSON.parse(real(block('mcp-json', 'json')));
    assert.deepEqual(JSON.parse(readFileSync(join(home, '.cursor', 'mcp.json'), 'utf8')), shown);
    const { url, ...rest } = shown.mcpServers.availsync;
    assert.deepEqual(JSON.parse(readFileSync(join(home, '.codeium', 'windsurf', 'mcp_config.json'), 'utf8')), {
      mcpServers: { availsync: { serverUrl: url, ...rest } },
    });
    assert.ok(!stdout.includes(key));
  });

  it('Enforce with hooks: --claude-hook writes the settings shown; the guard install lines write the git hooks', async () => {
    const { cwd } = await runShown('setup-claude', ['--claude-hook']);
    const written = JSON.parse(readFileSync(join(cwd, '.claude', 'settings.json'), 'utf8'));
    const shown = JSON.parse(real(block('claude-hook', 'json')));
    assert.deepEqual(written.hooks.PreToolUse, shown.hooks.PreToolUse);
    // "The three others carry the same hook, without onFailure."
    const { onFailure: _, ...hook } = shown.hooks.PreToolUse[0].hooks[0];
    assert.deepEqual(written.hooks.SessionStart, [{ hooks: [hook] }]);
    assert.deepEqual(written.hooks.PostToolUse, [{ matcher: shown.hooks.PreToolUse[0].matcher, hooks: [hook] }]);
    assert.deepEqual(written.hooks.SessionEnd, [{ hooks: [hook] }]);
    assert.deepEqual(Object.keys(written.hooks).sort(), ['PostToolUse', 'PreToolUse', 'SessionEnd', 'SessionStart']);

    const repo = mkdtempSync(join(tmpdir(), 'availsync-readme-repo-'));
    execFileSync('git', ['init', '-q'], { cwd: repo });
    mkdirSync(join(repo, '.git', 'hooks'), { recursive: true });
    const env = { PATH: `${shimDir()}:${process.env.PATH}` };
    for (const line of block('guard-install', 'sh').trim().split('\n')) {
      const out = await new Promise<string>((resolve, reject) =>
        execFile('sh', ['-c', line], { cwd: repo, env }, (err, so, se) => (err ? reject(new Error(se)) : resolve(so))),
      );
      assert.match(out, /^installed: /);
    }
    assert.match(readFileSync(join(repo, '.git', 'hooks', 'pre-commit'), 'utf8'), /\nexec availsync guard\n$/);
    assert.match(readFileSync(join(repo, '.git', 'hooks', 'pre-push'), 'utf8'), /\nexec availsync guard --pre-push\n$/);
  });
});
