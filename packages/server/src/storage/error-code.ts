/**
 * The code a database driver puts on its errors (PostgreSQL's SQLSTATE, SQLite's `SQLITE_…`, Node's `E…`).
 * Read only by the dialects' error classification (postgres/errors.ts, sqlite/errors.ts, the process lock):
 * the rest of the server asks the Store (isUniqueViolation, isUnavailable), never for a code.
 */
export function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
