/** Reading claims and resources: one claim, a page of claims, a page of protected resources. No locks. */
import { type Claim, formatResource, parseWorkResource } from '@availsync/protocol';
import { iso } from '../../clock.js';
import { listed } from '../../domain/lists.js';
import { isLiveWaiter } from '../../domain/queue.js';
import { errors } from '../../errors.js';
import { queuesOf } from '../../storage/queries/queue.js';
import { ACTIVE } from '../../storage/store.js';
import type { Principal } from '../context.js';
import { findClaim } from './access.js';
import { claimsWithWorkingSets } from './claims-view.js';
import type { WorkContext } from './context.js';
import { normalWaiter } from './queue-rows.js';

export interface ClaimListFilter {
  resource?: string | undefined;
  status?: string | undefined;
  agent_id?: string | undefined;
  limit: number;
  offset: number;
}

/** Any claim of the caller's workspace: an agent may poll a claim that blocked it. */
export async function getClaim(ctx: WorkContext, p: Principal, claimId: string): Promise<Claim> {
  const row = await findClaim(ctx, p, claimId, false);
  const now = await ctx.store.readNow();
  const [claim] = await claimsWithWorkingSets(ctx.store.db, [row], now);
  return claim as Claim;
}

/** Newest first. An agent key lists only its own claims. */
export async function listClaims(ctx: WorkContext, p: Principal, q: ClaimListFilter) {
  let agentId = q.agent_id;
  if (p.kind === 'agent') {
    if (agentId !== undefined && agentId !== p.agent.id) throw errors.forbidden('An agent key lists only its own claims');
    agentId = p.agent.id;
  }
  const now = await ctx.store.readNow();
  let base = ctx.store.db.selectFrom('claims').where('org_id', '=', p.org.id);
  if (agentId) base = base.where('agent_id', '=', agentId);
  if (q.resource) {
    const parsed = parseWorkResource(q.resource);
    if (!parsed.ok) throw errors.invalid(parsed.message, { resource: parsed.message });
    base = base.where('resource_type', '=', parsed.value.resource_type).where('resource_key', '=', parsed.value.resource_key);
  }
  if (q.status === 'active') base = base.where('status', '=', ACTIVE).where('expires_at', '>', now);
  else if (q.status === 'expired')
    base = base.where((eb) => eb.or([eb('status', '=', 'expired'), eb.and([eb('status', '=', 'active'), eb('expires_at', '<=', now)])]));
  else if (q.status) base = base.where('status', '=', q.status);
  const [rows, count] = await Promise.all([
    base.selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(q.limit).offset(q.offset).execute(),
    base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  const total = Number(count.n);
  return {
    data: await claimsWithWorkingSets(ctx.store.db, rows, now),
    pagination: { limit: q.limit, offset: q.offset, total, has_more: q.offset + rows.length < total },
  };
}

/** The workspace's protected resources (ever claimed), most recently claimed first, with live claim counts. */
export async function listResources(ctx: WorkContext, p: Principal, q: { limit: number; offset: number }) {
  const now = await ctx.store.readNow();
  const db = ctx.store.db;
  const base = db.selectFrom('resources').where('org_id', '=', p.org.id).where('last_claimed_at', 'is not', null);
  const [rows, count] = await Promise.all([
    base
      .select((eb) => [
        'resource_type',
        'resource_key',
        'fencing_token',
        'last_claimed_at',
        'created_at',
        eb
          .selectFrom('claims')
          .select((e) => e.fn.countAll<number>().as('n'))
          .whereRef('claims.org_id', '=', 'resources.org_id')
          .whereRef('claims.resource_type', '=', 'resources.resource_type')
          .whereRef('claims.resource_key', '=', 'resources.resource_key')
          .where('claims.status', '=', ACTIVE)
          .where('claims.expires_at', '>', now)
          .as('active_claims'),
      ])
      .orderBy('last_claimed_at', 'desc')
      .orderBy('resource_type')
      .orderBy('resource_key')
      .limit(q.limit)
      .offset(q.offset)
      .execute(),
    base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  const total = Number(count.n);
  const queued = (await queuesOf(db, p.org.id, rows)).map(normalWaiter).filter((w) => isLiveWaiter(w, now));
  const queueOf = (r: { resource_type: string; resource_key: string }) =>
    queued
      .filter((w) => w.resource_type === r.resource_type && w.resource_key === r.resource_key)
      .map((w) => ({ agent_id: w.agent_id, priority: w.priority, since: iso(w.created_at) }));
  return {
    data: rows.map((r) => ({
      resource: formatResource(r),
      resource_type: r.resource_type,
      resource_key: r.resource_key,
      active_claims: Number(r.active_claims ?? 0),
      last_claimed_at: r.last_claimed_at == null ? null : iso(r.last_claimed_at),
      fencing_token: r.fencing_token,
      created_at: iso(r.created_at),
      ...listed('queue', queueOf(r)),
    })),
    pagination: { limit: q.limit, offset: q.offset, total, has_more: q.offset + rows.length < total },
  };
}
