import { newId } from '../ids.js';
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

export async function writeAudit(trx: Executor, now: number, events: AuditEvent | AuditEvent[]): Promise<void> {
  const list = Array.isArray(events) ? events : [events];
  if (list.length === 0) return;
  await deferWrite(
    trx,
    trx.insertInto('audit_events').values(
      list.map((e) => ({
        id: newId('audit'),
        org_id: e.org_id,
        actor_type: e.actor.type,
        actor_id: e.actor.id,
        event: e.event,
        resource: e.resource ?? null,
        claim_id: e.claim_id ?? null,
        details: JSON.stringify(e.details ?? {}),
        created_at: now,
      })),
    ),
  );
}
