/**
 * SPEC §10.4 in a real git repository: after setup, `git add -A` stages no file holding the key; a project
 * file that must hold it goes into .git/info/exclude (and setup says so); one git already tracks names
 * ${env:AVAILSYNC_API_KEY} instead. And the Codex and Cursor hook files, and the file's own indentation.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer, type TestServer } from '../../node/test/helpers.js';
import { main, setCursorHooks, setHookGroups, setJsonMember } from '../src/index.js';

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' });

function repo(): string {
  const dir = mkdtempSync(join(tmpdir(), 'availsync-keys-repo-'));
  git(dir, 'init', '-q');
  git(dir, 'config', 'user.email', 'dev@example.com');
  git(dir, 'config', 'user.name', 'dev');
  git(dir, 'remote', 'add', 'origin', 'git@github.com:acme/app.git');
  writeFileSync(join(dir, 'README.md'), '# app\n');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', 'init');
  return dir;
}

async function run(args: string[], home: string, cwd: string) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: { PATH: '' },
    home,
    cwd,
    now: () => new Date('2026-06-01T10:00:00Z'),
  });
  return { code, stdout, stderr };
}

/** The files `git add -A` stages, and which of them hold `key`. */
function staged(dir: string, key: string): { files: string[]; withKey: string[] } {
  git(dir, 'add', '-A');
  const files = git(dir, 'status', '--porcelain')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.slice(3));
  return { files, withKey: files.filter((f) => readFileSync(join(dir, f), 'utf8').includes(key)) };
}

describe('keys never land in a committable file (real git repository)', () => {
  let t: TestServer;
  let key: string;
  before(async () => {
    t = await startServer('sqlite');
    key = (await t.workspace({ name: 'keys' })).agent.key;
  });
  after(async () => {
    await t.close();
  });

  const all = () => ['--api-key', key, '--url', t.url, '--yes', '--clients', 'cursor,claude', '--project'];

  it('project files that hold the key are excluded from git; the committed ones name $AVAILSYNC_API_KEY', async () => {
    const home = mkdtempSync(join(tmpdir(), 'availsync-keys-home-'));
    const dir = repo();
    const r = await run([...all(), '--claude-hook', '--codex-hook', '--cursor-hook'], home, dir);
    assert.equal(r.code, 0, r.stderr);
    const exclude = readFileSync(join(dir, '.git', 'info', 'exclude'), 'utf8');
    assert.ok(exclude.split('\n').includes('/.cursor/mcp.json'), exclude);
    assert.ok(exclude.split('\n').includes('/.claude/settings.local.json'), exclude);
    assert.match(r.stdout, /added \/\.cursor\/mcp\.json to .*exclude: .*mcp\.json holds the key, so git never commits it/);
    // Each file is where it works: the key in the excluded ones, a reference in the committed ones.
    assert.equal(
      JSON.parse(readFileSync(join(dir, '.cursor', 'mcp.json'), 'utf8')).mcpServers.availsync.headers.Authorization,
      `Bearer ${key}`,
    );
    assert.equal(JSON.parse(readFileSync(join(dir, '.claude', 'settings.local.json'), 'utf8')).env.AVAILSYNC_API_KEY, key);

    const { files, withKey } = staged(dir, key);
    assert.deepEqual(files.sort(), ['.claude/settings.json', '.codex/hooks.json', '.cursor/hooks.json']);
    assert.deepEqual(withKey, []);
    const settings = JSON.parse(readFileSync(join(dir, '.claude', 'settings.json'), 'utf8'));
    const hook = settings.hooks.PreToolUse[0].hooks[0];
    assert.equal(hook.headers.Authorization, 'Bearer $AVAILSYNC_API_KEY');
    assert.equal(hook.headers['X-Availsync-Resource'], 'repo:acme/app', 'the repository, from origin');
    assert.match(r.stdout, /export AVAILSYNC_API_KEY=<the key, avs_live_\w{4}…\w{4}>/);
    assert.equal(r.stdout.split(key).length, 2, "the key is printed once, in Claude Code's own command");

    // Codex's hooks (Claude Code's shape) and Cursor's (version 1, flat), all calling the CLI.
    const codex = JSON.parse(readFileSync(join(dir, '.codex', 'hooks.json'), 'utf8'));
    const codexHook = { type: 'command', command: 'npx -y @availsync/cli hook codex', timeout: 30 };
    assert.deepEqual(codex, {
      hooks: {
        SessionStart: [{ hooks: [codexHook] }],
        PreToolUse: [{ matcher: 'apply_patch|Edit|Write', hooks: [codexHook] }],
        PostToolUse: [{ matcher: 'apply_patch|Edit|Write|Bash', hooks: [codexHook] }],
      },
    });
    const cursor = JSON.parse(readFileSync(join(dir, '.cursor', 'hooks.json'), 'utf8'));
    const command = 'npx -y @availsync/cli hook cursor';
    assert.deepEqual(cursor, {
      version: 1,
      hooks: {
        preToolUse: [{ command, matcher: 'Write|Edit|StrReplace|Delete', timeout: 30, failClosed: true }],
        afterFileEdit: [{ command, timeout: 30 }],
        sessionEnd: [{ command, timeout: 30 }],
      },
    });

    // Again: nothing changes, the exclude file keeps one line per file.
    git(dir, 'commit', '-qm', 'hooks');
    const again = await run([...all(), '--claude-hook', '--codex-hook', '--cursor-hook'], home, dir);
    assert.equal((again.stdout.match(/^already configured: /gm) ?? []).length, 5, again.stdout);
    assert.equal(readFileSync(join(dir, '.git', 'info', 'exclude'), 'utf8'), exclude);
    assert.deepEqual(staged(dir, key).files, []);
  });

  it('a file git already ignores is written as is; one git tracks names the env reference, and setup says so', async () => {
    const home = mkdtempSync(join(tmpdir(), 'availsync-keys-home-'));
    const dir = repo();
    writeFileSync(join(dir, '.gitignore'), '.claude/settings.local.json\n');
    mkdirSync(join(dir, '.cursor'));
    writeFileSync(join(dir, '.cursor', 'mcp.json'), '{\n  "mcpServers": {}\n}\n');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-qm', 'shared cursor config');
    const r = await run([...all(), '--claude-hook'], home, dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /Cursor: .*mcp\.json is tracked by git \(\.cursor\/mcp\.json\), so it names \$\{env:AVAILSYNC_API_KEY\} instead of the key/,
    );
    assert.deepEqual(JSON.parse(readFileSync(join(dir, '.cursor', 'mcp.json'), 'utf8')).mcpServers.availsync, {
      url: `${t.url}/mcp`,
      headers: { Authorization: `Bearer \${env:AVAILSYNC_API_KEY}` },
    });
    // Nothing holds the key; the backup of the tracked file stays out of git too.
    assert.deepEqual(
      readFileSync(join(dir, '.git', 'info', 'exclude'), 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('/')),
      ['/.cursor/mcp.json.bak-*'],
    );
    const { files, withKey } = staged(dir, key);
    assert.deepEqual(files.sort(), ['.claude/settings.json', '.cursor/mcp.json']);
    assert.deepEqual(withKey, []);
  });
});

describe("an edit keeps the file's own indentation", () => {
  const entry = { url: 'http://127.0.0.1:8787/mcp', headers: { Authorization: 'Bearer x' } };
  for (const [name, unit] of [
    ['2 spaces', '  '],
    ['4 spaces', '    '],
    ['tabs', '\t'],
  ] as const) {
    it(name, () => {
      const lead = (text: string) =>
        text
          .split('\n')
          .map((l) => /^[ \t]*/.exec(l)?.[0] ?? '')
          .filter(Boolean);
      const only = (text: string) => {
        for (const ws of lead(text)) assert.equal(ws, unit.repeat(ws.length / unit.length), JSON.stringify(text));
      };
      const files = [
        `{\n${unit}"mcpServers": {\n${unit}${unit}"linear": { "command": "npx" }\n${unit}}\n}\n`,
        `{\n${unit}"mcpServers": {}\n}\n`,
        `{\n${unit}"other": true\n}\n`,
        `{\n${unit}"mcpServers": {\n${unit}${unit}"availsync": {\n${unit}${unit}${unit}"command": "old"\n${unit}${unit}}\n${unit}}\n}\n`,
      ];
      for (const text of files) {
        const next = setJsonMember(text, 'mcp.json', 'mcpServers', 'availsync', entry);
        only(next);
        assert.deepEqual(JSON.parse(next).mcpServers.availsync, entry);
      }
      const hooks = `{\n${unit}"hooks": {\n${unit}${unit}"stop": [{ "command": "./notify.sh" }]\n${unit}}\n}\n`;
      only(setCursorHooks(hooks, 'hooks.json', [{ event: 'sessionEnd', hook: { command: 'availsync hook cursor' } }]));
      only(setHookGroups(hooks, 'hooks.json', [{ event: 'Stop', hook: { type: 'command', command: 'x' } }], () => false));
    });
  }
});
