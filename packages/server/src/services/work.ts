/**
 * Work coordination: start / check / extend / finish / working set / release / read.
 * Each mutating use case is one transaction: idempotency key, lock the resource rows (sorted), read the
 * clock after the lock, expire what has lapsed, decide with a pure function, write claim + audit +
 * idempotency record, commit, and only then answer.
 */
import {
  ANSWER_LIST_CAP,
  type BlockingPath,
  type CheckResponse,
  type Claim,
  type FileModeValue,
  formatResource,
  type OutcomeValue,
  parseWorkResource,
  type ResourceRef,
  type RunFinishResponse,
  type RunStartRequest,
  validateWorkResource,
  type WorkingSetResult,
  type WorkingSetUpdate,
} from '@availsync/protocol';
import { iso } from '../clock.js';
import { decideStart } from '../domain/arbitration.js';
import { isLive, leaseMinutes, MINUTE, START_AT_SKEW_MS } from '../domain/lease.js';
import { listed } from '../domain/lists.js';
import {
  normalizePattern,
  OverlapBudget,
  OverlapIndex,
  PatternTooComplexError,
  patternOverCaps,
  patternsOverlap,
} from '../domain/paths.js';
import { type ApiError, errors } from '../errors.js';
import { newId } from '../ids.js';
import {
  activeClaimsOfAgent,
  advanceToken,
  claimRow,
  endIfActive,
  expireIfActive,
  insertClaim,
  type LiveClaimRow,
  lapsedClaims,
  liveClaimsAndRules,
  liveClaimsOn,
  releaseClaim,
  renewClaim,
} from '../storage/queries/claims.js';
import { relatedResources } from '../storage/queries/dependencies.js';
import {
  deleteLapsedFileClaims,
  deleteWorkingSet,
  dropWorkingSet,
  heldByOthers,
  type OtherFileClaim,
  removeFileClaims,
  upsertFileClaims,
  workingSetOf,
} from '../storage/queries/working-sets.js';
import { ACTIVE, claimById, deferWrite, type Executor, type Query, type ResourceKey, type Tx } from '../storage/store.js';
import { writeAudit } from './audit.js';
import { type ClaimRow, claimsWithWorkingSets, type FileClaimRow, toBlockingClaim, toClaim, workingSetList } from './claims-view.js';
import { type AgentRow, actorOf, idempotencyScope, type Principal, type Reply, type ServiceDeps } from './context.js';
import { idempotentTransaction } from './idempotency.js';
import type { KeyService } from './keys.js';
import { findLiveAgent } from './lookups.js';
import { ensurePlanCapacity } from './plans.js';

type ResourceSelector = Pick<RunStartRequest, 'resource' | 'resource_type' | 'resource_key'>;

/** A validated working-set change (prepareWorkingSet). */
interface PreparedWorkingSet {
  ref: ResourceRef;
  paths: string[];
  mode: FileModeValue;
  op: NonNullable<WorkingSetUpdate['op']>;
  leaseMs: number;
}

/** Steps of overlap work between two turns of the event loop (a few milliseconds at the most). */
const OVERLAP_SLICE_STEPS = 100_000;

/** A working-set request whose overlap decisions spent the request's budget: 422, and nothing changes. */
function tooMuchOverlapWork(err: PatternTooComplexError, requested: number, held: number): ApiError {
  return errors.patternTooComplex(
    `Deciding which held paths these patterns overlap needs more than the request's budget of ${err.budget} steps; ` +
      'send fewer or simpler patterns (literal paths cost little)',
    { limit: 'work', max: err.budget, actual: err.steps, requested_paths: requested, held_paths: held },
  );
}

/** What holds a working set's requested paths: the first ANSWER_LIST_CAP blocking entries, and counts. */
export interface FoundBlocking {
  /** Requested paths some live held path overlaps. */
  blocked: Set<string>;
  /** The claims holding them. */
  claimIds: Set<string>;
  /** The first ANSWER_LIST_CAP (path, holder) pairs; the rest are only counted. */
  blocking: BlockingPath[];
  blockingCount: number;
}

/**
 * Which of `paths` the live held paths `live` overlap, under one request's overlap budget (a 422 past it,
 * never a silent "no overlap"), giving the event loop a turn every OVERLAP_SLICE_STEPS. The working-set
 * update and the git guard's check (services/hooks) both decide through here.
 */
export async function findBlocking(paths: readonly string[], live: readonly OtherFileClaim[]): Promise<FoundBlocking> {
  const blocked = new Set<string>();
  const claimIds = new Set<string>();
  const blocking: BlockingPath[] = [];
  let blockingCount = 0;
  const index = new OverlapIndex(live);
  const work = new OverlapBudget();
  let sliceStart = 0;
  const block = (path: string, o: OtherFileClaim) => {
    blocked.add(path);
    claimIds.add(o.claim_id);
    blockingCount++;
    // Only what the answer lists is built (ANSWER_LIST_CAP); the rest is counted.
    if (blocking.length < ANSWER_LIST_CAP) {
      blocking.push({
        path,
        claim_id: o.claim_id,
        agent_id: o.agent_id,
        mode: o.mode as FileModeValue,
        held_path: o.path,
        expires_at: iso(o.expires_at),
      });
    }
  };
  try {
    for (const path of paths) {
      const { equal, decide } = index.candidates(path);
      work.charge(1);
      for (const o of equal) block(path, o);
      for (const o of decide) {
        if (patternsOverlap(path, o.path, work)) block(path, o);
        // A long run of decisions gives the event loop a turn (/health and other requests answer).
        if (work.steps - sliceStart >= OVERLAP_SLICE_STEPS) {
          sliceStart = work.steps;
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
    }
  } catch (err) {
    if (err instanceof PatternTooComplexError) throw tooMuchOverlapWork(err, paths.length, live.length);
    throw err;
  }
  return { blocked, claimIds, blocking, blockingCount };
}

/** Thrown inside a start's transaction when its resource turns out to have dependency rules (see start()). */
class HasDependencies extends Error {}
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

export function effectiveMode(agent: AgentRow, org: { default_mode: string }): 'enforce' | 'observe' {
  const mode = agent.mode === 'inherit' ? org.default_mode : agent.mode;
  return mode === 'observe' ? 'observe' : 'enforce';
}

interface StartInput extends RunStartRequest {
  idempotency_key?: string;
}

type ExtendInput = { duration_minutes?: number | undefined; working_set?: WorkingSetUpdate | undefined };
type FinishInput = { outcome?: OutcomeValue | undefined; reason?: string | undefined; metadata?: Record<string, unknown> | undefined };

export class WorkService {
  constructor(
    private readonly deps: ServiceDeps,
    private readonly keys: KeyService,
  ) {}

  private get store() {
    return this.deps.store;
  }

  /** The agent a request acts as: the key's own agent, or `agent_id` of the session's workspace. */
  async actingAgent(p: Principal, agentId: string | undefined, ex: Executor = this.store.db): Promise<AgentRow> {
    if (p.kind === 'agent') {
      if (agentId !== undefined && agentId !== p.agent.id) {
        throw errors.forbidden('agent_id does not match the agent this API key belongs to');
      }
      return p.agent;
    }
    if (!agentId) throw errors.invalid('agent_id is required when calling with a workspace session', { agent_id: 'required' });
    return findLiveAgent(ex, p.org.id, agentId);
  }

  /**
   * The resources whose claims conflict with a claim on `ref`: itself (always first), then every resource a
   * workspace dependency rule relates to it, in either direction (services/rules.ts).
   */
  private async conflictScope(ex: Executor, orgId: string, ref: ResourceRef): Promise<ResourceKey[]> {
    const related = await relatedResources(ex, orgId, ref);
    return [ref, ...related].map((r) => ({ org_id: orgId, resource_type: r.resource_type, resource_key: r.resource_key }));
  }

  /**
   * Lock the conflict scope (sorted, by store.lockResources), then read it again: a rules change that
   * committed while we waited may relate more resources, which are then locked too (rare). After this, a
   * concurrent start on any related resource is serialised with this one.
   */
  private async lockConflictScope(trx: Tx, orgId: string, ref: ResourceRef) {
    let scope = await this.conflictScope(trx, orgId, ref);
    for (;;) {
      const locked = await this.store.lockResources(trx, scope);
      // One writer at a time: no rules change can have committed since the read above.
      if (this.store.serialized) return { scope, ...locked };
      const seen = new Set(scope.map(formatResource));
      const added = (await this.conflictScope(trx, orgId, ref)).filter((k) => !seen.has(formatResource(k)));
      if (added.length === 0) return { scope, ...locked };
      scope = [...scope, ...added];
    }
  }

  /**
   * Lock the resources whose claims conflict with a claim on `ref` and read their live claims after the
   * locks. Usually `ref` has no dependency rules: lock it, then read its live claims and whether it has
   * rules (store.lockResourcesThen: one statement each, one round trip for both). If it has (rare), the
   * other resources cannot be locked now: taken out of sorted order, two starts could deadlock. It throws HasDependencies, and start() runs the transaction
   * again `withRules`: the rules read first, the whole scope locked in sorted order (lockConflictScope).
   */
  private async lockAndReadScope(trx: Tx, orgId: string, ref: ResourceRef, withRules: boolean) {
    if (withRules) {
      const { scope, now, rows } = await this.lockConflictScope(trx, orgId, ref);
      return { now, locked: rows, current: await liveClaimsOn(trx, orgId, scope) };
    }
    const key: ResourceKey = { org_id: orgId, resource_type: ref.resource_type, resource_key: ref.resource_key };
    const read = liveClaimsAndRules.bind(trx, { org: orgId, type: ref.resource_type, key: ref.resource_key });
    const {
      now,
      rows: locked,
      results: [rows],
    } = await this.store.lockResourcesThen(trx, [key], [read] as const);
    // SQLite answers 0 or 1, PostgreSQL false or true.
    if (rows.some((r) => Boolean(r.related))) throw new HasDependencies();
    return { now, locked, current: rows.filter((r) => r.id !== null) as LiveClaimRow[] };
  }

  /** Mark lapsed leases `expired`, release their working sets and audit it. Guarded: only rows still active. */
  private async expireClaims(trx: Tx, rows: ClaimRow[], now: number): Promise<void> {
    for (const row of rows) {
      if (!(await expireIfActive(trx, row.id, row.expires_at))) continue;
      await deleteWorkingSet(trx, row.id);
      await writeAudit(trx, now, {
        org_id: row.org_id,
        actor: { type: 'system', id: null },
        event: 'claim.expired',
        resource: formatResource(row),
        claim_id: row.id,
        details: { agent_id: row.agent_id, expires_at: iso(row.expires_at), fencing_token: row.fencing_token },
      });
    }
  }

  // -------------------------------------------------------------------------------------------------
  // start

  /** Legacy `POST /v1/work/claim`: the same decision, shaped as 201 { claim } or 409 conflict. */
  async legacyClaim(p: Principal, input: StartInput) {
    return this.start(p, input, 'work/claim', (reply) => {
      const body = reply.body as {
        action: string;
        mode: string;
        claim?: unknown;
        blocking_claim?: unknown;
        retry_after?: unknown;
        reason?: string;
      };
      if (body.action === 'proceed' && body.mode === 'enforce') return { status: 201, body: { claim: body.claim } };
      if (body.action === 'skip_run') {
        return {
          status: 409,
          body: { error: 'conflict', message: body.reason, blocking_claim: body.blocking_claim, retry_after: body.retry_after },
        };
      }
      return reply;
    });
  }

  start(p: Principal, input: StartInput, route = 'run/start', present: (r: Reply) => Reply = (r) => r) {
    return this.keys.withPrincipal(p, (p) => this.startAs(p, input, route, present));
  }

  private async startAs(p: Principal, input: StartInput, route: string, present: (r: Reply) => Reply) {
    const agent = await this.actingAgent(p, input.agent_id);
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
        this.store,
        { scope: idempotencyScope(p), key, fingerprint: { route, ...fingerprint } },
        this.deps.clock.now(),
        async (trx) => present(await this.decideAndApply(trx, p, { agent, ref, priority, duration, mode, startAt, input, key, withRules })),
        { transaction: (fn) => this.keys.transaction(p, fn) },
      );
    try {
      return await run(false);
    } catch (err) {
      // The resource has dependency rules: nothing was written; again, locking the whole scope.
      if (err instanceof HasDependencies) return run(true);
      throw err;
    }
  }

  private async decideAndApply(
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
  ): Promise<Reply> {
    const { agent, ref, priority, duration, mode, startAt, input, key } = a;
    const actor = actorOf(p);
    const resource = formatResource(ref);
    const { now, locked, current } = await this.lockAndReadScope(trx, p.org.id, ref, a.withRules);
    if (startAt !== undefined && startAt > now + START_AT_SKEW_MS) {
      throw errors.invalid(
        'start_at may be at most 5 minutes in the future (to absorb clock skew). Reserve a future window with POST /v1/holds.',
        { start_at: 'more than 5 minutes ahead of the server clock' },
      );
    }
    await this.expireClaims(
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
        status: 200,
        body: {
          action: 'proceed',
          mode: 'observe',
          shadow_mode: true,
          claim: null,
          retry_after: null,
          would_have_blocked: decision.action === 'skip_run',
          shadow_decision: { action: decision.action, reason, blocking_claim: blocking },
        },
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
      return {
        status: 200,
        body: {
          action: 'skip_run',
          mode: 'enforce',
          reason: decision.reason,
          retry_after: iso(decision.blocking.expires_at),
          blocking_claim: toBlockingClaim(decision.blocking),
        },
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
    }

    // Plan capacity: one more active claim, and a new protected resource unless it already is one.
    await ensurePlanCapacity(this.deps, trx, p.org, { activeClaims: { now }, resource: ref });
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
    return {
      status: 200,
      body: {
        action: 'proceed',
        mode: 'enforce',
        claim: toClaim(row, [], now),
        retry_after: null,
        ...(decision.preempt.length ? { preempted_claims: decision.preempt.map((c) => c.id) } : {}),
      },
    };
  }

  /** The decision without mutating anything. */
  async check(p: Principal, input: StartInput): Promise<CheckResponse> {
    const agent = await this.actingAgent(p, input.agent_id);
    const ref = resolveWorkResource(input);
    const priority = input.priority ?? agent.priority;
    const now = await this.store.readNow();
    const scope = await this.conflictScope(this.store.db, p.org.id, ref);
    const live = (await liveClaimsOn(this.store.db, p.org.id, scope)).filter((c) => isLive(c, now));
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

  // -------------------------------------------------------------------------------------------------
  // claims by id

  /** A claim of the caller's workspace; an agent may only change its own (reading any is allowed). */
  private async findClaim(p: Principal, claimId: string, forChange: boolean): Promise<ClaimRow> {
    return this.authorize(p, await claimById.first(this.store.db, { id: claimId }), forChange);
  }

  private authorize(p: Principal, found: ClaimRow | undefined, forChange: boolean): ClaimRow {
    const row = found?.org_id === p.org.id ? found : undefined;
    if (!row) throw errors.notFound('Claim');
    if (forChange && p.kind === 'agent' && row.agent_id !== p.agent.id) {
      throw errors.forbidden('This claim belongs to another agent');
    }
    return row;
  }

  async get(p: Principal, claimId: string): Promise<Claim> {
    const row = await this.findClaim(p, claimId, false);
    const now = await this.store.readNow();
    const [claim] = await claimsWithWorkingSets(this.store.db, [row], now);
    return claim as Claim;
  }

  /**
   * For a working-set change: lock the claim's resource and the working set's (sorted), then read the claim
   * `FOR UPDATE` (the sweeper, which takes no resource locks, cannot end it between this read and our
   * write; if it holds the row, we wait and read its verdict), the claim's whole working set, and the
   * other runs' paths that could block the request. All of it after the locks, and on PostgreSQL in one
   * round trip. Lapsed leases are marked expired here, in the same transaction, so an expired claim is
   * never revived.
   */
  private async lockForWorkingSet(trx: Tx, row: ClaimRow, ws: PreparedWorkingSet) {
    const keys = [
      { org_id: row.org_id, resource_type: row.resource_type, resource_key: row.resource_key },
      { org_id: row.org_id, ...ws.ref },
    ];
    const fresh = this.store.forUpdate(claimRow(trx, row.id));
    const files = workingSetOf.bind(trx, { id: row.id });
    const checked = ws.op !== 'remove' && ws.mode !== 'review';
    const locked = checked
      ? await this.store.lockResourcesThen(trx, keys, [fresh, files, heldByOthers(trx, row, ws, this.store.arrayParameters)] as const)
      : await this.store.lockResourcesThen(trx, keys, [fresh, files] as const);
    const [[claim], held, others = []] = locked.results;
    if (!claim) throw errors.notFound('Claim');
    return { ...(await this.expireIfLapsed(trx, claim, locked.now)), files: held, others };
  }

  /**
   * lockClaimWith by id alone, no extra resources (a finish, a plain extend): the claim and its resource
   * locked in one statement (store.lockClaim), and `then` read after it in the same round trip.
   */
  private async lockClaimById<O = never>(trx: Tx, p: Principal, claimId: string, then?: Query<O>) {
    const locked = await this.store.lockClaim(trx, claimId, then);
    if (!locked) throw errors.notFound('Claim');
    return { ...(await this.expireIfLapsed(trx, this.authorize(p, locked.claim, true), locked.now)), rows: locked.rows };
  }

  private async expireIfLapsed(trx: Tx, claim: ClaimRow, now: number) {
    if (claim.status === 'active' && claim.expires_at <= now) {
      await this.expireClaims(trx, [claim], now);
      return { now, claim: { ...claim, status: 'expired', released_at: claim.expires_at } };
    }
    return { now, claim };
  }

  private notActive(claim: ClaimRow): Reply {
    return {
      status: 409,
      body: {
        error: 'claim_not_active',
        message: `The claim is ${claim.status}; an ended lease is never revived. Start a new run.`,
        status: claim.status,
      },
    };
  }

  async extend(p: Principal, claimId: string, input: ExtendInput): Promise<Reply> {
    return this.keys.withPrincipal(p, (p) => this.extendAs(p, claimId, input));
  }

  private async extendAs(p: Principal, claimId: string, input: ExtendInput): Promise<Reply> {
    // A working set needs its repository locked too, known from the claim read first; a plain renewal
    // locks the claim by id.
    const row = input.working_set ? await this.findClaim(p, claimId, true) : undefined;
    const ws = row && input.working_set ? this.prepareWorkingSet(row, input.working_set, 'working_set.') : undefined;
    return this.keys.transaction(p, async (trx) => {
      // The working set (for the answer, and a change's checks) is read with the lock.
      let locked: Awaited<ReturnType<WorkService['lockForWorkingSet']>>;
      if (row && ws) locked = await this.lockForWorkingSet(trx, row, ws);
      else {
        const { rows, ...byId } = await this.lockClaimById(trx, p, claimId, workingSetOf.bind(trx, { id: claimId }));
        locked = { ...byId, files: rows, others: [] };
      }
      const { now, claim } = locked;
      if (claim.status !== 'active') return this.notActive(claim);
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
      const changed = ws ? await this.applyWorkingSet(trx, p, updated, ws, now, locked.files, locked.others) : undefined;
      return {
        status: 200,
        body: {
          action: 'extended',
          claim: toClaim(updated, changed?.files ?? locked.files, now),
          ...(changed ? { working_set: changed.reply.body } : {}),
        },
      };
    });
  }

  async finish(
    p: Principal,
    claimId: string,
    input: FinishInput,
    event: 'claim.finished' | 'claim.released' = 'claim.finished',
  ): Promise<RunFinishResponse> {
    return this.keys.withPrincipal(p, (p) => this.finishAs(p, claimId, input, event));
  }

  private finishAs(
    p: Principal,
    claimId: string,
    input: FinishInput,
    event: 'claim.finished' | 'claim.released',
  ): Promise<RunFinishResponse> {
    return this.keys.transaction(p, async (trx) => {
      const { now, claim } = await this.lockClaimById(trx, p, claimId);
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
      return { action: 'finished', claim: toClaim(done, [], now) };
    });
  }

  /** Release every active claim of an agent inside the caller's transaction (the agent is being deleted). */
  async releaseAllOf(trx: Tx, p: Principal, agentId: string): Promise<void> {
    const active = await activeClaimsOfAgent(trx, agentId);
    if (active.length === 0) return;
    const { now } = await this.store.lockResources(
      trx,
      active.map((c) => ({ org_id: c.org_id, resource_type: c.resource_type, resource_key: c.resource_key })),
    );
    for (const claim of active) {
      if (claim.expires_at <= now) {
        await this.expireClaims(trx, [claim], now);
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
    }
  }

  async release(p: Principal, claimId: string) {
    const res = await this.finish(p, claimId, {}, 'claim.released');
    return { action: res.action === 'finished' ? 'released' : 'already_released', claim: res.claim } as const;
  }

  // -------------------------------------------------------------------------------------------------
  // working sets

  /** Validate a working-set update; `field` prefixes error details when it is nested (extend's `working_set.`). */
  private prepareWorkingSet(claim: ClaimRow, input: WorkingSetUpdate, field = ''): PreparedWorkingSet {
    let ref: ResourceRef = { resource_type: claim.resource_type, resource_key: claim.resource_key };
    if (input.resource !== undefined) {
      const parsed = parseWorkResource(input.resource);
      if (!parsed.ok) throw errors.invalid(parsed.message, { [`${field}resource`]: parsed.message });
      ref = parsed.value;
    }
    const bad: Record<string, string> = {};
    const paths: string[] = [];
    const seen = new Set<string>();
    let overCaps: { index: number; limit: ReturnType<typeof patternOverCaps> } | undefined;
    input.paths.forEach((raw, i) => {
      const n = normalizePattern(raw);
      if (!n.ok) bad[`${field}paths.${i}`] = n.message;
      else {
        const limit = patternOverCaps(n.value);
        if (limit !== undefined) overCaps ??= { index: i, limit };
        if (!seen.has(n.value)) {
          seen.add(n.value);
          paths.push(n.value);
        }
      }
    });
    if (Object.keys(bad).length > 0) throw errors.invalid('Some paths are not valid repo-relative paths', bad);
    if (overCaps?.limit) {
      const { limit, max, actual, message } = overCaps.limit;
      throw errors.patternTooComplex(`paths[${overCaps.index}]: ${message}`, {
        field: `${field}paths.${overCaps.index}`,
        path_index: overCaps.index,
        limit,
        max,
        actual,
      });
    }
    return {
      ref,
      paths,
      mode: (input.mode ?? 'edit') as FileModeValue,
      op: input.op ?? 'set',
      leaseMs: (input.lease_seconds ?? 600) * 1000,
    };
  }

  async updateWorkingSet(p: Principal, claimId: string, input: WorkingSetUpdate): Promise<Reply> {
    return this.keys.withPrincipal(p, (p) => this.updateWorkingSetAs(p, claimId, input));
  }

  private async updateWorkingSetAs(p: Principal, claimId: string, input: WorkingSetUpdate): Promise<Reply> {
    const row = await this.findClaim(p, claimId, true);
    const ws = this.prepareWorkingSet(row, input);
    return this.keys.transaction(p, async (trx): Promise<Reply> => {
      const { now, claim, files, others } = await this.lockForWorkingSet(trx, row, ws);
      if (claim.status !== 'active') return this.notActive(claim);
      return (await this.applyWorkingSet(trx, p, claim, ws, now, files, others)).reply;
    });
  }

  /**
   * Apply a working-set change, with the claim's resource and the working set's locked and `files` (the
   * claim's whole working set) and `others` (heldByOthers) read after the locks. Its writes are deferred
   * (PostgreSQL: sent with the commit), and the answer's working set is `files` with the change applied,
   * which is what the database holds once they run.
   */
  private async applyWorkingSet(
    trx: Tx,
    p: Principal,
    claim: ClaimRow,
    ws: PreparedWorkingSet,
    now: number,
    files: FileClaimRow[],
    others: OtherFileClaim[],
  ): Promise<{ reply: Reply<WorkingSetResult>; files: FileClaimRow[] }> {
    const { ref, paths, mode, op } = ws;
    const isMine = (f: FileClaimRow) => f.resource_type === ref.resource_type && f.resource_key === ref.resource_key && f.mode === mode;
    const mine = new Map(files.filter(isMine).map((f) => [f.path, f]));

    let blocking: BlockingPath[] = [];
    let blockingCount = 0;
    let claimable = paths;
    if (op !== 'remove' && mode !== 'review') {
      // Held by live runs, under live leases.
      const live = others.filter((o) => o.expires_at > now && o.claim_expires_at > now);
      const found = await findBlocking(paths, live);
      const { blocked } = found;
      blocking = found.blocking;
      blockingCount = found.blockingCount;
      const blockingClaims = found.claimIds;
      claimable = paths.filter((x) => !blocked.has(x));
      if (blocked.size > 0) {
        const claimIds = [...blockingClaims];
        await writeAudit(trx, now, {
          org_id: claim.org_id,
          actor: actorOf(p),
          event: 'working_set.conflict',
          resource: formatResource(ref),
          claim_id: claim.id,
          details: {
            mode,
            blocked_paths: [...blocked],
            blocking_claim_ids: claimIds.slice(0, ANSWER_LIST_CAP),
            ...(claimIds.length > ANSWER_LIST_CAP ? { blocking_claim_ids_count: claimIds.length } : {}),
          },
        });
      }
      if (claimable.length === 0) {
        return {
          reply: {
            status: 409,
            body: {
              action: 'blocked',
              ...listed('blocked_paths', [...blocked]),
              ...listed('blocking', blocking, ANSWER_LIST_CAP, blockingCount),
              ...workingSetList(files, now),
            },
          },
          files,
        };
      }
    } else {
      blocking = [];
    }

    // Deferred, in one statement with the commit on PostgreSQL: the removals and the upsert touch
    // different paths, so neither depends on the other.
    const expiresAt = Math.min(now + ws.leaseMs, claim.expires_at);
    const arrays = this.store.arrayParameters;
    const slice = { claimId: claim.id, ref, mode };
    const removeRows = (list: string[]) => deferWrite(trx, removeFileClaims(trx, slice, list, arrays));
    const keep = new Set(claimable);
    const removed = new Set(op === 'remove' ? paths : op === 'set' ? [...mine.keys()].filter((x) => !keep.has(x)) : []);
    const removedHeld = [...removed].filter((x) => mine.has(x));
    if (removedHeld.length > 0) await removeRows(removedHeld);
    const after = files.filter((f) => !(isMine(f) && removed.has(f.path)));
    if (op !== 'remove') {
      // One statement for the whole set: new paths are inserted, held ones get the new lease.
      // A held path keeps its row's id and created_at even if the row is gone by the time the upsert runs
      // (the sweeper deletes lapsed file claims without taking resource locks): inserted again, it is the
      // same row as the answer shows.
      const values = claimable.map((path) => ({
        id: mine.get(path)?.id ?? newId('file'),
        org_id: claim.org_id,
        claim_id: claim.id,
        resource_type: ref.resource_type,
        resource_key: ref.resource_key,
        path,
        mode,
        expires_at: expiresAt,
        created_at: mine.get(path)?.created_at ?? now,
      }));
      await deferWrite(trx, upsertFileClaims(trx, values, expiresAt, arrays));
      const at = new Map(after.map((f, i) => [f, i]));
      for (const v of values) {
        const held = mine.get(v.path);
        if (held) after[at.get(held) as number] = { ...held, expires_at: expiresAt };
        else after.push(v);
      }
    }
    const current = workingSetList(after, now);
    if (blockingCount > 0) {
      const claimed = new Set(claimable);
      const blockedPaths = paths.filter((x) => !claimed.has(x));
      return {
        reply: {
          status: 200,
          body: {
            action: 'partial_proceed',
            ...listed('claimed_paths', claimable),
            ...listed('blocked_paths', blockedPaths),
            ...listed('blocking', blocking, ANSWER_LIST_CAP, blockingCount),
            ...current,
          },
        },
        files: after,
      };
    }
    return { reply: { status: 200, body: { action: 'updated', ...current } }, files: after };
  }

  // -------------------------------------------------------------------------------------------------
  // lists

  async list(
    p: Principal,
    q: { resource?: string | undefined; status?: string | undefined; agent_id?: string | undefined; limit: number; offset: number },
  ) {
    let agentId = q.agent_id;
    if (p.kind === 'agent') {
      if (agentId !== undefined && agentId !== p.agent.id) throw errors.forbidden('An agent key lists only its own claims');
      agentId = p.agent.id;
    }
    const now = await this.store.readNow();
    let base = this.store.db.selectFrom('claims').where('org_id', '=', p.org.id);
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
      data: await claimsWithWorkingSets(this.store.db, rows, now),
      pagination: { limit: q.limit, offset: q.offset, total, has_more: q.offset + rows.length < total },
    };
  }

  async resources(p: Principal, q: { limit: number; offset: number }) {
    const now = await this.store.readNow();
    const db = this.store.db;
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
    return {
      data: rows.map((r) => ({
        resource: formatResource(r),
        resource_type: r.resource_type,
        resource_key: r.resource_key,
        active_claims: Number(r.active_claims ?? 0),
        last_claimed_at: r.last_claimed_at == null ? null : iso(r.last_claimed_at),
        fencing_token: r.fencing_token,
        created_at: iso(r.created_at),
      })),
      pagination: { limit: q.limit, offset: q.offset, total, has_more: q.offset + rows.length < total },
    };
  }

  // -------------------------------------------------------------------------------------------------
  // sweeper

  /** Mark lapsed leases expired (with audit) and drop lapsed file claims. Safe on many nodes at once. */
  async sweep(batch = 500): Promise<number> {
    return this.store.transaction(async (trx) => {
      const now = await this.store.now(trx);
      const rows = await this.store.skipLocked(lapsedClaims(trx, now, batch)).execute();
      await this.expireClaims(trx, rows, now);
      await deleteLapsedFileClaims(trx, now);
      return rows.length;
    });
  }
}
