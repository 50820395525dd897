/**
 * `availsync guard`: a git pre-commit / pre-push hook. It refuses a commit (or push) whose files another run
 * holds, and one made under a run whose lease was lost. The run is `AVAILSYNC_CLAIM_ID` (`availsync run`),
 * else this agent's newest open hook session on the repository (asked of the server: no local state);
 * with neither, the files are still checked against every other run's claims.
 * `availsync guard install` writes the git hook, chaining an existing one.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type AvailsyncClient, AvailsyncError, type BlockingPath, type Claim } from '@availsync/node';
import { CLI_VERSION, type CliConfig } from '../config.js';
import { hint, isUnavailable } from '../run.js';
import { type Io, type Ui, when } from '../ui.js';
import type { OnUnavailable } from './agent.js';
import { readStdin } from './agent.js';
import { git, pushedPaths, repoInfo, stagedPaths } from './git.js';

/** `POST /v1/hooks/guard`'s answer (@availsync/protocol HookGuardResponse). */
interface HookGuardResponse {
  sessions: { client: string; session_id: string; updated_at: string; claim: Claim | null }[];
  blocking: BlockingPath[];
}

/** git aborts on any non-zero exit. */
export const GUARD_FAIL = 1;

export interface GuardOptions {
  resource?: string | undefined;
  onUnavailable: OnUnavailable;
  prePush: boolean;
}

export function blockingText(blocking: BlockingPath[]): string {
  return blocking
    .map((b) => `${b.path} is held by agent ${b.agent_id} (claim ${b.claim_id}, as ${b.held_path}, ${b.mode}) until ${when(b.expires_at)}`)
    .join('; ');
}

/** `POST /v1/hooks/guard` (the SDK has no method for it yet). */
async function askGuard(config: CliConfig, resource: string, paths: string[]): Promise<HookGuardResponse> {
  const out: HookGuardResponse = { sessions: [], blocking: [] };
  for (let i = 0; i === 0 || i < paths.length; i += 5000) {
    let res: Response;
    try {
      res = await fetch(new URL('/v1/hooks/guard', config.apiUrl), {
        method: 'POST',
        headers: {
          authorization: `Bearer ${config.apiKey}`,
          'content-type': 'application/json',
          'user-agent': `availsync-cli/${CLI_VERSION} node/${process.version}`,
        },
        body: JSON.stringify({ resource, paths: paths.slice(i, i + 5000) }),
        signal: AbortSignal.timeout(10_000),
      });
    } catch (err) {
      const timeout = err instanceof Error && err.name === 'TimeoutError';
      throw new AvailsyncError({
        kind: timeout ? 'timeout' : 'network',
        code: timeout ? 'timeout' : 'network_error',
        message: `cannot reach ${config.apiUrl} (${timeout ? 'no answer in 10 s' : String((err as Error).cause ?? err)})`,
      });
    }
    const body = (await res.json().catch(() => null)) as (HookGuardResponse & { error?: string; message?: string }) | null;
    if (res.status !== 200 || !body) {
      throw new AvailsyncError({
        kind: res.status === 401 || res.status === 403 ? 'auth' : res.status === 400 ? 'validation' : 'api',
        status: res.status,
        code: body?.error ?? `http_${res.status}`,
        message: body?.message ?? `HTTP ${res.status}`,
      });
    }
    out.sessions = body.sessions;
    out.blocking.push(...body.blocking);
  }
  return out;
}

export async function guard(
  client: AvailsyncClient | null,
  config: CliConfig | null,
  configError: string | null,
  opts: GuardOptions,
  ui: Ui,
  io: Io,
): Promise<number> {
  const fail = (text: string) => {
    ui.error(
      `${text.replace(/\.$/, '')}.\n  (availsync guard: the ${opts.prePush ? 'push' : 'commit'} was stopped. Bypass only if you are sure: git ${opts.prePush ? 'push' : 'commit'} --no-verify)`,
    );
    return GUARD_FAIL;
  };
  const unavailable = (reason: string) => {
    if (opts.onUnavailable === 'run') {
      ui.warn(`${reason}. Going ahead WITHOUT checking claims (--on-unavailable run).`);
      return 0;
    }
    return fail(`${reason}. Claims could not be checked (--on-unavailable fail)`);
  };
  const info = repoInfo(process.cwd());
  if (!info) return fail('not inside a git repository');
  // As a pre-push hook, git writes the refs being pushed to stdin (read before anything else can fail).
  const stdin = io.stdin as (NodeJS.ReadableStream & { isTTY?: boolean }) | undefined;
  const refLines = opts.prePush && stdin && !stdin.isTTY ? await readStdin(io) : '';
  // A commit checks what it stages; a push what its commits changed (a change staged but not committed
  // is not pushed).
  let paths = stagedPaths(info.root);
  if (opts.prePush) {
    const listed = pushedPaths(info.root, refLines);
    if (!listed) return fail('could not list the commits being pushed (git log failed)');
    paths = listed;
  }
  if (!client || !config) return unavailable(configError ?? 'Availsync is not configured');
  const resource = opts.resource || io.env.AVAILSYNC_RESOURCE?.trim() || info.repoResource;
  const which = opts.prePush ? 'files changed by the commits being pushed' : 'staged files';
  try {
    const envClaim = io.env.AVAILSYNC_CLAIM_ID?.trim();
    let claim: Claim | null = null;
    let asked: HookGuardResponse | null = null;
    if (envClaim) claim = (await client.work.get(envClaim)).claim;
    else {
      asked = await askGuard(config, resource, paths);
      claim = asked.sessions.find((s) => s.claim)?.claim ?? null;
    }
    if (!claim) {
      // No run of this agent: nothing of its own to renew, but other runs' files still may not be committed.
      if (asked && asked.blocking.length > 0) return fail(`${which} are held by another run: ${blockingText(asked.blocking)}`);
      ui.info(`no Availsync run of this agent is active for ${resource}; none of the ${paths.length} ${which} is held by another run.`);
      return 0;
    }
    if (claim.status !== 'active' || Date.parse(claim.expires_at) <= Date.now()) {
      const status = claim.status === 'active' ? 'expired' : claim.status;
      return fail(
        `the run's claim ${claim.id} on ${claim.resource} is no longer active (${status} ${when(claim.released_at ?? claim.expires_at)}). ` +
          'Its lease was lost, so another run may have changed the same files. Start a new run, check the files, then commit',
      );
    }
    if (paths.length === 0) return 0;
    const wsResource = opts.resource || io.env.AVAILSYNC_RESOURCE?.trim() || (envClaim ? undefined : resource) || info.repoResource;
    const blocked: BlockingPath[] = [];
    for (let i = 0; i < paths.length; i += 500) {
      const res = await client.work.updateWorkingSet(claim.id, {
        paths: paths.slice(i, i + 500),
        op: 'add',
        mode: 'edit',
        resource: wsResource,
      });
      if (res.action !== 'updated') blocked.push(...res.blocking);
    }
    if (blocked.length > 0) return fail(`${which} are held by another run: ${blockingText(blocked)}`);
    ui.info(`claim ${claim.id} is active until ${when(claim.expires_at)}; ${paths.length} path(s) are this run's.`);
    return 0;
  } catch (err) {
    if (!(err instanceof AvailsyncError)) throw err;
    if (isUnavailable(err as unknown)) return unavailable(`the Availsync server cannot be reached (${err.message})`);
    if (err.code === 'claim_not_active') return fail(`the run's claim is no longer active: its lease was lost. Start a new run`);
    return fail(`${err.message.replace(/\.$/, '')}.${hint(err)}`);
  }
}

export const HOOK_MARK = '# availsync guard (installed by `availsync guard install`)';

export interface InstallOptions {
  prePush: boolean;
  command: string;
}

/** Shell lines that stop the hook with a clear message when the CLI or its key is missing. */
function preflight(command: string, name: string): string[] {
  const bin = command.trim().split(/\s+/)[0] ?? 'availsync';
  const bypass = `bypass once with: git ${name === 'pre-push' ? 'push' : 'commit'} --no-verify`;
  return [
    `if ! command -v ${bin} >/dev/null 2>&1; then`,
    `  echo "availsync guard: '${bin}' is not on PATH, so claims cannot be checked. Install it (npm install -g @availsync/cli) or fix PATH; ${bypass}" >&2`,
    '  exit 1',
    'fi',
    'if [ -z "$AVAILSYNC_API_KEY" ]; then',
    `  echo "availsync guard: AVAILSYNC_API_KEY is not set, so claims cannot be checked. Export the agent's key (avs_live_...) in this shell; ${bypass}" >&2`,
    '  exit 1',
    'fi',
  ];
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
        ...preflight(opts.command, name),
        `printf '%s\\n' "$input" | ${guardCmd}`,
        '',
      );
    } else {
      lines.push(`"$(dirname "$0")/${name}.pre-availsync" "$@" || exit $?`, ...preflight(opts.command, name), `exec ${guardCmd}`, '');
    }
  } else {
    lines.push(...preflight(opts.command, name), `exec ${guardCmd}`, '');
  }
  writeFileSync(hookPath, lines.join('\n'));
  chmodSync(hookPath, 0o755);
  ui.line(
    `installed: ${hookPath} runs \`${guardCmd}\`${existing !== null ? ` after your existing hook (kept as ${name}.pre-availsync)` : ''}`,
  );
  return 0;
}
