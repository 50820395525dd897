/**
 * What git knows about the files setup writes (SPEC §10.4: a key never lands in a committable file), and
 * the repository a project's hooks claim (`repo:owner/name` from the `origin` remote).
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';

function git(cwd: string, args: string[]): { ok: boolean; out: string } {
  try {
    const out = execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return { ok: true, out: out.trim() };
  } catch {
    return { ok: false, out: '' };
  }
}

/** The nearest directory of `file` that exists (git needs a real cwd). */
function existingDir(file: string): string {
  let dir = dirname(file);
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
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
  return remote.ok ? repoFromRemote(remote.out) : null;
}

function workTree(file: string): { top: string; posix: string } | null {
  const top = git(existingDir(file), ['rev-parse', '--show-toplevel']);
  if (!top.ok || top.out === '') return null;
  const rel = relative(top.out, resolve(file));
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return null;
  return { top: top.out, posix: rel.split(sep).join('/') };
}

/** Append `pattern` to the repository's info/exclude (once). Returns the exclude file's path. */
function exclude(top: string, pattern: string, why: string, dryRun: boolean): string {
  const path = git(top, ['rev-parse', '--git-path', 'info/exclude']);
  const file = resolve(top, path.ok && path.out ? path.out : '.git/info/exclude');
  if (dryRun) return file;
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  if (!text.split('\n').includes(pattern)) {
    mkdirSync(dirname(file), { recursive: true });
    appendFileSync(file, `${text === '' || text.endsWith('\n') ? '' : '\n'}# availsync-setup: ${why}\n${pattern}\n`);
  }
  return file;
}

/**
 * Setup's backups of a file in a git work tree (`<file>.bak-<timestamp>`, which may hold a key) are kept out
 * of git through info/exclude, unless git ignores them already.
 */
export function excludeBackups(file: string): void {
  const at = workTree(file);
  if (!at || git(at.top, ['check-ignore', '-q', '--no-index', '--', `${at.posix}.bak-20000101T000000Z`]).ok) return;
  exclude(at.top, `/${at.posix}.bak-*`, "setup's backups, never commit them", false);
}

export type SecretPlace =
  /** Not in a git work tree, or already ignored: the file may hold the key. */
  | { held: true; excluded?: undefined }
  /** Setup adds (added) the file to the repository's `.git/info/exclude`, so it may hold the key. */
  | { held: true; excluded: { file: string; pattern: string } }
  /** Tracked by git: it must not hold the key (a commit would carry it). */
  | { held: false; tracked: string };

/**
 * Whether `file` may hold an API key: outside a git work tree, or ignored (`git check-ignore`), it may; not
 * ignored and not tracked, it may once it is listed in `.git/info/exclude` (done here unless `dryRun`);
 * tracked, it may not.
 */
export function secretPlace(file: string, dryRun = false): SecretPlace {
  const at = workTree(file);
  if (!at) return { held: true };
  if (git(at.top, ['ls-files', '--error-unmatch', '--', at.posix]).ok) return { held: false, tracked: at.posix };
  if (git(at.top, ['check-ignore', '-q', '--no-index', '--', at.posix]).ok) return { held: true };
  const pattern = `/${at.posix}`;
  return { held: true, excluded: { file: exclude(at.top, pattern, 'holds an API key, never commit it', dryRun), pattern } };
}
