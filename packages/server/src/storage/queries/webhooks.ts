/**
 * The webhooks' statements (migration 010). The worker (services/webhooks/worker.ts) takes one endpoint at
 * a time with a lease in its row: `claimDueWebhook` picks an enabled endpoint that has events after its
 * cursor, is due (its backoff elapsed) and is not leased, and leases it; every later write of the worker
 * names its lease, so a node whose lease lapsed (paused, partitioned) changes nothing.
 */
import type { Selectable } from 'kysely';
import type { WebhookDeliveriesTable, WebhooksTable } from '../schema.js';
import type { Executor, Store, Tx } from '../store.js';

export type WebhookRow = Selectable<WebhooksTable>;
export type DeliveryRow = Selectable<WebhookDeliveriesTable>;

const pending = (ex: Executor) =>
  ex
    .selectFrom('webhooks')
    .where('webhooks.enabled', '=', 1)
    .where(({ exists, selectFrom }) =>
      exists(
        selectFrom('events')
          .select('events.seq')
          .whereRef('events.org_id', '=', 'webhooks.org_id')
          .whereRef('events.seq', '>', 'webhooks.cursor'),
      ),
    );

/** Lease the endpoint due first, if any: `FOR UPDATE SKIP LOCKED` so two nodes never pick the same one. */
export async function claimDueWebhook(store: Store, trx: Tx, now: number, owner: string, leaseMs: number): Promise<WebhookRow | undefined> {
  const row = await store
    .skipLocked(
      pending(trx)
        .selectAll('webhooks')
        .where('webhooks.next_attempt_at', '<=', now)
        .where('webhooks.lease_until', '<=', now)
        .orderBy('webhooks.next_attempt_at')
        .limit(1),
    )
    .executeTakeFirst();
  if (!row) return undefined;
  await trx
    .updateTable('webhooks')
    .set({ lease_owner: owner, lease_until: now + leaseMs })
    .where('id', '=', row.id)
    .execute();
  return { ...row, lease_owner: owner, lease_until: now + leaseMs };
}

/** When the next endpoint with events waiting becomes due (its backoff, or a lapsed lease), if any is waiting. */
export async function nextDueAt(ex: Executor): Promise<number | undefined> {
  const rows = await pending(ex).select(['webhooks.next_attempt_at', 'webhooks.lease_until']).execute();
  let due: number | undefined;
  for (const r of rows) {
    const at = Math.max(Number(r.next_attempt_at), Number(r.lease_until));
    due = due === undefined ? at : Math.min(due, at);
  }
  return due;
}

/** Undelivered events over every enabled endpoint (the backlog gauge), counted up to `cap`. */
export async function backlog(ex: Executor, cap: number): Promise<number> {
  const inner = ex
    .selectFrom('webhooks as w')
    .innerJoin('events as e', (j) => j.onRef('e.org_id', '=', 'w.org_id').onRef('e.seq', '>', 'w.cursor'))
    .where('w.enabled', '=', 1)
    .select('e.seq')
    .limit(cap);
  const row = await ex
    .selectFrom(inner.as('b'))
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** A delivered (or skipped) event: the cursor moves, the failure run ends, the lease is renewed. */
export async function advanceCursor(ex: Executor, id: string, owner: string, cursor: number, leaseUntil: number): Promise<boolean> {
  const res = await ex
    .updateTable('webhooks')
    .set({ cursor, attempts: 0, failing_since: null, next_attempt_at: 0, lease_until: leaseUntil })
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .where('cursor', '<=', cursor)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

export async function releaseLease(ex: Executor, id: string, owner: string, cursor: number): Promise<void> {
  await ex
    .updateTable('webhooks')
    .set({ lease_owner: null, lease_until: 0 })
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .execute();
  // The cursor only moves forward, whoever holds the row now.
  await ex.updateTable('webhooks').set({ cursor }).where('id', '=', id).where('cursor', '<', cursor).execute();
}

export async function recordFailure(
  ex: Executor,
  id: string,
  owner: string,
  fields: { cursor: number; attempts: number; failingSince: number; nextAttemptAt: number; disable: boolean; now: number },
): Promise<boolean> {
  const res = await ex
    .updateTable('webhooks')
    .set({
      cursor: fields.cursor,
      attempts: fields.attempts,
      failing_since: fields.failingSince,
      next_attempt_at: fields.nextAttemptAt,
      lease_owner: null,
      lease_until: 0,
      ...(fields.disable ? { enabled: 0, disabled_reason: 'failing', updated_at: fields.now } : {}),
    })
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

export async function insertDelivery(ex: Executor, row: DeliveryRow): Promise<void> {
  await ex.insertInto('webhook_deliveries').values(row).execute();
}

export async function listDeliveries(ex: Executor, webhookId: string, q: { limit: number; offset: number }) {
  const [rows, count] = await Promise.all([
    ex
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('webhook_id', '=', webhookId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(q.limit)
      .offset(q.offset)
      .execute(),
    ex
      .selectFrom('webhook_deliveries')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('webhook_id', '=', webhookId)
      .executeTakeFirstOrThrow(),
  ]);
  return { rows, total: Number(count.n) };
}

/** Retention: delivery log rows older than `before`, a batch at a time. */
export async function pruneDeliveries(ex: Executor, before: number, batch: number): Promise<number> {
  const old = ex.selectFrom('webhook_deliveries').select('id').where('created_at', '<', before).orderBy('created_at').limit(batch);
  const res = await ex.deleteFrom('webhook_deliveries').where('id', 'in', old).executeTakeFirst();
  return Number(res.numDeletedRows ?? 0);
}
