/** The code a database driver puts on its errors (PostgreSQL's SQLSTATE, SQLite's `SQLITE_…`, Node's `E…`). */
export function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
