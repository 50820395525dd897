import { type Kysely, PostgresAdapter, sql } from 'kysely';

/**
 * Availability holds. Two active holds on one resource never overlap (`[start_at, end_at)`,
 * half-open). The service serialises creates through the resource row lock; the schema backs it so a bug
 * fails loudly instead of double-booking:
 *   - PostgreSQL: an EXCLUSION constraint over `int8range(start_at, end_at)` (SQLSTATE 23P01 on violation).
 *     Equality on text columns inside a GiST index needs the `btree_gist` extension.
 *   - SQLite: no exclusion constraints, so two triggers refuse an overlapping active row with
 *     `RAISE(ABORT, 'hold_overlap')` (the store has one writer, so a check-then-insert trigger is exact).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  const ts = 'bigint';
  await db.schema
    .createTable('holds')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('agent_id', 'text', (c) => c.notNull())
    .addColumn('resource_type', 'text', (c) => c.notNull())
    .addColumn('resource_key', 'text', (c) => c.notNull())
    .addColumn('start_at', ts, (c) => c.notNull())
    .addColumn('end_at', ts, (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('metadata', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('expires_at', ts)
    .addColumn('idempotency_key', 'text')
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('released_at', ts)
    .addCheckConstraint('holds_window', sql`end_at > start_at`)
    .addCheckConstraint('holds_status', sql`status in ('active', 'released', 'expired')`)
    .execute();
  await sql`CREATE INDEX holds_active ON holds (org_id, resource_type, resource_key, start_at) WHERE status = 'active'`.execute(db);
  await db.schema.createIndex('holds_org_start').on('holds').columns(['org_id', 'start_at']).execute();

  if (postgres) {
    // The extension is database-wide: pin it to `public` so it never lives in (and is dropped with) an
    // application schema — the tests give every run a schema of its own and drop it with CASCADE.
    // Kysely's migration lock is database-wide too, so two nodes never race on CREATE EXTENSION.
    await sql`CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public`.execute(db);
    await sql`
      ALTER TABLE holds ADD CONSTRAINT holds_no_overlap EXCLUDE USING gist (
        org_id WITH =, resource_type WITH =, resource_key WITH =, int8range(start_at, end_at) WITH &&
      ) WHERE (status = 'active')`.execute(db);
  } else {
    const overlapping = sql`
      SELECT RAISE(ABORT, 'hold_overlap') WHERE EXISTS (
        SELECT 1 FROM holds h
        WHERE h.org_id = NEW.org_id AND h.resource_type = NEW.resource_type AND h.resource_key = NEW.resource_key
          AND h.status = 'active' AND h.id <> NEW.id AND h.start_at < NEW.end_at AND NEW.start_at < h.end_at
      )`;
    await sql`CREATE TRIGGER holds_no_overlap_insert BEFORE INSERT ON holds WHEN NEW.status = 'active'
      BEGIN ${overlapping}; END`.execute(db);
    await sql`CREATE TRIGGER holds_no_overlap_update
      BEFORE UPDATE OF status, start_at, end_at, org_id, resource_type, resource_key ON holds WHEN NEW.status = 'active'
      BEGIN ${overlapping}; END`.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // Dropping the table drops its constraint and triggers; btree_gist stays (other objects may use it).
  await db.schema.dropTable('holds').ifExists().execute();
}
