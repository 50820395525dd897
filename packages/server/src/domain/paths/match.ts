/**
 * Matching one concrete path against a pattern: memoised recursion over segments, then characters. It
 * shares no code with the automata (automaton.ts), so tests use it as an oracle for the overlap decision;
 * the decision uses it for a literal path against a pattern, charging its memo cells as work (matchWork).
 */
import { codePoint } from './charsets.js';

/** Memo cells computed by patternMatches so far: the work of matching a literal path (decideOverlap counts it). */
let matchCells = 0;

export function matchWork(): number {
  return matchCells;
}

/**
 * True when the pattern matches this concrete path (used for display and by tests). A path that is not a valid
 * file path (empty, leading/trailing '/', empty segment) matches nothing. Time O(|pattern| x |path|): memoised
 * recursion, so hostile patterns like `*a*a*a*...b` cannot blow up.
 */
export function patternMatches(pattern: string, path: string): boolean {
  const names = path.split('/');
  if (names.includes('')) return false;
  const directory = pattern.endsWith('/');
  const segments = (directory ? pattern.slice(0, -1) : pattern).split('/');
  const memo = new Uint8Array((segments.length + 1) * (names.length + 1)); // 0 unknown, 1 no, 2 yes
  return segmentsFrom({ segments, names, directory, memo }, 0, 0);
}

interface PathMatch {
  segments: readonly string[];
  names: readonly string[];
  directory: boolean;
  memo: Uint8Array;
}

/** Do segments[i..] match names[j..]? (Plain functions, not closures: cheaper under every transpiler.) */
function segmentsFrom(m: PathMatch, i: number, j: number): boolean {
  const slot = i * (m.names.length + 1) + j;
  const known = m.memo[slot];
  if (known) return known === 2;
  matchCells++;
  let result: boolean;
  const segment = m.segments[i];
  const name = m.names[j];
  if (segment === undefined) {
    // End of pattern. A trailing '/' needs a non-empty directory prefix and at least one more name.
    result = m.directory ? j >= 1 && j < m.names.length : j === m.names.length;
  } else if (segment === '**') {
    result = segmentsFrom(m, i + 1, j) || (name !== undefined && segmentsFrom(m, i, j + 1));
  } else {
    result = name !== undefined && segmentMatches(segment, name) && segmentsFrom(m, i + 1, j + 1);
  }
  m.memo[slot] = result ? 2 : 1;
  return result;
}

/** Does one pattern segment (no '/', not `**`) match one path segment? */
function segmentMatches(segment: string, name: string): boolean {
  if (!/[*?[]/.test(segment)) return segment === name;
  const p = Array.from(segment);
  const s = Array.from(name);
  // nextClose[i]: index of the first ']' at or after i, or -1. A class's closing ']' is the first ']' after its
  // first member (a range never ends in ']'), so this finds any class's end in O(1).
  const nextClose = new Int32Array(p.length + 1).fill(-1);
  for (let i = p.length - 1; i >= 0; i--) nextClose[i] = p[i] === ']' ? i : (nextClose[i + 1] ?? -1);
  return charsFrom({ p, s, nextClose, memo: new Uint8Array((p.length + 1) * (s.length + 1)) }, 0, 0);
}

interface SegmentMatch {
  p: readonly string[];
  s: readonly string[];
  nextClose: Int32Array;
  memo: Uint8Array;
}

/** Do pattern characters p[i..] match name characters s[j..]? */
function charsFrom(m: SegmentMatch, i: number, j: number): boolean {
  const slot = i * (m.s.length + 1) + j;
  const known = m.memo[slot];
  if (known) return known === 2;
  matchCells++;
  let result: boolean;
  const c = m.p[i];
  const ch = m.s[j];
  if (c === undefined) {
    result = ch === undefined;
  } else if (c === '*') {
    result = charsFrom(m, i + 1, j) || (ch !== undefined && charsFrom(m, i, j + 1));
  } else if (ch === undefined) {
    result = false;
  } else if (c === '?') {
    result = charsFrom(m, i + 1, j + 1);
  } else {
    const end = c === '[' ? classEnd(m, i) : -1;
    if (end >= 0) result = classHas(m.p, i, end, ch) && charsFrom(m, end + 1, j + 1);
    else result = c === ch && charsFrom(m, i + 1, j + 1); // a literal, including an unterminated '['
  }
  m.memo[slot] = result ? 2 : 1;
  return result;
}

/** Index of the ']' closing the class opened at p[start] === '[', or -1 when it is unterminated. */
function classEnd(m: SegmentMatch, start: number): number {
  const negated = m.p[start + 1] === '!' || m.p[start + 1] === '^';
  return m.nextClose[start + (negated ? 3 : 2)] ?? -1;
}

/** Is `ch` (a character of a path segment, so never '/') in the class p[start..end] ('[' ... ']')? */
function classHas(p: readonly string[], start: number, end: number, ch: string): boolean {
  const x = codePoint(ch);
  let i = start + 1;
  const negated = p[i] === '!' || p[i] === '^';
  if (negated) i++;
  let member = false;
  while (i < end) {
    const c = p[i] ?? '';
    const hi = p[i + 2];
    if (p[i + 1] === '-' && hi !== undefined && hi !== ']') {
      if (codePoint(c) <= x && x <= codePoint(hi)) member = true;
      i += 3;
    } else {
      if (c === ch) member = true;
      i += 1;
    }
  }
  return member !== negated;
}
