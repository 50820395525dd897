import { createHash } from 'node:crypto';
import { type Kysely, sql } from 'kysely';

/**
 * Teams: a user's role per workspace, invites, password-reset tokens, and what the sessions
 * list shows of a session. Every user so far had exactly one workspace, the one they created: they become
 * its `owner`. Tokens (invite, reset) are stored only as SHA-256, like session tokens.
 *
 * Sessions get an opaque `id` (the list names a session by it; the token hash stays private), filled in
 * here for the sessions that exist, and the client's user agent and address at sign-in.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const ts = 'bigint';

  await db.schema
    .createTable('memberships')
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('created_at', ts, (c) => c.notNull())
    .addPrimaryKeyConstraint('memberships_pk', ['org_id', 'user_id'])
    .execute();
  // A user's workspaces (GET /v1/session), oldest first.
  await db.schema.createIndex('memberships_user').on('memberships').columns(['user_id', 'created_at']).execute();
  await sql`insert into memberships (org_id, user_id, role, created_at) select org_id, id, 'owner', created_at from users`.execute(db);

  await db.schema
    .createTable('invites')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('invited_by', 'text')
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('expires_at', ts, (c) => c.notNull())
    .addColumn('accepted_at', ts)
    .addColumn('accepted_by', 'text')
    .addColumn('revoked_at', ts)
    .execute();
  await db.schema.createIndex('invites_org_created').on('invites').columns(['org_id', 'created_at']).execute();
  await db.schema.createIndex('invites_org_email').on('invites').columns(['org_id', 'email']).execute();

  await db.schema
    .createTable('password_resets')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('expires_at', ts, (c) => c.notNull())
    .addColumn('used_at', ts)
    .execute();
  await db.schema.createIndex('password_resets_user').on('password_resets').column('user_id').execute();

  await db.schema.alterTable('sessions').addColumn('id', 'text').execute();
  await db.schema.alterTable('sessions').addColumn('user_agent', 'text').execute();
  await db.schema.alterTable('sessions').addColumn('address', 'text').execute();
  // Derived from the hash, so no id says anything about the token; sessions are few (expired ones are
  // deleted at each sign-in), one statement each.
  const { rows } = await sql<{ token_hash: string }>`select token_hash from sessions`.execute(db);
  for (const { token_hash } of rows) {
    const id = `ses_${createHash('sha256').update(`session-id:${token_hash}`).digest('hex').slice(0, 25)}`;
    await sql`update sessions set id = ${id} where token_hash = ${token_hash}`.execute(db);
  }
  await db.schema.createIndex('sessions_id').on('sessions').column('id').unique().execute();
  // Ending a removed member's sessions in one workspace.
  await db.schema.createIndex('sessions_user_org').on('sessions').columns(['user_id', 'org_id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('sessions_user_org').ifExists().execute();
  await db.schema.dropIndex('sessions_id').ifExists().execute();
  for (const column of ['address', 'user_agent', 'id']) await db.schema.alterTable('sessions').dropColumn(column).execute();
  for (const t of ['password_resets', 'invites', 'memberships']) await db.schema.dropTable(t).ifExists().execute();
}
