/**
 * Retention's batched deletes (services/retention.ts runs them until a batch comes back short). Tables with
 * a composite key are deleted by row value (`(a, b) in (select a, b … limit n)`), which both databases
 * read the same way: neither lets a plain DELETE take a LIMIT.
 */
import { sql } from 'kysely';
import type { Executor } from '../store.js';

/** Delete up to `limit` activity rows older than `cutoff`; how many went. */
export async function pruneActivity(db: Executor, cutoff: number, limit: number): Promise<number> {
  const res = await db
    .deleteFrom('activity_events')
    .where('id', 'in', (eb) => eb.selectFrom('activity_events').select('id').where('created_at', '<', cutoff).limit(limit))
    .executeTakeFirst();
  return Number(res.numDeletedRows);
}

/** Delete up to `limit` idempotency records made before `cutoff`; how many went. */
export async function pruneIdempotencyKeys(db: Executor, cutoff: number, limit: number): Promise<number> {
  const res = await sql`
        delete from idempotency_keys where (scope, key) in (
          select scope, key from idempotency_keys where created_at < ${cutoff} limit ${limit}
        )`.execute(db);
  return Number(res.numAffectedRows ?? 0);
}

/** Delete up to `limit` hook sessions last touched before `cutoff`; how many went. */
export async function pruneHookSessions(db: Executor, cutoff: number, limit: number): Promise<number> {
  const res = await sql`
        delete from hook_sessions where (org_id, agent_id, session_key) in (
          select org_id, agent_id, session_key from hook_sessions where updated_at < ${cutoff} limit ${limit}
        )`.execute(db);
  return Number(res.numAffectedRows ?? 0);
}
