/**
 * Working sets: the files a run declares it is touching (POST /v1/work/run/working-set, and extend's
 * `working_set`). A change locks the claim's resource and the working set's, reads the claim and the
 * paths other runs hold after the locks, decides which requested paths overlap a live held one
 * (findBlocking, also the git guard's check), and defers its writes to the commit.
 */
import {
  ANSWER_LIST_CAP,
  type BlockingPath,
  type FileModeValue,
  formatResource,
  parseWorkResource,
  type ResourceRef,
  type WorkingSetResult,
  type WorkingSetUpdate,
} from '@availsync/protocol';
import { iso } from '../../clock.js';
import { listed } from '../../domain/lists.js';
import {
  normalizePattern,
  OverlapBudget,
  OverlapIndex,
  PatternTooComplexError,
  patternOverCaps,
  patternsOverlap,
} from '../../domain/paths.js';
import { type ApiError, errors } from '../../errors.js';
import { newId } from '../../ids.js';
import { type ClaimRow, claimRow } from '../../storage/queries/claims.js';
import {
  type FileClaimRow,
  heldByOthersOn,
  type OtherFileClaim,
  removeFileClaims,
  upsertFileClaims,
  workingSetOf,
} from '../../storage/queries/working-sets.js';
import { deferWrite, type Tx } from '../../storage/store.js';
import { writeAudit } from '../audit-write.js';
import { actorOf, type Principal } from '../context.js';
import { actorData, agentOf, emitEvent } from '../events/append.js';
import { findClaim } from './access.js';
import { workingSetList } from './claims-view.js';
import type { WorkContext } from './context.js';
import { expireIfLapsed } from './expiry.js';
import type { NotActive, WorkingSetOutcome } from './outcomes.js';

/** A validated working-set change (prepareWorkingSet). */
export interface PreparedWorkingSet {
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

/** The answer to a change of a claim whose lease has ended. */
export function notActive(claim: ClaimRow): NotActive {
  return { action: 'not_active', status: claim.status };
}

/** Validate a working-set update; `field` prefixes error details when it is nested (extend's `working_set.`). */
export function prepareWorkingSet(claim: ClaimRow, input: WorkingSetUpdate, field = ''): PreparedWorkingSet {
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

/**
 * For a working-set change: lock the claim's resource and the working set's (sorted), then read the claim
 * `FOR UPDATE` (the sweeper, which takes no resource locks, cannot end it between this read and our
 * write; if it holds the row, we wait and read its verdict), the claim's whole working set, and the
 * other runs' paths that could block the request. All of it after the locks, and on PostgreSQL in one
 * round trip. Lapsed leases are marked expired here, in the same transaction, so an expired claim is
 * never revived.
 */
export async function lockForWorkingSet(ctx: WorkContext, trx: Tx, row: ClaimRow, ws: PreparedWorkingSet) {
  const keys = [
    { org_id: row.org_id, resource_type: row.resource_type, resource_key: row.resource_key },
    { org_id: row.org_id, ...ws.ref },
  ];
  const fresh = ctx.store.forUpdate(claimRow(trx, row.id));
  const files = workingSetOf.bind(trx, { id: row.id });
  const checked = ws.op !== 'remove' && ws.mode !== 'review';
  const locked = checked
    ? await ctx.store.lockResourcesThen(trx, keys, [fresh, files, heldByOthersOn(ctx.store, trx, row, ws)] as const)
    : await ctx.store.lockResourcesThen(trx, keys, [fresh, files] as const);
  const [[claim], held, others = []] = locked.results;
  if (!claim) throw errors.notFound('Claim');
  return { ...(await expireIfLapsed(ctx.store, trx, claim, locked.now)), files: held, others };
}

export function updateWorkingSet(ctx: WorkContext, p: Principal, claimId: string, input: WorkingSetUpdate): Promise<WorkingSetOutcome> {
  return ctx.keys.withPrincipal(p, (p) => updateWorkingSetAs(ctx, p, claimId, input));
}

async function updateWorkingSetAs(ctx: WorkContext, p: Principal, claimId: string, input: WorkingSetUpdate): Promise<WorkingSetOutcome> {
  const row = await findClaim(ctx, p, claimId, true);
  const ws = prepareWorkingSet(row, input);
  return ctx.keys.transaction(p, async (trx): Promise<WorkingSetOutcome> => {
    const { now, claim, files, others } = await lockForWorkingSet(ctx, trx, row, ws);
    if (claim.status !== 'active') return notActive(claim);
    return (await applyWorkingSet(ctx, trx, p, claim, ws, now, files, others)).result;
  });
}

/**
 * Apply a working-set change, with the claim's resource and the working set's locked and `files` (the
 * claim's whole working set) and `others` (heldByOthers) read after the locks. Its writes are deferred
 * (PostgreSQL: sent with the commit), and the answer's working set is `files` with the change applied,
 * which is what the database holds once they run.
 */
export async function applyWorkingSet(
  ctx: WorkContext,
  trx: Tx,
  p: Principal,
  claim: ClaimRow,
  ws: PreparedWorkingSet,
  now: number,
  files: FileClaimRow[],
  others: OtherFileClaim[],
): Promise<{ result: WorkingSetResult; files: FileClaimRow[] }> {
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
      const result: WorkingSetResult = {
        action: 'blocked',
        ...listed('blocked_paths', [...blocked]),
        ...listed('blocking', blocking, ANSWER_LIST_CAP, blockingCount),
        ...workingSetList(files, now),
      };
      await emitWorkingSet(ctx, trx, p, claim, ws, now, 'working_set.blocked', result);
      return { result, files };
    }
  } else {
    blocking = [];
  }

  // Deferred, in one statement with the commit on PostgreSQL: the removals and the upsert touch
  // different paths, so neither depends on the other.
  const expiresAt = Math.min(now + ws.leaseMs, claim.expires_at);
  const slice = { claimId: claim.id, ref, mode };
  const removeRows = (list: string[]) => deferWrite(trx, removeFileClaims(ctx.store, trx, slice, list));
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
    await deferWrite(trx, upsertFileClaims(ctx.store, trx, values, expiresAt));
    const at = new Map(after.map((f, i) => [f, i]));
    for (const v of values) {
      const held = mine.get(v.path);
      if (held) after[at.get(held) as number] = { ...held, expires_at: expiresAt };
      else after.push(v);
    }
  }
  const current = workingSetList(after, now);
  let result: WorkingSetResult = { action: 'updated', ...current };
  if (blockingCount > 0) {
    const claimed = new Set(claimable);
    const blockedPaths = paths.filter((x) => !claimed.has(x));
    result = {
      action: 'partial_proceed',
      ...listed('claimed_paths', claimable),
      ...listed('blocked_paths', blockedPaths),
      ...listed('blocking', blocking, ANSWER_LIST_CAP, blockingCount),
      ...current,
    };
  }
  await emitWorkingSet(ctx, trx, p, claim, ws, now, 'working_set.updated', result);
  return { result, files: after };
}

/** The event of a working-set change (or of a change refused whole: working_set.blocked). */
function emitWorkingSet(
  ctx: WorkContext,
  trx: Tx,
  p: Principal,
  claim: ClaimRow,
  ws: PreparedWorkingSet,
  now: number,
  type: 'working_set.updated' | 'working_set.blocked',
  result: WorkingSetResult,
): Promise<void> {
  return emitEvent(ctx.store, trx, claim.org_id, type, now, {
    claim_id: claim.id,
    resource: formatResource(claim),
    working_set_resource: formatResource(ws.ref),
    op: ws.op,
    mode: ws.mode,
    agent: agentOf(claim.agent_id, p),
    result,
    actor: actorData(p),
  });
}
