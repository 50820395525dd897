/**
 * The SQLite connection as Kysely's dialect sees it, with its prepared statements reused. Kysely prepares a
 * statement for every query, and preparing costs more than running a small one; the statements of the
 * store's single connection are kept by SQL text (a bounded cache: a few hundred shapes in practice).
 */
import type BetterSqlite from 'better-sqlite3';
import type { SqliteDatabase } from 'kysely';

const MAX_STATEMENTS = 2000;

export function withStatementCache(raw: BetterSqlite.Database): SqliteDatabase {
  const cache = new Map<string, BetterSqlite.Statement>();
  return {
    close: () => raw.close(),
    prepare(sqlText: string) {
      let stmt = cache.get(sqlText);
      if (!stmt) {
        if (cache.size >= MAX_STATEMENTS) cache.clear();
        stmt = raw.prepare(sqlText);
        cache.set(sqlText, stmt);
      }
      return stmt;
    },
  };
}
