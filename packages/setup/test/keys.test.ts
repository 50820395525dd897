/**
 * Keys never land in a committable file, in a real git repository: after setup, `git add -A` stages no file holding the key; a project
 * file that must hold it goes into .git/info/exclude (and setup says so); one git already tracks, or where
 * git cannot answer, gets no key. A project's .cursor/mcp.json always names ${env:AVAILSYNC_API_KEY}. And
 * the Codex and Cursor hook files, and the file's own indentation.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type LiveServer, startServer } from '@availsync/testkit';
import { ignorePattern, main, secretPlace, setCursorHooks, setHookGroups, setJsonMember } from '../src/index.js';

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' });

function repo(under?: string): string {
  let dir = mkdtempSync(join(tmpdir(), 'availsync-keys-repo-'));
  if (under) {
    dir = join(dir, under);
    mkdirSync(dir);
  }
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
  const files = git(dir, 'status', '--porcelain', '-z')
    .split('\0')
    .filter(Boolean)
    .map((l) => l.slice(3));
  return { files, withKey: files.filter((f) => readFileSync(join(dir, f), 'utf8').includes(key)) };
}

describe('keys never land in a committable file (real git repository)', () => {
  let t: LiveServer;
  let key: string;
  before(async () => {
    t = await startServer('sqlite');
    key = (await t.workspace({ name: 'keys' })).agent.key;
  });
  after(async () => {
    await t.close();
  });

  const all = () => ['--api-key', key, '--url', t.url, '--yes', '--clients', 'cursor,claude', '--project'];

  it("project files that hold the key are excluded from git; the committed ones, and Cursor's, name $AVAILSYNC_API_KEY", async () => {
    const home = mkdtempSync(join(tmpdir(), 'availsync-keys-home-'));
    const dir = repo();
    const r = await run([...all(), '--claude-hook', '--codex-hook', '--cursor-hook'], home, dir);
    assert.equal(r.code, 0, r.stderr);
    const exclude = readFileSync(join(dir, '.git', 'info', 'exclude'), 'utf8');
    assert.deepEqual(
      exclude.split('\n').filter((l) => l.startsWith('/')),
      ['/.claude/settings.local.json'],
      'only the file that must hold the key',
    );
    assert.match(
      r.stdout,
      /added \/\.claude\/settings\.local\.json to .*exclude: .*settings\.local\.json holds the key, so git never commits it/,
    );
    // Each file is where it works: the key in the excluded one, a reference in the others. Cursor reads
    // ${env:AVAILSYNC_API_KEY} itself, so its project file never needs the key and may be committed.
    assert.equal(
      JSON.parse(readFileSync(join(dir, '.cursor', 'mcp.json'), 'utf8')).mcpServers.availsync.headers.Authorization,
      `Bearer \${env:AVAILSYNC_API_KEY}`,
    );
    assert.equal(JSON.parse(readFileSync(join(dir, '.claude', 'settings.local.json'), 'utf8')).env.AVAILSYNC_API_KEY, key);

    const { files, withKey } = staged(dir, key);
    assert.deepEqual(files.sort(), ['.claude/settings.json', '.codex/hooks.json', '.cursor/hooks.json', '.cursor/mcp.json']);
    assert.deepEqual(withKey, []);
    const settings = JSON.parse(readFileSync(join(dir, '.claude', 'settings.json'), 'utf8'));
    const hook = settings.hooks.PreToolUse[0].hooks[0];
    assert.equal(hook.headers.Authorization, 'Bearer $AVAILSYNC_API_KEY');
    assert.equal(hook.headers['X-Availsync-Resource'], 'repo:acme/app', 'the repository, from origin');
    assert.match(
      r.stdout,
      /Cursor, Codex hooks and Cursor hooks read the key from the environment: export AVAILSYNC_API_KEY=<the key, avs_live_[\w-]{4}…[\w-]{4}>/,
    );
    assert.equal(r.stdout.includes(key), false, "the key is never printed, not even in Claude Code's own command");

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
    assert.equal(again.stderr, '');
    assert.equal(readFileSync(join(dir, '.git', 'info', 'exclude'), 'utf8'), exclude);
    assert.deepEqual(staged(dir, key).files, []);
  });

  it('a file git already ignores is written as is, and nothing is added to the exclude file', async () => {
    const home = mkdtempSync(join(tmpdir(), 'availsync-keys-home-'));
    const dir = repo();
    writeFileSync(join(dir, '.gitignore'), '.claude/settings.local.json\n');
    const r = await run([...all(), '--claude-hook'], home, dir);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(readFileSync(join(dir, '.claude', 'settings.local.json'), 'utf8')).env.AVAILSYNC_API_KEY, key);
    assert.equal(
      existsSync(join(dir, '.git', 'info', 'exclude'))
        ? readFileSync(join(dir, '.git', 'info', 'exclude'), 'utf8').includes('/.claude')
        : false,
      false,
    );
    const { files, withKey } = staged(dir, key);
    assert.deepEqual(files.sort(), ['.claude/settings.json', '.cursor/mcp.json', '.gitignore']);
    assert.deepEqual(withKey, []);
  });

  it('a tracked .claude/settings.local.json is left alone, and the warning says so truly', async () => {
    const home = mkdtempSync(join(tmpdir(), 'availsync-keys-home-'));
    const dir = repo();
    mkdirSync(join(dir, '.claude'));
    const shared = '{\n  "env": { "FOO": "1" }\n}\n';
    writeFileSync(join(dir, '.claude', 'settings.local.json'), shared);
    git(dir, 'add', '-A');
    git(dir, 'commit', '-qm', 'shared local settings');
    const r = await run([...all(), '--claude-hook'], home, dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /Claude Code hook environment: .*settings\.local\.json is tracked by git \(\.claude\/settings\.local\.json\), so setup writes nothing to it \(the hooks read AVAILSYNC_API_KEY, AVAILSYNC_API_URL and AVAILSYNC_AGENT_ID from the environment\)/,
    );
    assert.doesNotMatch(r.stderr, /names \$\{env:AVAILSYNC_API_KEY\} instead/);
    assert.equal(readFileSync(join(dir, '.claude', 'settings.local.json'), 'utf8'), shared, 'untouched');
    assert.match(r.stdout, /Claude Code hooks read the key from the environment: export AVAILSYNC_API_KEY=/);
    const { files, withKey } = staged(dir, key);
    assert.deepEqual(files.sort(), ['.claude/settings.json', '.cursor/mcp.json']);
    assert.deepEqual(withKey, []);
  });

  it('a path reached through a symlink, and one with gitignore metacharacters, are excluded exactly', async () => {
    for (const under of [undefined, 'app [x]*?!#\\ ']) {
      const home = mkdtempSync(join(tmpdir(), 'availsync-keys-home-'));
      const dir = repo();
      const project = under ? join(dir, under) : dir;
      mkdirSync(project, { recursive: true });
      // The project through a symlink: git answers with the real path, setup is given the other one.
      const link = join(mkdtempSync(join(tmpdir(), 'availsync-keys-link-')), 'project');
      symlinkSync(project, link);
      const r = await run([...all(), '--claude-hook'], home, link);
      assert.equal(r.code, 0, r.stderr);
      const local = join(project, '.claude', 'settings.local.json');
      assert.equal(JSON.parse(readFileSync(local, 'utf8')).env.AVAILSYNC_API_KEY, key);
      const rel = `${under ? `${under}/` : ''}.claude/settings.local.json`;
      assert.ok(
        readFileSync(join(dir, '.git', 'info', 'exclude'), 'utf8')
          .split('\n')
          .includes(`/${ignorePattern(rel)}`),
      );
      git(dir, 'check-ignore', '-q', '--no-index', '--', rel); // throws unless git ignores exactly that file
      if (under) assert.throws(() => git(dir, 'check-ignore', '-q', '--no-index', '--', rel.replace('[x]', 'x')), 'and not another');
      const { withKey } = staged(dir, key);
      assert.deepEqual(withKey, [], `nothing staged holds the key (${under ?? 'symlink'})`);
    }
    assert.equal(ignorePattern('a[b]*?!#\\c  '), 'a\\[b]\\*\\?\\!\\#\\\\c\\ \\ ');
  });

  it('excluded but still not ignored (a .gitignore "!" rule wins): the env reference, not the key', async () => {
    const home = mkdtempSync(join(tmpdir(), 'availsync-keys-home-'));
    const dir = repo();
    writeFileSync(join(dir, '.gitignore'), '!.claude/settings.local.json\n');
    const r = await run([...all(), '--claude-hook'], home, dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /settings\.local\.json is still not ignored by git after \/\.claude\/settings\.local\.json was added to .*exclude/,
    );
    assert.equal(existsSync(join(dir, '.claude', 'settings.local.json')), false);
    assert.deepEqual(staged(dir, key).withKey, []);
  });

  it('git cannot answer under a .git (a broken work tree, dubious ownership): no key is written', async () => {
    const home = mkdtempSync(join(tmpdir(), 'availsync-keys-home-'));
    // A work tree whose .git points at a repository that is gone.
    const broken = mkdtempSync(join(tmpdir(), 'availsync-keys-broken-'));
    writeFileSync(join(broken, '.git'), `gitdir: ${join(broken, 'gone')}\n`);
    const place = secretPlace(join(broken, '.claude', 'settings.local.json'));
    assert.equal(place.held, false);
    const r = await run([...all(), '--claude-hook'], home, broken);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /settings\.local\.json is under .*\.git, but git cannot say whether it is tracked \(fatal: not a git repository/,
    );
    assert.equal(existsSync(join(broken, '.claude', 'settings.local.json')), false);
    assert.equal(JSON.stringify(JSON.parse(readFileSync(join(broken, '.claude', 'settings.json'), 'utf8'))).includes(key), false);

    // A repository owned by someone else: git refuses it ("dubious ownership"). Needs root to hand it over.
    if (process.getuid?.() === 0) {
      const dir = repo();
      const chownAll = (d: string) => execFileSync('chown', ['-R', 'nobody', d]);
      chownAll(dir);
      chownSync(dir, 65534, 65534);
      const dubious = await run([...all(), '--claude-hook'], home, dir);
      assert.equal(dubious.code, 0, dubious.stderr);
      assert.match(dubious.stderr, /git cannot say whether it is tracked \(fatal: detected dubious ownership/);
      assert.equal(existsSync(join(dir, '.claude', 'settings.local.json')), false);
    }
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
