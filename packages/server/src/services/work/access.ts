/**
 * Who may act on what: the agent a request acts as, and a claim of the caller's workspace (any agent may
 * read one; only its own agent, or a workspace user, may change it).
 */
import { errors } from '../../errors.js';
import type { ClaimRow } from '../../storage/queries/claims.js';
import { claimById, type Executor, type Query, type Tx } from '../../storage/store.js';
import { findLiveAgent } from '../agents.js';
import type { AgentRow, Principal } from '../context.js';
import type { WorkContext } from './context.js';
import { expireIfLapsed } from './expiry.js';

/** The agent a request acts as: the key's own agent, or `agent_id` of the session's workspace. */
export async function actingAgent(ex: Executor, p: Principal, agentId: string | undefined): Promise<AgentRow> {
  if (p.kind === 'agent') {
    if (agentId !== undefined && agentId !== p.agent.id) {
      throw errors.forbidden('agent_id does not match the agent this API key belongs to');
    }
    return p.agent;
  }
  if (!agentId) throw errors.invalid('agent_id is required when calling with a workspace session', { agent_id: 'required' });
  return findLiveAgent(ex, p.org.id, agentId);
}

/** The claim if it is of the caller's workspace (404 otherwise), and, `forChange`, the caller's to change. */
export function authorize(p: Principal, found: ClaimRow | undefined, forChange: boolean): ClaimRow {
  const row = found?.org_id === p.org.id ? found : undefined;
  if (!row) throw errors.notFound('Claim');
  if (forChange && p.kind === 'agent' && row.agent_id !== p.agent.id) {
    throw errors.forbidden('This claim belongs to another agent');
  }
  return row;
}

/** A claim of the caller's workspace, read without a lock. */
export async function findClaim(ctx: WorkContext, p: Principal, claimId: string, forChange: boolean): Promise<ClaimRow> {
  return authorize(p, await claimById.first(ctx.store.db, { id: claimId }), forChange);
}

/**
 * A claim by id alone, no extra resources (a finish, a plain extend): the claim and its resource locked in
 * one statement (store.lockClaim), `then` read after it in the same round trip, a lapsed lease expired.
 */
export async function lockClaimById<O = never>(ctx: WorkContext, trx: Tx, p: Principal, claimId: string, then?: Query<O>) {
  const locked = await ctx.store.lockClaim(trx, claimId, then);
  if (!locked) throw errors.notFound('Claim');
  return { ...(await expireIfLapsed(ctx.store, trx, authorize(p, locked.claim, true), locked.now)), rows: locked.rows };
}
