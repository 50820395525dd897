/**
 * Applying the migrations (migrations/) with Kysely's Migrator, the same way on both stores: each store's
 * migrate() prepares its connection (PostgreSQL: the schema) and calls runMigrations, nothing else does.
 */
import { type Kysely, Migrator } from 'kysely';
import { migrationProvider } from './migrations/index.js';
import type { DB } from './schema.js';

export async function runMigrations(db: Kysely<DB>, schema?: string): Promise<void> {
  // Kysely's Migrator takes a database lock (pg_advisory_xact_lock on PostgreSQL), so several nodes
  // starting at once apply each migration exactly once. In a schema of its own (tests), name it: Kysely
  // otherwise finds its bookkeeping tables in *any* schema and skips creating them in this one.
  const migrator = new Migrator({ db, provider: migrationProvider, ...(schema ? { migrationTableSchema: schema } : {}) });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(`migration ${failed?.migrationName ?? ''} failed: ${String(error)}`);
  }
}
