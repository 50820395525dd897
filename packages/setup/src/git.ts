/**
 * What git knows about the files setup writes (a key never lands in a committable file), and
 * the repository a project's hooks claim (`repo:owner/name` from the `origin` remote).
 *
 * Fail closed: a file under a `.git` that git cannot answer about (git missing, "dubious ownership", a
 * broken work tree) counts as tracked, so setup writes the environment reference there, never the key.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

interface GitAnswer {
  /** The exit status (null: git did not run at all). */
  status: number | null;
  out: string;
  /** The first line of what went wrong (stderr, or the spawn error). */
  error: string;
}

function git(cwd: string, args: string[]): GitAnswer {
  try {
    const out = execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { status: 0, out, error: '' };
  } catch (err) {
    const e = err as { status?: number | null; stdout?: string; stderr?: string; message?: string };
    const error = (e.stderr || e.message || 'git failed').trim().split('\n')[0] ?? 'git failed';
    return { status: typeof e.status === 'number' ? e.status : null, out: e.stdout ?? '', error };
  }
}

/** The nearest directory of `file` that exists (git needs a real cwd). */
function existingDir(file: string): string {
  let dir = dirname(resolve(file));
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** The nearest `.git` (directory or file) at or above `dir`, or null. */
function dotGitAbove(dir: string): string | null {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, '.git'))) return join(d, '.git');
    if (dirname(d) === d) return null;
  }
}

/** `repo:owner/name` from a git remote URL (ssh, https, scp-like; any host). */
export function repoFromRemote(url: string): string | null {
  const m = /^(?:[a-z+]+:\/\/(?:[^@/]+@)?[^/]+(?::\d+)?\/|[^@/\s]+@[^:/\s]+:)(.+?)(?:\.git)?\/?$/i.exec(url.trim());
  const parts = m?.[1]?.split('/').filter(Boolean) ?? [];
  return parts.length < 2 ? null : `repo:${parts.slice(-2).join('/')}`;
}

/** The resource of the repository `cwd` is in (from `origin`), or null outside a repository or without a remote. */
export function repoResource(cwd: string): string | null {
  const remote = git(cwd, ['remote', 'get-url', 'origin']);
  return remote.status === 0 ? repoFromRemote(remote.out.trim()) : null;
}

type WorkTree =
  /** No `.git` above the file: git has nothing to commit it into. */
  | { kind: 'outside' }
  /** In a work tree: `top` (git's real path) and the file's path in the repository, `/`-separated. */
  | { kind: 'inside'; top: string; posix: string }
  /** A `.git` is above the file but git cannot say where the file stands. */
  | { kind: 'unknown'; dotGit: string; why: string };

function workTree(file: string): WorkTree {
  const dir = existingDir(file);
  // --show-prefix is the directory's place in the repository, whatever path (a symlink, say) led to it.
  const at = git(dir, ['rev-parse', '--show-toplevel', '--show-prefix']);
  const [top = '', prefix = ''] = at.out.split('\n');
  if (at.status !== 0 || top === '') {
    const dotGit = dotGitAbove(dir);
    return dotGit ? { kind: 'unknown', dotGit, why: at.error } : { kind: 'outside' };
  }
  const rest = relative(dir, resolve(file)).split(sep).join('/');
  return { kind: 'inside', top, posix: `${prefix}${rest}` };
}

/**
 * A path as a gitignore pattern that matches exactly it: `\` before the characters a pattern treats
 * specially (`*`, `?`, `[`, `\`, and `!` and `#`, special at the start), and before trailing spaces.
 */
export function ignorePattern(posix: string): string {
  return posix.replace(/[\\*?[!#]/g, '\\$&').replace(/ +$/, (spaces) => spaces.replace(/ /g, '\\ '));
}

/** Append `pattern` to the repository's info/exclude (once). Returns the exclude file's path. */
function exclude(top: string, pattern: string, why: string, dryRun: boolean): string {
  const path = git(top, ['rev-parse', '--git-path', 'info/exclude']);
  const file = resolve(top, path.status === 0 && path.out.trim() ? path.out.trim() : '.git/info/exclude');
  if (dryRun) return file;
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  if (!text.split('\n').includes(pattern)) {
    mkdirSync(dirname(file), { recursive: true });
    appendFileSync(file, `${text === '' || text.endsWith('\n') ? '' : '\n'}# availsync-setup: ${why}\n${pattern}\n`);
  }
  return file;
}

/** Whether git ignores `posix` (0: yes, 1: no); null when git cannot say. */
function ignored(top: string, posix: string): boolean | null {
  const r = git(top, ['check-ignore', '-q', '--no-index', '--', posix]);
  return r.status === 0 ? true : r.status === 1 ? false : null;
}

/**
 * Setup's backups of a file in a git work tree (`<file>.bak-<timestamp>`, which may hold a key) are kept out
 * of git through info/exclude, unless git ignores them already.
 */
export function excludeBackups(file: string): void {
  const at = workTree(file);
  if (at.kind !== 'inside' || ignored(at.top, `${at.posix}.bak-20000101T000000Z`) !== false) return;
  exclude(at.top, `/${ignorePattern(at.posix)}.bak-*`, "setup's backups, never commit them", false);
}

export type SecretPlace =
  /** Not under a `.git`, or already ignored: the file may hold the key. */
  | { held: true; excluded?: undefined }
  /** Setup adds (added) the file to the repository's `.git/info/exclude`, so it may hold the key. */
  | { held: true; excluded: { file: string; pattern: string } }
  /**
   * It must not hold the key: tracked by git (`tracked`), or git cannot be trusted to keep it out (it
   * cannot answer, or the file is still not ignored once excluded). `reason` completes "<file> …".
   */
  | { held: false; tracked: string | null; reason: string };

/**
 * Whether `file` may hold an API key: with no `.git` above it, or ignored (`git check-ignore`), it may; not
 * ignored and not tracked, it may once it is listed in `.git/info/exclude` (done here unless `dryRun`) and
 * git then ignores it; tracked, or where git cannot answer, it may not.
 */
export function secretPlace(file: string, dryRun = false): SecretPlace {
  const at = workTree(file);
  if (at.kind === 'outside') return { held: true };
  if (at.kind === 'unknown') {
    return { held: false, tracked: null, reason: `is under ${at.dotGit}, but git cannot say whether it is tracked (${at.why})` };
  }
  const cannot = (what: string, why: string): SecretPlace => ({
    held: false,
    tracked: null,
    reason: `is in the git work tree ${at.top}, but git cannot say whether it is ${what} (${why})`,
  });
  const listed = git(at.top, ['--literal-pathspecs', 'ls-files', '-z', '--', at.posix]);
  if (listed.status !== 0) return cannot('tracked', listed.error);
  if (listed.out !== '') return { held: false, tracked: at.posix, reason: `is tracked by git (${at.posix})` };
  const before = ignored(at.top, at.posix);
  if (before === null) return cannot('ignored', 'git check-ignore failed');
  if (before) return { held: true };
  const pattern = `/${ignorePattern(at.posix)}`;
  const excludeFile = exclude(at.top, pattern, 'holds an API key, never commit it', dryRun);
  if (!dryRun && ignored(at.top, at.posix) !== true) {
    return {
      held: false,
      tracked: null,
      reason: `is still not ignored by git after ${pattern} was added to ${excludeFile} (a rule such as a .gitignore "!" overrides it)`,
    };
  }
  return { held: true, excluded: { file: excludeFile, pattern } };
}
