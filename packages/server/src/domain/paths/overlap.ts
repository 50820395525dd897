/**
 * The public overlap test: cheap literal tests first, a literal path against a pattern by matching, then the
 * product automaton; every decision's work counted in steps (overlapWork) and, for a request, charged to
 * its OverlapBudget, which refuses (PatternTooComplexError) rather than search without bound or guess.
 */
import { decideOverlapByAutomata, type OverlapDecision, PAIR_BUDGET } from './automaton.js';
import { isFilePath, isLiteralPath, literalPrefix, literalSuffix } from './literal.js';
import { matchWork, patternMatches } from './match.js';

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
    const before = matchWork();
    const overlap = literalA ? patternMatches(b, a) : patternMatches(a, b);
    return { overlap, steps: 1 + matchWork() - before };
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

/** Exact overlap by automata only, for tests (PatternTooComplexError past 8 x PAIR_BUDGET, which no pattern
 * normalizePattern accepts can need). */
export function patternsOverlapByAutomata(a: string, b: string): boolean {
  const d = decideOverlapByAutomata(a, b, 8 * PAIR_BUDGET);
  workDone += d.steps;
  if (d.overlap === undefined) throw new PatternTooComplexError(d.steps, 8 * PAIR_BUDGET);
  return d.overlap;
}
