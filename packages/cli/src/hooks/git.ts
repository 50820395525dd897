/**
 * What only the local machine knows, from git: the repository's resource (from the remote; without one,
 * from the common git dir every worktree of the repository shares), the work tree's root, its status (to
 * tell which files a shell command changed), and the files a commit or push records.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

export function git(cwd: string, args: string[]): string | null {
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

/**
 * A repository without a remote: `repo:local/<name>-<hash>`, from its common git dir (the main worktree's
 * `.git`, which every `git worktree add` of it shares), so its worktrees are one resource.
 */
export function repoFromCommonDir(commonDir: string): string {
  let real = commonDir;
  try {
    real = realpathSync(commonDir);
  } catch {
    // Keep the path as git gave it.
  }
  const top = basename(real) === '.git' ? basename(dirname(real)) : basename(real).replace(/\.git$/, '');
  const name =
    top
      .replace(/[^A-Za-z0-9_.-]/g, '-')
      .replace(/^[.]+/, '')
      .slice(0, 80) || 'repo';
  return `repo:local/${name}-${createHash('sha256').update(real).digest('hex').slice(0, 10)}`;
}

export interface RepoInfo {
  /** This worktree's root: paths are relative to it. */
  root: string;
  gitDir: string;
  /** Shared by every worktree of the repository. */
  commonDir: string;
  repoResource: string;
}

export function repoInfo(cwd: string): RepoInfo | null {
  const root = git(cwd, ['rev-parse', '--show-toplevel']);
  const gitDir = git(cwd, ['rev-parse', '--absolute-git-dir']);
  const common = git(cwd, ['rev-parse', '--git-common-dir']);
  if (!root || !gitDir || !common) return null;
  const commonDir = resolve(cwd, common);
  const remote = git(cwd, ['remote', 'get-url', 'origin']);
  return { root, gitDir, commonDir, repoResource: (remote && repoFromRemote(remote)) || repoFromCommonDir(commonDir) };
}

/** At most this many changed paths are reported (a build that writes a huge untracked tree is cut off). */
const MAX_STATUS_ENTRIES = 20_000;

/**
 * The work tree's changes as git sees them, untracked and deleted files included: path → status letters,
 * size, modification time and inode. Two snapshots differ on every file a command wrote, created, deleted or
 * restored (`git checkout -- f` drops it from the list). null outside a repository.
 */
export function gitStatus(root: string): Record<string, string> | null {
  let out: string;
  try {
    out = execFileSync('git', ['status', '--porcelain=v1', '-z', '--untracked-files=all', '--no-renames'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 256 * 1024 * 1024,
    });
  } catch {
    return null;
  }
  const status: Record<string, string> = {};
  let n = 0;
  for (const entry of out.split('\u0000')) {
    if (entry.length < 4 || n++ >= MAX_STATUS_ENTRIES) continue;
    const xy = entry.slice(0, 2);
    const path = entry.slice(3);
    try {
      const st = lstatSync(join(root, path));
      status[path] = `${xy}:${st.size}:${st.mtimeMs}:${st.ino}`;
    } catch {
      status[path] = xy;
    }
  }
  return status;
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
export function stagedPaths(root: string): string[] {
  return (git(root, ['diff', '--cached', '--name-only']) ?? '').split('\n').filter(Boolean);
}
