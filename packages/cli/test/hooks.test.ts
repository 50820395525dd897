/**
 * `availsync hook claude` and `availsync guard`, as real processes: recorded Claude Code PreToolUse payloads
 * piped to the CLI's stdin, a real git repository in a temp dir, a real server.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer, type TestServer } from '../../node/test/helpers.js';
import { pushedPaths, repoFromRemote } from '../src/hooks.js';
import { BIN, type CliResult, cliEnv, NODE_ARGS, shimDir } from './helpers.js';

function runCli(args: string[], env: NodeJS.ProcessEnv, cwd: string, stdin = ''): Promise<CliResult> {
  const child = spawn(process.execPath, [...NODE_ARGS, BIN, ...args], { env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  child.stdin.end(stdin);
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

/** git commit and push run the hooks, which call this process's server: they must not block the event loop. */
function gitRunningHooks(cwd: string, env: NodeJS.ProcessEnv, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('git', args, { cwd, env }, (err, _stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr });
    });
  });
}

const commit = (cwd: string, env: NodeJS.ProcessEnv, message: string) => gitRunningHooks(cwd, env, ['commit', '-q', '-m', message]);

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** A real repository with an origin remote, one commit, and a committer identity. */
function makeRepo(remote = 'git@github.com:acme/hooked.git'): string {
  const dir = mkdtempSync(join(tmpdir(), 'availsync-repo-'));
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'config', 'user.email', 'dev@example.com');
  git(dir, 'config', 'user.name', 'Dev');
  git(dir, 'remote', 'add', 'origin', remote);
  mkdirSync(join(dir, 'src'));
  for (const f of ['a.ts', 'b.ts', 'c.ts']) writeFileSync(join(dir, 'src', f), `export const ${f[0]} = 1;\n`);
  git(dir, 'add', '.');
  git(dir, 'commit', '-q', '-m', 'init');
  return dir;
}

/** A PreToolUse payload as Claude Code sends it (recorded shape). */
function payload(repo: string, session: string, tool: string, file: string) {
  const toolInput =
    tool === 'NotebookEdit'
      ? { notebook_path: join(repo, file), new_source: 'x = 1', cell_id: 'c1' }
      : tool === 'Write'
        ? { file_path: join(repo, file), content: 'export {};\n' }
        : { file_path: join(repo, file), old_string: 'export', new_string: 'export' };
  return JSON.stringify({
    session_id: session,
    transcript_path: `/home/dev/.claude/projects/hooked/${session}.jsonl`,
    cwd: repo,
    permission_mode: 'default',
    hook_event_name: 'PreToolUse',
    tool_name: tool,
    tool_input: toolInput,
  });
}

describe('availsync hook claude / guard (real processes, real git, real server)', () => {
  let t: TestServer;
  before(async () => {
    t = await startServer('sqlite');
  });
  after(async () => {
    await t.close();
  });

  /**
   * For the pre-push guard: a repository whose origin is a local bare one (main pushed), and two agents'
   * runs on projects of their own that keep their files in `resource`'s working set; the other run holds
   * `held`. `push` runs `git push origin ...` with the guard's environment (hooks not installed yet).
   */
  async function pushScene(name: string, resource: string, held: string[]) {
    const ws = await t.workspace({ name });
    const other = await ws.other({ name: 'holder' });
    const origin = mkdtempSync(join(tmpdir(), 'availsync-origin-'));
    git(origin, 'init', '-q', '--bare', '-b', 'main');
    const repo = makeRepo(origin);
    git(repo, 'push', '-q', 'origin', 'main');
    const start = async (key: string, project: string) =>
      (await t.api('POST', '/v1/work/run/start', { key, body: { resource: project } })).body.claim.id as string;
    const mine = await start(ws.agent.key, `project:${name}`);
    const theirs = await start(other.key, 'project:holder');
    const holding = await t.api('POST', '/v1/work/run/working-set', {
      key: other.key,
      body: { claim_id: theirs, resource, paths: held, mode: 'edit' },
    });
    assert.equal(holding.body.action, 'updated');
    const env = cliEnv({
      AVAILSYNC_API_KEY: ws.agent.key,
      AVAILSYNC_API_URL: t.url,
      AVAILSYNC_CLAIM_ID: mine,
      AVAILSYNC_RESOURCE: resource,
    });
    const pushEnv = { ...env, PATH: `${shimDir()}:${process.env.PATH}` };
    const push = (...args: string[]) => gitRunningHooks(repo, pushEnv, ['push', '-q', 'origin', ...args]);
    return { ws, other, origin, repo, mine, theirs, env, push };
  }

  it('derives repo:owner/name from ssh, https and scp-like remotes', () => {
    assert.equal(repoFromRemote('git@github.com:acme/app.git'), 'repo:acme/app');
    assert.equal(repoFromRemote('https://github.com/acme/app'), 'repo:acme/app');
    assert.equal(repoFromRemote('https://x-token@github.com/acme/app.git'), 'repo:acme/app');
    assert.equal(repoFromRemote('ssh://git@gitlab.example.com:2222/group/app.git'), 'repo:group/app');
    assert.equal(repoFromRemote('nonsense'), null);
  });

  it('claims files for the session, blocks another run with who and until when (exit 2), and the git guard follows', async () => {
    const ws = await t.workspace({ name: 'claude-alice' });
    const other = await ws.other({ name: 'claude-bob' });
    const repo = makeRepo();
    const envA = cliEnv({ AVAILSYNC_API_KEY: ws.agent.key, AVAILSYNC_AGENT_ID: ws.agent.id, AVAILSYNC_API_URL: t.url });
    const envB = cliEnv({ AVAILSYNC_API_KEY: other.key, AVAILSYNC_AGENT_ID: other.id, AVAILSYNC_API_URL: t.url });

    // Session A edits src/a.ts: a run on repo:acme/hooked starts, the file is claimed, the edit goes ahead.
    const first = await runCli(['hook', 'claude'], envA, repo, payload(repo, 'sess-a', 'Edit', 'src/a.ts'));
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, '');
    const stateFiles = readdirSync(join(repo, '.git', 'availsync'));
    assert.deepEqual(stateFiles, ['claude-sess-a.json']);
    const state = JSON.parse(readFileSync(join(repo, '.git', 'availsync', 'claude-sess-a.json'), 'utf8'));
    assert.equal(state.resource, 'repo:acme/hooked');
    assert.match(state.claim_id, /^clm_/);

    // The same session writes another file and a notebook: same run, more files.
    assert.equal((await runCli(['hook', 'claude'], envA, repo, payload(repo, 'sess-a', 'Write', 'src/b.ts'))).code, 0);
    assert.equal((await runCli(['hook', 'claude'], envA, repo, payload(repo, 'sess-a', 'NotebookEdit', 'nb/x.ipynb'))).code, 0);
    const claim = (await t.api('GET', `/v1/work/claims/${state.claim_id}`, { key: ws.agent.key })).body.claim;
    assert.equal(claim.status, 'active');
    assert.deepEqual(claim.working_set.map((f: any) => f.path).sort(), ['nb/x.ipynb', 'src/a.ts', 'src/b.ts']);
    const mine = await t.api('GET', '/v1/work/claims?status=active', { key: ws.agent.key });
    assert.equal(mine.body.data.length, 1, 'one run per session');

    // Tools that do not edit, and files outside the repository, pass untouched.
    const read = await runCli(['hook', 'claude'], envB, repo, payload(repo, 'sess-b', 'Read', 'src/a.ts'));
    assert.deepEqual([read.code, read.stderr], [0, '']);
    const outside = JSON.stringify({
      session_id: 'sess-b',
      cwd: repo,
      tool_name: 'Write',
      tool_input: { file_path: '/tmp/elsewhere.txt' },
    });
    assert.equal((await runCli(['hook', 'claude'], envB, repo, outside)).code, 0);

    // Another session on the same repo resource: the run is held → exit 2, naming the holder.
    const held = await runCli(['hook', 'claude'], envB, repo, payload(repo, 'sess-b', 'Edit', 'src/c.ts'));
    assert.equal(held.code, 2);
    assert.match(
      held.stderr,
      new RegExp(
        `^Availsync blocked this edit: repo:acme/hooked is being worked on by claude-alice \\(${ws.agent.id}\\), claim ${state.claim_id} "Claude Code session sess-a", until \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC`,
      ),
    );

    // A project-level run coordinating on the repo's files: blocked on the file A holds, free elsewhere.
    const proj = ['hook', 'claude', '--resource', 'project:docs-site'];
    const blocked = await runCli(proj, envB, repo, payload(repo, 'sess-b', 'Edit', 'src/a.ts'));
    assert.equal(blocked.code, 2);
    assert.match(
      blocked.stderr,
      new RegExp(
        `src/a\\.ts is held by agent ${ws.agent.id} \\(claim ${state.claim_id}, as src/a\\.ts, edit\\) until .*do not edit src/a\\.ts now`,
      ),
    );
    const free = await runCli(proj, envB, repo, payload(repo, 'sess-b', 'Edit', 'src/c.ts'));
    assert.equal(free.code, 0, free.stderr);

    // git guard with session A's run: staged files of A pass; a file B holds fails; a lost claim fails.
    writeFileSync(join(repo, 'src', 'a.ts'), 'export const a = 2;\n');
    git(repo, 'add', 'src/a.ts');
    const ok = await runCli(['guard'], envA, repo);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, new RegExp(`claim ${state.claim_id} is active until .*; 1 path\\(s\\) are this run's`));

    writeFileSync(join(repo, 'src', 'c.ts'), 'export const c = 2;\n');
    git(repo, 'add', 'src/c.ts');
    const theirs = await runCli(['guard'], envA, repo);
    assert.equal(theirs.code, 1);
    assert.match(theirs.stderr, new RegExp(`staged files are held by another run: src/c\\.ts is held by agent ${other.id}`));
    git(repo, 'reset', '-q', 'src/c.ts');

    // guard install: an existing pre-commit hook is kept and chained; a real `git commit` runs both.
    const hooks = join(repo, '.git', 'hooks');
    mkdirSync(hooks, { recursive: true });
    writeFileSync(join(hooks, 'pre-commit'), `#!/bin/sh\necho existing-hook-ran >> "${join(repo, '.git', 'marker')}"\n`, { mode: 0o755 });
    const install = await runCli(['guard', 'install'], envA, repo);
    assert.equal(install.code, 0, install.stderr);
    assert.match(
      install.stdout,
      /^installed: .*pre-commit runs `availsync guard` after your existing hook \(kept as pre-commit\.pre-availsync\)/,
    );
    assert.match((await runCli(['guard', 'install'], envA, repo)).stdout, /^already installed: /);
    const commitEnv = { ...envA, PATH: `${shimDir()}:${process.env.PATH}` };
    const guarded = await commit(repo, commitEnv, 'guarded');
    assert.equal(guarded.code, 0, guarded.stderr);
    assert.equal(readFileSync(join(repo, '.git', 'marker'), 'utf8'), 'existing-hook-ran\n');

    // The run's claim is finished elsewhere (lease lost): the commit is refused with the reason.
    await t.api('POST', '/v1/work/run/finish', { key: ws.agent.key, body: { claim_id: state.claim_id } });
    writeFileSync(join(repo, 'src', 'b.ts'), 'export const b = 2;\n');
    git(repo, 'add', 'src/b.ts');
    const lost = await runCli(['guard'], envA, repo);
    assert.equal(lost.code, 1);
    assert.match(lost.stderr, new RegExp(`the run's claim ${state.claim_id} on repo:acme/hooked is no longer active \\(released `));
    const refused = await commit(repo, commitEnv, 'refused');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /is no longer active/);

    // The hook notices the lost lease and starts a new run for the session.
    const again = await runCli(['hook', 'claude'], envA, repo, payload(repo, 'sess-a', 'Edit', 'src/b.ts'));
    assert.equal(again.code, 0, again.stderr);
    const renewed = JSON.parse(readFileSync(join(repo, '.git', 'availsync', 'claude-sess-a.json'), 'utf8'));
    assert.notEqual(renewed.claim_id, state.claim_id);
  });

  it('extends the session run near its expiry, finishes it at SessionEnd; observe mode lets edits through without a lease', async () => {
    const ws = await t.workspace({ name: 'long-session' });
    const repo = makeRepo('git@github.com:acme/long.git');
    const env = cliEnv({ AVAILSYNC_API_KEY: ws.agent.key, AVAILSYNC_AGENT_ID: ws.agent.id, AVAILSYNC_API_URL: t.url });
    assert.equal((await runCli(['hook', 'claude'], env, repo, payload(repo, 'long', 'Edit', 'src/a.ts'))).code, 0);
    const file = join(repo, '.git', 'availsync', 'claude-long.json');
    const state = JSON.parse(readFileSync(file, 'utf8'));
    // The session's record says the lease ends in a minute: the next edit extends it first.
    writeFileSync(file, JSON.stringify({ ...state, expires_at: new Date(Date.now() + 60_000).toISOString() }));
    const r = await runCli(['hook', 'claude'], env, repo, payload(repo, 'long', 'Edit', 'src/b.ts'));
    assert.equal(r.code, 0, r.stderr);
    const claim = (await t.api('GET', `/v1/work/claims/${state.claim_id}`, { key: ws.agent.key })).body.claim;
    assert.equal(claim.renewal_count, 1);
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).expires_at, claim.expires_at);

    const end = JSON.stringify({ session_id: 'long', cwd: repo, hook_event_name: 'SessionEnd', reason: 'exit' });
    const ended = await runCli(['hook', 'claude'], env, repo, end);
    assert.deepEqual([ended.code, ended.stderr], [0, '']);
    const after = (await t.api('GET', `/v1/work/claims/${state.claim_id}`, { key: ws.agent.key })).body.claim;
    assert.equal(after.status, 'released');
    assert.equal(existsSync(file), false);

    const observer = await ws.other({ name: 'observer', mode: 'observe' });
    const envO = cliEnv({ AVAILSYNC_API_KEY: observer.key, AVAILSYNC_API_URL: t.url });
    const o = await runCli(['hook', 'claude'], envO, repo, payload(repo, 'obs', 'Write', 'src/a.ts'));
    assert.deepEqual([o.code, o.stderr], [0, '']);
    const os = JSON.parse(readFileSync(join(repo, '.git', 'availsync', 'claude-obs.json'), 'utf8'));
    assert.deepEqual([os.mode, os.claim_id], ['observe', null]);
  });

  it('guard install --pre-push writes a pre-push hook; guard without any run says there is nothing to check', async () => {
    const repo = makeRepo('https://github.com/acme/pushy.git');
    const env = cliEnv({ AVAILSYNC_API_KEY: 'avs_live_unused', AVAILSYNC_API_URL: t.url });
    const r = await runCli(['guard', 'install', '--pre-push'], env, repo);
    assert.equal(r.code, 0);
    const hook = readFileSync(join(repo, '.git', 'hooks', 'pre-push'), 'utf8');
    assert.match(hook, /^#!\/bin\/sh\n# availsync guard .*\nexec availsync guard --pre-push\n$/);
    const none = await runCli(['guard'], env, repo);
    assert.equal(none.code, 0);
    assert.match(none.stderr, /no Availsync run is active for this repository/);
  });

  it('guard --pre-push checks the commits git says it is pushing: a new branch too, and after a chained hook', async () => {
    const { ws, other, origin, repo, mine, theirs, env, push } = await pushScene('pusher', 'repo:acme/pushed', ['src/c.ts']);

    // An existing pre-push hook that records what git gave it; the guard is chained after it.
    const hooks = join(repo, '.git', 'hooks');
    mkdirSync(hooks, { recursive: true });
    writeFileSync(join(hooks, 'pre-push'), `#!/bin/sh\ncat >> "${join(repo, '.git', 'pushed-refs')}"\n`, { mode: 0o755 });
    assert.equal((await runCli(['guard', 'install', '--pre-push'], env, repo)).code, 0);

    // A new branch (no upstream, remote sha all zeros) whose commit changes a file the other run holds.
    git(repo, 'checkout', '-q', '-b', 'feature');
    writeFileSync(join(repo, 'src', 'c.ts'), 'export const c = 2;\n');
    git(repo, 'commit', '-q', '-am', 'touch c');
    const refused = await push('feature');
    assert.notEqual(refused.code, 0, 'the push is refused');
    assert.match(
      refused.stderr,
      new RegExp(`files changed by the commits being pushed are held by another run: src/c\\.ts is held by agent ${other.id}`),
    );
    assert.match(refused.stderr, /the push was stopped/);
    assert.equal(git(origin, 'branch', '--list', 'feature'), '', 'nothing reached the remote');
    const sha = git(repo, 'rev-parse', 'HEAD').trim();
    assert.match(readFileSync(join(repo, '.git', 'pushed-refs'), 'utf8'), new RegExp(`^refs/heads/feature ${sha} refs/heads/feature 0+\n`));

    // An update of main that changes only files nobody else holds goes through, and they become this run's.
    // A change staged but not committed is not pushed: the held file it touches does not stop the push.
    git(repo, 'checkout', '-q', 'main');
    writeFileSync(join(repo, 'src', 'a.ts'), 'export const a = 2;\n');
    git(repo, 'commit', '-q', '-am', 'touch a');
    writeFileSync(join(repo, 'src', 'c.ts'), 'export const c = 3;\n');
    git(repo, 'add', 'src/c.ts');
    const pushed = await push('main');
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.equal(git(origin, 'rev-parse', 'main'), git(repo, 'rev-parse', 'main'));
    const claim = (await t.api('GET', `/v1/work/claims/${mine}`, { key: ws.agent.key })).body.claim;
    assert.deepEqual(
      claim.working_set.map((f: { path: string }) => f.path),
      ['src/a.ts'],
      "only the pushed commit's file: not the whole history, not the refused branch, not what is staged",
    );
    git(repo, 'reset', '-q', '--hard');

    // Once the other run lets go of the file, the branch goes through.
    await t.api('POST', '/v1/work/run/finish', { key: other.key, body: { claim_id: theirs } });
    const later = await push('feature');
    assert.equal(later.code, 0, later.stderr);
    assert.equal(git(origin, 'rev-parse', 'feature').trim(), sha);
  });

  it('guard --pre-push: commits already on a remote do not count; a merge counts the files it changed itself', async () => {
    const { ws, other, origin, repo, mine, env, push } = await pushScene('merger', 'repo:acme/merged', ['src/b.ts', 'src/d.ts']);
    git(repo, 'checkout', '-q', '-b', 'feature');
    git(repo, 'push', '-q', 'origin', 'feature');
    // Someone else's clone pushes a change to src/d.ts on main.
    const elsewhere = mkdtempSync(join(tmpdir(), 'availsync-clone-'));
    git(elsewhere, 'clone', '-q', origin, '.');
    writeFileSync(join(elsewhere, 'src', 'd.ts'), 'export const d = 1;\n');
    git(elsewhere, 'add', '.');
    git(elsewhere, '-c', 'user.email=b@example.com', '-c', 'user.name=B', 'commit', '-q', '-m', 'add d');
    git(elsewhere, 'push', '-q', 'origin', 'main');
    assert.equal((await runCli(['guard', 'install', '--pre-push'], env, repo)).code, 0);

    // Merging main brings in the other clone's src/d.ts: already on the remote, so not this push's change.
    git(repo, 'fetch', '-q', 'origin');
    writeFileSync(join(repo, 'src', 'a.ts'), 'export const a = 3;\n');
    git(repo, 'commit', '-q', '-am', 'touch a');
    git(repo, 'merge', '-q', '--no-ff', '-m', 'merge main', 'origin/main');
    const merged = await push('feature');
    assert.equal(merged.code, 0, merged.stderr);
    const claim = (await t.api('GET', `/v1/work/claims/${mine}`, { key: ws.agent.key })).body.claim;
    assert.deepEqual(
      claim.working_set.map((f: { path: string }) => f.path),
      ['src/a.ts'],
    );

    // A merge commit that itself changes a file the other run holds is refused.
    git(repo, 'checkout', '-q', '-b', 'side', 'HEAD~1');
    writeFileSync(join(repo, 'src', 'c.ts'), 'export const c = 3;\n');
    git(repo, 'commit', '-q', '-am', 'touch c');
    git(repo, 'checkout', '-q', 'feature');
    git(repo, 'merge', '-q', '--no-ff', '--no-commit', 'side');
    writeFileSync(join(repo, 'src', 'b.ts'), 'export const b = 3;\n');
    git(repo, 'add', 'src/b.ts');
    git(repo, 'commit', '-q', '-m', 'merge side, and change b in the merge');
    const refused = await push('feature');
    assert.notEqual(refused.code, 0, 'refused');
    assert.match(refused.stderr, new RegExp(`src/b\\.ts is held by agent ${other.id}`));
  });

  it('pushedPaths lists a push of thousands of files (more output than execFileSync keeps by default)', () => {
    const repo = makeRepo(mkdtempSync(join(tmpdir(), 'availsync-nowhere-')));
    const dir = join(repo, 'generated');
    mkdirSync(dir);
    const long = 'x'.repeat(200);
    for (let i = 0; i < 5000; i++) writeFileSync(join(dir, `${long}-${i}.ts`), '');
    git(repo, 'add', '.');
    git(repo, 'commit', '-q', '-m', 'many files');
    // No remote-tracking ref yet: every commit is new to the remote. Over 1 MiB of paths in all.
    const paths = pushedPaths(repo, '');
    assert.ok(paths, 'git log was read whole');
    assert.equal(paths.length, 5003);
    assert.ok(paths.join('\n').length > 1024 * 1024);
  });

  it('never silent when the server is unreachable or the key is missing: fail blocks (2), run warns loudly (0)', async () => {
    const repo = makeRepo('git@github.com:acme/down.git');
    const down = cliEnv({ AVAILSYNC_API_KEY: 'avs_live_whatever', AVAILSYNC_API_URL: 'http://127.0.0.1:9' });
    const fail = await runCli(['hook', 'claude'], down, repo, payload(repo, 's', 'Edit', 'src/a.ts'));
    assert.equal(fail.code, 2);
    assert.match(fail.stderr, /^Availsync blocked this edit: the Availsync server cannot be reached .*\(--on-unavailable fail\)/);
    const run = await runCli(['hook', 'claude', '--on-unavailable', 'run'], down, repo, payload(repo, 's', 'Edit', 'src/a.ts'));
    assert.equal(run.code, 0);
    assert.match(run.stderr, /availsync: WARNING: the Availsync server cannot be reached .*WITHOUT a claim/);

    const noKey = await runCli(['hook', 'claude'], cliEnv({}), repo, payload(repo, 's', 'Edit', 'src/a.ts'));
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /AVAILSYNC_API_KEY is not set/);

    const bad = await runCli(
      ['hook', 'claude'],
      cliEnv({ AVAILSYNC_API_KEY: 'avs_live_nope', AVAILSYNC_API_URL: t.url }),
      repo,
      payload(repo, 's', 'Edit', 'src/a.ts'),
    );
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Availsync refused the claim: .*Check AVAILSYNC_API_KEY/);
    assert.doesNotMatch(bad.stderr, /avs_live_nope/);

    const garbage = await runCli(['hook', 'claude'], down, repo, 'not json');
    assert.equal(garbage.code, 2);
    assert.match(garbage.stderr, /not Claude Code hook JSON/);
    assert.equal(existsSync(join(repo, '.git', 'availsync')), false, 'no state without a claim');
  });
});
