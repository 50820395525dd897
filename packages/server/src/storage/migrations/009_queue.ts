import { type Kysely, PostgresAdapter, sql } from 'kysely';

/**
 * The wait queue: one row per start waiting for a resource, in the database so every node
 * sees the same queue. Order: `priority` desc, then `n` (arrival; taken under the resource lock, so it is
 * the order starts joined). `heartbeat_at` is refreshed by the waiting node: a row not refreshed for a
 * while belongs to a dead node and is ignored and removed. (`idem_scope`, `idem_key`) finds a retried
 * Idempotency-Key's row again, so the retry keeps its place.
 *
 * Wake-ups: a trigger on claims announces every end of an active claim (finish, release, expiry,
 * preemption) on the `queue` channel with the resource as payload, so no service has to remember to.
 * PostgreSQL: `pg_notify`, delivered to every node at commit. SQLite: the store's `availsync_notify`
 * function, told after the commit (storage/sqlite/store.ts).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  await sql`CREATE TABLE queue_waiters (
    n ${postgres ? sql`bigserial PRIMARY KEY` : sql`INTEGER PRIMARY KEY AUTOINCREMENT`},
    id text NOT NULL UNIQUE,
    org_id text NOT NULL,
    resource_type text NOT NULL,
    resource_key text NOT NULL,
    agent_id text NOT NULL,
    priority integer NOT NULL,
    idem_scope text,
    idem_key text,
    created_at bigint NOT NULL,
    deadline bigint NOT NULL,
    heartbeat_at bigint NOT NULL
  )`.execute(db);
  await db.schema
    .createIndex('queue_waiters_resource')
    .on('queue_waiters')
    .columns(['org_id', 'resource_type', 'resource_key', 'priority', 'n'])
    .execute();
  await db.schema.createIndex('queue_waiters_idem').on('queue_waiters').columns(['idem_scope', 'idem_key']).execute();
  if (postgres) {
    await sql`CREATE FUNCTION availsync_claim_ended() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify(left('availsync_queue_' || lower(current_schema()), 63),
          NEW.org_id || ' ' || NEW.resource_type || ':' || NEW.resource_key);
        RETURN NULL;
      END $$`.execute(db);
    await sql`CREATE TRIGGER claims_ended AFTER UPDATE OF status ON claims FOR EACH ROW
      WHEN (OLD.status = 'active' AND NEW.status <> 'active') EXECUTE FUNCTION availsync_claim_ended()`.execute(db);
  } else {
    await sql`CREATE TRIGGER claims_ended AFTER UPDATE OF status ON claims
      WHEN OLD.status = 'active' AND NEW.status <> 'active'
      BEGIN SELECT availsync_notify('queue', NEW.org_id || ' ' || NEW.resource_type || ':' || NEW.resource_key); END`.execute(db);
  }
}
