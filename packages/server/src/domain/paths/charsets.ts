/**
 * Character sets and character classes of the pattern language (paths.ts): a set is sorted, disjoint
 * inclusive code point ranges, flattened as [lo0, hi0, lo1, hi1, ...]. Shared by validation (normalize.ts)
 * and the automata (automaton.ts); the matcher (match.ts) reads classes on its own, to stay an oracle.
 */

export type CharSet = readonly number[];

export const SLASH = 0x2f;
const MAX_CODE_POINT = 0x10ffff;
export const ANY: CharSet = [0, MAX_CODE_POINT];
export const NOT_SLASH: CharSet = [0, SLASH - 1, SLASH + 1, MAX_CODE_POINT];

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
export const MEET_SLASH = 1;
export const MEET_OTHER = 2;
export function meet(a: CharSet, b: CharSet): number {
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

// Character classes (validation and the automata; `patternMatches` has its own reading)

export interface ParsedClass {
  /** Members, never including '/'. */
  set: CharSet;
  /** Index just past the closing ']'. */
  end: number;
  /** Some range was written high-to-low (it contributes nothing). */
  reversed: boolean;
}

/** Parse the class opening at chars[start] === '['; undefined when it is unterminated. */
export function parseClass(chars: readonly string[], start: number): ParsedClass | undefined {
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

export function codePoint(c: string): number {
  return c.codePointAt(0) ?? 0;
}

/** Does a class contain code point `x`? (Classes never contain '/'.) */
export function setHas(set: CharSet, x: number): boolean {
  for (let i = 0; i < set.length; i += 2) {
    if (x < (set[i] ?? 0)) return false;
    if (x <= (set[i + 1] ?? 0)) return true;
  }
  return false;
}
