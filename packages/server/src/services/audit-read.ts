/** Reading the audit log (GET /v1/audit): governance events with their actor, filtered and paginated (audit-write.ts writes them). */
import type { AuditEvent, AuditListQuery } from '@availsync/protocol';
import { parseHoldResource } from '@availsync/protocol';
import { iso } from '../clock.js';
import { errors } from '../errors.js';
import { eventStartsWith } from '../storage/queries/audit.js';
import { timeRange } from './activity.js';
import type { Principal, ServiceDeps } from './context.js';

export class AuditLogService {
  constructor(private readonly deps: ServiceDeps) {}

  /** Newest first. `event` is a name (`claim.started`) or a prefix (`claim.*`). */
  async list(p: Principal, q: AuditListQuery & { limit: number; offset: number }) {
    const db = this.deps.store.db;
    const range = timeRange(q);
    let base = db.selectFrom('audit_events').where('org_id', '=', p.org.id);
    if (q.agent_id) base = base.where('actor_type', '=', 'agent').where('actor_id', '=', q.agent_id);
    if (q.actor_type) base = base.where('actor_type', '=', q.actor_type);
    if (q.actor_id) base = base.where('actor_id', '=', q.actor_id);
    if (q.event?.endsWith('.*')) {
      base = base.where(eventStartsWith(q.event.slice(0, -1)));
    } else if (q.event) base = base.where('event', '=', q.event);
    if (q.resource) {
      // Audit rows name claim and hold resources alike, so any valid type:key is accepted.
      const parsed = parseHoldResource(q.resource);
      if (!parsed.ok) throw errors.invalid(parsed.message, { resource: parsed.message });
      base = base.where('resource', '=', `${parsed.value.resource_type}:${parsed.value.resource_key}`);
    }
    if (q.claim_id) base = base.where('claim_id', '=', q.claim_id);
    if (range.from !== undefined) base = base.where('created_at', '>=', range.from);
    if (range.to !== undefined) base = base.where('created_at', '<', range.to);
    const [rows, count] = await Promise.all([
      base.selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(q.limit).offset(q.offset).execute(),
      base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    const total = Number(count.n);
    const data: AuditEvent[] = rows.map((r) => ({
      id: r.id,
      event: r.event,
      actor_type: r.actor_type as AuditEvent['actor_type'],
      actor_id: r.actor_id,
      resource: r.resource,
      claim_id: r.claim_id,
      details: JSON.parse(r.details) as Record<string, unknown>,
      created_at: iso(r.created_at),
    }));
    return { data, pagination: { limit: q.limit, offset: q.offset, total, has_more: q.offset + rows.length < total } };
  }
}
