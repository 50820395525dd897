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
import { waitersAhead } from '../../domain/queue.js';
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
import { type WaiterRow, waitersById, waitersOn } from '../../storage/queries/queue.js';
import { deleteWorkingSet } from '../../storage/queries/working-sets.js';
import { deferWrite, type Executor, type ResourceKey, type Tx } from '../../storage/store.js';
import { writeAudit } from '../audit-write.js';
import { type AgentRow, actorOf, idempotencyScope, type Presenter, type Principal } from '../context.js';
import { actorData, emitEvent } from '../events/append.js';
import { type IdempotentReply, idempotentAttempt, Unsettled } from '../idempotency.js';
import { ensurePlanCapacity } from '../plan-limits.js';
import { actingAgent } from './access.js';
import { toBlockingClaim, toClaim } from './claims-view.js';
import type { WorkContext } from './context.js';
import { expireClaims } from './expiry.js';
import type { StartOutcome } from './outcomes.js';
import { LocalWaiter } from './queue.js';
import { join, keepPlace, leave, liveQueue } from './queue-rows.js';

/** A waiting start's attempt that joined (or kept its place in) the queue: sleep, then decide again. */
interface Queued {
  row: WaiterRow;
  scope: ResourceKey[];
  head: boolean;
  /** The blocking lease's end, when this waiter is the head: a lapse hands over without a sweep. */
  wakeAt: number | undefined;
}

/** What a waiting start carries from one attempt to the next. */
interface WaitState {
  deadline: number;
  timedOut: boolean;
  waiterId: string | undefined;
  idem: { scope: string; key: string } | undefined;
}

type ResourceSelector = Pick<RunStartRequest, 'resource' | 'resource_type' | 'resource_key'>;

export interface StartInput extends RunStartRequest {
  idempotency_key?: string;
  /** The request's: a waiting start whose connection closes leaves the queue at once. */
  signal?: AbortSignal;
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
    const current = await liveClaimsOn(trx, orgId, scope);
    return { now, locked: rows, current, scope, queue: await waitersOn(trx, scope).execute() };
  }
  const key: ResourceKey = { org_id: orgId, resource_type: ref.resource_type, resource_key: ref.resource_key };
  const read = liveClaimsAndRules.bind(trx, { org: orgId, type: ref.resource_type, key: ref.resource_key });
  // The queue goes in the same round trip as the claims (PostgreSQL).
  const {
    now,
    rows: locked,
    results: [rows, queue],
  } = await ctx.store.lockResourcesThen(trx, [key], [read, waitersOn(trx, [key])] as const);
  // SQLite answers 0 or 1, PostgreSQL false or true.
  if (rows.some((r) => Boolean(r.related))) throw new HasDependencies();
  return { now, locked, current: rows.filter((r) => r.id !== null) as LiveClaimRow[], scope: [key], queue };
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
  const { idempotency_key: key, signal, ...fingerprint } = input;
  const clock = ctx.deps.clock;
  const waitMs = mode === 'enforce' ? (input.wait_seconds ?? 0) * 1000 : 0;
  const scope = idempotencyScope(p);
  const wait: WaitState | undefined =
    waitMs > 0
      ? { deadline: clock.now() + waitMs, timedOut: false, waiterId: undefined, idem: key ? { scope, key } : undefined }
      : undefined;

  const attempt = (withRules: boolean) =>
    idempotentAttempt<StartOutcome, Queued, B>(
      ctx.store,
      { scope, key, fingerprint: { route, ...fingerprint } },
      ctx.deps.clock.now(),
      (trx) => decideAndApply(ctx, trx, p, { agent, ref, priority, duration, mode, startAt, input, key, withRules, wait }),
      present,
      { transaction: (fn) => ctx.keys.transaction(p, fn) },
    );
  const run = async (withRules: boolean) => {
    try {
      return await attempt(withRules);
    } catch (err) {
      // The resource has dependency rules: nothing was written; again, locking the whole scope.
      if (err instanceof HasDependencies) return attempt(true);
      throw err;
    }
  };
  let withRules = false;
  if (!wait) return (await run(withRules)) as IdempotentReply<B>;
  const local = new LocalWaiter([{ org_id: p.org.id, ...ref }]);
  ctx.queue.add(local);
  try {
    for (;;) {
      wait.timedOut = clock.now() >= wait.deadline;
      const res = await run(withRules);
      if (!(res instanceof Unsettled)) return res;
      const queued = res.value;
      wait.waiterId = queued.row.id;
      withRules = queued.scope.length > 1;
      local.id = queued.row.id;
      local.scope = queued.scope;
      local.knownHead = queued.head;
      const until = Math.min(wait.deadline, queued.wakeAt ?? Number.POSITIVE_INFINITY);
      if (!signal?.aborted) await local.sleep(ctx.store, until, signal);
      if (signal?.aborted) {
        await ctx.store.transaction(async (trx) => leave(ctx.store, trx, [queued.row], 'closed', await ctx.store.now(trx)));
        throw errors.invalid('The request was closed while it waited in the queue');
      }
    }
  } catch (err) {
    // The database went away mid-wait, or the like: leave if we can (else the row goes stale).
    if (wait.waiterId) {
      const id = wait.waiterId;
      await ctx.store
        .transaction(async (trx) => {
          await leave(ctx.store, trx, await waitersById(trx, id), 'closed', await ctx.store.now(trx));
        })
        .catch(() => {});
    }
    throw err;
  } finally {
    ctx.queue.remove(local);
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
    wait: WaitState | undefined;
  },
): Promise<StartOutcome | Unsettled<Queued>> {
  const { agent, ref, priority, duration, mode, startAt, input, key, wait } = a;
  const actor = actorOf(p);
  const resource = formatResource(ref);
  const { now, locked, current, scope, queue: queueRows } = await lockAndReadScope(ctx, trx, p.org.id, ref, a.withRules);
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
  // The queue: observe mode never waits nor queues; enforce mode lets those ahead go first.
  const queue = mode === 'enforce' && queueRows.length > 0 ? await liveQueue(ctx.store, trx, queueRows, now, wait?.waiterId) : [];
  const mine = wait
    ? queue.find((w) => w.id === wait.waiterId || (wait.idem && w.idem_scope === wait.idem.scope && w.idem_key === wait.idem.key))
    : undefined;
  const ahead = waitersAhead(queue, mine, { priority, wait: wait !== undefined, preempt: input.preempt ?? false });
  const waited = wait && mine ? { waited_ms: Math.max(0, now - mine.created_at) } : wait ? { waited_ms: 0 } : {};

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

  if (decision.action === 'skip_run' || ahead.length > 0) {
    const blocking = decision.action === 'skip_run' ? decision.blocking : undefined;
    if (wait && !wait.timedOut) {
      const place = { deadline: wait.deadline, agent_id: agent.id, priority };
      const row =
        mine ??
        (await join(
          ctx.store,
          trx,
          { ...place, ...ref, org_id: p.org.id, idem_scope: wait.idem?.scope ?? null, idem_key: wait.idem?.key ?? null },
          now,
        ));
      if (mine) await keepPlace(trx, mine, wait.deadline, now);
      const head = ahead.length === 0;
      return new Unsettled({ row, scope, head, wakeAt: head && blocking ? blocking.expires_at : undefined });
    }
    if (mine) await leave(ctx.store, trx, [mine], 'timeout', now);
    const reason =
      decision.action === 'skip_run'
        ? decision.reason
        : `${ahead.length} start${ahead.length === 1 ? '' : 's'} wait ahead in this resource's queue`;
    await writeAudit(trx, now, {
      org_id: p.org.id,
      actor,
      event: 'claim.skipped',
      resource,
      claim_id: blocking?.id ?? null,
      details: { agent_id: agent.id, blocking_agent_id: blocking?.agent_id ?? null, reason, queue_length: ahead.length },
    });
    const blockingClaim = blocking ? toBlockingClaim(blocking) : null;
    const retryAfter = iso(blocking ? blocking.expires_at : now + 1000);
    await emitEvent(ctx.store, trx, p.org.id, 'run.skipped', now, {
      resource,
      agent: { id: agent.id, name: agent.name },
      reason,
      retry_after: retryAfter,
      blocking_claim: blockingClaim,
      ...(ahead.length > 0 ? { queue_length: ahead.length } : {}),
      actor: actorData(p),
    });
    return {
      action: 'skip_run',
      mode: 'enforce',
      reason,
      ...(wait ? { reason_code: 'wait_timeout' as const } : ahead.length > 0 ? { reason_code: 'queued' as const } : {}),
      retry_after: retryAfter,
      blocking_claim: blockingClaim,
      ...(ahead.length > 0 ? { queue_length: ahead.length } : {}),
      ...waited,
    };
  }
  if (mine) await leave(ctx.store, trx, [mine], 'granted', now);

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
    ...waited,
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
