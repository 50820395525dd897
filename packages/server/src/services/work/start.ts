/**
 * Starting a run (POST /v1/work/run/start, the legacy /v1/work/claim) and previewing one (check). A start
 * is one transaction: idempotency key; lock the resource rows (sorted); read the clock after the lock;
 * expire what has lapsed; decide with the pure decideStart; write claim + audit + idempotency record;
 * commit; and only then answer.
 */
import {
  type CheckResponse,
  formatResource,
  parseWorkResource,
  type ResourceRef,
  type RunStartRequest,
  validateWorkResource,
} from '@availsync/protocol';
import { iso } from '../../clock.js';
import { decideStart, effectiveMode } from '../../domain/arbitration.js';
import { isLive, leaseMinutes, MINUTE, START_AT_SKEW_MS } from '../../domain/lease.js';
import { errors } from '../../errors.js';
import { newId } from '../../ids.js';
import {
  advanceToken,
  type ClaimRow,
  endIfActive,
  insertClaim,
  type LiveClaimRow,
  liveClaimsAndRules,
  liveClaimsOn,
} from '../../storage/queries/claims.js';
import { relatedResources } from '../../storage/queries/dependencies.js';
import { deleteWorkingSet } from '../../storage/queries/working-sets.js';
import { deferWrite, type Executor, type ResourceKey, type Tx } from '../../storage/store.js';
import { writeAudit } from '../audit-write.js';
import { type AgentRow, actorOf, idempotencyScope, type Presenter, type Principal } from '../context.js';
import { actorData, emitEvent } from '../events/append.js';
import { type IdempotentReply, idempotentTransaction } from '../idempotency.js';
import { ensurePlanCapacity } from '../plan-limits.js';
import { actingAgent } from './access.js';
import { toBlockingClaim, toClaim } from './claims-view.js';
import type { WorkContext } from './context.js';
import { expireClaims } from './expiry.js';
import type { StartOutcome } from './outcomes.js';

type ResourceSelector = Pick<RunStartRequest, 'resource' | 'resource_type' | 'resource_key'>;

export interface StartInput extends RunStartRequest {
  idempotency_key?: string;
}

/** `resource: "type:key"` or `resource_type` + `resource_key`, validated as a work resource. */
export function resolveWorkResource(input: ResourceSelector): ResourceRef {
  let parsed: ReturnType<typeof parseWorkResource>;
  if (input.resource !== undefined) {
    if (input.resource_type !== undefined || input.resource_key !== undefined) {
      throw errors.invalid('Give either resource or resource_type + resource_key, not both', {
        resource: 'conflicts with resource_type/resource_key',
      });
    }
    parsed = parseWorkResource(input.resource);
    if (!parsed.ok) throw errors.invalid(parsed.message, { resource: parsed.message });
  } else {
    if (input.resource_type === undefined || input.resource_key === undefined) {
      throw errors.invalid('A resource is required: resource "repo:owner/name" or resource_type + resource_key', {
        resource: 'required',
      });
    }
    parsed = validateWorkResource(input.resource_type, input.resource_key);
    if (!parsed.ok) throw errors.invalid(parsed.message, { resource_type: parsed.message });
  }
  return parsed.value;
}

/**
 * The resources whose claims conflict with a claim on `ref`: itself (always first), then every resource a
 * workspace dependency rule relates to it, in either direction (services/rules.ts).
 */
async function conflictScope(ex: Executor, orgId: string, ref: ResourceRef): Promise<ResourceKey[]> {
  const related = await relatedResources(ex, orgId, ref);
  return [ref, ...related].map((r) => ({ org_id: orgId, resource_type: r.resource_type, resource_key: r.resource_key }));
}

/**
 * Lock the conflict scope (sorted, by store.lockResources), then read it again: a rules change that
 * committed while we waited may relate more resources, which are then locked too (rare). After this, a
 * concurrent start on any related resource is serialised with this one.
 */
async function lockConflictScope(ctx: WorkContext, trx: Tx, orgId: string, ref: ResourceRef) {
  let scope = await conflictScope(trx, orgId, ref);
  for (;;) {
    const locked = await ctx.store.lockResources(trx, scope);
    // One writer at a time: no rules change can have committed since the read above.
    if (ctx.store.serialized) return { scope, ...locked };
    const seen = new Set(scope.map(formatResource));
    const added = (await conflictScope(trx, orgId, ref)).filter((k) => !seen.has(formatResource(k)));
    if (added.length === 0) return { scope, ...locked };
    scope = [...scope, ...added];
  }
}

/** Thrown inside a start's transaction when its resource turns out to have dependency rules (see start()). */
class HasDependencies extends Error {}

/**
 * Lock the resources whose claims conflict with a claim on `ref` and read their live claims after the
 * locks. Usually `ref` has no dependency rules: lock it, then read its live claims and whether it has
 * rules (store.lockResourcesThen: one statement each, one round trip for both). If it has (rare), the
 * other resources cannot be locked now: taken out of sorted order, two starts could deadlock. It throws
 * HasDependencies, and start() runs the transaction again `withRules`: the rules read first, the whole
 * scope locked in sorted order (lockConflictScope).
 */
async function lockAndReadScope(ctx: WorkContext, trx: Tx, orgId: string, ref: ResourceRef, withRules: boolean) {
  if (withRules) {
    const { scope, now, rows } = await lockConflictScope(ctx, trx, orgId, ref);
    return { now, locked: rows, current: await liveClaimsOn(trx, orgId, scope) };
  }
  const key: ResourceKey = { org_id: orgId, resource_type: ref.resource_type, resource_key: ref.resource_key };
  const read = liveClaimsAndRules.bind(trx, { org: orgId, type: ref.resource_type, key: ref.resource_key });
  const {
    now,
    rows: locked,
    results: [rows],
  } = await ctx.store.lockResourcesThen(trx, [key], [read] as const);
  // SQLite answers 0 or 1, PostgreSQL false or true.
  if (rows.some((r) => Boolean(r.related))) throw new HasDependencies();
  return { now, locked, current: rows.filter((r) => r.id !== null) as LiveClaimRow[] };
}

/**
 * Start a run as `p`: the outcome answered through `present` (the route's; also what an Idempotency-Key
 * keeps for replays). `route` names the request in the key's fingerprint.
 */
export function start<B>(
  ctx: WorkContext,
  p: Principal,
  input: StartInput,
  present: Presenter<StartOutcome, B>,
  route: string,
): Promise<IdempotentReply<B>> {
  return ctx.keys.withPrincipal(p, (p) => startAs(ctx, p, input, present, route));
}

async function startAs<B>(ctx: WorkContext, p: Principal, input: StartInput, present: Presenter<StartOutcome, B>, route: string) {
  const agent = await actingAgent(ctx.store.db, p, input.agent_id);
  const ref = resolveWorkResource(input);
  const priority = input.priority ?? agent.priority;
  if (priority > agent.priority) {
    throw errors.invalid(`priority may not exceed the agent's own priority (${agent.priority})`, {
      priority: `at most ${agent.priority}`,
    });
  }
  const duration = leaseMinutes(input.duration_minutes, p.org);
  const mode = effectiveMode(agent, p.org);
  const startAt = input.start_at ? Date.parse(input.start_at) : undefined;
  const { idempotency_key: key, ...fingerprint } = input;

  const run = (withRules: boolean) =>
    idempotentTransaction(
      ctx.store,
      { scope: idempotencyScope(p), key, fingerprint: { route, ...fingerprint } },
      ctx.deps.clock.now(),
      (trx) => decideAndApply(ctx, trx, p, { agent, ref, priority, duration, mode, startAt, input, key, withRules }),
      present,
      { transaction: (fn) => ctx.keys.transaction(p, fn) },
    );
  try {
    return await run(false);
  } catch (err) {
    // The resource has dependency rules: nothing was written; again, locking the whole scope.
    if (err instanceof HasDependencies) return run(true);
    throw err;
  }
}

async function decideAndApply(
  ctx: WorkContext,
  trx: Tx,
  p: Principal,
  a: {
    agent: AgentRow;
    ref: ResourceRef;
    priority: number;
    duration: number;
    mode: 'enforce' | 'observe';
    startAt: number | undefined;
    input: StartInput;
    key: string | undefined;
    withRules: boolean;
  },
): Promise<StartOutcome> {
  const { agent, ref, priority, duration, mode, startAt, input, key } = a;
  const actor = actorOf(p);
  const resource = formatResource(ref);
  const { now, locked, current } = await lockAndReadScope(ctx, trx, p.org.id, ref, a.withRules);
  if (startAt !== undefined && startAt > now + START_AT_SKEW_MS) {
    throw errors.invalid(
      'start_at may be at most 5 minutes in the future (to absorb clock skew). Reserve a future window with POST /v1/holds.',
      { start_at: 'more than 5 minutes ahead of the server clock' },
    );
  }
  await expireClaims(
    ctx.store,
    trx,
    current.filter((c) => !isLive(c, now)),
    now,
  );
  const live = current.filter((c) => isLive(c, now));
  const decision = decideStart(live, { priority, preempt: input.preempt ?? false, agent_id: agent.id });

  if (mode === 'observe') {
    const blocking = decision.action === 'skip_run' ? toBlockingClaim(decision.blocking) : null;
    const reason = decision.action === 'skip_run' ? decision.reason : null;
    await writeAudit(trx, now, {
      org_id: p.org.id,
      actor,
      event: 'claim.observed',
      resource,
      details: { agent_id: agent.id, would_have_blocked: decision.action === 'skip_run', blocking_claim_id: blocking?.id ?? null },
    });
    return {
      action: 'proceed',
      mode: 'observe',
      shadow_mode: true,
      claim: null,
      retry_after: null,
      would_have_blocked: decision.action === 'skip_run',
      shadow_decision: { action: decision.action, reason, blocking_claim: blocking },
    };
  }

  if (decision.action === 'skip_run') {
    await writeAudit(trx, now, {
      org_id: p.org.id,
      actor,
      event: 'claim.skipped',
      resource,
      claim_id: decision.blocking.id,
      details: { agent_id: agent.id, blocking_agent_id: decision.blocking.agent_id, reason: decision.reason },
    });
    const blocking = toBlockingClaim(decision.blocking);
    await emitEvent(ctx.store, trx, p.org.id, 'run.skipped', now, {
      resource,
      agent: { id: agent.id, name: agent.name },
      reason: decision.reason,
      retry_after: iso(decision.blocking.expires_at),
      blocking_claim: blocking,
      actor: actorData(p),
    });
    return {
      action: 'skip_run',
      mode: 'enforce',
      reason: decision.reason,
      retry_after: iso(decision.blocking.expires_at),
      blocking_claim: blocking,
    };
  }

  for (const victim of decision.preempt) {
    await endIfActive(trx, victim.id, 'preempted', now);
    await deleteWorkingSet(trx, victim.id);
    await writeAudit(trx, now, {
      org_id: p.org.id,
      actor,
      event: 'claim.preempted',
      resource: formatResource(victim),
      claim_id: victim.id,
      details: { agent_id: victim.agent_id, preempted_by_agent_id: agent.id, priority, victim_priority: victim.priority },
    });
    await emitEvent(ctx.store, trx, p.org.id, 'claim.preempted', now, {
      claim: toClaim({ ...victim, status: 'preempted', released_at: now }, [], now),
      resource: formatResource(victim),
      agent: { id: victim.agent_id, name: victim.agent_name },
      preempted_by: { id: agent.id, name: agent.name },
      actor: actorData(p),
    });
  }

  // Plan capacity: one more active claim, and a new protected resource unless it already is one.
  await ensurePlanCapacity(ctx.deps, trx, p.org, { activeClaims: { now }, resource: ref });
  const token = (locked[0]?.fencing_token ?? 0) + 1;
  // The writes from here on are deferred (one round trip with the audit and idempotency rows on
  // PostgreSQL): nothing in this transaction reads them back.
  await deferWrite(trx, advanceToken.bind(trx, { token, now, org: p.org.id, type: ref.resource_type, key: ref.resource_key }));
  const row: ClaimRow = {
    id: newId('claim'),
    org_id: p.org.id,
    agent_id: agent.id,
    resource_type: ref.resource_type,
    resource_key: ref.resource_key,
    status: 'active',
    mode: 'enforce',
    reason: input.reason ?? null,
    priority,
    metadata: JSON.stringify(input.metadata ?? {}),
    fencing_token: token,
    idempotency_key: key ?? null,
    duration_minutes: duration,
    created_at: now,
    started_at: now,
    expires_at: now + duration * MINUTE,
    released_at: null,
    outcome: null,
    renewal_count: 0,
  };
  await deferWrite(trx, insertClaim.bind(trx, row));
  await writeAudit(trx, now, {
    org_id: p.org.id,
    actor,
    event: 'claim.started',
    resource,
    claim_id: row.id,
    details: { agent_id: agent.id, fencing_token: token, expires_at: iso(row.expires_at), priority },
  });
  const claim = toClaim(row, [], now);
  await emitEvent(ctx.store, trx, p.org.id, 'claim.started', now, {
    claim,
    resource,
    agent: { id: agent.id, name: agent.name },
    ...(decision.preempt.length ? { preempted_claims: decision.preempt.map((c) => c.id) } : {}),
    actor: actorData(p),
  });
  return {
    action: 'proceed',
    mode: 'enforce',
    claim,
    retry_after: null,
    ...(decision.preempt.length ? { preempted_claims: decision.preempt.map((c) => c.id) } : {}),
  };
}

/** The decision without mutating anything. */
export async function check(ctx: WorkContext, p: Principal, input: StartInput): Promise<CheckResponse> {
  const agent = await actingAgent(ctx.store.db, p, input.agent_id);
  const ref = resolveWorkResource(input);
  const priority = input.priority ?? agent.priority;
  const now = await ctx.store.readNow();
  const scope = await conflictScope(ctx.store.db, p.org.id, ref);
  const live = (await liveClaimsOn(ctx.store.db, p.org.id, scope)).filter((c) => isLive(c, now));
  const decision = decideStart(live, { priority, preempt: input.preempt ?? false, agent_id: agent.id });
  const mode = effectiveMode(agent, p.org);
  if (decision.action === 'proceed') {
    return { available: true, action: 'proceed', mode, reason: null, blocking_claim: null, retry_after: null };
  }
  return {
    available: false,
    action: 'skip_run',
    mode,
    reason: decision.reason,
    blocking_claim: toBlockingClaim(decision.blocking),
    retry_after: iso(decision.blocking.expires_at),
  };
}
