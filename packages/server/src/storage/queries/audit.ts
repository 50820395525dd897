/** Reading the audit log (services/audit-read.ts): the one condition Kysely has no builder for. */
import { sql } from 'kysely';

/** `event` starts with `prefix`, taken literally (LIKE's `%`, `_` and the escape character escaped). */
export function eventStartsWith(prefix: string) {
  const literal = prefix.replace(/[\\%_]/g, (ch) => `\\${ch}`);
  return sql<boolean>`${sql.ref('event')} like ${`${literal}%`} escape '\\'`;
}
