/**
 * OverlapIndex: held patterns indexed by their literal leading segments, so a request's paths are decided
 * only against the held ones that could overlap them. Answers exactly what patternsOverlap against every
 * held item would; the work it does is charged to the request's OverlapBudget.
 */
import { isFilePath, isLiteralPath, literalKey } from './literal.js';
import { type OverlapBudget, patternsOverlap } from './overlap.js';

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
