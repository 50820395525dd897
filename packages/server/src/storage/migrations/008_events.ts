import { type Kysely, PostgresAdapter, sql } from 'kysely';

/**
 * The event log (GET /v1/events, webhooks): one row per committed change, written in the change's own
 * transaction, so an event exists exactly when its change does.
 *
 * `seq` is the event's public id: increasing, and in the order readers see events, so a reader that has
 * seen `seq` N never later finds an event below N.
 *   - SQLite has one writer: `seq` is the rowid, assigned in commit order.
 *   - PostgreSQL: a sequence would be assigned in insert order, not commit order (a transaction that took
 *     id 10 can commit after one that took 11, after a reader moved past 11). So rows are inserted with
 *     `seq` null, and a sequencer (storage/queries/events.ts) numbers them after they commit, continuing
 *     from the highest number. `ord` is the order of appends within a transaction (its deferred writes
 *     run as CTEs, whose serial values come in no set order). The statement trigger wakes every node's
 *     listener when events commit.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  if (postgres) {
    await sql`CREATE TABLE events (
      rid bigserial PRIMARY KEY,
      seq bigint UNIQUE,
      txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
      ord bigint NOT NULL,
      org_id text NOT NULL,
      type text NOT NULL,
      created_at bigint NOT NULL,
      data text NOT NULL
    )`.execute(db);
    await sql`CREATE INDEX events_unsequenced ON events (rid) WHERE seq IS NULL`.execute(db);
    await sql`CREATE FUNCTION availsync_events_committed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify(left('availsync_events_' || lower(current_schema()), 63), '');
        RETURN NULL;
      END $$`.execute(db);
    await sql`CREATE TRIGGER events_committed AFTER INSERT ON events FOR EACH STATEMENT
      EXECUTE FUNCTION availsync_events_committed()`.execute(db);
  } else {
    await sql`CREATE TABLE events (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      ord bigint NOT NULL,
      org_id text NOT NULL,
      type text NOT NULL,
      created_at bigint NOT NULL,
      data text NOT NULL
    )`.execute(db);
  }
  // A workspace's stream, resumed from an id; and retention by age.
  await db.schema.createIndex('events_org_seq').on('events').columns(['org_id', 'seq']).execute();
  await db.schema.createIndex('events_created').on('events').column('created_at').execute();
}
