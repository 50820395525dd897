/**
 * The fixed text of a pattern: whether it is a literal path, and the literal prefix, suffix and leading
 * segments every match shares. Cheap tests that rule out most unrelated pairs before any automaton runs.
 */

/** The characters that make a pattern more than a literal path (a trailing '/' does too). */
export const SPECIAL = /[*?[]/;

/** A concrete file path — no wildcard, class or trailing `/` — which matches exactly itself. */
export function isLiteralPath(pattern: string): boolean {
  return !SPECIAL.test(pattern) && !pattern.endsWith('/');
}

/** A valid file path: non-empty, no leading or trailing '/', no empty segment. */
export function isFilePath(path: string): boolean {
  return path !== '' && !path.split('/').includes('');
}

/**
 * Text every match starts with: the characters before the first `*`, `?` or `[`. One exception, harmless here:
 * `x/**` also matches `x`, which lacks the prefix's last '/'; then the other pattern, to match `x`, has a prefix
 * that is a prefix of `x` or is `x/` too, so comparing prefixes still never rejects a real overlap.
 */
export function literalPrefix(pattern: string): string {
  const i = pattern.search(SPECIAL);
  return i < 0 ? pattern : pattern.slice(0, i);
}

/**
 * Text every match ends with: the characters after the last `*`, `?` or `]`, minus a leading '/' (after `**` it
 * is optional: `**` + `/b` matches `b`). Empty for a trailing-'/' pattern, whose tail is arbitrary.
 */
export function literalSuffix(pattern: string): string {
  if (pattern.endsWith('/')) return '';
  const suffix = pattern.slice(Math.max(pattern.lastIndexOf('*'), pattern.lastIndexOf('?'), pattern.lastIndexOf(']')) + 1);
  return suffix.startsWith('/') ? suffix.slice(1) : suffix;
}

/** The leading segments of a pattern that hold no wildcard, joined by '/': every match's first names are these. */
export function literalKey(pattern: string): string[] {
  const segments = (pattern.endsWith('/') ? pattern.slice(0, -1) : pattern).split('/');
  const key: string[] = [];
  for (const segment of segments) {
    if (SPECIAL.test(segment)) break;
    key.push(segment);
  }
  return key;
}
