import { type Kysely, sql } from 'kysely';

/**
 * The initial schema. Constraints back the service logic so a bug fails loudly instead of granting a
 * resource twice: one active claim per resource, one claim per fencing token per resource, one file claim
 * per (claim, resource, mode, path).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const ts = 'bigint';
  await db.schema
    .createTable('orgs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('plan', 'text', (c) => c.notNull())
    .addColumn('default_mode', 'text', (c) => c.notNull().defaultTo('enforce'))
    .addColumn('default_claim_minutes', 'integer', (c) => c.notNull().defaultTo(30))
    .addColumn('max_claim_minutes', 'integer', (c) => c.notNull().defaultTo(720))
    .addColumn('created_at', ts, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('email', 'text', (c) => c.notNull().unique())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('last_login_at', ts)
    .execute();

  await db.schema
    .createTable('sessions')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('expires_at', ts, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('sessions_user').on('sessions').column('user_id').execute();

  await db.schema
    .createTable('agents')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('agent_type', 'text', (c) => c.notNull())
    .addColumn('priority', 'integer', (c) => c.notNull())
    .addColumn('mode', 'text', (c) => c.notNull())
    .addColumn('key_hash', 'text', (c) => c.unique())
    .addColumn('key_prefix', 'text')
    .addColumn('key_created_at', ts)
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('last_seen_at', ts)
    .addColumn('last_heartbeat_at', ts)
    .addColumn('deleted_at', ts)
    .execute();
  await db.schema.createIndex('agents_org').on('agents').columns(['org_id', 'created_at']).execute();

  await db.schema
    .createTable('resources')
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('resource_type', 'text', (c) => c.notNull())
    .addColumn('resource_key', 'text', (c) => c.notNull())
    .addColumn('fencing_token', ts, (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('last_claimed_at', ts)
    .addPrimaryKeyConstraint('resources_pk', ['org_id', 'resource_type', 'resource_key'])
    .execute();

  await db.schema
    .createTable('claims')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('agent_id', 'text', (c) => c.notNull())
    .addColumn('resource_type', 'text', (c) => c.notNull())
    .addColumn('resource_key', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('mode', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('priority', 'integer', (c) => c.notNull())
    .addColumn('metadata', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('fencing_token', ts, (c) => c.notNull())
    .addColumn('idempotency_key', 'text')
    .addColumn('duration_minutes', 'integer', (c) => c.notNull())
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('started_at', ts, (c) => c.notNull())
    .addColumn('expires_at', ts, (c) => c.notNull())
    .addColumn('released_at', ts)
    .addColumn('outcome', 'text')
    .addColumn('renewal_count', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  // At most one active claim per resource: the database refuses a double grant even if the code tried.
  await sql`CREATE UNIQUE INDEX claims_one_active ON claims (org_id, resource_type, resource_key) WHERE status = 'active'`.execute(db);
  await db.schema
    .createIndex('claims_fencing')
    .unique()
    .on('claims')
    .columns(['org_id', 'resource_type', 'resource_key', 'fencing_token'])
    .execute();
  await sql`CREATE INDEX claims_sweep ON claims (expires_at) WHERE status = 'active'`.execute(db);
  await db.schema.createIndex('claims_org_created').on('claims').columns(['org_id', 'created_at']).execute();
  await db.schema.createIndex('claims_agent_created').on('claims').columns(['org_id', 'agent_id', 'created_at']).execute();

  await db.schema
    .createTable('file_claims')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('claim_id', 'text', (c) => c.notNull())
    .addColumn('resource_type', 'text', (c) => c.notNull())
    .addColumn('resource_key', 'text', (c) => c.notNull())
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('mode', 'text', (c) => c.notNull())
    .addColumn('expires_at', ts, (c) => c.notNull())
    .addColumn('created_at', ts, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('file_claims_unique')
    .unique()
    .on('file_claims')
    .columns(['claim_id', 'resource_type', 'resource_key', 'mode', 'path'])
    .execute();
  await db.schema.createIndex('file_claims_resource').on('file_claims').columns(['org_id', 'resource_type', 'resource_key']).execute();

  await db.schema.createIndex('file_claims_claim').on('file_claims').column('claim_id').execute();
  await db.schema.createIndex('file_claims_expiry').on('file_claims').column('expires_at').execute();

  await db.schema
    .createTable('idempotency_keys')
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('request_hash', 'text', (c) => c.notNull())
    .addColumn('status_code', 'integer', (c) => c.notNull())
    .addColumn('response', 'text', (c) => c.notNull())
    .addColumn('created_at', ts, (c) => c.notNull())
    .addPrimaryKeyConstraint('idempotency_keys_pk', ['scope', 'key'])
    .execute();
  await db.schema.createIndex('idempotency_created').on('idempotency_keys').column('created_at').execute();

  await db.schema
    .createTable('audit_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('actor_type', 'text', (c) => c.notNull())
    .addColumn('actor_id', 'text')
    .addColumn('event', 'text', (c) => c.notNull())
    .addColumn('resource', 'text')
    .addColumn('claim_id', 'text')
    .addColumn('details', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('created_at', ts, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('audit_org_created').on('audit_events').columns(['org_id', 'created_at']).execute();

  await db.schema
    .createTable('meta')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('rate_limits')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('window_start', ts, (c) => c.notNull())
    .addColumn('count', 'integer', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of [
    'rate_limits',
    'meta',
    'audit_events',
    'idempotency_keys',
    'file_claims',
    'claims',
    'resources',
    'agents',
    'sessions',
    'users',
    'orgs',
  ]) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
