import { type Kysely, sql } from 'kysely';

/**
 * The sweeper's lookup of lapsed holds (HoldService.sweep): active holds whose window has ended or whose
 * tentative TTL has passed, each found through a partial index of active holds only.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX holds_lapse_end ON holds (end_at) WHERE status = 'active'`.execute(db);
  await sql`CREATE INDEX holds_lapse_ttl ON holds (expires_at) WHERE status = 'active' AND expires_at IS NOT NULL`.execute(db);
}
