/**
 * Hook sessions kept server-side (migration 006): one row per (workspace, agent, session key). The row is
 * created on first use (insert, conflict ignored), so concurrent first calls of one session share it.
 * Changes are compare-and-set on `generation`: the idempotency key of the session's next start is derived
 * from it, so concurrent calls that find no live run start with the same key and get one run.
 */
import { createHash } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { HookSessionsTable } from '../../storage/schema.js';
import type { Store } from '../../storage/store.js';

export type HookSessionRow = Selectable<HookSessionsTable>;

export interface SessionRef {
  org_id: string;
  agent_id: string;
  client: string;
  session_id: string;
  /** The run's resource, and where its files are claimed. */
  resource: string;
  ws_resource: string;
  scope: string;
}

/** A session's key: its client, id, scope and repository, hashed (any length of session id fits). */
export function sessionKey(s: SessionRef): string {
  return createHash('sha256').update([s.client, s.session_id, s.scope, s.ws_resource].join('\u0000')).digest('hex').slice(0, 40);
}

/** The idempotency key of the session's start in `generation`. */
export function startKey(s: SessionRef, generation: number): string {
  return `hook:${sessionKey(s)}:${generation}`;
}

export class HookSessions {
  constructor(private readonly store: Store) {}

  private where(s: SessionRef) {
    return this.store.db
      .selectFrom('hook_sessions')
      .selectAll()
      .where('org_id', '=', s.org_id)
      .where('agent_id', '=', s.agent_id)
      .where('session_key', '=', sessionKey(s));
  }

  async find(s: SessionRef): Promise<HookSessionRow | undefined> {
    return this.where(s).executeTakeFirst();
  }

  /** The session's row, created if it is new. */
  async open(s: SessionRef, now: number): Promise<HookSessionRow> {
    const found = await this.find(s);
    if (found) return found;
    await this.store.db
      .insertInto('hook_sessions')
      .values({
        org_id: s.org_id,
        agent_id: s.agent_id,
        session_key: sessionKey(s),
        client: s.client,
        session_id: s.session_id,
        resource: s.resource,
        ws_resource: s.ws_resource,
        generation: 0,
        claim_id: null,
        claim_expires_at: null,
        git_status: null,
        ended_at: null,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) => oc.columns(['org_id', 'agent_id', 'session_key']).doNothing())
      .execute();
    return (await this.find(s)) as HookSessionRow;
  }

  private update(s: SessionRef) {
    return this.store.db
      .updateTable('hook_sessions')
      .where('org_id', '=', s.org_id)
      .where('agent_id', '=', s.agent_id)
      .where('session_key', '=', sessionKey(s));
  }

  /** Record the run that generation `generation` started (if no other call moved the session on). */
  async setClaim(s: SessionRef, generation: number, claimId: string, expiresAt: number, now: number): Promise<void> {
    await this.update(s)
      .set({ claim_id: claimId, claim_expires_at: expiresAt, ended_at: null, updated_at: now })
      .where('generation', '=', generation)
      .execute();
  }

  async setExpiry(s: SessionRef, claimId: string, expiresAt: number, now: number): Promise<void> {
    await this.update(s).set({ claim_expires_at: expiresAt, updated_at: now }).where('claim_id', '=', claimId).execute();
  }

  /**
   * The run of `generation` is gone (ended, expired, preempted) or its start was skipped: the next call
   * starts afresh with the next generation's key. Compare-and-set: of concurrent calls, one moves it on.
   */
  async advance(s: SessionRef, generation: number, now: number): Promise<void> {
    await this.update(s)
      .set({ generation: generation + 1, claim_id: null, claim_expires_at: null, updated_at: now })
      .where('generation', '=', generation)
      .execute();
  }

  /** SessionEnd: the run was finished; the session keeps its row (a resumed session starts a new run). */
  async end(s: SessionRef, generation: number, now: number): Promise<void> {
    await this.update(s)
      .set({ generation: generation + 1, claim_id: null, claim_expires_at: null, ended_at: now, updated_at: now })
      .where('generation', '=', generation)
      .execute();
  }

  async setGitStatus(s: SessionRef, status: Record<string, string>, now: number): Promise<void> {
    await this.update(s)
      .set({ git_status: JSON.stringify(status), updated_at: now })
      .execute();
  }

  /** This agent's sessions on a repository that have not ended, newest first (the git guard's question). */
  async openOn(orgId: string, agentId: string, wsResource: string, limit = 10): Promise<HookSessionRow[]> {
    return this.store.db
      .selectFrom('hook_sessions')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('agent_id', '=', agentId)
      .where('ws_resource', '=', wsResource)
      .where('ended_at', 'is', null)
      .orderBy('updated_at', 'desc')
      .limit(limit)
      .execute();
  }
}
