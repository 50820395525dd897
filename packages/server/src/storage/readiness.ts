/**
 * Readiness (GET /health/ready): the database answers, every migration is applied, and the tables are
 * visible to the connection. The last matters on PostgreSQL: a `search_path` naming a schema that does not
 * exist leaves `current_schema()` NULL, so migrate() finds the bookkeeping of another schema (public) and
 * applies nothing, and every query then fails with `relation "orgs" does not exist`. Each check is one
 * small statement (`limit 0` probes read no rows), so a probe every few seconds costs next to nothing.
 */
import type { ReadyResponse } from '@availsync/protocol';
import { sql } from 'kysely';
import { migrationProvider } from './migrations/index.js';
import type { Store } from './types.js';

type Check = ReadyResponse['checks'][number];

/** The tables every request may touch (schema.ts's DB). */
const TABLES = [
  'orgs',
  'users',
  'sessions',
  'memberships',
  'invites',
  'password_resets',
  'agents',
  'resources',
  'claims',
  'file_claims',
  'idempotency_keys',
  'audit_events',
  'meta',
  'rate_limits',
] as const;

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export async function readiness(store: Store): Promise<ReadyResponse> {
  const checks: Check[] = [];
  const done = () => ({ ready: checks.every((c) => c.ok), checks });
  if (!(await store.ping())) {
    checks.push({ name: 'database', ok: false, message: `the ${store.kind} database does not answer` });
    return done();
  }
  checks.push({ name: 'database', ok: true, message: `${store.kind} answers` });

  const expected = Object.keys(await migrationProvider.getMigrations());
  try {
    // Unqualified: the bookkeeping table the connection's own search path finds (migrate() keeps it there).
    const { rows } = await sql<{ name: string }>`select name from kysely_migration`.execute(store.db);
    const applied = new Set(rows.map((r) => r.name));
    const pending = expected.filter((name) => !applied.has(name));
    checks.push(
      pending.length === 0
        ? { name: 'migrations', ok: true, message: `${expected.length} applied` }
        : { name: 'migrations', ok: false, message: `pending: ${pending.join(', ')}` },
    );
  } catch (err) {
    checks.push({ name: 'migrations', ok: false, message: `no migrations found: ${reason(err)}` });
  }

  try {
    const probes = TABLES.map((t) => sql`(select 1 from ${sql.table(t)} limit 0)`);
    await sql`select ${sql.join(probes)}`.execute(store.db);
    checks.push({ name: 'schema', ok: true, message: `${TABLES.length} tables visible` });
  } catch (err) {
    const hint = store.searchPath ? ' (does the search_path name an existing schema holding the tables? see docs/operations.md)' : '';
    checks.push({ name: 'schema', ok: false, message: `${reason(err)}${hint}` });
  }
  return done();
}
