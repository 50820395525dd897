import { type Kysely, sql } from 'kysely';

/**
 * Indexes for a working-set update's check of the other runs' paths (heldByOthers, services/work.ts). With literal
 * paths requested, only two kinds of held path can overlap one: the same literal, and a pattern (a
 * wildcard, a class, or a directory). The first is found by path, the second in a partial index of
 * patterns only, so the check costs the same however many paths other runs hold on the repository
 * (before, every held path of the repository was read: 7 ms a check on PostgreSQL with 1,600 held paths
 * and the dead row versions of a busy minute).
 *
 * The partial index's condition is repeated word for word by the query (HELD_PATTERN), which is
 * what lets both databases prove the index applies. `(org_id, resource_type, resource_key, path)` serves
 * every lookup the index it replaces served.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('file_claims_path').on('file_claims').columns(['org_id', 'resource_type', 'resource_key', 'path']).execute();
  await db.schema.dropIndex('file_claims_resource').execute();
  await sql`CREATE INDEX file_claims_patterns ON file_claims (org_id, resource_type, resource_key)
    WHERE path LIKE '%*%' OR path LIKE '%?%' OR path LIKE '%[%' OR path LIKE '%/'`.execute(db);
}
