/**
 * `availsync hook claude|codex|cursor` and `availsync guard`, as real processes: hook payloads in the shapes
 * the clients' hooks documentation gives (Claude Code 2.1, Codex and Cursor 2.x, 2026) piped to the CLI's
 * stdin, real git repositories (and worktrees) in temp dirs, a real server.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, type CliResult, cliEnv, type LiveServer, NODE_ARGS, shimDir, startServer } from '@availsync/testkit';
import { pushedPaths, repoFromCommonDir, repoFromRemote } from '../src/hooks/index.js';

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
  let t: LiveServer;
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

  const out = (r: CliResult) => JSON.parse(r.stdout) as any;
  const decisionOf = (r: CliResult) => out(r).hookSpecificOutput?.permissionDecision as string | undefined;
  const reasonOf = (r: CliResult) => out(r).hookSpecificOutput?.permissionDecisionReason as string;
  const activeClaims = async (key: string) => (await t.api('GET', '/v1/work/claims?status=active', { key })).body.data as any[];

  it('claims files for the session through the server (no local state), denies another session naming the holder; the git guard follows', async () => {
    const ws = await t.workspace({ name: 'claude-alice' });
    const other = await ws.other({ name: 'claude-bob' });
    const repo = makeRepo();
    const envA = cliEnv({ AVAILSYNC_API_KEY: ws.agent.key, AVAILSYNC_AGENT_ID: ws.agent.id, AVAILSYNC_API_URL: t.url });
    const envB = cliEnv({ AVAILSYNC_API_KEY: other.key, AVAILSYNC_AGENT_ID: other.id, AVAILSYNC_API_URL: t.url });

    // Session A edits src/a.ts: a run on repo:acme/hooked starts, the file is claimed, the JSON allows it.
    const first = await runCli(['hook', 'claude'], envA, repo, payload(repo, 'sess-a', 'Edit', 'src/a.ts'));
    assert.equal(first.code, 0, first.stderr);
    assert.equal(decisionOf(first), 'allow');
    assert.equal(existsSync(join(repo, '.git', 'availsync')), false, 'no local state file');
    assert.equal((await runCli(['hook', 'claude'], envA, repo, payload(repo, 'sess-a', 'Write', 'src/b.ts'))).code, 0);
    assert.equal((await runCli(['hook', 'claude'], envA, repo, payload(repo, 'sess-a', 'NotebookEdit', 'nb/x.ipynb'))).code, 0);
    const mine = await activeClaims(ws.agent.key);
    assert.equal(mine.length, 1, 'one run per session');
    const claim = mine[0];
    assert.equal(claim.resource, 'repo:acme/hooked');
    assert.deepEqual(claim.working_set.map((f: any) => f.path).sort(), ['nb/x.ipynb', 'src/a.ts', 'src/b.ts']);

    // Tools that do not edit, and files outside the repository, pass untouched.
    const read = await runCli(['hook', 'claude'], envB, repo, payload(repo, 'sess-b', 'Read', 'src/a.ts'));
    assert.deepEqual([read.code, out(read), read.stderr], [0, {}, '']);
    const outside = JSON.stringify({
      session_id: 'sess-b',
      cwd: repo,
      hook_event_name: 'PreToolUse',
      tool_name: 'Write',
      tool_input: { file_path: '/tmp/elsewhere.txt' },
    });
    const o = await runCli(['hook', 'claude'], envB, repo, outside);
    assert.deepEqual([o.code, decisionOf(o)], [0, 'allow']);

    // Another session on the same repository (scope repo): denied in Claude Code's JSON form, naming the holder.
    const held = await runCli(['hook', 'claude'], envB, repo, payload(repo, 'sess-b', 'Edit', 'src/c.ts'));
    assert.equal(held.code, 0);
    assert.equal(decisionOf(held), 'deny');
    assert.match(
      reasonOf(held),
      new RegExp(`repo:acme/hooked is being worked on by claude-alice \\(${ws.agent.id}\\), run ${claim.id} "Claude Code session sess-a"`),
    );

    // Scope files: B's session conflicts only on the files A holds.
    const blocked = await runCli(['hook', 'claude', '--scope', 'files'], envB, repo, payload(repo, 'sess-b', 'Edit', 'src/a.ts'));
    assert.equal(decisionOf(blocked), 'deny');
    assert.match(
      reasonOf(blocked),
      new RegExp(`src/a\\.ts is held by claude-alice \\(${ws.agent.id}\\), run ${claim.id}, until .*Do not edit src/a\\.ts now`),
    );
    const free = await runCli(['hook', 'claude', '--scope', 'files'], envB, repo, payload(repo, 'sess-b', 'Edit', 'src/c.ts'));
    assert.equal(decisionOf(free), 'allow', free.stdout);

    // git guard finds session A's run on the server: its staged file passes; a file B holds fails.
    writeFileSync(join(repo, 'src', 'a.ts'), 'export const a = 2;\n');
    git(repo, 'add', 'src/a.ts');
    const ok = await runCli(['guard'], envA, repo);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, new RegExp(`claim ${claim.id} is active until .*; 1 path\\(s\\) are this run's`));
    writeFileSync(join(repo, 'src', 'c.ts'), 'export const c = 2;\n');
    git(repo, 'add', 'src/c.ts');
    const theirs = await runCli(['guard'], envA, repo);
    assert.equal(theirs.code, 1);
    assert.match(theirs.stderr, new RegExp(`staged files are held by another run: src/c\\.ts is held by agent ${other.id}`));
    assert.doesNotMatch(theirs.stderr, /\.\./, 'no doubled period');
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
    await t.api('POST', '/v1/work/run/finish', { key: ws.agent.key, body: { claim_id: claim.id } });
    writeFileSync(join(repo, 'src', 'b.ts'), 'export const b = 2;\n');
    git(repo, 'add', 'src/b.ts');
    const lost = await runCli(['guard'], envA, repo);
    assert.equal(lost.code, 1);
    assert.match(lost.stderr, new RegExp(`the run's claim ${claim.id} on repo:acme/hooked is no longer active \\(released `));
    const refused = await commit(repo, commitEnv, 'refused');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /is no longer active/);
    // The installed hook says what is missing when the key is not there.
    const noKey = await commit(repo, cliEnv({ PATH: `${shimDir()}:${process.env.PATH}` }), 'no key');
    assert.equal(noKey.code, 1);
    assert.match(noKey.stderr, /availsync guard: AVAILSYNC_API_KEY is not set, so claims cannot be checked/);
    const noCli = await commit(repo, { ...envA, PATH: '/usr/bin:/bin' }, 'no cli');
    assert.equal(noCli.code, 1);
    assert.match(noCli.stderr, /availsync guard: 'availsync' is not on PATH/);

    // The hook notices the lost lease and starts a new run for the session.
    const again = await runCli(['hook', 'claude'], envA, repo, payload(repo, 'sess-a', 'Edit', 'src/b.ts'));
    assert.equal(decisionOf(again), 'allow', again.stdout);
    const [renewed] = await activeClaims(ws.agent.key);
    assert.notEqual(renewed.id, claim.id);
  });

  it('guard with no run of its own still refuses a commit of files another run holds', async () => {
    const ws = await t.workspace({ name: 'committer' });
    const other = await ws.other({ name: 'holder' });
    const repo = makeRepo('git@github.com:acme/norun.git');
    const envB = cliEnv({ AVAILSYNC_API_KEY: other.key, AVAILSYNC_API_URL: t.url });
    const held = await runCli(['hook', 'claude', '--scope', 'files'], envB, repo, payload(repo, 'h', 'Edit', 'src/a.ts'));
    assert.equal(decisionOf(held), 'allow');
    const env = cliEnv({ AVAILSYNC_API_KEY: ws.agent.key, AVAILSYNC_API_URL: t.url });
    writeFileSync(join(repo, 'src', 'b.ts'), 'export const b = 9;\n');
    git(repo, 'add', 'src/b.ts');
    const free = await runCli(['guard'], env, repo);
    assert.equal(free.code, 0, free.stderr);
    assert.match(
      free.stderr,
      /no Availsync run of this agent is active for repo:acme\/norun; none of the 1 staged files is held by another run/,
    );
    writeFileSync(join(repo, 'src', 'a.ts'), 'export const a = 9;\n');
    git(repo, 'add', 'src/a.ts');
    const refused = await runCli(['guard'], env, repo);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`staged files are held by another run: src/a\\.ts is held by agent ${other.id}`));
  });

  it('Bash writes: sed -i, > redirection and git checkout are found from git status and claimed; a held file blocks', async () => {
    const ws = await t.workspace({ name: 'basher' });
    const other = await ws.other({ name: 'holder' });
    const repo = makeRepo('git@github.com:acme/bash.git');
    const envA = cliEnv({ AVAILSYNC_API_KEY: ws.agent.key, AVAILSYNC_API_URL: t.url });
    const envB = cliEnv({ AVAILSYNC_API_KEY: other.key, AVAILSYNC_API_URL: t.url });
    assert.equal(
      decisionOf(await runCli(['hook', 'claude', '--scope', 'files'], envB, repo, payload(repo, 'b', 'Edit', 'src/b.ts'))),
      'allow',
    );
    writeFileSync(join(repo, 'src', 'c.ts'), 'export const c = 5;\n'); // dirty before the session's commands
    const bash = (event: string, command: string) =>
      JSON.stringify({
        session_id: 'sh',
        cwd: repo,
        hook_event_name: event,
        tool_name: 'Bash',
        tool_input: { command },
        ...(event === 'PostToolUse' ? { tool_response: { stdout: '' } } : {}),
      });
    /** One Bash tool call as Claude Code runs it: PreToolUse hook, the command, PostToolUse hook. */
    const run = async (command: string) => {
      const pre = await runCli(['hook', 'claude', '--scope', 'files'], envA, repo, bash('PreToolUse', command));
      assert.deepEqual([pre.code, out(pre)], [0, {}], pre.stderr);
      execFileSync('sh', ['-c', command], { cwd: repo });
      const post = await runCli(['hook', 'claude', '--scope', 'files'], envA, repo, bash('PostToolUse', command));
      assert.equal(post.code, 0, post.stderr);
      return out(post);
    };
    assert.deepEqual(await run("sed -i 's/1/2/' src/a.ts"), {});
    assert.deepEqual(await run('echo hello > notes.txt'), {});
    assert.deepEqual(await run('git checkout -- src/c.ts'), {});
    const [claim] = await activeClaims(ws.agent.key);
    assert.deepEqual(claim.working_set.map((f: any) => f.path).sort(), ['notes.txt', 'src/a.ts', 'src/c.ts']);
    const blocked = await run("sed -i 's/1/3/' src/b.ts");
    assert.equal(blocked.decision, 'block');
    assert.match(
      blocked.reason,
      new RegExp(
        `this command changed files another run holds: src/b\\.ts is held by holder \\(${other.id}\\).*Revert your changes to src/b\\.ts`,
      ),
    );
    // The unchanged files of earlier commands are not counted again; a command that writes nothing is {}.
    assert.deepEqual(await run('true'), {});
  });

  it('two worktrees of one repository (no remote) are one resource, paths relative to each worktree', async () => {
    const ws = await t.workspace({ name: 'tree-a' });
    const other = await ws.other({ name: 'tree-b' });
    const main = mkdtempSync(join(tmpdir(), 'availsync-local-'));
    git(main, 'init', '-q', '-b', 'main');
    git(main, 'config', 'user.email', 'dev@example.com');
    git(main, 'config', 'user.name', 'Dev');
    mkdirSync(join(main, 'src'));
    writeFileSync(join(main, 'src', 'a.ts'), 'export const a = 1;\n');
    git(main, 'add', '.');
    git(main, 'commit', '-q', '-m', 'init');
    const second = `${main}-wt2`;
    git(main, 'worktree', 'add', '-q', '-b', 'feature', second);
    const envA = cliEnv({ AVAILSYNC_API_KEY: ws.agent.key, AVAILSYNC_API_URL: t.url });
    const envB = cliEnv({ AVAILSYNC_API_KEY: other.key, AVAILSYNC_API_URL: t.url });
    const a = await runCli(['hook', 'claude', '--scope', 'files'], envA, main, payload(main, 'wa', 'Edit', 'src/a.ts'));
    assert.equal(decisionOf(a), 'allow', a.stdout + a.stderr);
    const b = await runCli(['hook', 'claude', '--scope', 'files'], envB, second, payload(second, 'wb', 'Edit', 'src/a.ts'));
    assert.equal(decisionOf(b), 'deny');
    assert.match(reasonOf(b), /src\/a\.ts is held by tree-a/);
    const [claim] = await activeClaims(ws.agent.key);
    assert.equal(claim.working_set[0].resource, repoFromCommonDir(join(main, '.git')));
    assert.match(claim.working_set[0].resource, /^repo:local\/availsync-local-[A-Za-z0-9]+-[0-9a-f]{10}$/);
  });

  it('Codex and Cursor command hooks get the same decision in their own forms', async () => {
    const ws = await t.workspace({ name: 'codex-cli' });
    const other = await ws.other({ name: 'cursor-cli' });
    const repo = makeRepo('git@github.com:acme/multi.git');
    const envA = cliEnv({ AVAILSYNC_API_KEY: ws.agent.key, AVAILSYNC_API_URL: t.url });
    const envB = cliEnv({ AVAILSYNC_API_KEY: other.key, AVAILSYNC_API_URL: t.url });
    // Codex PreToolUse for apply_patch (developers.openai.com/codex/hooks, May 2026).
    const patch = '*** Begin Patch\n*** Update File: src/a.ts\n@@\n-export const a = 1;\n+export const a = 2;\n*** End Patch\n';
    const codexPayload = JSON.stringify({
      session_id: 'cx-1',
      turn_id: 't-1',
      cwd: repo,
      hook_event_name: 'PreToolUse',
      model: 'gpt-5-codex',
      tool_name: 'apply_patch',
      tool_input: { command: patch },
    });
    const codex = await runCli(['hook', 'codex', '--scope', 'files'], envA, repo, codexPayload);
    assert.equal(codex.code, 0, codex.stderr);
    assert.equal(decisionOf(codex), 'allow');
    // Cursor 2.x preToolUse of a Write on the same file: Cursor's permission form, exit 0.
    const cursorPayload = (file: string) =>
      JSON.stringify({
        conversation_id: 'conv-9',
        generation_id: 'g-1',
        hook_event_name: 'preToolUse',
        cursor_version: '2.0.77',
        workspace_roots: [repo],
        tool_name: 'Write',
        tool_input: { file_path: join(repo, file) },
      });
    const cur = await runCli(['hook', 'cursor', '--scope', 'files'], envB, repo, cursorPayload('src/a.ts'));
    assert.equal(cur.code, 0, cur.stderr);
    assert.equal(out(cur).permission, 'deny');
    assert.match(out(cur).agent_message, /src\/a\.ts is held by codex-cli/);
    assert.equal(out(await runCli(['hook', 'cursor', '--scope', 'files'], envB, repo, cursorPayload('src/b.ts'))).permission, 'allow');
    // Server down: Cursor's deny form, loudly on stderr too.
    const down = cliEnv({ AVAILSYNC_API_KEY: 'avs_live_whatever', AVAILSYNC_API_URL: 'http://127.0.0.1:9' });
    const off = await runCli(['hook', 'cursor'], down, repo, cursorPayload('src/c.ts'));
    assert.equal(off.code, 0);
    assert.equal(out(off).permission, 'deny');
    assert.match(off.stderr, /Availsync blocked this edit: the Availsync server cannot be reached/);
  });

  it('SessionEnd finishes the session run; observe mode lets edits through without a lease', async () => {
    const ws = await t.workspace({ name: 'long-session' });
    const repo = makeRepo('git@github.com:acme/long.git');
    const env = cliEnv({ AVAILSYNC_API_KEY: ws.agent.key, AVAILSYNC_AGENT_ID: ws.agent.id, AVAILSYNC_API_URL: t.url });
    assert.equal(decisionOf(await runCli(['hook', 'claude'], env, repo, payload(repo, 'long', 'Edit', 'src/a.ts'))), 'allow');
    const [claim] = await activeClaims(ws.agent.key);
    const start = await runCli(
      ['hook', 'claude'],
      env,
      repo,
      JSON.stringify({ session_id: 'other', cwd: repo, hook_event_name: 'SessionStart', source: 'startup' }),
    );
    assert.match(
      out(start).hookSpecificOutput.additionalContext,
      new RegExp(`- src/a\\.ts \\(edit\\) by long-session \\(${ws.agent.id}\\), run ${claim.id}`),
    );
    const end = JSON.stringify({ session_id: 'long', cwd: repo, hook_event_name: 'SessionEnd', reason: 'exit' });
    const ended = await runCli(['hook', 'claude'], env, repo, end);
    assert.deepEqual([ended.code, out(ended), ended.stderr], [0, {}, '']);
    assert.equal((await t.api('GET', `/v1/work/claims/${claim.id}`, { key: ws.agent.key })).body.claim.status, 'released');

    const observer = await ws.other({ name: 'observer', mode: 'observe' });
    const envO = cliEnv({ AVAILSYNC_API_KEY: observer.key, AVAILSYNC_API_URL: t.url });
    const o = await runCli(['hook', 'claude'], envO, repo, payload(repo, 'obs', 'Write', 'src/a.ts'));
    assert.deepEqual([o.code, decisionOf(o), o.stderr], [0, 'allow', '']);
    assert.equal((await activeClaims(observer.key)).length, 0);
  });

  it('guard install --pre-push writes a pre-push hook that checks for the CLI and the key first', async () => {
    const repo = makeRepo('https://github.com/acme/pushy.git');
    const env = cliEnv({ AVAILSYNC_API_KEY: 'avs_live_unused', AVAILSYNC_API_URL: t.url });
    const r = await runCli(['guard', 'install', '--pre-push'], env, repo);
    assert.equal(r.code, 0);
    const hook = readFileSync(join(repo, '.git', 'hooks', 'pre-push'), 'utf8');
    assert.match(
      hook,
      /^#!\/bin\/sh\n# availsync guard .*\nif ! command -v availsync >\/dev\/null 2>&1; then\n[\s\S]*\nexec availsync guard --pre-push\n$/,
    );
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

  it('never silent when the server is unreachable or the key is wrong: fail blocks (2), run warns loudly (0)', async () => {
    const repo = makeRepo('git@github.com:acme/down.git');
    const down = cliEnv({ AVAILSYNC_API_KEY: 'avs_live_whatever', AVAILSYNC_API_URL: 'http://127.0.0.1:9' });
    const fail = await runCli(['hook', 'claude'], down, repo, payload(repo, 's', 'Edit', 'src/a.ts'));
    assert.equal(fail.code, 2);
    assert.match(fail.stderr, /^Availsync blocked this edit: the Availsync server cannot be reached .*\(--on-unavailable fail\)/);
    const run = await runCli(['hook', 'claude', '--on-unavailable', 'run'], down, repo, payload(repo, 's', 'Edit', 'src/a.ts'));
    assert.equal(run.code, 0);
    assert.match(run.stderr, /availsync: WARNING: the Availsync server cannot be reached .*WITHOUT a claim/);
    // An event that decides nothing is not blocked by an outage.
    const read = await runCli(['hook', 'claude'], down, repo, payload(repo, 's', 'Read', 'src/a.ts'));
    assert.equal(read.code, 0);

    const noKey = await runCli(['hook', 'claude'], cliEnv({}), repo, payload(repo, 's', 'Edit', 'src/a.ts'));
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /AVAILSYNC_API_KEY is not set/);

    const badEnv = cliEnv({ AVAILSYNC_API_KEY: 'avs_live_nope', AVAILSYNC_API_URL: t.url });
    const bad = await runCli(['hook', 'claude', '--on-unavailable', 'run'], badEnv, repo, payload(repo, 's', 'Edit', 'src/a.ts'));
    assert.equal(bad.code, 2, 'a refused key is not an outage: blocked even with --on-unavailable run');
    assert.match(bad.stderr, /Availsync refused the hook call \(401 unauthorized\): .*Check AVAILSYNC_API_KEY/);
    assert.doesNotMatch(bad.stderr, /avs_live_nope/);

    const garbage = await runCli(['hook', 'claude'], down, repo, 'not json');
    assert.equal(garbage.code, 2);
    assert.match(garbage.stderr, /not Claude Code hook JSON/);
    assert.equal(existsSync(join(repo, '.git', 'availsync')), false, 'no local state');
  });
});
