/**
 * The pattern automaton and the exact overlap decision by automata: a pattern compiles to a small flat NFA
 * (at most one state per character), and two patterns overlap iff the product of their automata with the
 * automaton of valid paths reaches an accepting state. Bounded: the search visits each product state at
 * most once and stops at its budget (PAIR_BUDGET for two patterns within the caps).
 */
import { ANY, type CharSet, codePoint, MEET_OTHER, MEET_SLASH, meet, NOT_SLASH, parseClass, SLASH, setHas } from './charsets.js';
import { PATTERN_MAX_LENGTH } from './normalize.js';

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
