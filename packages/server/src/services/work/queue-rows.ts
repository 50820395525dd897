/**
 * The wait queue's writes inside a start's transaction (under the scope's locks) or a leaving waiter's
 * own: join, keep one's place, leave; each with its `queue.joined` / `queue.left` event. A leave while
 * the resource may be free tells the next head (the `queue` channel), as a claim's end does.
 */
import { formatResource } from '@availsync/protocol';
import { iso } from '../../clock.js';
import { isLiveWaiter } from '../../domain/queue.js';
import { newId } from '../../ids.js';
import { appendEvents } from '../../storage/queries/events.js';
import { deleteWaiters, extendWaiter, insertWaiter, touchWaiters, type WaiterRow } from '../../storage/queries/queue.js';
import type { ResourceKey, Store, Tx } from '../../storage/store.js';
import { QUEUE_CHANNEL, queueKey } from './queue.js';

export type LeaveReason = 'granted' | 'timeout' | 'closed' | 'stale';

/** A waiter row as numbers (PostgreSQL's bigint columns may come as strings). */
export function normalWaiter(r: WaiterRow): WaiterRow {
  return {
    ...r,
    n: Number(r.n),
    priority: Number(r.priority),
    created_at: Number(r.created_at),
    deadline: Number(r.deadline),
    heartbeat_at: Number(r.heartbeat_at),
  };
}

const eventData = (w: WaiterRow, extra: Record<string, unknown>) => ({
  waiter_id: w.id,
  resource: formatResource(w),
  agent_id: w.agent_id,
  priority: w.priority,
  since: iso(w.created_at),
  ...extra,
});

/** The live queue of a scope; the rows of dead nodes and long-over waits are removed (with queue.left). */
export async function liveQueue(store: Store, trx: Tx, rows: WaiterRow[], now: number, keep?: string): Promise<WaiterRow[]> {
  const all = rows.map(normalWaiter);
  const dead = all.filter((w) => w.id !== keep && !isLiveWaiter(w, now));
  if (dead.length > 0) await leave(store, trx, dead, 'stale', now);
  return all.filter((w) => !dead.includes(w));
}

export async function join(
  store: Store,
  trx: Tx,
  w: Omit<WaiterRow, 'n' | 'id' | 'heartbeat_at' | 'created_at'>,
  now: number,
): Promise<WaiterRow> {
  const row = { ...w, id: newId('waiter'), created_at: now, heartbeat_at: now };
  const n = await insertWaiter(trx, row);
  const joined: WaiterRow = { ...row, n };
  await appendEvents(store, trx, [{ org_id: w.org_id, type: 'queue.joined', created_at: now, data: eventData(joined, {}) }]);
  return joined;
}

export async function keepPlace(trx: Tx, w: WaiterRow, deadline: number, now: number): Promise<void> {
  await touchWaiters(trx, [w.id], now);
  if (deadline > w.deadline) await extendWaiter(trx, w.id, deadline);
}

/**
 * Remove waiters (those still there) with a queue.left event each. Unless they were granted (the
 * resource is then held), the next head is told: it may be its turn now.
 */
export async function leave(store: Store, trx: Tx, ws: readonly WaiterRow[], reason: LeaveReason, now: number): Promise<WaiterRow[]> {
  const gone = (
    await deleteWaiters(
      trx,
      ws.map((w) => w.id),
    )
  ).map(normalWaiter);
  if (gone.length === 0) return gone;
  await appendEvents(
    store,
    trx,
    gone.map((w) => ({
      org_id: w.org_id,
      type: 'queue.left',
      created_at: now,
      data: eventData(w, { reason, waited_ms: Math.max(0, now - w.created_at) }),
    })),
  );
  if (reason !== 'granted') {
    const resources = new Map<string, ResourceKey>(gone.map((w) => [queueKey(w), w]));
    for (const k of resources.keys()) await store.notifyOnCommit(trx, QUEUE_CHANNEL, k);
  }
  return gone;
}
