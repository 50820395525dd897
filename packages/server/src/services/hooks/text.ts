/** Paths and sentences of the hook decisions: pure, no I/O. */
import { posix } from 'node:path';
import type { BlockingClaim, BlockingPath } from '@availsync/protocol';
import { normalizePattern } from '../../domain/paths.js';

/** `2026-05-22 10:30:05 UTC`: what a model and a human can both read. */
export function at(isoTime: string | null | undefined): string {
  if (!isoTime) return 'unknown';
  return `${isoTime.slice(0, 19).replace('T', ' ')} UTC`;
}

export type RepoPath = { ok: true; path: string } | { ok: false; outside: true } | { ok: false; outside: false; message: string };

/**
 * A tool's file path as a repo-relative POSIX path. Absolute paths are made relative to the project dir
 * (else the payload's cwd); relative ones are taken from the cwd inside the project. A path outside the
 * project is `outside`: it is not in the repository, so it is not the repository's to guard (allowed).
 */
export function toRepoPath(file: string, projectDir: string | null, cwd: string | null): RepoPath {
  const root = projectDir ?? cwd;
  const raw = file.replaceAll('\\', '/');
  let rel: string;
  if (posix.isAbsolute(raw)) {
    if (!root || !posix.isAbsolute(root)) {
      return { ok: false, outside: false, message: `cannot tell where ${file} is in the repository: send X-Availsync-Project-Dir` };
    }
    rel = posix.relative(posix.normalize(root), posix.normalize(raw));
  } else if (projectDir && cwd && posix.isAbsolute(cwd)) {
    rel = posix.relative(posix.normalize(projectDir), posix.join(cwd, raw));
  } else rel = posix.normalize(raw);
  if (rel === '' || rel === '..' || rel.startsWith('../') || posix.isAbsolute(rel)) return { ok: false, outside: true };
  const n = normalizePattern(rel);
  if (!n.ok) return { ok: false, outside: false, message: `${file}: ${n.message}` };
  return { ok: true, path: n.value };
}

export function holderText(b: Pick<BlockingClaim, 'id' | 'agent_id' | 'agent_name' | 'reason'>): string {
  const who = b.agent_name ? `${b.agent_name} (${b.agent_id})` : `agent ${b.agent_id}`;
  return `${who}, run ${b.id}${b.reason ? ` "${b.reason}"` : ''}`;
}

/** The reason a start was skipped: who holds the resource and when to retry. */
export function resourceHeldText(resource: string, b: BlockingClaim | null, retryAfter: string | null, what: string): string {
  // No holder: the resource is free but other starts wait ahead in its queue.
  if (!b)
    return `Availsync: others are waiting for ${resource}. Do not ${what} now: tell the user, or retry after ${at(retryAfter ?? '')}.`;
  return (
    `Availsync: ${resource} is being worked on by ${holderText(b)}, until ${at(b.expires_at)}. ` +
    `Do not ${what} now: tell the user, or retry after ${at(retryAfter ?? b.expires_at)}.`
  );
}

/** The reason a file claim was refused: each path, its holder and when the hold ends. */
export function filesHeldText(blocking: BlockingPath[], names: Map<string, string>, after: boolean): string {
  const byPath = new Map<string, BlockingPath[]>();
  for (const b of blocking) byPath.set(b.path, [...(byPath.get(b.path) ?? []), b]);
  const parts = [...byPath].map(([path, list]) => {
    const holders = list.map((b) => {
      const name = names.get(b.agent_id);
      const who = name ? `${name} (${b.agent_id})` : `agent ${b.agent_id}`;
      return `${who}, run ${b.claim_id}${b.held_path !== path ? ` as ${b.held_path}` : ''}, until ${at(b.expires_at)}`;
    });
    return `${path} is held by ${holders.join('; ')}`;
  });
  const paths = [...byPath.keys()].join(', ');
  const retry = at(blocking.map((b) => b.expires_at).sort()[0]);
  return after
    ? `Availsync: this command changed files another run holds: ${parts.join('. ')}. Revert your changes to ${paths} ` +
        `(git checkout -- <file>, or delete the new file) or stop and tell the user; retry after ${retry}.`
    : `Availsync: ${parts.join('. ')}. Do not edit ${paths} now: work on other files, or retry after ${retry}.`;
}

/** The files a shell command changed: every path whose git status differs between two snapshots. */
export function changedBetween(before: Record<string, string> | null, after: Record<string, string>): string[] {
  if (!before) return [];
  const changed = new Set<string>();
  for (const [path, state] of Object.entries(after)) if (before[path] !== state) changed.add(path);
  for (const path of Object.keys(before)) if (!(path in after)) changed.add(path);
  return [...changed].sort();
}

/** The paths a Codex `apply_patch` touches (`*** Add File:`, `*** Update File:`, `*** Delete File:`, `*** Move to:`). */
export function patchPaths(patch: string): string[] {
  const out: string[] = [];
  for (const m of patch.matchAll(/^\*\*\* (?:Add File|Update File|Delete File|Move to): (.+?)\s*$/gm)) {
    if (m[1] && !out.includes(m[1])) out.push(m[1]);
  }
  return out;
}
