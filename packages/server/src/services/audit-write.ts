/** Writing audit rows: one event per change, in the transaction that makes the change (audit-read.ts reads them). */
import { newId } from '../ids.js';
import { prepareInsert } from '../storage/prepared.js';
import { deferWrite, type Executor } from '../storage/store.js';
import type { Actor } from './context.js';

/**
 * Audit rows are written in the caller's transaction, so an event exists exactly when its change does
 * (deferred to the transaction's last statement on PostgreSQL: nothing reads them before it commits).
 */
export interface AuditEvent {
  org_id: string;
  actor: Actor;
  event: string;
  resource?: string | null;
  claim_id?: string | null;
  details?: Record<string, unknown>;
}

/** One audit row (the common case, on the claim path): prepared once. */
const insertOne = prepareInsert('audit_events', [
  'id',
  'org_id',
  'actor_type',
  'actor_id',
  'event',
  'resource',
  'claim_id',
  'details',
  'created_at',
]);

function toRow(e: AuditEvent, now: number) {
  return {
    id: newId('audit'),
    org_id: e.org_id,
    actor_type: e.actor.type,
    actor_id: e.actor.id,
    event: e.event,
    resource: e.resource ?? null,
    claim_id: e.claim_id ?? null,
    details: JSON.stringify(e.details ?? {}),
    created_at: now,
  };
}

export async function writeAudit(trx: Executor, now: number, events: AuditEvent | AuditEvent[]): Promise<void> {
  const list = Array.isArray(events) ? events : [events];
  if (list.length === 0) return;
  if (list.length === 1) {
    await deferWrite(trx, insertOne.bind(trx, toRow(list[0] as AuditEvent, now)));
    return;
  }
  await deferWrite(trx, trx.insertInto('audit_events').values(list.map((e) => toRow(e, now))));
}
