/**
 * Validating and normalising a requested path or pattern, and the caps on what a request may ask
 * the overlap test to decide. Pure: a string in, a normalised string, an error or a limit out.
 */
import { parseClass } from './charsets.js';

export type PathError = { path: string; message: string };

export const MAX_PATTERN_LENGTH = 1024;

// ---------------------------------------------------------------------------------------------------------------
// Caps: what a request may ask the overlap test to decide
// ---------------------------------------------------------------------------------------------------------------

/** A working-set path (pattern or literal) has at most this many characters (UTF-16 units), once normalised. */
export const PATTERN_MAX_LENGTH = 512;
/** A working-set pattern has at most this many wildcards (see patternWildcards). */
export const PATTERN_MAX_WILDCARDS = 16;

/**
 * Wildcards of a normalised pattern: each run of `*` inside a segment (`a**b` is one `*`), each `?`, each `**`
 * segment, each character class, and a trailing '/'. A trailing '/' counts: it is an "any characters" tail,
 * the same automaton as a final `/**` (so `src/` has one wildcard, as `src/**` has). An unterminated '[' is a
 * literal here (normalizePattern rejects it anyway).
 */
export function patternWildcards(pattern: string): number {
  const directory = pattern.endsWith('/');
  let count = directory ? 1 : 0;
  for (const segment of (directory ? pattern.slice(0, -1) : pattern).split('/')) {
    if (segment === '**') {
      count++;
      continue;
    }
    const chars = Array.from(segment);
    for (let i = 0; i < chars.length; i++) {
      const c = chars[i];
      if (c === '*') {
        if (chars[i - 1] !== '*') count++;
      } else if (c === '?') {
        count++;
      } else if (c === '[') {
        const cls = parseClass(chars, i);
        if (cls !== undefined) {
          count++;
          i = cls.end - 1;
        }
      }
    }
  }
  return count;
}

export type PatternLimit = { limit: 'length' | 'wildcards'; max: number; actual: number; message: string };

/** Which cap (if any) a normalised pattern is over: PATTERN_MAX_LENGTH characters, PATTERN_MAX_WILDCARDS wildcards. */
export function patternOverCaps(pattern: string): PatternLimit | undefined {
  if (pattern.length > PATTERN_MAX_LENGTH) {
    return {
      limit: 'length',
      max: PATTERN_MAX_LENGTH,
      actual: pattern.length,
      message: `path is longer than ${PATTERN_MAX_LENGTH} characters`,
    };
  }
  const wildcards = patternWildcards(pattern);
  if (wildcards > PATTERN_MAX_WILDCARDS) {
    return {
      limit: 'wildcards',
      max: PATTERN_MAX_WILDCARDS,
      actual: wildcards,
      message: `pattern has ${wildcards} wildcards; at most ${PATTERN_MAX_WILDCARDS} (each *, ?, **, [...] and a trailing / counts)`,
    };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Validation and normalisation
// ---------------------------------------------------------------------------------------------------------------

/**
 * Validate and normalise one requested path/pattern. Returns the normalised string or an error.
 * Rules: non-empty, <= 1024 chars (UTF-16 units), no NUL, no backslash, not absolute (no leading '/'), no '..'
 * segment, '.' segments and a leading './' removed, repeated '//' collapsed, unterminated '[' and reversed ranges
 * rejected. Keeps a trailing '/' (a trailing '/.' also becomes '/': it names the directory). A pattern that
 * normalises to nothing ('.', './') is rejected: claim the whole repo with '**'.
 */
export function normalizePattern(input: string): { ok: true; value: string } | { ok: false; message: string } {
  if (typeof input !== 'string' || input === '') return { ok: false, message: 'path is empty' };
  if (input.length > MAX_PATTERN_LENGTH) return { ok: false, message: `path is longer than ${MAX_PATTERN_LENGTH} characters` };
  if (input.includes('\0')) return { ok: false, message: 'path contains a NUL character' };
  if (input.includes('\\')) return { ok: false, message: "path contains a backslash; use '/' (paths are POSIX)" };
  if (input.startsWith('/')) return { ok: false, message: 'path must be relative to the repository root, not absolute' };

  const parts = input.split('/');
  const directory = parts[parts.length - 1] === '' || parts[parts.length - 1] === '.';
  const segments: string[] = [];
  for (const part of parts) {
    if (part === '' || part === '.') continue;
    if (part === '..') return { ok: false, message: "path must not contain a '..' segment" };
    const problem = classProblem(part);
    if (problem !== undefined) return { ok: false, message: problem };
    segments.push(part);
  }
  if (segments.length === 0) return { ok: false, message: "path names the repository root; use '**' to mean every file" };
  return { ok: true, value: segments.join('/') + (directory ? '/' : '') };
}

/** Why the character classes of one segment are invalid, or undefined when they are fine. */
function classProblem(segment: string): string | undefined {
  const chars = Array.from(segment);
  for (let i = 0; i < chars.length; i++) {
    if (chars[i] !== '[') continue;
    const cls = parseClass(chars, i);
    if (cls === undefined) return `unterminated '[' in '${segment}' (a character class cannot contain '/')`;
    if (cls.reversed) return `reversed range in character class in '${segment}'`;
    i = cls.end - 1;
  }
  return undefined;
}
