/**
 * `availsync-setup` in-process against a real server, in a temporary HOME holding existing client configs
 * that must survive byte-for-byte apart from the added `availsync` entry.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type LiveServer, startServer } from '@availsync/testkit';
import { parse as parseToml } from 'smol-toml';
import {
  addClaudeHook,
  claudeHttpCommand,
  claudeHttpHooks,
  cloneLaunchers,
  codexRemoteEntry,
  isAvailsyncHook,
  main,
  maskKeys,
  remoteEntry,
  renderCodexSection,
  setCodexServer,
  setJsonMember,
  unifiedDiff,
  withLauncher,
} from '../src/index.js';

class Capture {
  text = '';
  constructor(readonly isTTY = false) {}
  write(s: string) {
    this.text += s;
    return true;
  }
}

export const CODEX_BEFORE = `# Codex settings
model = "o4-mini"   # keep this comment

[mcp_servers.github]
command = "npx"
args = ["-y", "@modelcontextprotocol/server-github"]

[mcp_servers.github.env]
GITHUB_TOKEN = "ghp_x"

# profiles below
[profiles.fast]
model = "gpt-5-mini"
`;

export const CURSOR_BEFORE = `{
    "mcpServers": {
        "linear": { "command": "npx", "args": ["-y", "linear-mcp"] },
        "sentry": {
            "url": "https://mcp.sentry.dev/sse"
        }
    },
    "other": true
}
`;

function tempHome() {
  const home = mkdtempSync(join(tmpdir(), 'availsync-home-'));
  const cwd = mkdtempSync(join(tmpdir(), 'availsync-proj-'));
  return { home, cwd };
}

async function run(args: string[], home: string, cwd: string, selfDir?: string) {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await main(args, {
    stdout,
    stderr,
    env: { PATH: '' },
    home,
    cwd,
    now: () => new Date('2026-06-01T10:00:00Z'),
    selfDir,
  });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/**
 * A clone of the repository as setup sees it: the three packages, and (when `built`) the MCP server's and
 * the CLI's dist/bin.js, here stand-ins that print how they were started. Its path has a space and a quote,
 * which the hook's shell command must survive.
 */
function fakeClone(built = true, under = "my repo's clone") {
  const root = join(mkdtempSync(join(tmpdir(), 'availsync-clone-')), under);
  for (const name of ['setup', 'mcp', 'cli']) {
    mkdirSync(join(root, 'packages', name, 'dist'), { recursive: true });
    writeFileSync(join(root, 'packages', name, 'package.json'), JSON.stringify({ name: `@availsync/${name}` }));
  }
  if (built) {
    const echo = (label: string) =>
      `process.stdout.write(JSON.stringify({ bin: ${JSON.stringify(label)}, args: process.argv.slice(2), agent: process.env.AVAILSYNC_AGENT_ID ?? null }));\n`;
    writeFileSync(join(root, 'packages', 'mcp', 'dist', 'bin.js'), echo('mcp'));
    writeFileSync(join(root, 'packages', 'cli', 'dist', 'bin.js'), echo('cli'));
  }
  return { root, selfDir: join(root, 'packages', 'setup', 'dist') };
}

describe('availsync-setup (in-process, real server, temporary HOME)', () => {
  let t: LiveServer;
  let key: string;
  let agentId: string;
  before(async () => {
    t = await startServer('sqlite');
    const ws = await t.workspace({ name: 'laptop' });
    key = ws.agent.key;
    agentId = ws.agent.id;
  });
  after(async () => {
    await t.close();
  });

  /** The remote entries (the default): the server's /mcp, the key in the user-level file's header. */
  const cursorRemote = () => ({ url: `${t.url}/mcp`, headers: { Authorization: `Bearer ${key}` } });
  const windsurfRemote = () => ({ serverUrl: `${t.url}/mcp`, headers: { Authorization: `Bearer ${key}` } });
  const codexRemote = () => ({ url: `${t.url}/mcp`, bearer_token_env_var: 'AVAILSYNC_API_KEY' });
  /** The stdio entry (--transport stdio, or --local). */
  const entryFor = () => ({
    command: 'npx',
    args: ['-y', '@availsync/mcp'],
    env: { AVAILSYNC_API_KEY: key, AVAILSYNC_AGENT_ID: agentId, AVAILSYNC_API_URL: t.url },
  });

  it('merges the entry into Codex, Cursor and Windsurf configs, keeps every other byte, backs up, and re-running changes nothing', async () => {
    const { home, cwd } = tempHome();
    mkdirSync(join(home, '.codex'));
    mkdirSync(join(home, '.cursor'));
    mkdirSync(join(home, '.codeium', 'windsurf'), { recursive: true });
    writeFileSync(join(home, '.codex', 'config.toml'), CODEX_BEFORE);
    writeFileSync(join(home, '.cursor', 'mcp.json'), CURSOR_BEFORE);

    const r = await run(['--api-key', key, '--url', t.url, '--yes'], home, cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const lines = r.stdout.split('\n');
    assert.match(lines[0] ?? '', new RegExp(`^Key OK \\(avs_live_\\w{4}…\\w{4}\\): agent laptop \\(${agentId}\\), enforce mode, at `));
    assert.ok(!r.stdout.includes(key), 'no Claude here: the key is never printed');

    // Codex: the original text, then our section (the remote form: no key in the file); parses; the other tables are unchanged.
    const codex = readFileSync(join(home, '.codex', 'config.toml'), 'utf8');
    assert.equal(codex, `${CODEX_BEFORE}\n${renderCodexSection(codexRemoteEntry(t.url))}`);
    assert.equal(
      renderCodexSection(codexRemoteEntry(t.url)),
      `[mcp_servers.availsync]\nurl = "${t.url}/mcp"\nbearer_token_env_var = "AVAILSYNC_API_KEY"\n`,
    );
    assert.ok(!codex.includes(key));
    const toml = JSON.parse(JSON.stringify(parseToml(codex))) as any;
    assert.deepEqual(toml.mcp_servers.availsync, codexRemote());
    assert.equal(toml.mcp_servers.github.env.GITHUB_TOKEN, 'ghp_x');
    assert.equal(readFileSync(join(home, '.codex', 'config.toml.bak-20260601T100000Z'), 'utf8'), CODEX_BEFORE);

    // Cursor: only the availsync member is inserted, in the file's own indentation.
    const cursor = readFileSync(join(home, '.cursor', 'mcp.json'), 'utf8');
    const inserted = `,\n        "availsync": ${JSON.stringify(cursorRemote(), null, 4).split('\n').join('\n        ')}`;
    const at = CURSOR_BEFORE.indexOf('\n    },\n    "other"');
    assert.equal(cursor, CURSOR_BEFORE.slice(0, at) + inserted + CURSOR_BEFORE.slice(at));
    assert.deepEqual(JSON.parse(cursor).mcpServers.availsync, cursorRemote());

    // Windsurf: created, with its own field name (serverUrl).
    const windsurf = JSON.parse(readFileSync(join(home, '.codeium', 'windsurf', 'mcp_config.json'), 'utf8'));
    assert.deepEqual(windsurf, { mcpServers: { availsync: windsurfRemote() } });
    assert.match(r.stdout, /configured: Windsurf \(.*mcp_config\.json\)\n/);

    // Re-run: already configured everywhere, nothing written, no new backups.
    const before2 = readdirSync(join(home, '.codex')).length;
    const again = await run(['--api-key', key, '--url', t.url, '--yes'], home, cwd);
    assert.equal(again.code, 0);
    assert.equal((again.stdout.match(/^already configured: /gm) ?? []).length, 3);
    assert.equal(readdirSync(join(home, '.codex')).length, before2);
    assert.equal(readFileSync(join(home, '.cursor', 'mcp.json'), 'utf8'), cursor);
  });

  it('--dry-run prints a unified diff with the key masked and writes nothing', async () => {
    const { home, cwd } = tempHome();
    mkdirSync(join(home, '.codex'));
    writeFileSync(join(home, '.codex', 'config.toml'), CODEX_BEFORE);
    const r = await run(['--api-key', key, '--url', t.url, '--clients', 'codex,cursor', '--dry-run'], home, cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /would update: Codex \(.*config\.toml\)\n--- .*config\.toml\n\+\+\+ .*config\.toml\n@@ -11,3 \+11,7 @@\n # profiles below\n/,
    );
    assert.match(r.stdout, /\n\+\[mcp_servers\.availsync\]\n\+url = "http:\/\/127\.0\.0\.1:\d+\/mcp"\n/);
    assert.match(r.stdout, /would create: Cursor .*\n--- \/dev\/null\n/);
    assert.match(r.stdout, /dry run: nothing was written\.\n$/);
    assert.ok(!r.stdout.includes(key));
    assert.equal(readFileSync(join(home, '.codex', 'config.toml'), 'utf8'), CODEX_BEFORE);
    assert.equal(existsSync(join(home, '.cursor')), false);
    assert.deepEqual(readdirSync(join(home, '.codex')), ['config.toml']);
  });

  it('--dry-run masks every agent key in the diff, an earlier one it replaces too', async () => {
    const { home, cwd } = tempHome();
    mkdirSync(join(home, '.codex'));
    const old = 'avs_live_0ldKey-from_an-earlier_setup1234';
    const stdio = `[mcp_servers.availsync]\ncommand = "npx"\n\n[mcp_servers.availsync.env]\nAVAILSYNC_API_KEY = "${old}"\n`;
    writeFileSync(join(home, '.codex', 'config.toml'), stdio);
    mkdirSync(join(home, '.cursor'));
    writeFileSync(
      join(home, '.cursor', 'mcp.json'),
      JSON.stringify({ mcpServers: { availsync: { headers: { Authorization: `Bearer ${old}` } } } }),
    );
    const r = await run(['--api-key', key, '--url', t.url, '--clients', 'codex,cursor', '--dry-run'], home, cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes(`-AVAILSYNC_API_KEY = "avs_live_0ldK…1234"`), r.stdout);
    assert.equal(r.stdout.includes(old), false, 'the earlier key is masked');
    assert.equal(r.stdout.includes(key), false);
    assert.equal(maskKeys(`a ${old} b ${key} c avs_live_x`, key), `a avs_live_0ldK…1234 b ${key.slice(0, 13)}…${key.slice(-4)} c avs_…`);
  });

  it('--fail-open and --fail-closed override the mode at setup time; both at once is an error', async () => {
    const { home, cwd } = tempHome();
    const base = ['--api-key', key, '--url', t.url, '--clients', 'claude', '--claude-hook', '--resource', 'repo:acme/app', '--yes'];
    const settings = () => JSON.parse(readFileSync(join(cwd, '.claude', 'settings.json'), 'utf8'));
    const open = await run([...base, '--cursor-hook', '--fail-open'], home, cwd);
    assert.equal(open.code, 0, open.stderr);
    assert.equal(settings().hooks.PreToolUse[0].hooks[0].onFailure, undefined, 'enforce mode, but --fail-open');
    const cursor = JSON.parse(readFileSync(join(cwd, '.cursor', 'hooks.json'), 'utf8'));
    assert.equal(cursor.hooks.preToolUse[0].failClosed, undefined);
    assert.match(open.stdout, /Failure policy: the edit hooks fail open: .*\(--fail-open; the agent is in enforce mode\)/);
    const closed = await run([...base, '--fail-closed'], home, cwd);
    assert.equal(closed.code, 0, closed.stderr);
    assert.equal(settings().hooks.PreToolUse[0].hooks[0].onFailure, 'block');
    assert.match(closed.stdout, /Failure policy: the edit hooks fail closed: .*\(--fail-closed; the agent is in enforce mode\)/);
    const both = await run([...base, '--fail-closed', '--fail-open'], home, cwd);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--fail-closed and --fail-open contradict each other/);
  });

  it('a malformed config is a clear error and stays untouched; the other clients are still configured', async () => {
    const { home, cwd } = tempHome();
    mkdirSync(join(home, '.cursor'));
    mkdirSync(join(home, '.codex'));
    writeFileSync(join(home, '.cursor', 'mcp.json'), '{ "mcpServers": { oops }');
    writeFileSync(join(home, '.codex', 'config.toml'), '[broken\nx = 1\n');
    mkdirSync(join(home, '.codeium', 'windsurf'), { recursive: true });
    const r = await run(['--api-key', key, '--url', t.url, '--yes'], home, cwd);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /availsync-setup: error: .*\.cursor\/mcp\.json is not valid JSON \(.*\)\. Fix it or move it away; it was not changed\./,
    );
    assert.match(
      r.stderr,
      /availsync-setup: error: .*config\.toml is not valid TOML \(.*\)\. Fix it or move it away; it was not changed\./,
    );
    assert.equal(readFileSync(join(home, '.cursor', 'mcp.json'), 'utf8'), '{ "mcpServers": { oops }');
    assert.equal(readFileSync(join(home, '.codex', 'config.toml'), 'utf8'), '[broken\nx = 1\n');
    assert.deepEqual(readdirSync(join(home, '.cursor')), ['mcp.json'], 'no backup, no temp file');
    assert.match(r.stdout, /configured: Windsurf/);
  });

  it('verifies the key first: a wrong key, a wrong agent id or an unreachable server writes nothing', async () => {
    const { home, cwd } = tempHome();
    mkdirSync(join(home, '.cursor'));
    const bad = await run(['--api-key', 'avs_live_notarealkeynotarealkey', '--url', t.url, '--yes'], home, cwd);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /rejected the key avs_live_nota…lkey \(unauthorized\)/);
    assert.ok(!bad.stderr.includes('avs_live_notarealkeynotarealkey'));
    const wrongAgent = await run(['--api-key', key, '--agent-id', 'agt_someoneelse', '--url', t.url, '--yes'], home, cwd);
    assert.equal(wrongAgent.code, 1);
    assert.match(wrongAgent.stderr, new RegExp(`the key belongs to agent ${agentId} \\(laptop\\), not agt_someoneelse`));
    const down = await run(['--api-key', key, '--url', 'http://127.0.0.1:9', '--yes'], home, cwd);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach http:\/\/127\.0\.0\.1:9/);
    const none = await run(['--yes'], home, cwd);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no API key: pass --api-key/);
    assert.deepEqual(readdirSync(join(home, '.cursor')), []);
  });

  it("Claude Code: prints the remote MCP command naming $AVAILSYNC_API_KEY (the key with --show-key); --claude-hook merges the http hooks and keeps the project's other hooks", async () => {
    const { home, cwd } = tempHome();
    mkdirSync(join(cwd, '.claude'));
    const settings = {
      permissions: { allow: ['Bash(npm test)'] },
      hooks: { PreToolUse: [{ matcher: 'Bash', hooks: [{ type: 'command', command: './check-bash.sh' }] }] },
    };
    writeFileSync(join(cwd, '.claude', 'settings.json'), `${JSON.stringify(settings, null, 2)}\n`);
    const args = ['--api-key', key, '--url', t.url, '--clients', 'claude', '--claude-hook', '--resource', 'repo:acme/app', '--yes'];
    const r = await run(args, home, cwd);
    assert.equal(r.code, 0, r.stderr);
    // The shell fills the header in from $AVAILSYNC_API_KEY: the key itself is never printed, only masked.
    const cmd = `claude mcp add --transport http availsync ${t.url}/mcp --header "Authorization: Bearer $AVAILSYNC_API_KEY" --scope user`;
    assert.equal(claudeHttpCommand(t.url), cmd);
    const masked = `export AVAILSYNC_API_KEY=<the key, ${key.slice(0, 13)}…${key.slice(-4)}>`;
    assert.ok(
      r.stdout.includes(`Claude Code: run this once (--show-key prints it with the key itself):\n  ${masked}\n  ${cmd}\n`),
      r.stdout,
    );
    assert.equal(r.stdout.includes(key), false, 'the key is not printed');
    // The failure policy follows the mode at setup time, and setup says so.
    assert.match(
      r.stdout,
      /Failure policy: the edit hooks fail closed: .*\(the agent is in enforce mode now; --fail-open overrides it\)\. It follows the mode at setup time .*run setup again after switching the agent or its workspace between observe and enforce\./,
    );
    const shown = await run([...args, '--show-key', '--dry-run'], home, cwd);
    const withKey = `claude mcp add --transport http availsync ${t.url}/mcp --header "Authorization: Bearer ${key}" --scope user`;
    assert.equal(claudeHttpCommand(t.url, key), withKey);
    assert.ok(shown.stdout.includes(`Claude Code: run this once:\n  ${withKey}\n`), shown.stdout);
    assert.equal(shown.stdout.split(key).length, 2, 'asked for, the key appears exactly once');

    // The http hooks, as the server serves them; the key is $AVAILSYNC_API_KEY, interpolated from the local env.
    const text = readFileSync(join(cwd, '.claude', 'settings.json'), 'utf8');
    assert.ok(!text.includes(key), 'no key in the shared settings');
    const merged = JSON.parse(text);
    assert.deepEqual(merged.permissions, settings.permissions);
    const hook = {
      type: 'http',
      url: `${t.url}/v1/hooks/claude-code`,
      headers: {
        Authorization: 'Bearer $AVAILSYNC_API_KEY',
        'X-Availsync-Resource': 'repo:acme/app',
        'X-Availsync-Project-Dir': '$CLAUDE_PROJECT_DIR',
        'X-Availsync-Scope': 'repo',
      },
      allowedEnvVars: ['AVAILSYNC_API_KEY', 'CLAUDE_PROJECT_DIR'],
      timeout: 15,
    };
    const matcher = 'Edit|Write|MultiEdit|NotebookEdit';
    // The agent is in enforce mode: the edit hook fails closed (an unreachable server blocks the edit).
    assert.deepEqual(merged.hooks.PreToolUse, [settings.hooks.PreToolUse[0], { matcher, hooks: [{ ...hook, onFailure: 'block' }] }]);
    assert.deepEqual(merged.hooks.PostToolUse, [{ matcher, hooks: [hook] }]);
    assert.deepEqual(merged.hooks.SessionStart, [{ hooks: [hook] }]);
    assert.deepEqual(merged.hooks.SessionEnd, [{ hooks: [hook] }]);
    for (const h of [hook, merged.hooks.PreToolUse[1].hooks[0]]) {
      for (const v of Object.values(h.headers as Record<string, string>)) {
        for (const ref of v.match(/\$\{?([A-Z_]+)/g) ?? []) assert.ok(h.allowedEnvVars.includes(ref.replace(/^\$\{?/, '')), ref);
      }
    }
    const local = JSON.parse(readFileSync(join(cwd, '.claude', 'settings.local.json'), 'utf8'));
    assert.deepEqual(local.env, entryFor().env);
    const again = await run(args, home, cwd);
    assert.equal(again.code, 0, again.stderr + again.stdout);
    assert.equal((again.stdout.match(/^already configured: /gm) ?? []).length, 2, again.stdout);

    // --transport stdio: the stdio server and the command hook take the http hooks' places.
    const stdio = await run([...args, '--transport', 'stdio'], home, cwd);
    assert.equal(stdio.code, 0, stdio.stderr);
    const stdioCmd = `claude mcp add --scope user availsync -e AVAILSYNC_API_KEY="$AVAILSYNC_API_KEY" -e AVAILSYNC_AGENT_ID=${agentId} -e AVAILSYNC_API_URL=${t.url} -- npx -y @availsync/mcp`;
    assert.ok(stdio.stdout.includes(`  ${stdioCmd}\n`), stdio.stdout);
    assert.equal(stdio.stdout.includes(key), false);
    const commandForm = JSON.parse(readFileSync(join(cwd, '.claude', 'settings.json'), 'utf8'));
    const command = { type: 'command', command: 'npx -y @availsync/cli hook claude' };
    assert.deepEqual(commandForm.hooks.PreToolUse, [settings.hooks.PreToolUse[0], { matcher, hooks: [command] }]);
    assert.deepEqual(commandForm.hooks.SessionEnd, [{ hooks: [command] }]);
    assert.equal(commandForm.hooks.PostToolUse, undefined);
    assert.equal(commandForm.hooks.SessionStart, undefined);
    // And back: the http hooks replace the command hooks where they stand.
    await run(args, home, cwd);
    assert.deepEqual(JSON.parse(readFileSync(join(cwd, '.claude', 'settings.json'), 'utf8')), merged);
    // An agent in observe mode: nothing blocks, so the edit hook does not fail closed.
    const observe = claudeHttpHooks(t.url, { resource: null, scope: 'files', enforce: false });
    assert.deepEqual(observe[1]?.hook, {
      ...hook,
      headers: {
        Authorization: 'Bearer $AVAILSYNC_API_KEY',
        'X-Availsync-Project-Dir': '$CLAUDE_PROJECT_DIR',
        'X-Availsync-Scope': 'files',
      },
    });
  });

  it('Codex: an existing [mcp_servers.availsync] section (with a sub-table) is replaced in place; Cursor --project writes .cursor/mcp.json naming the env', async () => {
    const old = `${CODEX_BEFORE}\n[mcp_servers.availsync]\ncommand = "old"\n\n[mcp_servers.availsync.env]\nAVAILSYNC_API_KEY = "avs_live_old"\n\n# trailing table\n[tui]\nnotifications = true\n`;
    const next = setCodexServer(old, 'config.toml', entryFor());
    assert.equal(next, `${CODEX_BEFORE}\n${renderCodexSection(entryFor())}\n# trailing table\n[tui]\nnotifications = true\n`);
    assert.equal(setCodexServer(next, 'config.toml', entryFor()), next, 'idempotent');
    // A JSON member already present with other values is replaced where it stands.
    const json = '{\n  "mcpServers": {\n    "availsync": { "command": "old" },\n    "x": {}\n  }\n}\n';
    const replaced = setJsonMember(json, 'mcp.json', 'mcpServers', 'availsync', { a: 1 });
    assert.equal(replaced, '{\n  "mcpServers": {\n    "availsync": {\n      "a": 1\n    },\n    "x": {}\n  }\n}\n');

    const { home, cwd } = tempHome();
    const r = await run(['--api-key', key, '--url', t.url, '--clients', 'cursor', '--project', '--yes'], home, cwd);
    assert.equal(r.code, 0, r.stderr);
    // A project's Cursor file never holds the key, in a repository or not: Cursor reads ${env:AVAILSYNC_API_KEY}.
    assert.deepEqual(JSON.parse(readFileSync(join(cwd, '.cursor', 'mcp.json'), 'utf8')).mcpServers.availsync, {
      url: `${t.url}/mcp`,
      headers: { Authorization: `Bearer \${env:AVAILSYNC_API_KEY}` },
    });
    assert.match(r.stdout, /Cursor read the key from the environment: export AVAILSYNC_API_KEY=<the key, avs_live_/);
    assert.deepEqual(remoteEntry('cursor', `${t.url}/`, 'x'), { url: `${t.url}/mcp`, headers: { Authorization: 'x' } });
    assert.equal(existsSync(join(home, '.cursor')), false);
  });

  it("--local, from a clone: every client starts the clone's own build, and what was written runs as written", async () => {
    const clone = fakeClone();
    const { home, cwd } = tempHome();
    mkdirSync(join(home, '.cursor'));
    mkdirSync(join(home, '.codex'));
    const args = ['--api-key', key, '--url', t.url, '--clients', 'cursor,codex,claude', '--claude-hook', '--yes'];
    const r = await run([...args, '--local'], home, cwd, clone.selfDir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^availsync-setup: warning: the hook in .*settings\.json now starts this clone by this machine's paths/);
    const mcpBin = join(clone.root, 'packages', 'mcp', 'dist', 'bin.js');
    const entry = { command: process.execPath, args: [mcpBin], env: entryFor().env };
    assert.deepEqual(JSON.parse(readFileSync(join(home, '.cursor', 'mcp.json'), 'utf8')).mcpServers.availsync, entry);
    assert.deepEqual(
      JSON.parse(JSON.stringify(parseToml(readFileSync(join(home, '.codex', 'config.toml'), 'utf8')))).mcp_servers.availsync,
      entry,
    );
    assert.ok(r.stdout.includes(`-- ${process.execPath} '${mcpBin.replace(/'/g, "'\\''")}'\n`), r.stdout);

    // The MCP entry, started the way a client starts it; the hook's command, through a shell as Claude Code runs it.
    const started = spawnSync(entry.command, entry.args, { env: { ...entry.env, PATH: process.env.PATH }, encoding: 'utf8' });
    assert.deepEqual(JSON.parse(started.stdout), { bin: 'mcp', args: [], agent: agentId });
    const hooks = JSON.parse(readFileSync(join(cwd, '.claude', 'settings.json'), 'utf8')).hooks;
    const command: string = hooks.PreToolUse[0].hooks[0].command;
    assert.equal(hooks.SessionEnd[0].hooks[0].command, command);
    const ran = spawnSync('sh', ['-c', command], { encoding: 'utf8' });
    assert.deepEqual(JSON.parse(ran.stdout), { bin: 'cli', args: ['hook', 'claude'], agent: null });
    // Codex's and Cursor's hooks start the clone's CLI too, as written, through a shell.
    const hooked = await run([...args, '--local', '--codex-hook', '--cursor-hook', '--scope', 'files'], home, cwd, clone.selfDir);
    assert.equal(hooked.code, 0, hooked.stderr);
    assert.match(hooked.stderr, /the hook in .*\.codex\/hooks\.json now starts this clone/);
    const codexCmd: string = JSON.parse(readFileSync(join(cwd, '.codex', 'hooks.json'), 'utf8')).hooks.PreToolUse[0].hooks[0].command;
    const cursorCmd: string = JSON.parse(readFileSync(join(cwd, '.cursor', 'hooks.json'), 'utf8')).hooks.preToolUse[0].command;
    for (const [cmd, client] of [
      [codexCmd, 'codex'],
      [cursorCmd, 'cursor'],
    ] as const) {
      const out = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
      assert.deepEqual(JSON.parse(out.stdout), { bin: 'cli', args: ['hook', client, '--scope', 'files'], agent: null });
    }

    // Again: nothing changes. Back to the published packages: each entry, and the hook in its place, follow.
    const again = await run([...args, '--local'], home, cwd, clone.selfDir);
    assert.equal((again.stdout.match(/^already configured: /gm) ?? []).length, 4, again.stdout);
    const published = await run([...args, '--transport', 'stdio'], home, cwd, clone.selfDir);
    assert.equal(published.code, 0, published.stderr);
    assert.deepEqual(JSON.parse(readFileSync(join(home, '.cursor', 'mcp.json'), 'utf8')).mcpServers.availsync, entryFor());
    const back = JSON.parse(readFileSync(join(cwd, '.claude', 'settings.json'), 'utf8')).hooks;
    assert.deepEqual(back.PreToolUse, [
      { matcher: 'Edit|Write|MultiEdit|NotebookEdit', hooks: [{ type: 'command', command: 'npx -y @availsync/cli hook claude' }] },
    ]);
    assert.equal(back.SessionEnd.length, 1);
    // Run from a clone without --local, setup says where the clients will fetch Availsync from.
    assert.match(published.stderr, /warning: setup runs from a clone \(.*\), but the configs will start the published packages/);
  });

  it('--local refuses, writing nothing, outside a clone or before the clone is built', async () => {
    const { home, cwd } = tempHome();
    mkdirSync(join(home, '.cursor'));
    const args = ['--api-key', key, '--url', t.url, '--clients', 'cursor', '--yes', '--local'];
    const outside = await run(args, home, cwd, join(home, 'node_modules', '@availsync', 'setup', 'dist'));
    assert.equal(outside.code, 2);
    assert.match(outside.stderr, /--local needs setup to run from a clone of the Availsync repository/);
    const unbuilt = fakeClone(false);
    const notBuilt = await run(args, home, cwd, unbuilt.selfDir);
    assert.equal(notBuilt.code, 2);
    assert.match(notBuilt.stderr, /is not built yet\. Run npm run build there first/);
    assert.deepEqual(readdirSync(join(home, '.cursor')), [], 'nothing written');
    // The same layout inside a node_modules (an installed copy, an npx cache) is not a clone.
    assert.notEqual(cloneLaunchers(fakeClone().selfDir), null);
    assert.equal(cloneLaunchers(fakeClone(true, join('node_modules', 'availsync')).selfDir), null);
  });

  it("switching launchers rewrites only how a hook starts the CLI: its options, wrappers and the user's own hooks stay", () => {
    const local = String.raw`/usr/bin/node '/tmp/my repo'\''s clone/packages/cli/dist/bin.js'`;
    const published = 'npx -y @availsync/cli';
    const cases: [string, string][] = [
      [
        `${published} hook claude --resource project:acme --on-unavailable run`,
        `${local} hook claude --resource project:acme --on-unavailable run`,
      ],
      [`cd "$CLAUDE_PROJECT_DIR" && ${published} hook claude || true`, `cd "$CLAUDE_PROJECT_DIR" && ${local} hook claude || true`],
      [`"C:\\Program Files\\nodejs\\node.exe" "C:\\src\\availsync\\packages\\cli\\dist\\bin.js" hook claude`, `${local} hook claude`],
    ];
    for (const [before, after] of cases) {
      assert.ok(isAvailsyncHook(before, 'claude'), before);
      assert.equal(withLauncher(before, local), after);
      assert.equal(withLauncher(after, published).includes(`${published} hook claude`), true, after);
    }
    // A global `availsync` (or any other form) is the user's own: recognised, so not added twice, but kept.
    const own = 'availsync hook claude --resource project:acme';
    assert.ok(isAvailsyncHook(own, 'claude'));
    assert.equal(withLauncher(own, local), own);
    assert.ok(!isAvailsyncHook('./check-bash.sh', 'claude'));

    // In a settings file: a group holding the user's hook and ours keeps both, in order.
    const settings = {
      hooks: {
        PreToolUse: [
          {
            matcher: 'Edit|Write|MultiEdit|NotebookEdit',
            hooks: [
              { type: 'command', command: './lint-on-edit.sh' },
              { type: 'command', command: `${published} hook claude --duration 90` },
            ],
          },
        ],
        SessionEnd: [{ hooks: [{ type: 'command', command: own }] }],
      },
    };
    const text = `${JSON.stringify(settings, null, 2)}\n`;
    const next = JSON.parse(addClaudeHook(text, 'settings.json', `${local} hook claude`));
    assert.deepEqual(next.hooks.PreToolUse[0].hooks, [
      { type: 'command', command: './lint-on-edit.sh' },
      { type: 'command', command: `${local} hook claude --duration 90` },
    ]);
    assert.deepEqual(next.hooks.SessionEnd, settings.hooks.SessionEnd, "the user's own form is left as it is");
    assert.equal(addClaudeHook(text, 'settings.json', `${published} hook claude`), text, 'already the published form: unchanged');
  });

  it('on Windows the clone is started with double quotes, which cmd.exe runs', () => {
    const clone = fakeClone(true, 'clone');
    const found = cloneLaunchers(clone.selfDir, 'C:\\Program Files\\nodejs\\node.exe', 'win32');
    assert.equal(found?.launchers.cli, `"C:\\Program Files\\nodejs\\node.exe" ${join(clone.root, 'packages', 'cli', 'dist', 'bin.js')}`);
  });

  it('unifiedDiff: hunks with context', () => {
    assert.equal(unifiedDiff('a\nb\nc\n', 'a\nB\nc\n', 'x', 'x'), '--- x\n+++ x\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n');
    assert.equal(unifiedDiff('', 'n\n', '/dev/null', 'f'), '--- /dev/null\n+++ f\n@@ -0,0 +1,1 @@\n+n\n');
  });
});
