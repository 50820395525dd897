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
// Bounded cost. A working-set request's paths are capped at PATTERN_MAX_LENGTH (512) characters and
// PATTERN_MAX_WILDCARDS (16) wildcards (patternOverCaps; the route answers 422 pattern_too_complex). A pattern of
// n characters compiles to at most n + 1 states, and the product search visits each product state at most once,
// so one pair within the caps is decided in at most PAIR_BUDGET steps (2 x 513 x 513: about a millisecond of
// CPU), whatever the patterns. A request's decisions share one OverlapBudget (REQUEST_BUDGET steps, the same bound); past it
// the answer is 422 pattern_too_complex: never an unbounded search and never a silent "no overlap". Work is
// counted in steps (overlapWork(), OverlapDecision.steps), so tests assert on work, not on a clock.
//
// Where it lives (each file pure, no I/O; importers use this entry):
//   paths/normalize.ts      validation and normalisation of a requested path, the caps (PATTERN_MAX_*)
//   paths/charsets.ts       character sets and the class syntax shared by validation and the automata
//   paths/automaton.ts      the pattern NFA and the bounded product search (decideOverlapByAutomata)
//   paths/match.ts          patternMatches, the independent matcher (an oracle for tests)
//   paths/literal.ts        literal paths, prefixes, suffixes and keys: the cheap tests
//   paths/overlap.ts        decideOverlap / patternsOverlap, work counting, OverlapBudget
//   paths/overlap-index.ts  OverlapIndex: held patterns indexed by their literal leading segments

export { decideOverlapByAutomata, type OverlapDecision, PAIR_BUDGET } from './paths/automaton.js';
export { isLiteralPath } from './paths/literal.js';
export { patternMatches } from './paths/match.js';
export {
  MAX_PATTERN_LENGTH,
  normalizePattern,
  PATTERN_MAX_LENGTH,
  PATTERN_MAX_WILDCARDS,
  type PathError,
  type PatternLimit,
  patternOverCaps,
  patternWildcards,
} from './paths/normalize.js';
export {
  decideOverlap,
  OverlapBudget,
  overlapWork,
  PatternTooComplexError,
  patternsOverlap,
  patternsOverlapByAutomata,
  REQUEST_BUDGET,
} from './paths/overlap.js';
export { OverlapIndex } from './paths/overlap-index.js';
