/**
 * A run's lease after its start: extend (optionally with a working-set change), finish, release, and the
 * release of every claim of an agent being deleted. Each is one transaction that locks the claim's
 * resource, reads the claim and the clock after the lock, and marks a lapsed lease expired before
 * deciding: an ended lease is never revived.
 */
import { formatResource, type OutcomeValue, type WorkingSetUpdate } from '@availsync/protocol';
import { iso } from '../../clock.js';
import { leaseMinutes, MINUTE } from '../../domain/lease.js';
import { activeClaimsOfAgent, type ClaimRow, endIfActive, releaseClaim, renewClaim } from '../../storage/queries/claims.js';
import { deleteWorkingSet, dropWorkingSet, workingSetOf } from '../../storage/queries/working-sets.js';
import { deferWrite, type Tx } from '../../storage/store.js';
import { writeAudit } from '../audit-write.js';
import { actorOf, type Principal } from '../context.js';
import { actorData, agentOf, emitEvent } from '../events/append.js';
import { findClaim, lockClaimById } from './access.js';
import { toClaim } from './claims-view.js';
import type { WorkContext } from './context.js';
import { expireClaims } from './expiry.js';
import type { ExtendOutcome, FinishOutcome } from './outcomes.js';
import { applyWorkingSet, lockForWorkingSet, notActive, prepareWorkingSet } from './working-sets.js';

export type ExtendInput = { duration_minutes?: number | undefined; working_set?: WorkingSetUpdate | undefined };
export type FinishInput = {
  outcome?: OutcomeValue | undefined;
  reason?: string | undefined;
  metadata?: Record<string, unknown> | undefined;
};

export function extend(ctx: WorkContext, p: Principal, claimId: string, input: ExtendInput): Promise<ExtendOutcome> {
  return ctx.keys.withPrincipal(p, (p) => extendAs(ctx, p, claimId, input));
}

async function extendAs(ctx: WorkContext, p: Principal, claimId: string, input: ExtendInput): Promise<ExtendOutcome> {
  // A working set needs its repository locked too, known from the claim read first; a plain renewal
  // locks the claim by id.
  const row = input.working_set ? await findClaim(ctx, p, claimId, true) : undefined;
  const ws = row && input.working_set ? prepareWorkingSet(row, input.working_set, 'working_set.') : undefined;
  return ctx.keys.transaction(p, async (trx) => {
    // The working set (for the answer, and a change's checks) is read with the lock.
    let locked: Awaited<ReturnType<typeof lockForWorkingSet>>;
    if (row && ws) locked = await lockForWorkingSet(ctx, trx, row, ws);
    else {
      const { rows, ...byId } = await lockClaimById(ctx, trx, p, claimId, workingSetOf.bind(trx, { id: claimId }));
      locked = { ...byId, files: rows, others: [] };
    }
    const { now, claim } = locked;
    if (claim.status !== 'active') return notActive(claim);
    const duration = leaseMinutes(input.duration_minutes ?? claim.duration_minutes, p.org);
    const updated: ClaimRow = { ...claim, expires_at: now + duration * MINUTE, renewal_count: claim.renewal_count + 1 };
    // Deferred with the audit row and any working-set writes: nothing here reads them back.
    await deferWrite(trx, renewClaim.bind(trx, { id: claim.id, expires_at: updated.expires_at, renewal_count: updated.renewal_count }));
    await writeAudit(trx, now, {
      org_id: claim.org_id,
      actor: actorOf(p),
      event: 'claim.extended',
      resource: formatResource(claim),
      claim_id: claim.id,
      details: { expires_at: iso(updated.expires_at), renewal_count: updated.renewal_count },
    });
    await emitEvent(ctx.store, trx, claim.org_id, 'claim.extended', now, {
      claim: toClaim(updated, [], now),
      resource: formatResource(claim),
      agent: agentOf(claim.agent_id, p),
      actor: actorData(p),
    });
    const changed = ws ? await applyWorkingSet(ctx, trx, p, updated, ws, now, locked.files, locked.others) : undefined;
    return {
      action: 'extended',
      claim: toClaim(updated, changed?.files ?? locked.files, now),
      ...(changed ? { working_set: changed.result } : {}),
    };
  });
}

export function finish(
  ctx: WorkContext,
  p: Principal,
  claimId: string,
  input: FinishInput,
  event: 'claim.finished' | 'claim.released',
): Promise<FinishOutcome> {
  return ctx.keys.withPrincipal(p, (p) => finishAs(ctx, p, claimId, input, event));
}

function finishAs(
  ctx: WorkContext,
  p: Principal,
  claimId: string,
  input: FinishInput,
  event: 'claim.finished' | 'claim.released',
): Promise<FinishOutcome> {
  return ctx.keys.transaction(p, async (trx) => {
    const { now, claim } = await lockClaimById(ctx, trx, p, claimId);
    if (claim.status !== 'active') return { action: 'already_finished', claim: toClaim(claim, [], now) };
    const outcome = input.outcome ?? (event === 'claim.released' ? null : 'finished');
    const metadata = input.metadata ? JSON.stringify({ ...JSON.parse(claim.metadata), ...input.metadata }) : claim.metadata;
    const done: ClaimRow = { ...claim, status: 'released', released_at: now, outcome, metadata };
    // Deferred (one round trip with the audit row on PostgreSQL): nothing here reads them back.
    await deferWrite(trx, releaseClaim.bind(trx, { now, outcome, metadata, id: claim.id }));
    await deferWrite(trx, dropWorkingSet.bind(trx, { id: claim.id }));
    await writeAudit(trx, now, {
      org_id: claim.org_id,
      actor: actorOf(p),
      event,
      resource: formatResource(claim),
      claim_id: claim.id,
      details: { outcome, reason: input.reason ?? null, fencing_token: claim.fencing_token },
    });
    const shown = toClaim(done, [], now);
    await emitEvent(ctx.store, trx, claim.org_id, event, now, {
      claim: shown,
      resource: formatResource(claim),
      agent: agentOf(claim.agent_id, p),
      reason: input.reason ?? null,
      actor: actorData(p),
    });
    return { action: 'finished', claim: shown };
  });
}

/** DELETE /v1/work/claims/:id: a finish without an outcome, answered `released` or `already_released`. */
export async function release(ctx: WorkContext, p: Principal, claimId: string) {
  const res = await finish(ctx, p, claimId, {}, 'claim.released');
  return { action: res.action === 'finished' ? 'released' : 'already_released', claim: res.claim } as const;
}

/** Release every active claim of an agent inside the caller's transaction (the agent is being deleted). */
export async function releaseAllOf(ctx: WorkContext, trx: Tx, p: Principal, agentId: string): Promise<void> {
  const active = await activeClaimsOfAgent(trx, agentId);
  if (active.length === 0) return;
  const { now } = await ctx.store.lockResources(
    trx,
    active.map((c) => ({ org_id: c.org_id, resource_type: c.resource_type, resource_key: c.resource_key })),
  );
  for (const claim of active) {
    if (claim.expires_at <= now) {
      await expireClaims(ctx.store, trx, [claim], now);
      continue;
    }
    await endIfActive(trx, claim.id, 'released', now);
    await deleteWorkingSet(trx, claim.id);
    await writeAudit(trx, now, {
      org_id: claim.org_id,
      actor: actorOf(p),
      event: 'claim.released',
      resource: formatResource(claim),
      claim_id: claim.id,
      details: { reason: 'agent deleted', fencing_token: claim.fencing_token },
    });
    await emitEvent(ctx.store, trx, claim.org_id, 'claim.released', now, {
      claim: toClaim({ ...claim, status: 'released', released_at: now }, [], now),
      resource: formatResource(claim),
      agent: agentOf(claim.agent_id, p),
      reason: 'agent deleted',
      actor: actorData(p),
    });
  }
}
