/**
 * The statements of a claim's life (services/work): the reads a start decides on, and the writes of a
 * start, an extend, a finish and an expiry. The claim path's are prepared once (storage/prepared.ts):
 * built with named placeholders, compiled per dialect, and from then on only given their values. The
 * deferred writes are returned unexecuted, for `deferWrite` to send with the transaction's last statement.
 */
import type { ResourceRef } from '@availsync/protocol';
import type { Selectable } from 'kysely';
import { param, prepare, prepareInsert } from '../prepared.js';
import type { ClaimsTable } from '../schema.js';
import { ACTIVE, type Executor, type Tx } from '../store.js';
import { hasDependencies } from './dependencies.js';

export type ClaimRow = Selectable<ClaimsTable>;
/** A live claim as a start reads it: with its agent's name, for the answer's blocking claim. */
export type LiveClaimRow = ClaimRow & { agent_name: string | null };

/** A workspace's active claims with their agents' names; narrowed to resources by the callers. */
function liveClaims(db: Executor, orgId: string) {
  return db
    .selectFrom('claims')
    .leftJoin('agents', 'agents.id', 'claims.agent_id')
    .selectAll('claims')
    .select('agents.name as agent_name')
    .where('claims.org_id', '=', orgId)
    .where('claims.status', '=', ACTIVE);
}

const onOneResource = (db: Executor) =>
  liveClaims(db, param('org'))
    .where('claims.resource_type', '=', param<string>('type'))
    .where('claims.resource_key', '=', param<string>('key'));

/** The live claims on one resource (`org`, `type`, `key`). */
const liveClaimsOnOne = prepare(onOneResource);

/**
 * A start's read after locking its resource: the resource's live claims, and whether a dependency rule
 * relates it to other resources (`related`). One row with null claim columns when there are none.
 */
export const liveClaimsAndRules = prepare((db) =>
  db
    .selectFrom(hasDependencies(db, param('org'), param('type'), param('key')))
    .leftJoin(onOneResource(db).as('live'), (join) => join.onTrue())
    .selectAll('live')
    .select('rules.related'),
);

/** The active claims (leases unchecked: the caller decides against its clock) on any of `refs`. */
export async function liveClaimsOn(ex: Executor, orgId: string, refs: readonly ResourceRef[]): Promise<LiveClaimRow[]> {
  if (refs.length === 0) return [];
  if (refs.length === 1) {
    const [ref] = refs as [ResourceRef];
    return liveClaimsOnOne.execute(ex, { org: orgId, type: ref.resource_type, key: ref.resource_key });
  }
  return liveClaims(ex, orgId)
    .where((eb) =>
      eb.or(refs.map((r) => eb.and([eb('claims.resource_type', '=', r.resource_type), eb('claims.resource_key', '=', r.resource_key)]))),
    )
    .execute();
}

/** A start's new fencing token on its resource (`token`, `now`, `org`, `type`, `key`): deferred. */
export const advanceToken = prepare((db) =>
  db
    .updateTable('resources')
    .set({ fencing_token: param('token'), last_claimed_at: param('now') })
    .where('org_id', '=', param<string>('org'))
    .where('resource_type', '=', param<string>('type'))
    .where('resource_key', '=', param<string>('key')),
);

/** A new claim: bind it with the whole row. */
export const insertClaim = prepareInsert('claims', [
  'id',
  'org_id',
  'agent_id',
  'resource_type',
  'resource_key',
  'status',
  'mode',
  'reason',
  'priority',
  'metadata',
  'fencing_token',
  'idempotency_key',
  'duration_minutes',
  'created_at',
  'started_at',
  'expires_at',
  'released_at',
  'outcome',
  'renewal_count',
]);

/** A finish (`id`, `now`, `outcome`, `metadata`); the caller holds the claim's lock and saw it active. */
export const releaseClaim = prepare((db) =>
  db
    .updateTable('claims')
    .set({ status: 'released', released_at: param('now'), outcome: param('outcome'), metadata: param('metadata') })
    .where('id', '=', param<string>('id')),
);

/** An extend (`id`, `expires_at`, `renewal_count`); the caller holds the claim's lock and saw it active. */
export const renewClaim = prepare((db) =>
  db
    .updateTable('claims')
    .set({ expires_at: param('expires_at'), renewal_count: param('renewal_count') })
    .where('id', '=', param<string>('id')),
);

/** The claim's row, to be read `FOR UPDATE` (store.forUpdate) by a working-set change. */
export function claimRow(ex: Executor, id: string) {
  return ex.selectFrom('claims').selectAll().where('id', '=', id);
}

/**
 * Mark a claim that is still active `expired` as of `releasedAt` (its lease's end). Guarded, so of two
 * expirers (a start and the sweeper, say) only one does, and only that one audits it: whether this one did.
 */
export async function expireIfActive(trx: Tx, id: string, releasedAt: number): Promise<boolean> {
  const done = await trx
    .updateTable('claims')
    .set({ status: 'expired', released_at: releasedAt })
    .where('id', '=', id)
    .where('status', '=', 'active')
    .returning('id')
    .executeTakeFirst();
  return done !== undefined;
}

/** End a claim that is still active as `preempted` (by a start) or `released` (its agent deleted), at `now`. */
export async function endIfActive(trx: Tx, id: string, status: 'preempted' | 'released', now: number): Promise<void> {
  await trx.updateTable('claims').set({ status, released_at: now }).where('id', '=', id).where('status', '=', 'active').execute();
}

/** An agent's active claims (the agent is being deleted). */
export function activeClaimsOfAgent(trx: Tx, agentId: string): Promise<ClaimRow[]> {
  return trx.selectFrom('claims').selectAll().where('agent_id', '=', agentId).where('status', '=', 'active').execute();
}

/** Up to `limit` active claims lapsed by `now`, soonest first (the sweeper's batch; store.skipLocked it). */
export function lapsedClaims(trx: Tx, now: number, limit: number) {
  return trx
    .selectFrom('claims')
    .selectAll()
    .where('status', '=', ACTIVE)
    .where('expires_at', '<=', now)
    .orderBy('expires_at')
    .limit(limit);
}
