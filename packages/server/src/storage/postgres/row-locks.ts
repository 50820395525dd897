/**
 * The row-lock statements of the PostgreSQL store, prepared once: lock-or-create a resource row, and lock a
 * claim's resource and the claim itself, each reading the database clock after its locks. The lock order
 * (sortKeys) and the retries around them are the store's (store.ts); these only say what one statement does.
 */
import { type Selectable, sql } from 'kysely';
import { param, prepare } from '../prepared.js';
import type { ClaimsTable } from '../schema.js';
import type { LockedResource } from '../types.js';

/** `clock_timestamp()` in epoch ms: the database's clock at the moment the statement reads it. */
export const DB_NOW = sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`;

/**
 * Lock a resource row `FOR UPDATE`, or create it if it is new, and read the clock after the lock.
 * `FOR UPDATE` only marks the row: an upsert's `DO UPDATE` (the obvious way to lock-or-create) writes a new
 * version of the row on every lock. No row comes back in one rare case: the row did not exist in this
 * statement's snapshot and another transaction created it meanwhile (the insert found its key and did
 * nothing); a new statement, with a new snapshot, then finds and locks it.
 */
export const lockResourceRow = prepare((db) => ({
  compile: () =>
    sql<LockedResource & { now: number }>`
      with existing as (
        select org_id, resource_type, resource_key, fencing_token from resources
        where org_id = ${param<string>('org_id')} and resource_type = ${param<string>('resource_type')}
          and resource_key = ${param<string>('resource_key')}
        for update
      ), created as (
        insert into resources (org_id, resource_type, resource_key, fencing_token, created_at)
        select ${param<string>('org_id')}, ${param<string>('resource_type')}, ${param<string>('resource_key')}, 0, ${DB_NOW}
        where not exists (select 1 from existing)
        on conflict (org_id, resource_type, resource_key) do nothing
        returning org_id, resource_type, resource_key, fencing_token
      )
      select *, ${DB_NOW} as now from existing
      union all
      select *, ${DB_NOW} as now from created`.compile(db),
}));

/**
 * A claim's resource row, then the claim's row, locked `FOR UPDATE`, and the clock read after both. Every
 * claim's resource row exists: the start that made the claim created it, and resource rows are never
 * deleted. The claim is read in a LATERAL subquery that depends on the lock, so it runs after it; it reads
 * the statement's snapshot from before the lock wait, but `FOR UPDATE` in READ COMMITTED returns the newest
 * committed version of a row changed since.
 */
export const lockClaimRow = prepare((db) => ({
  compile: () =>
    sql<Selectable<ClaimsTable> & { locked_at: number }>`
      with r as (
        select 1 as locked from claims k
        join resources res
          on res.org_id = k.org_id and res.resource_type = k.resource_type and res.resource_key = k.resource_key
        where k.id = ${param<string>('id')}
        for update of res
      )
      select c.*, ${DB_NOW} as locked_at
      from r cross join lateral (select * from claims where id = ${param<string>('id')} and r.locked = 1 for update) c`.compile(db),
}));
