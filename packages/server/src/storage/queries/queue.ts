/**
 * The wait queue's statements (migration 009). A waiter's place is (priority desc, n asc); a queue is read
 * for a conflict scope (a resource and those dependency rules relate to it), under the scope's locks when
 * a start decides, without them when a node looks for its heads.
 */
import type { Selectable } from 'kysely';
import type { QueueWaitersTable } from '../schema.js';
import type { Executor, ResourceKey, Tx } from '../store.js';

export type WaiterRow = Selectable<QueueWaitersTable>;

/** Whether a is ahead of b in the queue. */
export function isAhead(a: Pick<WaiterRow, 'priority' | 'n'>, b: Pick<WaiterRow, 'priority' | 'n'>): boolean {
  return a.priority > b.priority || (a.priority === b.priority && Number(a.n) < Number(b.n));
}

/** The waiters of every resource in `scope` (one workspace), in queue order. A Query (lockResourcesThen). */
export function waitersOn(ex: Executor, scope: readonly ResourceKey[]) {
  const org = scope[0]?.org_id ?? '';
  return ex
    .selectFrom('queue_waiters')
    .selectAll()
    .where('org_id', '=', org)
    .where((eb) => eb.or(scope.map((k) => eb.and([eb('resource_type', '=', k.resource_type), eb('resource_key', '=', k.resource_key)]))))
    .orderBy('priority', 'desc')
    .orderBy('n');
}

/** The resources in `scope` that have an active claim whose lease has not lapsed at `now`. */
export function heldIn(ex: Executor, scope: readonly ResourceKey[], now: number) {
  const org = scope[0]?.org_id ?? '';
  return ex
    .selectFrom('claims')
    .select(['resource_type', 'resource_key'])
    .where('org_id', '=', org)
    .where('status', '=', 'active')
    .where('expires_at', '>', now)
    .where((eb) => eb.or(scope.map((k) => eb.and([eb('resource_type', '=', k.resource_type), eb('resource_key', '=', k.resource_key)]))));
}

export async function insertWaiter(trx: Tx, row: Omit<WaiterRow, 'n'>): Promise<number> {
  const res = await trx.insertInto('queue_waiters').values(row).returning('n').executeTakeFirstOrThrow();
  return Number(res.n);
}

/** Remove waiters; returns the rows that were still there. */
export async function deleteWaiters(trx: Tx, ids: readonly string[]): Promise<WaiterRow[]> {
  if (ids.length === 0) return [];
  return trx.deleteFrom('queue_waiters').where('id', 'in', ids).returningAll().execute();
}

export function waitersById(ex: Executor, id: string): Promise<WaiterRow[]> {
  return ex.selectFrom('queue_waiters').selectAll().where('id', '=', id).execute();
}

/** A retry asks for a later deadline than its first request did. */
export async function extendWaiter(trx: Tx, id: string, deadline: number): Promise<void> {
  await trx.updateTable('queue_waiters').set({ deadline }).where('id', '=', id).where('deadline', '<', deadline).execute();
}

/** The waiting node is alive: refresh its rows' heartbeat. */
export async function touchWaiters(ex: Executor, ids: readonly string[], now: number): Promise<void> {
  if (ids.length === 0) return;
  await ex.updateTable('queue_waiters').set({ heartbeat_at: now }).where('id', 'in', ids).execute();
}

/** The queues of some resources of one workspace (GET /v1/work/resources), in queue order. */
export function queuesOf(ex: Executor, orgId: string, resources: readonly { resource_type: string; resource_key: string }[]) {
  if (resources.length === 0) return Promise.resolve([] as WaiterRow[]);
  return waitersOn(
    ex,
    resources.map((r) => ({ org_id: orgId, ...r })),
  ).execute();
}
