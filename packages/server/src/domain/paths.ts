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
//
// Bounded cost (SPEC §14). A working-set request's paths are capped at PATTERN_MAX_LENGTH (512) characters and
// PATTERN_MAX_WILDCARDS (16) wildcards (patternOverCaps; the route answers 422 pattern_too_complex). A pattern of
// n characters compiles to at most n + 1 states, and the product search visits each product state at most once,
// so one pair within the caps is decided in at most PAIR_BUDGET steps (2 x 513 x 513: about a millisecond of
// CPU), whatever the patterns. A request's decisions share one OverlapBudget (REQUEST_BUDGET steps, the same bound); past it
// the answer is 422 pattern_too_complex: never an unbounded search and never a silent "no overlap". Work is
// counted in steps (overlapWork(), OverlapDecision.steps), so tests assert on work, not on a clock.

export type PathError = { path: string; message: string };

export const MAX_PATTERN_LENGTH = 1024;

// ---------------------------------------------------------------------------------------------------------------
// Caps (SPEC §14): what a request may ask the overlap test to decide
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

// ---------------------------------------------------------------------------------------------------------------
// Character sets: sorted, disjoint inclusive code point ranges, flattened as [lo0, hi0, lo1, hi1, ...]
// ---------------------------------------------------------------------------------------------------------------

type CharSet = readonly number[];

const SLASH = 0x2f;
const MAX_CODE_POINT = 0x10ffff;
const ANY: CharSet = [0, MAX_CODE_POINT];
const NOT_SLASH: CharSet = [0, SLASH - 1, SLASH + 1, MAX_CODE_POINT];

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

// Edge labels are numbers: a code point (>= 0) for a literal, or one of these sets, or a class: CLASS0 - k is
// the NFA's k-th class.
const NOT_SLASH_LABEL = -1;
const ANY_LABEL = -2;
const CLASS0 = -3;
const NO_EDGE = -2147483648;

/**
 * An NFA over code points, flat. State 0 is the start; there is one accepting state. Every state has at most
 * one forward edge (to a newer state), at most one self-loop (`*`: "not '/'"; `**` and a trailing '/': any
 * character) and at most two epsilon edges (`**`), so the product search below needs no edge lists.
 */
interface Nfa {
  size: number;
  fwd: Int32Array;
  fwdTo: Int32Array;
  loop: Int32Array;
  eps0: Int32Array;
  eps1: Int32Array;
  /** 1 where a state has neither a self-loop nor an epsilon edge: at most one way on. */
  plain: Uint8Array;
  classes: CharSet[];
  accept: number;
}

class NfaBuilder {
  readonly fwd: number[] = [];
  readonly fwdTo: number[] = [];
  readonly loop: number[] = [];
  readonly eps: number[][] = [];
  readonly classes: CharSet[] = [];
  state(): number {
    this.fwd.push(NO_EDGE);
    this.fwdTo.push(-1);
    this.loop.push(NO_EDGE);
    this.eps.push([]);
    return this.fwd.length - 1;
  }
  /** A forward edge from `from` to a new state (or to `to`); returns the target. */
  edge(from: number, label: number, to: number = this.state()): number {
    this.fwd[from] = label;
    this.fwdTo[from] = to;
    return to;
  }
  selfLoop(at: number, label: number): void {
    this.loop[at] = label;
  }
  epsilon(from: number, to: number): void {
    this.eps[from]?.push(to);
  }
  classLabel(set: CharSet): number {
    this.classes.push(set);
    return CLASS0 - (this.classes.length - 1);
  }
  build(accept: number): Nfa {
    const size = this.fwd.length;
    const eps = (k: number) => Int32Array.from(this.eps, (list) => list[k] ?? -1);
    return {
      size,
      fwd: Int32Array.from(this.fwd),
      fwdTo: Int32Array.from(this.fwdTo),
      loop: Int32Array.from(this.loop),
      eps0: eps(0),
      eps1: eps(1),
      plain: Uint8Array.from(this.loop, (l, q) => (l === NO_EDGE && (this.eps[q]?.length ?? 0) === 0 ? 1 : 0)),
      classes: this.classes,
      accept,
    };
  }
}

/**
 * Compile a pattern. Path validity (no empty segment, no leading/trailing '/') is NOT built in here: the
 * product search enforces it, which lets `**` be compiled loosely as "any characters, '/' included".
 *
 * The pattern is normalised on the way: runs of `**` segments collapse to one, a run of `*` inside a segment
 * (`a**b`) is one `*`. Segments s1/s2/.../sn become, in order:
 *   - a separator '/' before each segment, except after a `**` segment or before a final `**` segment,
 *     which absorb it;
 *   - an ordinary segment: its characters in sequence, `*` a self-loop over "not '/'";
 *   - `**` as the only segment: ANY*;  `**` not last: (ANY* '/')?;  `**` last (not first): ('/' ANY*)?;
 *   - a trailing '/': '/' ANY*.
 * Every character of the pattern makes at most one state, so a pattern of n characters has at most n + 1.
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
    if (i > 0 && segments[i - 1] !== '**' && !(globstar && last)) cur = b.edge(cur, SLASH);
    if (!globstar) {
      cur = compileSegment(b, cur, segment);
    } else if (segments.length === 1) {
      b.selfLoop(cur, ANY_LABEL);
    } else if (!last) {
      const loop = b.state();
      const after = b.state();
      b.epsilon(cur, loop);
      b.selfLoop(loop, ANY_LABEL);
      b.edge(loop, SLASH, after);
      b.epsilon(cur, after);
      cur = after;
    } else {
      const loop = b.edge(cur, SLASH);
      const after = b.state();
      b.selfLoop(loop, ANY_LABEL);
      b.epsilon(loop, after);
      b.epsilon(cur, after);
      cur = after;
    }
  });
  if (directory) {
    cur = b.edge(cur, SLASH);
    b.selfLoop(cur, ANY_LABEL);
  }
  return b.build(cur);
}

/** Characters of one ordinary segment, starting at `cur`; returns the state after them. */
function compileSegment(b: NfaBuilder, cur: number, segment: string): number {
  const chars = Array.from(segment);
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] ?? '';
    if (c === '*') {
      if (chars[i - 1] !== '*') b.selfLoop(cur, NOT_SLASH_LABEL); // `**` inside a segment is one `*`
    } else if (c === '?') {
      cur = b.edge(cur, NOT_SLASH_LABEL);
    } else {
      const cls = c === '[' ? parseClass(chars, i) : undefined;
      if (cls !== undefined) {
        cur = b.edge(cur, b.classLabel(cls.set));
        i = cls.end - 1;
      } else {
        cur = b.edge(cur, codePoint(c)); // a literal, including an unterminated '['
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

/** Does a class contain code point `x`? (Classes never contain '/'.) */
function setHas(set: CharSet, x: number): boolean {
  for (let i = 0; i < set.length; i += 2) {
    if (x < (set[i] ?? 0)) return false;
    if (x <= (set[i + 1] ?? 0)) return true;
  }
  return false;
}

function labelSet(label: number, nfa: Nfa): CharSet {
  if (label === NOT_SLASH_LABEL) return NOT_SLASH;
  if (label === ANY_LABEL) return ANY;
  return nfa.classes[CLASS0 - label] ?? [];
}

/** meet() of a literal code point and any label. */
function meetLiteral(x: number, label: number, nfa: Nfa): number {
  if (label >= 0) return label !== x ? 0 : x === SLASH ? MEET_SLASH : MEET_OTHER;
  if (label === NOT_SLASH_LABEL) return x === SLASH ? 0 : MEET_OTHER;
  if (label === ANY_LABEL) return x === SLASH ? MEET_SLASH : MEET_OTHER;
  return setHas(labelSet(label, nfa), x) ? MEET_OTHER : 0;
}

/** Which characters two edge labels share: MEET_SLASH and/or MEET_OTHER (or 0). */
function meetLabels(la: number, A: Nfa, lb: number, B: Nfa): number {
  if (la >= 0) return meetLiteral(la, lb, B);
  if (lb >= 0) return meetLiteral(lb, la, A);
  return meet(labelSet(la, A), labelSet(lb, B));
}

/**
 * The most product states one overlap decision can visit between two patterns within the caps
 * (PATTERN_MAX_LENGTH characters make at most PATTERN_MAX_LENGTH + 1 states each; times the two states of
 * the valid-path automaton). Every state is visited at most once, so no pair within the caps can need more.
 */
export const PAIR_BUDGET = 2 * (PATTERN_MAX_LENGTH + 1) * (PATTERN_MAX_LENGTH + 1);

/** The answer of a bounded overlap decision: `overlap` is undefined when the budget ran out first. */
export interface OverlapDecision {
  overlap: boolean | undefined;
  /** Work done, in steps (product states visited, memo cells of a literal match, one per cheap test). */
  steps: number;
}

/** Visited product states, one bit each, and the search's stack; reused across decisions. */
let visitedBits = new Uint32Array(1024);
let stackBuffer = new Int32Array(1024);

/**
 * Exact overlap by automata only (no literal shortcut), within `budget` steps. Exported for tests; use
 * `patternsOverlap` or `decideOverlap`.
 *
 * Depth-first search of the product A x B x V, where V is the two-state automaton of valid paths
 * (0 = at the start of a segment, 1 = inside one; '/' is allowed only from 1, and 1 accepts). A product edge
 * exists when the two edge labels share a character; which V state it leads to depends on whether that shared
 * character can be '/' or something else. Overlap iff a state with A, B and V all accepting is reachable.
 * Each product state is visited at most once (a bit per state), and one step is one state visited, so a
 * decision costs at most 2 x |A| x |B| steps, each O(1) (a class against a class: O(ranges)). Moves that
 * consume in both patterns are tried first, so when the patterns do overlap the search tends to run straight
 * to a common match.
 */
export function decideOverlapByAutomata(a: string, b: string, budget: number = PAIR_BUDGET): OverlapDecision {
  const A = nfaFor(a);
  const B = nfaFor(b);
  const nb = B.size;
  const total = A.size * nb * 2;
  const words = (total + 31) >>> 5;
  if (visitedBits.length < words) visitedBits = new Uint32Array(Math.max(words, visitedBits.length * 2));
  else visitedBits.fill(0, 0, words);
  if (stackBuffer.length < total) stackBuffer = new Int32Array(Math.max(total, stackBuffer.length * 2));
  const seen = visitedBits;
  const stack = stackBuffer;
  const next = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  const { eps0: aEps0, eps1: aEps1, loop: aLoop, fwd: aFwd, fwdTo: aTo } = A;
  const { eps0: bEps0, eps1: bEps1, loop: bLoop, fwd: bFwd, fwdTo: bTo } = B;
  const aPlain = A.plain;
  const bPlain = B.plain;
  // A product state (qa, qb, v) is kept as the number (qa * nb + qb) * 2 + v.
  seen[0] = 1;
  stack[0] = 0; // (start, start, segment start)
  let top = 1;
  let steps = 1;
  while (top > 0) {
    if (steps > budget) return { overlap: undefined, steps };
    const current = stack[--top] as number;
    const v = current & 1;
    const pair = current >>> 1;
    const qb = pair % nb;
    const qa = ((pair - qb) / nb) | 0;
    if (qa === A.accept && qb === B.accept && v === 1) return { overlap: true, steps };
    let n = 0;
    const ea0 = aEps0[qa] as number;
    if (ea0 >= 0) {
      next[n++] = (ea0 * nb + qb) * 2 + v;
      const ea1 = aEps1[qa] as number;
      if (ea1 >= 0) next[n++] = (ea1 * nb + qb) * 2 + v;
    }
    const eb0 = bEps0[qb] as number;
    if (eb0 >= 0) {
      next[n++] = (qa * nb + eb0) * 2 + v;
      const eb1 = bEps1[qb] as number;
      if (eb1 >= 0) next[n++] = (qa * nb + eb1) * 2 + v;
    }
    const la = aLoop[qa] as number;
    const lb = bLoop[qb] as number;
    const fa = aFwd[qa] as number;
    const fb = bFwd[qb] as number;
    // Listed last, pushed last, tried first: both patterns move forward.
    for (let move = 0; move < 4; move++) {
      const labelA = move < 2 ? la : fa;
      const labelB = move === 0 || move === 2 ? lb : fb;
      if (labelA === NO_EDGE || labelB === NO_EDGE) continue;
      const shared = meetLabels(labelA, A, labelB, B);
      if (shared === 0) continue;
      const to = ((move < 2 ? qa : (aTo[qa] as number)) * nb + (move === 0 || move === 2 ? qb : (bTo[qb] as number))) * 2;
      if (shared & MEET_SLASH && v === 1) next[n++] = to;
      if (shared & MEET_OTHER) next[n++] = to + 1;
    }
    for (let k = 0; k < n; k++) {
      let key = next[k] as number;
      let word = key >>> 5;
      let bit = 1 << (key & 31);
      if ((seen[word] as number) & bit) continue;
      seen[word] = (seen[word] as number) | bit;
      steps++;
      let x = (key >>> 1) % nb;
      let y = x;
      x = (((key >>> 1) - y) / nb) | 0;
      if (!(aPlain[x] && bPlain[y])) {
        stack[top++] = key;
        continue;
      }
      // Neither side can loop or branch here: follow the one path in lockstep without the stack (a run of
      // literals against literals), marking each state, until a side can branch again or the path dies.
      let w = key & 1;
      for (;;) {
        const fx = aFwd[x] as number;
        const fy = bFwd[y] as number;
        if (fx === NO_EDGE || fy === NO_EDGE) {
          if (x === A.accept && y === B.accept && w === 1) return { overlap: true, steps };
          break;
        }
        // Forward labels are one character or a set without '/', so at most one of the two kinds is shared.
        const shared = fx >= 0 && fy >= 0 ? (fx !== fy ? 0 : fx === SLASH ? MEET_SLASH : MEET_OTHER) : meetLabels(fx, A, fy, B);
        if (shared & MEET_OTHER) w = 1;
        else if (shared & MEET_SLASH && w === 1) w = 0;
        else break;
        x = aTo[x] as number;
        y = bTo[y] as number;
        key = (x * nb + y) * 2 + w;
        word = key >>> 5;
        bit = 1 << (key & 31);
        if ((seen[word] as number) & bit) break;
        seen[word] = (seen[word] as number) | bit;
        steps++;
        if (!(aPlain[x] && bPlain[y])) {
          stack[top++] = key;
          break;
        }
      }
    }
  }
  return { overlap: false, steps };
}

/** Exact overlap by automata only, for tests (PatternTooComplexError past 8 x PAIR_BUDGET, which no pattern
 * normalizePattern accepts can need). */
export function patternsOverlapByAutomata(a: string, b: string): boolean {
  const d = decideOverlapByAutomata(a, b, 8 * PAIR_BUDGET);
  workDone += d.steps;
  if (d.overlap === undefined) throw new PatternTooComplexError(d.steps, 8 * PAIR_BUDGET);
  return d.overlap;
}

// ---------------------------------------------------------------------------------------------------------------
// Public overlap test, with its work counted
// ---------------------------------------------------------------------------------------------------------------

/** Steps of overlap work done by this process so far (every decision adds its steps): tests assert on work. */
let workDone = 0;
export function overlapWork(): number {
  return workDone;
}

/** An overlap decision ran out of budget: the patterns are too complex to decide within it. */
export class PatternTooComplexError extends Error {
  constructor(
    readonly steps: number,
    readonly budget: number,
  ) {
    super(`deciding whether these patterns overlap needs more than ${budget} steps of work`);
    this.name = 'PatternTooComplexError';
  }
}

/**
 * A request's overlap work: every decision it makes charges its steps here, and the one that passes `limit`
 * throws PatternTooComplexError (a decision is also cut short when the remaining budget runs out).
 */
export class OverlapBudget {
  steps = 0;
  constructor(readonly limit: number = REQUEST_BUDGET) {}
  /** What the next decision may spend: the per-pair bound, or less when the request has less left. */
  get forPair(): number {
    return Math.max(0, Math.min(PAIR_BUDGET, this.limit - this.steps));
  }
  charge(steps: number): void {
    this.steps += steps;
    if (this.steps > this.limit) throw new PatternTooComplexError(this.steps, this.limit);
  }
}

/**
 * One request's budget: the per-pair bound (about 526,000 steps, a few milliseconds of CPU). A request can
 * always decide one pair at the caps, and never costs more than about what one such pair costs, so a stream
 * of worst-case requests costs the server a few times a normal working-set update (the bench's adversarial
 * row). Ordinary requests spend a step or two per pair (most pairs differ in a fixed prefix or suffix, and
 * OverlapIndex skips held paths in other directories): 500 literals against 500 held globs of one directory
 * is about 300,000 steps.
 */
export const REQUEST_BUDGET = PAIR_BUDGET;

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

/**
 * Decide whether some file path is matched by both patterns, within `budget` steps. Exact whenever `overlap`
 * is defined; undefined only when the budget ran out (never the case for two patterns within the caps and
 * the default budget). Expects normalised patterns. Cheap tests first (equal literals; a fixed prefix or
 * suffix that differs), then a literal against a pattern by matching, then the product automaton.
 */
export function decideOverlap(a: string, b: string, budget: number = PAIR_BUDGET): OverlapDecision {
  const d = decideUncounted(a, b, budget);
  workDone += d.steps;
  return d;
}

function decideUncounted(a: string, b: string, budget: number): OverlapDecision {
  const literalA = isLiteralPath(a);
  const literalB = isLiteralPath(b);
  if (literalA && literalB) return { overlap: a === b && isFilePath(a), steps: 1 };
  // Cheap necessary conditions first: most unrelated pairs differ in a fixed prefix or suffix.
  const prefixA = literalPrefix(a);
  const prefixB = literalPrefix(b);
  if (!(prefixA.startsWith(prefixB) || prefixB.startsWith(prefixA))) return { overlap: false, steps: 1 };
  const suffixA = literalSuffix(a);
  const suffixB = literalSuffix(b);
  if (!(suffixA.endsWith(suffixB) || suffixB.endsWith(suffixA))) return { overlap: false, steps: 1 };
  if (literalA || literalB) {
    const before = matchCells;
    const overlap = literalA ? patternMatches(b, a) : patternMatches(a, b);
    return { overlap, steps: 1 + matchCells - before };
  }
  const d = decideOverlapByAutomata(a, b, budget);
  return { overlap: d.overlap, steps: d.steps + 1 };
}

/**
 * True when some file path is matched by both patterns. Exact. Expects normalised patterns. With `work`, the
 * decision's steps are charged to it (and limited by what it has left); without, to the per-pair bound.
 * Throws PatternTooComplexError rather than guess when the budget runs out.
 */
export function patternsOverlap(a: string, b: string, work?: OverlapBudget): boolean {
  const d = decideOverlap(a, b, work ? work.forPair : PAIR_BUDGET);
  work?.charge(d.steps);
  if (d.overlap === undefined) throw new PatternTooComplexError(d.steps, work ? work.limit : PAIR_BUDGET);
  return d.overlap;
}

// ---------------------------------------------------------------------------------------------------------------
// Matching one concrete path (independent of the automata above)
// ---------------------------------------------------------------------------------------------------------------

/**
 * True when the pattern matches this concrete path (used for display and by tests). A path that is not a valid
 * file path (empty, leading/trailing '/', empty segment) matches nothing. Time O(|pattern| x |path|): memoised
 * recursion, so hostile patterns like `*a*a*a*...b` cannot blow up.
 */
/** Memo cells computed by patternMatches so far: the work of matching a literal path (decideOverlap counts it). */
let matchCells = 0;

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

/** A concrete file path — no wildcard, class or trailing `/` — which matches exactly itself. */
export function isLiteralPath(pattern: string): boolean {
  return !SPECIAL.test(pattern) && !pattern.endsWith('/');
}

/** The leading segments of a pattern that hold no wildcard, joined by '/': every match's first names are these. */
function literalKey(pattern: string): string[] {
  const segments = (pattern.endsWith('/') ? pattern.slice(0, -1) : pattern).split('/');
  const key: string[] = [];
  for (const segment of segments) {
    if (SPECIAL.test(segment)) break;
    key.push(segment);
  }
  return key;
}

/**
 * Items by the literal key of their pattern, so that a query finds only those whose key is a prefix of its
 * own or has its own as a prefix (two patterns whose keys differ in some segment match different first names,
 * so they cannot overlap).
 */
class KeyIndex<T> {
  /** Items whose key is exactly this. */
  readonly #exact = new Map<string, Array<Keyed<T>>>();
  /** Items whose key starts with this (every prefix of every key, the empty one included). */
  readonly #under = new Map<string, Array<Keyed<T>>>();

  add(key: readonly string[], item: T, at: number): void {
    const entry = { item, at };
    let prefix = '';
    push(this.#under, prefix, entry);
    key.forEach((segment, m) => {
      prefix = m === 0 ? segment : `${prefix}/${segment}`;
      push(this.#under, prefix, entry);
    });
    push(this.#exact, prefix, entry);
  }

  /** The items whose key is a prefix of `key` or has `key` as a prefix. */
  candidates(key: readonly string[]): Array<Keyed<T>> {
    const found: Array<Keyed<T>> = [];
    let prefix = '';
    key.forEach((segment, m) => {
      found.push(...(this.#exact.get(prefix) ?? []));
      prefix = m === 0 ? segment : `${prefix}/${segment}`;
    });
    found.push(...(this.#under.get(prefix) ?? []));
    return found;
  }
}

interface Keyed<T> {
  item: T;
  /** Order of addition: answers list items in it. */
  at: number;
}

const inOrder = <T>(list: Array<Keyed<T>>): T[] => list.sort((x, y) => x.at - y.at).map((e) => e.item);

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/**
 * Held patterns indexed for overlap queries. A literal request is compared with equal literals by lookup;
 * every query is compared only with the held patterns whose literal leading segments agree with its own
 * (KeyIndex: `src/a.ts` is never matched against `docs/**`, nor `src/*.ts` against `lib/x.ts`), so a
 * request of many paths does not check every requested x held pair when the paths name different
 * directories. Answers exactly what `patternsOverlap` against every held item would. With `work`, every
 * decision's steps are charged to it, one more step per candidate looked at, and PatternTooComplexError
 * is thrown once it is spent.
 */
export class OverlapIndex<T extends { path: string }> {
  readonly #literals = new Map<string, T[]>();
  readonly #literalKeys = new KeyIndex<T>();
  readonly #globs = new KeyIndex<T>();

  constructor(items: Iterable<T>) {
    let at = 0;
    for (const item of items) {
      if (isLiteralPath(item.path)) {
        push(this.#literals, item.path, item);
        this.#literalKeys.add(item.path.split('/'), item, at++);
      } else this.#globs.add(literalKey(item.path), item, at++);
    }
  }

  /**
   * What `path` must be decided against: `equal`, the held literals equal to it (they overlap it, no decision
   * needed), and `decide`, the held items that may overlap it, in the order they were added.
   */
  candidates(path: string): { equal: T[]; decide: T[] } {
    const key = literalKey(path);
    const globs = this.#globs.candidates(key);
    if (isLiteralPath(path)) {
      return { equal: isFilePath(path) ? (this.#literals.get(path) ?? []) : [], decide: globs.length === 0 ? [] : inOrder(globs) };
    }
    return { equal: [], decide: inOrder([...this.#literalKeys.candidates(key), ...globs]) };
  }

  /** Every held item whose pattern can match a file that `path` can match. */
  overlapping(path: string, work?: OverlapBudget): T[] {
    const { equal, decide } = this.candidates(path);
    work?.charge(1);
    const matched = decide.filter((item) => patternsOverlap(path, item.path, work));
    return matched.length === 0 ? equal : [...equal, ...matched];
  }
}
