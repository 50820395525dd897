/**
 * Every list in an answer is capped: the first `cap` entries, with `<name>_count` (all of them)
 * and `<name>_truncated` beside it. ANSWER_LIST_CAP (100) unless a field documents otherwise.
 */
import { ANSWER_LIST_CAP } from '@availsync/protocol';

export type Listed<K extends string, T> = { [P in K]: T[] } & { [P in `${K}_count`]: number } & { [P in `${K}_truncated`]: boolean };

/** `{ name: first cap entries, name_count, name_truncated }`; `count` when the caller kept only a prefix. */
export function listed<K extends string, T>(
  name: K,
  list: readonly T[],
  cap: number = ANSWER_LIST_CAP,
  count: number = list.length,
): Listed<K, T> {
  return {
    [name]: list.length > cap ? list.slice(0, cap) : [...list],
    [`${name}_count`]: count,
    [`${name}_truncated`]: count > cap,
  } as Listed<K, T>;
}
