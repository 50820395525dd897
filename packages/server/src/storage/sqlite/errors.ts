/**
 * SQLite's errors, classified for the store: a unique violation (the caller's conflict) and the database
 * unavailable (busy, I/O, full: answer 503, the client retries). By better-sqlite3's `SQLITE_…` codes; the
 * error's text when it carries no code.
 */
import { errCode } from '../error-code.js';

export function isUniqueViolation(err: unknown): boolean {
  return /UNIQUE constraint failed|SQLITE_CONSTRAINT_(UNIQUE|PRIMARYKEY)/.test(errCode(err) ?? String(err));
}

export function isUnavailable(err: unknown): boolean {
  return /SQLITE_(BUSY|IOERR|FULL|CANTOPEN)/.test(errCode(err) ?? '');
}
