// File path patterns for working sets, and the exact overlap test between two of them.
//
// Pattern language (repo-relative POSIX paths):
//   - '/' separates segments. `*` matches any run (possibly empty) of characters except '/'; `?` exactly one
//     character (one code point) except '/'.
//   - `[...]` is a character class: ranges `a-z`, negation by a leading `!` or `^`, a `]` right after the `[` (or
//     after the negation mark) is literal, a `-` first or last is literal. A class never matches '/'. Segments are
//     split on '/' first, so `[a/b]` is the unterminated `[a` followed by `b]`.
//   - An unterminated `[`, or a reversed range like `[z-a]`, is rejected by `normalizePattern`; the matchers, if
//     handed one anyway, read an unterminated `[` as a literal '[' (and a reversed range as matching nothing).
//   - `**` as a whole segment matches zero or more whole segments: `src/**/*.ts` matches `src/a.ts` and
//     `src/x/y/a.ts`; `**` alone matches every path; `src/**` matches `src/x`, `src/x/y` and also `src` itself
//     (zero segments). Inside a segment (`a**b`) it is just `*`.
//   - A trailing '/' means "every file under a directory that the rest matches": `src/` matches `src/x` and
//     `src/x/y` but not `src`; `src/**/` is the same as `src/`; `**/` matches every path of two or more segments.
//   - No escapes: backslash is rejected by validation.
//
// Matching and overlap range over valid file paths: non-empty, no leading or trailing '/', no empty segment.
// ('.' and '..' names are not excluded from that universe. Normalised claims never name them, so at worst two
// patterns that could only both match a '.' or '..' segment are reported as overlapping: the safe side.)
//
// `patternsOverlap` decides exactly whether two patterns can match a common file, by searching the product of
// their automata. `patternMatches` is a separate matcher (memoised recursion over segments, then characters) that
// shares no code with the automata, so tests can use it as an oracle.

export type PathError = { path: string; message: string };

export const MAX_PATTERN_LENGTH = 1024;

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

// ---------------------------------------------------------------------------------------------------------------
// Character sets: sorted, disjoint inclusive code point ranges, flattened as [lo0, hi0, lo1, hi1, ...]
// ---------------------------------------------------------------------------------------------------------------

type CharSet = readonly number[];

const SLASH = 0x2f;
const MAX_CODE_POINT = 0x10ffff;
const ANY: CharSet = [0, MAX_CODE_POINT];
const NOT_SLASH: CharSet = [0, SLASH - 1, SLASH + 1, MAX_CODE_POINT];
const SLASH_ONLY: CharSet = [SLASH, SLASH];

/** Sort and merge arbitrary [lo, hi] ranges (empty ranges dropped) into a CharSet. */
function toCharSet(ranges: Array<[number, number]>): CharSet {
  const sorted = ranges.filter(([lo, hi]) => lo <= hi).sort((x, y) => x[0] - y[0]);
  const out: number[] = [];
  for (const [lo, hi] of sorted) {
    const last = out.length - 1; // index of the previous range's hi, or -1
    if (last >= 0 && lo <= (out[last] ?? 0) + 1) out[last] = Math.max(out[last] ?? 0, hi);
    else out.push(lo, hi);
  }
  return out;
}

function complement(set: CharSet): CharSet {
  const out: Array<[number, number]> = [];
  let next = 0;
  for (let i = 0; i < set.length; i += 2) {
    out.push([next, (set[i] ?? 0) - 1]);
    next = (set[i + 1] ?? 0) + 1;
  }
  out.push([next, MAX_CODE_POINT]);
  return toCharSet(out);
}

/** Bit 1: both sets contain '/'. Bit 2: they share some character other than '/'. */
const MEET_SLASH = 1;
const MEET_OTHER = 2;
function meet(a: CharSet, b: CharSet): number {
  let result = 0;
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const lo = Math.max(a[i] ?? 0, b[j] ?? 0);
    const aHi = a[i + 1] ?? 0;
    const bHi = b[j + 1] ?? 0;
    const hi = Math.min(aHi, bHi);
    if (lo <= hi) {
      if (lo <= SLASH && SLASH <= hi) result |= MEET_SLASH;
      if (lo !== SLASH || hi !== SLASH) result |= MEET_OTHER;
      if (result === (MEET_SLASH | MEET_OTHER)) return result;
    }
    if (aHi < bHi) i += 2;
    else j += 2;
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// Character classes (shared by validation and the automata; `patternMatches` has its own reading)
// ---------------------------------------------------------------------------------------------------------------

interface ParsedClass {
  /** Members, never including '/'. */
  set: CharSet;
  /** Index just past the closing ']'. */
  end: number;
  /** Some range was written high-to-low (it contributes nothing). */
  reversed: boolean;
}

/** Parse the class opening at chars[start] === '['; undefined when it is unterminated. */
function parseClass(chars: readonly string[], start: number): ParsedClass | undefined {
  let i = start + 1;
  const negated = chars[i] === '!' || chars[i] === '^';
  if (negated) i++;
  const ranges: Array<[number, number]> = [];
  let reversed = false;
  for (let first = true; i < chars.length; first = false) {
    const c = chars[i] ?? '';
    if (c === ']' && !first) {
      const members = toCharSet(ranges);
      return { set: removeSlash(negated ? complement(members) : members), end: i + 1, reversed };
    }
    const hi = chars[i + 2];
    if (chars[i + 1] === '-' && hi !== undefined && hi !== ']') {
      const from = codePoint(c);
      const to = codePoint(hi);
      if (from > to) reversed = true;
      ranges.push([from, to]);
      i += 3;
    } else {
      ranges.push([codePoint(c), codePoint(c)]);
      i += 1;
    }
  }
  return undefined;
}

function removeSlash(set: CharSet): CharSet {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < set.length; i += 2) {
    const lo = set[i] ?? 0;
    const hi = set[i + 1] ?? 0;
    if (lo <= SLASH && SLASH <= hi) out.push([lo, SLASH - 1], [SLASH + 1, hi]);
    else out.push([lo, hi]);
  }
  return toCharSet(out);
}

function codePoint(c: string): number {
  return c.codePointAt(0) ?? 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Automata
// ---------------------------------------------------------------------------------------------------------------

interface Edge {
  set: CharSet;
  to: number;
}

/** An NFA over code points. State 0 is the start; there is one accepting state. Apart from self-loops
 * (`*`, and the "any characters" inside `**` and trailing-'/' tails) every edge goes to a newer state. */
interface Nfa {
  edges: Edge[][];
  eps: number[][];
  accept: number;
}

class NfaBuilder {
  readonly edges: Edge[][] = [];
  readonly eps: number[][] = [];
  state(): number {
    this.edges.push([]);
    this.eps.push([]);
    return this.edges.length - 1;
  }
  /** Add an edge from `from` to a new state (or to `to`); returns the target. */
  edge(from: number, set: CharSet, to: number = this.state()): number {
    this.edges[from]?.push({ set, to });
    return to;
  }
  epsilon(from: number, to: number): void {
    this.eps[from]?.push(to);
  }
}

/**
 * Compile a pattern. Path validity (no empty segment, no leading/trailing '/') is NOT built in here: the
 * product search enforces it, which lets `**` be compiled loosely as "any characters, '/' included".
 *
 * Segments s1/s2/.../sn (runs of `**` segments collapsed, which changes nothing) become, in order:
 *   - a separator '/' before each segment, except after a `**` segment or before a final `**` segment,
 *     which absorb it;
 *   - an ordinary segment: its characters in sequence, `*` a self-loop over "not '/'";
 *   - `**` as the only segment: ANY*;  `**` not last: (ANY* '/')?;  `**` last (not first): ('/' ANY*)?;
 *   - a trailing '/': '/' ANY*.
 */
function compile(pattern: string): Nfa {
  const directory = pattern.endsWith('/');
  const raw = (directory ? pattern.slice(0, -1) : pattern).split('/');
  const segments = raw.filter((s, i) => !(s === '**' && raw[i - 1] === '**'));
  const b = new NfaBuilder();
  let cur = b.state();
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    const globstar = segment === '**';
    if (i > 0 && segments[i - 1] !== '**' && !(globstar && last)) cur = b.edge(cur, SLASH_ONLY);
    if (!globstar) {
      cur = compileSegment(b, cur, segment);
    } else if (segments.length === 1) {
      b.edge(cur, ANY, cur);
    } else if (!last) {
      const loop = b.state();
      const after = b.state();
      b.epsilon(cur, loop);
      b.edge(loop, ANY, loop);
      b.edge(loop, SLASH_ONLY, after);
      b.epsilon(cur, after);
      cur = after;
    } else {
      const loop = b.edge(cur, SLASH_ONLY);
      const after = b.state();
      b.edge(loop, ANY, loop);
      b.epsilon(loop, after);
      b.epsilon(cur, after);
      cur = after;
    }
  });
  if (directory) {
    cur = b.edge(cur, SLASH_ONLY);
    b.edge(cur, ANY, cur);
  }
  return { edges: b.edges, eps: b.eps, accept: cur };
}

/** Characters of one ordinary segment, starting at `cur`; returns the state after them. */
function compileSegment(b: NfaBuilder, cur: number, segment: string): number {
  const chars = Array.from(segment);
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] ?? '';
    if (c === '*') {
      if (chars[i - 1] !== '*') b.edge(cur, NOT_SLASH, cur); // `**` inside a segment is one `*`
    } else if (c === '?') {
      cur = b.edge(cur, NOT_SLASH);
    } else {
      const cls = c === '[' ? parseClass(chars, i) : undefined;
      if (cls !== undefined) {
        cur = b.edge(cur, cls.set);
        i = cls.end - 1;
      } else {
        cur = b.edge(cur, [codePoint(c), codePoint(c)]); // a literal, including an unterminated '['
      }
    }
  }
  return cur;
}

/** Compiled automata by pattern; patterns recur across requests. Bounded: the oldest entry is evicted first. */
const NFA_CACHE_SIZE = 2048;
const nfaCache = new Map<string, Nfa>();

function nfaFor(pattern: string): Nfa {
  let nfa = nfaCache.get(pattern);
  if (nfa === undefined) {
    nfa = compile(pattern);
    if (nfaCache.size >= NFA_CACHE_SIZE) {
      const oldest = nfaCache.keys().next();
      if (oldest.done !== true) nfaCache.delete(oldest.value);
    }
    nfaCache.set(pattern, nfa);
  }
  return nfa;
}

/**
 * Exact overlap by automata only (no literal shortcut). Exported for tests; use `patternsOverlap`.
 *
 * Breadth-first search of the product A x B x V, where V is the two-state automaton of valid paths
 * (0 = at the start of a segment, 1 = inside one; '/' is allowed only from 1, and 1 accepts). A product edge
 * exists when the two edge labels share a character; which V state it leads to depends on whether that shared
 * character can be '/' or something else. Overlap iff a state with A, B and V all accepting is reachable.
 */
export function patternsOverlapByAutomata(a: string, b: string): boolean {
  const A = nfaFor(a);
  const B = nfaFor(b);
  const width = B.edges.length;
  const seen = new Set<number>();
  const queue: number[] = [];
  enqueue(seen, queue, 0); // (start, start, segment start)
  // A product state (qa, qb, v) is kept as the number (qa * width + qb) * 2 + v.
  for (let head = 0; head < queue.length; head++) {
    const current = queue[head] ?? 0;
    const v = current % 2;
    const qb = ((current - v) / 2) % width;
    const qa = ((current - v) / 2 - qb) / width;
    if (qa === A.accept && qb === B.accept && v === 1) return true;
    for (const next of A.eps[qa] ?? []) enqueue(seen, queue, (next * width + qb) * 2 + v);
    for (const next of B.eps[qb] ?? []) enqueue(seen, queue, (qa * width + next) * 2 + v);
    for (const ea of A.edges[qa] ?? []) {
      for (const eb of B.edges[qb] ?? []) {
        const shared = meet(ea.set, eb.set);
        if (shared & MEET_OTHER) enqueue(seen, queue, (ea.to * width + eb.to) * 2 + 1);
        if (shared & MEET_SLASH && v === 1) enqueue(seen, queue, (ea.to * width + eb.to) * 2);
      }
    }
  }
  return false;
}

function enqueue(seen: Set<number>, queue: number[], key: number): void {
  if (seen.has(key)) return;
  seen.add(key);
  queue.push(key);
}

// ---------------------------------------------------------------------------------------------------------------
// Public overlap test
// ---------------------------------------------------------------------------------------------------------------

/** The characters that make a pattern more than a literal path (a trailing '/' does too). */
const SPECIAL = /[*?[]/;

function isFilePath(path: string): boolean {
  return path !== '' && !path.split('/').includes('');
}

/**
 * Text every match starts with: the characters before the first `*`, `?` or `[`. One exception, harmless here:
 * `x/**` also matches `x`, which lacks the prefix's last '/'; then the other pattern, to match `x`, has a prefix
 * that is a prefix of `x` or is `x/` too, so comparing prefixes still never rejects a real overlap.
 */
function literalPrefix(pattern: string): string {
  const i = pattern.search(SPECIAL);
  return i < 0 ? pattern : pattern.slice(0, i);
}

/**
 * Text every match ends with: the characters after the last `*`, `?` or `]`, minus a leading '/' (after `**` it
 * is optional: `**` + `/b` matches `b`). Empty for a trailing-'/' pattern, whose tail is arbitrary.
 */
function literalSuffix(pattern: string): string {
  if (pattern.endsWith('/')) return '';
  const suffix = pattern.slice(Math.max(pattern.lastIndexOf('*'), pattern.lastIndexOf('?'), pattern.lastIndexOf(']')) + 1);
  return suffix.startsWith('/') ? suffix.slice(1) : suffix;
}

/** True when some file path is matched by both patterns. Exact. Expects normalised patterns. */
export function patternsOverlap(a: string, b: string): boolean {
  const literalA = isLiteralPath(a);
  const literalB = isLiteralPath(b);
  if (literalA && literalB) return a === b && isFilePath(a);
  // Cheap necessary conditions first: most unrelated pairs differ in a fixed prefix or suffix.
  const prefixA = literalPrefix(a);
  const prefixB = literalPrefix(b);
  if (!(prefixA.startsWith(prefixB) || prefixB.startsWith(prefixA))) return false;
  const suffixA = literalSuffix(a);
  const suffixB = literalSuffix(b);
  if (!(suffixA.endsWith(suffixB) || suffixB.endsWith(suffixA))) return false;
  if (literalA) return patternMatches(b, a);
  if (literalB) return patternMatches(a, b);
  return patternsOverlapByAutomata(a, b);
}

// ---------------------------------------------------------------------------------------------------------------
// Matching one concrete path (independent of the automata above)
// ---------------------------------------------------------------------------------------------------------------

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

/** A concrete file path — no wildcard, class or trailing `/` — which matches exactly itself. */
export function isLiteralPath(pattern: string): boolean {
  return !SPECIAL.test(pattern) && !pattern.endsWith('/');
}

/**
 * Held patterns indexed for overlap queries. Most working sets are literal file paths: a literal request
 * is compared with equal literals by lookup and only with the held globs by matching, instead of with
 * every held path. Answers exactly what `patternsOverlap` against every held item would.
 */
export class OverlapIndex<T extends { path: string }> {
  readonly #literals = new Map<string, T[]>();
  readonly #globs: T[] = [];
  readonly #all: T[];

  constructor(items: Iterable<T>) {
    this.#all = [...items];
    for (const item of this.#all) {
      if (isLiteralPath(item.path)) {
        const list = this.#literals.get(item.path);
        if (list) list.push(item);
        else this.#literals.set(item.path, [item]);
      } else this.#globs.push(item);
    }
  }

  /** Every held item whose pattern can match a file that `path` can match. */
  overlapping(path: string): T[] {
    if (!isLiteralPath(path)) return this.#all.filter((item) => patternsOverlap(path, item.path));
    const equal = this.#literals.get(path) ?? [];
    const globs = this.#globs.filter((item) => patternMatches(item.path, path));
    return globs.length === 0 ? equal : [...equal, ...globs];
  }
}
