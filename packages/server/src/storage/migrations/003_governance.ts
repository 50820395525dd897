import type { Kysely } from 'kysely';

/**
 * Governance: resource dependency rules, activity (one row per agent-key request), usage
 * reports, per-workspace monthly API-call counters, and indexes the audit log's filters use.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const ts = 'bigint';

  // A rule "resource depends on depends_on", stored as given; conflicts apply in both directions.
  await db.schema
    .createTable('resource_dependencies')
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('resource_type', 'text', (c) => c.notNull())
    .addColumn('resource_key', 'text', (c) => c.notNull())
    .addColumn('depends_on_type', 'text', (c) => c.notNull())
    .addColumn('depends_on_key', 'text', (c) => c.notNull())
    .addColumn('created_at', ts, (c) => c.notNull())
    .addPrimaryKeyConstraint('resource_dependencies_pk', ['org_id', 'resource_type', 'resource_key', 'depends_on_type', 'depends_on_key'])
    .execute();
  // The primary key serves lookups by `resource`; this one serves the reverse direction.
  await db.schema
    .createIndex('resource_dependencies_reverse')
    .on('resource_dependencies')
    .columns(['org_id', 'depends_on_type', 'depends_on_key'])
    .execute();

  await db.schema
    .createTable('activity_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('agent_id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('method', 'text', (c) => c.notNull())
    .addColumn('route', 'text', (c) => c.notNull())
    .addColumn('status_code', 'integer', (c) => c.notNull())
    .addColumn('action', 'text')
    .addColumn('resource', 'text')
    .addColumn('latency_ms', 'double precision', (c) => c.notNull())
    .addColumn('request_id', 'text', (c) => c.notNull())
    .addColumn('created_at', ts, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('activity_org_created').on('activity_events').columns(['org_id', 'created_at']).execute();
  await db.schema.createIndex('activity_org_agent_created').on('activity_events').columns(['org_id', 'agent_id', 'created_at']).execute();
  await db.schema.createIndex('activity_created').on('activity_events').column('created_at').execute();

  await db.schema
    .createTable('usage_reports')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('agent_id', 'text', (c) => c.notNull())
    .addColumn('claim_id', 'text')
    .addColumn('model', 'text')
    .addColumn('input_tokens', ts)
    .addColumn('output_tokens', ts)
    .addColumn('cost_usd', 'double precision')
    .addColumn('external_run_id', 'text')
    .addColumn('metadata', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('created_at', ts, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('usage_org_created').on('usage_reports').columns(['org_id', 'created_at']).execute();

  // Agent-key requests per workspace and calendar month (UTC), added in batches by the activity recorder.
  await db.schema
    .createTable('usage_counters')
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('period', 'text', (c) => c.notNull())
    .addColumn('api_calls', ts, (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('usage_counters_pk', ['org_id', 'period'])
    .execute();

  await db.schema.createIndex('audit_org_event_created').on('audit_events').columns(['org_id', 'event', 'created_at']).execute();
  await db.schema.createIndex('audit_org_resource_created').on('audit_events').columns(['org_id', 'resource', 'created_at']).execute();
  await db.schema.createIndex('audit_org_actor_created').on('audit_events').columns(['org_id', 'actor_id', 'created_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const index of ['audit_org_event_created', 'audit_org_resource_created', 'audit_org_actor_created']) {
    await db.schema.dropIndex(index).ifExists().execute();
  }
  for (const t of ['usage_counters', 'usage_reports', 'activity_events', 'resource_dependencies']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
