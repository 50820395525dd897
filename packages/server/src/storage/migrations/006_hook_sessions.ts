import type { Kysely } from 'kysely';

/**
 * Coding-agent hook sessions ("the session's run is kept server-side by (agent, session_id)").
 * One row per (workspace, agent, session key): the key is a hash of the client, its session id, the scope
 * and the resource, so a session that moves to another repository gets a run there of its own.
 *
 * `generation` names the idempotency key the session's next start uses: concurrent hook calls of one
 * session start with the same key, so they get one run. A run that ended (or a start that was skipped)
 * bumps it, compare-and-set, so the next call starts afresh exactly once. `git_status` is the work tree as
 * the command hook last saw it, to tell which files a shell command changed.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const ts = 'bigint';
  await db.schema
    .createTable('hook_sessions')
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('agent_id', 'text', (c) => c.notNull())
    .addColumn('session_key', 'text', (c) => c.notNull())
    .addColumn('client', 'text', (c) => c.notNull())
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('resource', 'text', (c) => c.notNull())
    .addColumn('ws_resource', 'text', (c) => c.notNull())
    .addColumn('generation', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('claim_id', 'text')
    .addColumn('claim_expires_at', ts)
    .addColumn('git_status', 'text')
    .addColumn('ended_at', ts)
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('updated_at', ts, (c) => c.notNull())
    .addPrimaryKeyConstraint('hook_sessions_pk', ['org_id', 'agent_id', 'session_key'])
    .execute();
  // The guard's lookup: this agent's sessions on a repository, newest first.
  await db.schema
    .createIndex('hook_sessions_guard')
    .on('hook_sessions')
    .columns(['org_id', 'agent_id', 'ws_resource', 'updated_at'])
    .execute();
}
