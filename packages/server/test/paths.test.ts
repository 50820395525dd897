import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decideOverlap,
  decideOverlapByAutomata,
  normalizePattern,
  OverlapBudget,
  OverlapIndex,
  overlapWork,
  PAIR_BUDGET,
  PATTERN_MAX_LENGTH,
  PATTERN_MAX_WILDCARDS,
  PatternTooComplexError,
  patternMatches,
  patternOverCaps,
  patternsOverlap,
  patternsOverlapByAutomata,
  patternWildcards,
} from '../src/domain/paths.js';

/** Both entry points (with and without the literal/prefix/suffix shortcuts), both argument orders. */
function overlapEverywhere(a: string, b: string): boolean[] {
  return [patternsOverlap(a, b), patternsOverlap(b, a), patternsOverlapByAutomata(a, b), patternsOverlapByAutomata(b, a)];
}

function assertOverlap(a: string, b: string, expected: boolean): void {
  assert.deepEqual(overlapEverywhere(a, b), [expected, expected, expected, expected], `${a} vs ${b}`);
}

describe('patternsOverlap examples', () => {
  it('a directory overlaps the files under it', () => {
    assertOverlap('src/', 'src/a.ts', true);
    assertOverlap('src/', 'src/x/y/z.ts', true);
    assertOverlap('src/', 'src', false); // the directory's contents, not a file named src
    assertOverlap('src/', 'srcx/a.ts', false);
    assertOverlap('src/**', 'src/', true);
    assertOverlap('src/**', 'src', true); // `**` may match zero segments
  });

  it('globstar segments', () => {
    assertOverlap('src/**/*.ts', 'src/x/y.ts', true);
    assertOverlap('src/**/*.ts', 'src/y.ts', true);
    assertOverlap('src/**/*.ts', 'src/y.md', false);
    assertOverlap('a/**/b', 'a/b', true);
    assertOverlap('a/**/b', 'a/*/b', true);
    assertOverlap('a/*/b', 'a/b', false);
    assertOverlap('**/b', 'b', true);
    assertOverlap('**/', 'a', false); // files inside some directory: two segments at least
    assertOverlap('**/', 'a/b', true);
    assertOverlap('**/', '*', false);
    assertOverlap('a**b', 'a/*', false); // `**` inside a segment is a `*`: it stops at '/'
    assertOverlap('a**b', 'axb', true);
  });

  it('needs real intersection, not one pattern matched against the other', () => {
    assertOverlap('src/*.ts', 'src/a*', true); // both match src/a.ts
    assertOverlap('src/a?.ts', 'src/*b.ts', true); // src/ab.ts
    assertOverlap('*a*', '*b*', true); // ab
    assertOverlap('src/*/x', 'src/y/*', true); // src/y/x
  });

  it('does not overlap when no file can match both', () => {
    assertOverlap('docs/*.md', 'src/a.ts', false);
    assertOverlap('*.ts', 'src/a.ts', false); // `*` stops at '/'
    assertOverlap('src/*.ts', 'src/*.md', false);
    assertOverlap('**/*.ts', '**/*.md', false);
    assertOverlap('a/*', 'a/*/*', false);
  });

  it('`**` overlaps every pattern that matches something', () => {
    for (const p of ['a', 'src/', '*.ts', 'a/**/b', '[!a]', '**', '?/?', 'x/**']) assertOverlap('**', p, true);
  });

  it('character classes', () => {
    assertOverlap('a/[bc]/d', 'a/[!b]/d', true); // on c
    assertOverlap('a/[b]/d', 'a/[!b]/d', false);
    assertOverlap('a/[b]/d', 'a/[^b]/d', false);
    assertOverlap('[a-c]', '[!a-b]', true); // c
    assertOverlap('[a-c]', '[!a-c]', false);
    assertOverlap('[]]', ']', true);
    assertOverlap('[!]]', ']', false);
    assertOverlap('[a-]', '-', true);
    assertOverlap('a[!x]b', 'a/b', false); // a class never matches '/'
  });

  it('un-normalised patterns that match no file overlap nothing', () => {
    // Not valid input (normalizePattern would fix or reject them), but still answered consistently.
    for (const p of ['a//*', '/a', 'a//', 'a//b/']) {
      assertOverlap(p, '**', false);
      assert.equal(patternMatches(p, 'a/b'), false);
    }
  });

  it('works on code points, not UTF-16 units', () => {
    assertOverlap('?', '😀*', true);
    assertOverlap('?', '😀😀', false);
    assertOverlap('[😀-😂]', '😁', true);
    assert.equal(patternMatches('?', '😀'), true);
  });
});

describe('patternMatches', () => {
  it('matches the documented semantics', () => {
    assert.equal(patternMatches('src/**/*.ts', 'src/a.ts'), true);
    assert.equal(patternMatches('src/**/*.ts', 'src/x/y/a.ts'), true);
    assert.equal(patternMatches('**', 'a/b/c'), true);
    assert.equal(patternMatches('src/', 'src/x'), true);
    assert.equal(patternMatches('src/', 'src'), false);
    assert.equal(patternMatches('src/**', 'src'), true);
    assert.equal(patternMatches('*', 'a/b'), false);
    assert.equal(patternMatches('a**b', 'a/b'), false);
    assert.equal(patternMatches('[ab', '[ab'), true); // unterminated '[' is literal here (normalizePattern rejects it)
  });

  it('matches only valid file paths', () => {
    for (const path of ['', '/a', 'a/', 'a//b']) assert.equal(patternMatches('**', path), false, path);
  });

  it('stays fast on hostile patterns', () => {
    const started = performance.now();
    assert.equal(patternMatches(`${'*a'.repeat(200)}*b`, 'a'.repeat(1000)), false);
    assert.equal(patternsOverlap(`${'*a'.repeat(100)}*b`, `${'a*'.repeat(100)}c`), false);
    assert.ok(performance.now() - started < 5000);
  });
});

describe('normalizePattern', () => {
  const rejects = (input: string): void => {
    const result = normalizePattern(input);
    assert.equal(result.ok, false, JSON.stringify(input));
    if (!result.ok) assert.ok(result.message.length > 0);
  };
  const normalises = (input: string, expected: string): void => {
    assert.deepEqual(normalizePattern(input), { ok: true, value: expected }, JSON.stringify(input));
  };

  it('rejects unsafe or malformed input', () => {
    for (const input of [
      '',
      '..',
      'a/../b',
      '../a',
      'a/..',
      '/etc/passwd',
      'a\\b',
      'a\0b',
      'x'.repeat(1025),
      'a[b',
      '[!]',
      '[a/b]',
      '[z-a]',
      '.',
      './',
      './/.',
    ]) {
      rejects(input);
    }
  });

  it('normalises', () => {
    normalises('./src//a.ts', 'src/a.ts');
    normalises('src/./a.ts', 'src/a.ts');
    normalises('src/', 'src/');
    normalises('src//', 'src/');
    normalises('src/.', 'src/');
    normalises('x'.repeat(1024), 'x'.repeat(1024));
    normalises('...', '...');
    normalises('a/..b/[]]/[!]x]', 'a/..b/[]]/[!]x]');
    normalises('**', '**');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Brute-force oracle
// ---------------------------------------------------------------------------------------------------------------

/*
 * Why enumerating short paths decides overlap. Take any common match w of patterns A and B, with an alignment of
 * w against each. Call a character of w "fixed" for A when a fixed-width token of A consumes it (a literal, `?`,
 * a class, or one of A's '/' characters), else "stretchy" (consumed by `*`, by a `**` segment, or by a
 * trailing-'/' tail). Replace every maximal run of characters stretchy for BOTH patterns by '' or, when '' would
 * leave an empty segment (or an empty path), by 'c'. Both alignments survive: a stretchy token accepts any run of
 * non-'/' characters, and a run holding a stretchy '/' lies inside a single `**` span or tail on each side
 * (those are bounded by fixed '/' or the path's ends), which accepts any non-empty run of non-empty segments.
 * The result w' is still a valid path. In w' every '/' is fixed for A or B, and each character is fixed or is a
 * 'c' making up a whole segment on its own, so
 *     |w'| <= fixedA + fixedB + (slashesA + slashesB + 1)
 * where fixedX counts X's fixed-width tokens (its '/' characters included) and slashesX its '/' characters.
 * A pattern with no `*` and no trailing '/' only matches paths of exactly fixedX characters. The letters needed are
 * those of the patterns (a, b) plus one other (c, for negated classes, `?` and the filler above).
 */
const ALPHABET = ['a', 'b', 'c', '/'];
const MAX_LENGTH = 7;

/** All valid file paths over ALPHABET up to MAX_LENGTH, shortest first; `upTo[n]` = how many have length <= n. */
const { paths, upTo } = (() => {
  const all: string[] = [];
  const counts = [0];
  let frontier = [''];
  for (let length = 1; length <= MAX_LENGTH; length++) {
    frontier = frontier.flatMap((s) => ALPHABET.filter((c) => !(c === '/' && (s === '' || s.endsWith('/')))).map((c) => s + c));
    all.push(...frontier.filter((s) => !s.endsWith('/')));
    counts.push(all.length);
  }
  return { paths: all, upTo: counts };
})();

function shape(pattern: string): { fixed: number; slashes: number; stretchy: boolean } {
  let fixed = 0;
  let slashes = 0;
  let stretchy = pattern.endsWith('/');
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') {
      stretchy = true;
      continue;
    }
    if (c === '[') i = pattern.indexOf(']', i + 2); // generated classes hold no ']'
    if (c === '/') slashes++;
    fixed++;
  }
  return { fixed, slashes, stretchy };
}

/** Length that any overlap of a and b is witnessed within (see the argument above). */
function witnessBound(a: string, b: string): number {
  const sa = shape(a);
  const sb = shape(b);
  let bound = sa.fixed + sb.fixed + sa.slashes + sb.slashes + 1;
  if (!sa.stretchy) bound = Math.min(bound, sa.fixed);
  if (!sb.stretchy) bound = Math.min(bound, sb.fixed);
  return bound;
}

function oracle(a: string, b: string): boolean {
  const end = upTo[Math.min(witnessBound(a, b), MAX_LENGTH)] ?? 0;
  for (let i = 0; i < end; i++) {
    const path = paths[i] ?? '';
    if (patternMatches(a, path) && patternMatches(b, path)) return true;
  }
  return false;
}

/** Random valid patterns of up to 6 tokens over a tiny alphabet, normalised: free-form token strings (which also
 * exercise `**` inside segments and the collapsing of '//'), and segment-shaped ones rich in whole-segment `**`. */
const TOKENS = ['a', 'b', '/', '*', '?', '**', '[ab]', '[!a]', '[b-c]'];
const SEGMENT_TOKENS = ['a', 'b', '*', '?', '[ab]', '[!a]', '[b-c]'];
const freeFormArb = fc
  .tuple(fc.array(fc.constantFrom(...TOKENS), { minLength: 1, maxLength: 6 }), fc.boolean())
  .map(([tokens, directory]) => tokens.join('') + (directory ? '/' : ''));
const segmentArb = fc.oneof(
  { arbitrary: fc.constant('**'), weight: 1 },
  { arbitrary: fc.array(fc.constantFrom(...SEGMENT_TOKENS), { minLength: 1, maxLength: 2 }).map((t) => t.join('')), weight: 2 },
);
const segmentedArb = fc
  .tuple(fc.array(segmentArb, { minLength: 1, maxLength: 3 }), fc.boolean())
  .map(([segments, directory]) => segments.join('/') + (directory ? '/' : ''));
const patternArb = fc
  .oneof(freeFormArb, segmentedArb)
  .map((raw) => normalizePattern(raw))
  .filter((r) => r.ok)
  .map((r) => (r.ok ? r.value : ''));

/** A random pattern built to match `path`: characters become `?` or a class holding them, runs become `*`,
 * runs of segments become `**`, a tail of segments becomes a trailing '/'. */
function generalize(g: fc.GeneratorValue, path: string): string {
  const names = path.split('/');
  const out: string[] = [];
  for (let i = 0; i < names.length; ) {
    if (g(fc.boolean)) out.push('**'); // matching zero segments here
    const choice = g(fc.integer, { min: 0, max: 5 });
    if (choice === 1) {
      const k = g(fc.integer, { min: 1, max: names.length - i });
      out.push('**');
      i += k;
    } else if (choice === 2 && i > 0) {
      return `${out.join('/')}/`; // the rest, at least one segment, is the directory's content
    } else {
      out.push(generalizeName(g, names[i] ?? ''));
      i++;
    }
  }
  if (g(fc.boolean)) out.push('**');
  return out.join('/');
}

function generalizeName(g: fc.GeneratorValue, name: string): string {
  let out = '';
  for (let j = 0; j < name.length; ) {
    const ch = name[j] ?? '';
    const choice = g(fc.integer, { min: 0, max: 4 });
    if (choice === 1) {
      out += '*';
      j += g(fc.integer, { min: 1, max: name.length - j });
    } else {
      const classes = ['[abc]', '[a-c]', `[${ch}]`, ...['a', 'b', 'c'].filter((x) => x !== ch).map((x) => `[!${x}]`)];
      out += choice === 2 ? '?' : choice === 3 ? g(fc.constantFrom, ...classes) : ch;
      j++;
    }
  }
  return out;
}

const pathArb = fc.array(fc.stringMatching(/^[abc]{1,3}$/), { minLength: 1, maxLength: 5 }).map((names) => names.join('/'));

describe('patternsOverlap properties', () => {
  it('agrees with a brute-force oracle', () => {
    fc.assert(
      fc.property(patternArb, patternArb, (a, b) => {
        fc.pre(witnessBound(a, b) <= MAX_LENGTH);
        const expected = oracle(a, b);
        assert.deepEqual(overlapEverywhere(a, b), [expected, expected, expected, expected]);
      }),
      { numRuns: 3000 },
    );
  });

  it('never misses an overlap of two patterns built to share a path, however long', () => {
    fc.assert(
      fc.property(pathArb, fc.gen(), (path, g) => {
        const a = generalize(g, path);
        const b = generalize(g, path);
        assert.deepEqual(
          [normalizePattern(a), normalizePattern(b)],
          [
            { ok: true, value: a },
            { ok: true, value: b },
          ],
        );
        assert.ok(patternMatches(a, path) && patternMatches(b, path), `generator: ${a}, ${b} should match ${path}`);
        assert.deepEqual(overlapEverywhere(a, b), [true, true, true, true], `${a} vs ${b} share ${path}`);
      }),
      { numRuns: 2000 },
    );
  });

  it('is symmetric', () => {
    fc.assert(
      fc.property(patternArb, patternArb, (a, b) => {
        assert.equal(patternsOverlap(a, b), patternsOverlap(b, a));
      }),
      { numRuns: 2000 },
    );
  });

  it('overlaps every concrete path the pattern matches', () => {
    fc.assert(
      fc.property(patternArb, fc.nat(), (p, n) => {
        const matched = paths.slice(0, upTo[5]).filter((x) => patternMatches(p, x));
        const x = matched[n % Math.max(matched.length, 1)];
        if (x === undefined) return;
        assert.equal(patternsOverlap(p, x), true);
        assert.equal(patternsOverlap(x, p), true);
        assert.equal(patternsOverlapByAutomata(p, x), true);
      }),
      { numRuns: 500 },
    );
  });
});

describe('OverlapIndex', () => {
  const pool = [
    'src/a.ts',
    'src/b.ts',
    'src/',
    'src/*.ts',
    'src/a*',
    'docs/**',
    'docs/x.md',
    'lib/[ab].ts',
    'lib/a.ts',
    '**',
    'a/b/c',
    'a/?/c',
    'README.md',
  ];
  it('answers exactly what patternsOverlap against every held pattern answers', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pool), { maxLength: 12 }), fc.constantFrom(...pool), (held, requested) => {
        const items = held.map((path, i) => ({ path, i }));
        const index = new OverlapIndex(items);
        const expected = items.filter((item) => patternsOverlap(requested, item.path)).map((item) => item.i);
        const actual = index
          .overlapping(requested)
          .map((item) => item.i)
          .sort((a, b) => a - b);
        assert.deepEqual(actual, expected);
      }),
      { numRuns: 2000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Bounded cost: caps, the per-pair bound, the request budget, work counted in steps
// ---------------------------------------------------------------------------------------------------------------

describe('pattern caps', () => {
  it('counts wildcards: each * run, ?, ** segment, class and a trailing /', () => {
    const cases: Array<[string, number]> = [
      ['src/a.ts', 0],
      ['src/', 1],
      ['src/**', 1],
      ['src/**/', 2],
      ['a**b', 1], // `**` inside a segment is one `*`
      ['*a*', 2],
      ['a?b[cd]e[!f]', 3],
      ['**/x/**', 2],
      ['[]]x[!]]', 2],
    ];
    for (const [pattern, expected] of cases) assert.equal(patternWildcards(pattern), expected, pattern);
  });

  it('names the cap a pattern is over', () => {
    assert.equal(patternOverCaps('x'.repeat(PATTERN_MAX_LENGTH)), undefined);
    assert.equal(patternOverCaps('x'.repeat(PATTERN_MAX_LENGTH + 1))?.limit, 'length');
    assert.equal(patternOverCaps(`${'*a'.repeat(PATTERN_MAX_WILDCARDS - 1)}/`), undefined);
    const over = patternOverCaps(`${'*a'.repeat(PATTERN_MAX_WILDCARDS)}/`);
    assert.deepEqual(over && { limit: over.limit, max: over.max, actual: over.actual }, {
      limit: 'wildcards',
      max: PATTERN_MAX_WILDCARDS,
      actual: PATTERN_MAX_WILDCARDS + 1,
    });
  });
});

/** The pair that took 186 ms of CPU before the search was bounded (over the caps: the domain function still decides it). */
const PROBE_A = `${'*a'.repeat(511)}*`;
const PROBE_B = `${'*b'.repeat(505)}*0*`;

describe('overlap work', () => {
  it("decides the probe's pair within the per-pair budget, counted by overlapWork()", () => {
    const before = overlapWork();
    assert.equal(patternsOverlap(PROBE_A, PROBE_B), true);
    assert.equal(patternsOverlap(PROBE_B, PROBE_A), true);
    const spent = overlapWork() - before;
    assert.ok(spent <= 2 * PAIR_BUDGET, `${spent} steps`);
    const d = decideOverlap(PROBE_A, PROBE_B);
    assert.equal(d.overlap, true);
    assert.ok(d.steps < 10_000, `${d.steps} steps`); // a straight run to a common match
  });

  it('a request budget cuts a decision short and throws rather than answer "no overlap"', () => {
    // Over the caps and with no overlap, so the search is long: a small budget runs out first.
    const a = `${'*a'.repeat(200)}*`;
    const b = `x${'?'.repeat(150)}`; // 150 characters after the x: never 200 a's
    const exact = decideOverlap(a, b, 8 * PAIR_BUDGET);
    assert.equal(exact.overlap, false);
    const cut = decideOverlap(a, b, 1000);
    assert.equal(cut.overlap, undefined);
    assert.ok(cut.steps > 1000 && cut.steps < 2000);
    const work = new OverlapBudget(5000);
    assert.throws(
      () => {
        for (let i = 0; i < 100; i++) patternsOverlap(a, b, work);
      },
      (err: unknown) => err instanceof PatternTooComplexError && err.budget === 5000,
    );
    assert.ok(work.steps > 5000 && work.steps < 5100, `${work.steps} steps`);
  });

  it('charges every decision of an index query to the request', () => {
    const index = new OverlapIndex([{ path: 'src/*.ts' }, { path: 'src/a.ts' }, { path: 'docs/**' }]);
    const work = new OverlapBudget();
    assert.deepEqual(
      index.overlapping('src/*', work).map((x) => x.path),
      ['src/*.ts', 'src/a.ts'],
    );
    assert.ok(work.steps > 0);
    // docs/** was never a candidate: its literal directory differs.
    assert.deepEqual(
      index.candidates('src/*').decide.map((x) => x.path),
      ['src/*.ts', 'src/a.ts'],
    );
    assert.deepEqual(index.candidates('src/a.ts'), { equal: [{ path: 'src/a.ts' }], decide: [{ path: 'src/*.ts' }] });
    assert.deepEqual(
      index.candidates('**/x').decide.map((x) => x.path),
      ['src/*.ts', 'src/a.ts', 'docs/**'],
    );
  });
});

/**
 * Adversarial patterns: wildcard tokens (`*`, `?`, `**`, classes) separated by runs of one letter or of
 * segments, the shapes that make the product of two automata large.
 */
const ADVERSARIAL_WILDCARDS = ['*', '?', '**', '[ab]', '[!a]', '[a-b]'];
function adversarialArb(maxRun: number, maxWildcards: number) {
  return fc
    .tuple(
      fc.array(
        fc.record({
          wildcard: fc.constantFrom(...ADVERSARIAL_WILDCARDS),
          run: fc.nat(maxRun),
          letter: fc.constantFrom('a', 'b', 'a/', 'b/', '/a'),
        }),
        { minLength: 1, maxLength: maxWildcards },
      ),
      fc.boolean(),
    )
    .map(([parts, directory]) => {
      const raw = parts.map((p) => (p.wildcard === '**' ? '/**/' : p.wildcard) + p.letter.repeat(p.run)).join('');
      return `${raw.replace(/^\/+/, '')}${directory ? '/' : ''}`;
    })
    .map((raw) => normalizePattern(raw))
    .filter((r) => r.ok && patternOverCaps(r.value) === undefined)
    .map((r) => (r.ok ? r.value : ''));
}

describe('overlap within the caps is bounded (property)', () => {
  it('random adversarial patterns at the caps decide within the per-pair budget, the same both ways', () => {
    fc.assert(
      fc.property(adversarialArb(40, PATTERN_MAX_WILDCARDS), adversarialArb(40, PATTERN_MAX_WILDCARDS), (a, b) => {
        const ab = decideOverlap(a, b);
        const ba = decideOverlap(b, a);
        const automata = decideOverlapByAutomata(a, b);
        for (const d of [ab, ba, automata]) {
          assert.notEqual(d.overlap, undefined, `${a} vs ${b}: undecided after ${d.steps} steps`);
          assert.ok(d.steps <= PAIR_BUDGET);
        }
        assert.equal(ab.overlap, ba.overlap);
        assert.equal(automata.overlap, ab.overlap);
      }),
      { numRuns: 300 },
    );
  });

  it('short adversarial patterns agree with the brute-force oracle', () => {
    fc.assert(
      fc.property(adversarialArb(2, 3), adversarialArb(2, 3), (a, b) => {
        fc.pre(witnessBound(a, b) <= MAX_LENGTH);
        const expected = oracle(a, b);
        assert.deepEqual(overlapEverywhere(a, b), [expected, expected, expected, expected], `${a} vs ${b}`);
      }),
      { numRuns: 2000 },
    );
  });
});
