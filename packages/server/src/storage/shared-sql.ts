/**
 * SQL pieces both stores and the services share: the `'active'` literal the partial indexes need, the claim
 * lookup by id, the one lock order, and running a Query. Dialect-neutral: nothing here may depend on which
 * database runs it (what must differ is a capability on the Store, types.ts).
 */
import { sql } from 'kysely';
import { param, prepare } from './prepared.js';
import type { Executor, Query, ResourceKey } from './types.js';

/**
 * `'active'` as a literal in the SQL text. The partial indexes (`WHERE status = 'active'`) only serve a
 * query whose text says so: a bound parameter hides the value from SQLite's planner, which then walks a
 * resource's whole claim history instead of its one active claim.
 */
export const ACTIVE = sql<string>`'active'`;

/** Resource keys without repeats, in the one order every store locks them in (so two transactions never deadlock). */
export function sortKeys<T extends ResourceKey>(keys: T[]): T[] {
  const seen = new Map<string, T>();
  for (const k of keys) seen.set(`${k.org_id}\u0000${k.resource_type}\u0000${k.resource_key}`, k);
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
}

/**
 * A claim by id (prepared once; SQLite's lockClaim, where one writer needs no locks, and reads). By id
 * alone, the workspace checked by the caller: with `AND org_id = $2` in a prepared statement, a PostgreSQL
 * generic plan chosen while the table was small walked the workspace's whole claim history through
 * (org_id, created_at) instead of the primary key (613 µs a lookup after a few thousand claims).
 */
export const claimById = prepare((db) => db.selectFrom('claims').selectAll().where('id', '=', param<string>('id')));

/** Run a statement now and return its rows. */
export async function runQuery<O>(ex: Executor, query: Query<O>): Promise<O[]> {
  return (await ex.executeQuery(query.compile())).rows;
}
