/**
 * Enforcement where an agent cannot skip it (SPEC §8.4):
 *
 * - `availsync hook claude`: Claude Code's PreToolUse hook for Edit, Write, MultiEdit and NotebookEdit. It
 *   claims the file the tool is about to touch in the session's run (starting the run first), and blocks the
 *   tool call with exit 2 and the reason on stderr (which Claude Code shows to the model) when another run
 *   holds the file or the resource.
 * - `availsync guard`: a git pre-commit / pre-push hook that fails when the run's claim is no longer active,
 *   or when the staged paths are held by another run.
 * - `availsync guard install`: writes the git hook, chaining an existing one.
 *
 * Per-session state (claim id, expiry) lives in `<git dir>/availsync/claude-<session>.json`, outside the
 * work tree. An unreachable server is never silent: `--on-unavailable fail` blocks, `run` lets the edit
 * through with a loud warning.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { type AvailsyncClient, AvailsyncError, type BlockingPath, type WorkingSetResult } from '@availsync/node';
import { describeHolder, hint, isUnavailable } from './run.js';
import { type Io, type Ui, when } from './ui.js';

export const CLAUDE_TOOLS = ['Edit', 'Write', 'MultiEdit', 'NotebookEdit'] as const;
/** Extend the session's run when it has less than this left. */
const EXTEND_MARGIN_MS = 5 * 60_000;

/** Exit codes of the hooks: Claude Code blocks a tool call only on 2; git aborts on any non-zero. */
export const HOOK_EXIT = { allow: 0, block: 2, guardFail: 1 } as const;

export type OnUnavailable = 'fail' | 'run';

export interface HookState {
  claim_id: string | null;
  agent_id: string | null;
  resource: string;
  working_set_resource: string;
  expires_at: string | null;
  mode: 'enforce' | 'observe';
  session_id: string;
  updated_at: string;
}

// ---------------------------------------------------------------------------------------------------
// git

function git(cwd: string, args: string[]): string | null {
  try {
    // A big push lists many paths: well past execFileSync's 1 MiB default.
    return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 256 * 1024 * 1024 }).trim();
  } catch {
    return null;
  }
}

/** `repo:owner/name` from a git remote URL (GitHub, GitLab, any host; ssh, https, scp-like). */
export function repoFromRemote(url: string): string | null {
  const m = /^(?:[a-z+]+:\/\/(?:[^@/]+@)?[^/]+(?::\d+)?\/|[^@/\s]+@[^:/\s]+:)(.+?)(?:\.git)?\/?$/i.exec(url.trim());
  if (!m?.[1]) return null;
  const parts = m[1].split('/').filter(Boolean);
  if (parts.length < 2) return null;
  return `repo:${parts.slice(-2).join('/')}`;
}

export interface RepoInfo {
  root: string;
  gitDir: string;
  repoResource: string | null;
}

export function repoInfo(cwd: string): RepoInfo | null {
  const root = git(cwd, ['rev-parse', '--show-toplevel']);
  const gitDir = git(cwd, ['rev-parse', '--absolute-git-dir']);
  if (!root || !gitDir) return null;
  const remote = git(cwd, ['remote', 'get-url', 'origin']);
  return { root, gitDir, repoResource: remote ? repoFromRemote(remote) : null };
}

// ---------------------------------------------------------------------------------------------------
// state

const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 120) || 'default';

export function stateDir(info: RepoInfo | null): string {
  return info ? join(info.gitDir, 'availsync') : join(tmpdir(), 'availsync');
}

function statePath(dir: string, sessionId: string) {
  return join(dir, `claude-${safe(sessionId)}.json`);
}

export function readState(path: string): HookState | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as HookState;
  } catch {
    return null;
  }
}

function writeState(path: string, state: HookState) {
  mkdirSync(join(path, '..'), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

/** This agent's newest session state in this repository with a claim (what `guard` checks when no claim id is given). */
export function newestState(dir: string, agentId: string): HookState | null {
  if (!existsSync(dir)) return null;
  const files = readdirSync(dir)
    .filter((f) => f.startsWith('claude-') && f.endsWith('.json'))
    .map((f) => ({ f: join(dir, f), t: statSync(join(dir, f)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const { f } of files) {
    const s = readState(f);
    if (s?.claim_id && s.agent_id === agentId) return s;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------
// shared

function blockingText(blocking: BlockingPath[]): string {
  return blocking
    .map((b) => `${b.path} is held by agent ${b.agent_id} (claim ${b.claim_id}, as ${b.held_path}, ${b.mode}) until ${when(b.expires_at)}`)
    .join('; ');
}

async function readStdin(io: Io): Promise<string> {
  const stdin = io.stdin;
  if (!stdin) return '';
  let text = '';
  stdin.setEncoding('utf8');
  for await (const chunk of stdin) text += chunk;
  return text;
}

export interface ClaudeHookOptions {
  resource?: string | undefined;
  onUnavailable: OnUnavailable;
  duration?: number | undefined;
}

interface ClaudePayload {
  session_id?: string;
  cwd?: string;
  hook_event_name?: string;
  tool_name?: string;
  tool_input?: { file_path?: string; notebook_path?: string };
}

/**
 * `availsync hook claude`. Returns the exit code: 0 lets the tool call run, 2 blocks it (stderr goes to
 * the model). `client` is null when the configuration is missing (`configError` says why).
 */
export async function claudeHook(
  client: AvailsyncClient | null,
  configError: string | null,
  opts: ClaudeHookOptions,
  ui: Ui,
  io: Io,
): Promise<number> {
  const block = (text: string) => {
    io.stderr.write(`Availsync blocked this edit: ${text}\n`);
    return HOOK_EXIT.block;
  };
  const unavailable = (reason: string) => {
    if (opts.onUnavailable === 'run') {
      ui.warn(`${reason}. The edit goes ahead WITHOUT a claim (--on-unavailable run): other agents are not kept out of this file.`);
      return HOOK_EXIT.allow;
    }
    return block(`${reason}. No claim could be taken, so the edit is blocked (--on-unavailable fail). Tell the user.`);
  };

  let payload: ClaudePayload;
  try {
    payload = JSON.parse(await readStdin(io)) as ClaudePayload;
  } catch {
    return unavailable('the hook input on stdin is not Claude Code hook JSON (is this command set as a PreToolUse hook?)');
  }
  if (payload.hook_event_name === 'SessionEnd') return endSession(client, payload, ui);
  const tool = payload.tool_name ?? '';
  if (!(CLAUDE_TOOLS as readonly string[]).includes(tool)) return HOOK_EXIT.allow;
  const file = payload.tool_input?.file_path ?? payload.tool_input?.notebook_path;
  if (!file) return HOOK_EXIT.allow;
  const cwd = payload.cwd || process.cwd();
  const info = repoInfo(cwd);
  const abs = isAbsolute(file) ? file : resolve(cwd, file);
  const base = info?.root ?? cwd;
  const rel = relative(base, abs);
  // Outside the repository (or the project directory): not ours to guard.
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return HOOK_EXIT.allow;
  const path = rel.split(sep).join('/');

  const resource = opts.resource || io.env.AVAILSYNC_RESOURCE?.trim() || info?.repoResource;
  if (!resource) {
    return unavailable(
      `cannot tell which resource ${base} is: it has no git remote "origin". Set AVAILSYNC_RESOURCE (e.g. repo:owner/name) or pass --resource`,
    );
  }
  const wsResource = info?.repoResource ?? resource;
  if (!client) return unavailable(configError ?? 'Availsync is not configured');

  const sessionId = payload.session_id || 'default';
  const file_ = statePath(stateDir(info), sessionId);
  let state = readState(file_);
  if (state && state.resource !== resource) state = null;

  const save = (s: HookState) => {
    state = s;
    writeState(file_, s);
  };

  const startRun = async (): Promise<number | null> => {
    const res = await client.work.start({
      resource,
      durationMinutes: opts.duration,
      reason: `Claude Code session ${sessionId}`,
      metadata: { client: 'claude-code', session_id: sessionId },
    });
    if (res.action === 'skip_run') {
      return block(
        `${resource} is being worked on by ${describeHolder(res.blocking_claim)}. Do not edit files in it now; tell the user, or retry after ${when(res.retry_after)}.`,
      );
    }
    save({
      claim_id: res.claim?.id ?? null,
      agent_id: res.claim?.agent_id ?? null,
      resource,
      working_set_resource: wsResource,
      expires_at: res.claim?.expires_at ?? null,
      mode: res.mode,
      session_id: sessionId,
      updated_at: new Date().toISOString(),
    });
    if (res.mode === 'observe' && res.would_have_blocked) {
      ui.warn(`observe mode: this edit would have been blocked (${describeHolder(res.shadow_decision.blocking_claim)}).`);
    }
    return null;
  };

  try {
    if (!state || (state.mode === 'enforce' && (!state.expires_at || Date.parse(state.expires_at) <= Date.now()))) {
      const code = await startRun();
      if (code !== null) return code;
    } else if (state.mode === 'enforce' && state.claim_id && Date.parse(state.expires_at as string) - Date.now() < EXTEND_MARGIN_MS) {
      try {
        const ext = await client.work.extend(state.claim_id, { durationMinutes: opts.duration });
        save({ ...state, expires_at: ext.claim.expires_at, updated_at: new Date().toISOString() });
      } catch (err) {
        if (!(err instanceof AvailsyncError) || err.code !== 'claim_not_active') throw err;
        const code = await startRun();
        if (code !== null) return code;
      }
    }
    const current = state as HookState | null;
    if (!current?.claim_id) return HOOK_EXIT.allow; // observe mode: nothing to enforce

    let ws: WorkingSetResult;
    try {
      ws = await client.work.updateWorkingSet(current.claim_id, {
        paths: [path],
        op: 'add',
        mode: 'edit',
        resource: current.working_set_resource,
      });
    } catch (err) {
      if (!(err instanceof AvailsyncError) || err.code !== 'claim_not_active') throw err;
      // The lease ended (expired, preempted, finished elsewhere): start again once.
      const code = await startRun();
      if (code !== null) return code;
      const again = state as HookState | null;
      if (!again?.claim_id) return HOOK_EXIT.allow;
      ws = await client.work.updateWorkingSet(again.claim_id, {
        paths: [path],
        op: 'add',
        mode: 'edit',
        resource: again.working_set_resource,
      });
    }
    if (ws.action === 'updated') return HOOK_EXIT.allow;
    return block(
      `${blockingText(ws.blocking)}. Another agent is editing it: do not edit ${path} now; work on other files or tell the user.`,
    );
  } catch (err) {
    if (!(err instanceof AvailsyncError)) throw err;
    if (isUnavailable(err as unknown)) return unavailable(`the Availsync server cannot be reached (${err.message})`);
    return block(`Availsync refused the claim: ${err.message}.${hint(err)}`);
  }
}

/** SessionEnd: finish the session's run so other agents need not wait for its lease to lapse. Never blocks. */
async function endSession(client: AvailsyncClient | null, payload: ClaudePayload, ui: Ui): Promise<number> {
  const info = repoInfo(payload.cwd || process.cwd());
  const path = statePath(stateDir(info), payload.session_id || 'default');
  const state = readState(path);
  if (!state?.claim_id) return HOOK_EXIT.allow;
  if (!client) {
    ui.warn(
      `could not finish claim ${state.claim_id} at the end of the session (not configured); its lease will lapse at ${when(state.expires_at)}.`,
    );
    return HOOK_EXIT.allow;
  }
  try {
    await client.work.finish(state.claim_id, { outcome: 'finished', reason: 'Claude Code session ended' });
    rmSync(path, { force: true });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    ui.warn(
      `could not finish claim ${state.claim_id} at the end of the session (${reason}); its lease will lapse at ${when(state.expires_at)}.`,
    );
  }
  return HOOK_EXIT.allow;
}

// ---------------------------------------------------------------------------------------------------
// git guard

export interface GuardOptions {
  resource?: string | undefined;
  onUnavailable: OnUnavailable;
  prePush: boolean;
}

const ZERO_SHA = /^0+$/;

/**
 * The paths changed by the commits a push sends. git gives a pre-push hook one line per ref on stdin:
 * `<local ref> <local sha> <remote ref> <remote sha>`. A deletion (local sha all zeros) sends no commits.
 * Otherwise the commits are those of the local sha that neither the remote's current tip (when this clone
 * has it) nor any remote-tracking ref has: commits merged in from a branch already pushed are not counted.
 * Without ref lines (the guard run by hand): the commits of HEAD that its upstream lacks, or that no
 * remote-tracking ref has. A merge commit counts the files it changed against every parent (conflict
 * resolutions, files added in the merge). null when git cannot list them.
 */
export function pushedPaths(root: string, refLines: string): string[] | null {
  const ranges: string[][] = [];
  const lines = refLines
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  if (lines.length === 0) {
    const upstream = git(root, ['rev-parse', '--verify', '--quiet', '@{upstream}']);
    ranges.push(upstream ? ['@{upstream}..HEAD'] : ['HEAD', '--not', '--remotes']);
  }
  for (const line of lines) {
    const [, localSha, , remoteSha] = line.split(/\s+/);
    if (!localSha || ZERO_SHA.test(localSha)) continue;
    const known = !!remoteSha && !ZERO_SHA.test(remoteSha) && git(root, ['cat-file', '-e', `${remoteSha}^{commit}`]) !== null;
    ranges.push([localSha, '--not', ...(known ? [remoteSha] : []), '--remotes']);
  }
  const paths = new Set<string>();
  for (const range of ranges) {
    const out = git(root, ['log', '--format=', '--name-only', '--no-renames', '--cc', ...range]);
    if (out === null) return null;
    for (const p of out.split('\n').filter(Boolean)) paths.add(p);
  }
  return [...paths];
}

/** The files a commit is about to record: the staged ones. */
function stagedPaths(root: string): string[] {
  return (git(root, ['diff', '--cached', '--name-only']) ?? '').split('\n').filter(Boolean);
}

export async function guard(
  client: AvailsyncClient | null,
  configError: string | null,
  opts: GuardOptions,
  ui: Ui,
  io: Io,
): Promise<number> {
  const fail = (text: string) => {
    ui.error(
      `${text}\n  (availsync guard: the ${opts.prePush ? 'push' : 'commit'} was stopped. Bypass only if you are sure: git ${opts.prePush ? 'push' : 'commit'} --no-verify)`,
    );
    return HOOK_EXIT.guardFail;
  };
  const unavailable = (reason: string) => {
    if (opts.onUnavailable === 'run') {
      ui.warn(`${reason}. Going ahead WITHOUT checking claims (--on-unavailable run).`);
      return 0;
    }
    return fail(`${reason}. Claims could not be checked (--on-unavailable fail).`);
  };
  const info = repoInfo(process.cwd());
  if (!info) return fail('not inside a git repository');
  // As a pre-push hook, git writes the refs being pushed to stdin (read before anything else can fail).
  const stdin = io.stdin as (NodeJS.ReadableStream & { isTTY?: boolean }) | undefined;
  const refLines = opts.prePush && stdin && !stdin.isTTY ? await readStdin(io) : '';
  const dir = stateDir(info);
  const envClaim = io.env.AVAILSYNC_CLAIM_ID?.trim();
  const hasSessions = existsSync(dir) && readdirSync(dir).some((f) => f.startsWith('claude-'));
  if (!envClaim && !hasSessions) {
    ui.info('no Availsync run is active for this repository (no AVAILSYNC_CLAIM_ID, no agent session): nothing to check.');
    return 0;
  }
  if (!client) return unavailable(configError ?? 'Availsync is not configured');
  try {
    let state: HookState | null = null;
    if (!envClaim) {
      const agentId = io.env.AVAILSYNC_AGENT_ID?.trim() || (await client.agent.me()).agent.id;
      state = newestState(dir, agentId);
    }
    const claimId = envClaim || state?.claim_id;
    if (!claimId) {
      ui.info('no Availsync run of this agent is active for this repository: nothing to check.');
      return 0;
    }
    const { claim } = await client.work.get(claimId);
    if (claim.status !== 'active' || Date.parse(claim.expires_at) <= Date.now()) {
      const status = claim.status === 'active' ? 'expired' : claim.status;
      return fail(
        `the run's claim ${claim.id} on ${claim.resource} is no longer active (${status} ${when(claim.released_at ?? claim.expires_at)}). ` +
          'Its lease was lost, so another run may have changed the same files. Start a new run, check the files, then commit.',
      );
    }
    // A commit checks what it stages; a push what its commits changed (a change staged but not committed
    // is not pushed).
    let paths = stagedPaths(info.root);
    if (opts.prePush) {
      const listed = pushedPaths(info.root, refLines);
      if (!listed) return fail('could not list the commits being pushed (git log failed)');
      paths = listed;
    }
    if (paths.length === 0) return 0;
    const wsResource =
      opts.resource || io.env.AVAILSYNC_RESOURCE?.trim() || state?.working_set_resource || info.repoResource || claim.resource;
    const blocked: BlockingPath[] = [];
    for (let i = 0; i < paths.length; i += 500) {
      const res = await client.work.updateWorkingSet(claimId, {
        paths: paths.slice(i, i + 500),
        op: 'add',
        mode: 'edit',
        resource: wsResource,
      });
      if (res.action !== 'updated') blocked.push(...res.blocking);
    }
    if (blocked.length > 0) {
      const which = opts.prePush ? 'files changed by the commits being pushed' : 'staged files';
      return fail(`${which} are held by another run: ${blockingText(blocked)}.`);
    }
    ui.info(`claim ${claim.id} is active until ${when(claim.expires_at)}; ${paths.length} path(s) are this run's.`);
    return 0;
  } catch (err) {
    if (!(err instanceof AvailsyncError)) throw err;
    if (isUnavailable(err as unknown)) return unavailable(`the Availsync server cannot be reached (${err.message})`);
    if (err.code === 'claim_not_active') return fail(`the run's claim is no longer active: its lease was lost. Start a new run.`);
    return fail(`${err.message}.${hint(err)}`);
  }
}

export const HOOK_MARK = '# availsync guard (installed by `availsync guard install`)';

export interface InstallOptions {
  prePush: boolean;
  command: string;
}

/** Write `.git/hooks/pre-commit` (or pre-push); an existing hook is kept and run first. */
export function installGuard(opts: InstallOptions, ui: Ui): number {
  const info = repoInfo(process.cwd());
  if (!info) {
    ui.error('not inside a git repository');
    return 2;
  }
  const hooksDir = resolve(info.root, git(info.root, ['rev-parse', '--git-path', 'hooks']) ?? join(info.gitDir, 'hooks'));
  const name = opts.prePush ? 'pre-push' : 'pre-commit';
  const hookPath = join(hooksDir, name);
  const chained = `${hookPath}.pre-availsync`;
  mkdirSync(hooksDir, { recursive: true });
  const existing = existsSync(hookPath) ? readFileSync(hookPath, 'utf8') : null;
  if (existing?.includes(HOOK_MARK)) {
    ui.line(`already installed: ${hookPath}`);
    return 0;
  }
  if (existing !== null) {
    if (existsSync(chained)) {
      ui.error(`${hookPath} exists and ${chained} too: merge them by hand, then run this again.`);
      return 2;
    }
    renameSync(hookPath, chained);
  }
  const guardCmd = `${opts.command} guard${opts.prePush ? ' --pre-push' : ''}`;
  const lines = ['#!/bin/sh', HOOK_MARK];
  if (existing !== null) {
    if (opts.prePush) {
      // Both hooks read git's ref lines from stdin: keep them and give each its copy.
      lines.push(
        'input=$(cat)',
        `printf '%s\\n' "$input" | "$(dirname "$0")/${name}.pre-availsync" "$@" || exit $?`,
        `printf '%s\\n' "$input" | ${guardCmd}`,
        '',
      );
    } else {
      lines.push(`"$(dirname "$0")/${name}.pre-availsync" "$@" || exit $?`, `exec ${guardCmd}`, '');
    }
  } else {
    lines.push(`exec ${guardCmd}`, '');
  }
  writeFileSync(hookPath, lines.join('\n'));
  chmodSync(hookPath, 0o755);
  ui.line(
    `installed: ${hookPath} runs \`${guardCmd}\`${existing !== null ? ` after your existing hook (kept as ${name}.pre-availsync)` : ''}`,
  );
  return 0;
}
