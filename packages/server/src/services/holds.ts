/**
 * Availability holds: create / confirm / release / read, availability, conflict previews.
 *
 * A create is one transaction, like a work start: idempotency key; lock the resource row (the same lock
 * claims use: `SELECT … FOR UPDATE` on PostgreSQL, the single writer on SQLite); read the clock after the
 * lock; mark lapsed holds `expired` (tentative TTL passed, or the window is over); refuse an overlap
 * (a `conflict` outcome with the next free slot: 409 hold_conflict); insert; audit; commit; answer. The
 * schema backs the lock (an exclusion constraint on PostgreSQL, a trigger on SQLite); if it ever refuses a
 * row, that is answered as the same conflict, never a 500.
 */
import {
  ANSWER_LIST_CAP,
  type AvailabilityQuery,
  type AvailabilityResponse,
  type ConflictsCheckRequest,
  type ConflictsCheckResponse,
  formatResource,
  type Hold,
  type HoldCreateRequest,
  type HoldListQuery,
  parseHoldResource,
  type ResourceRef,
  type TimeWindow,
} from '@availsync/protocol';
import type { Selectable } from 'kysely';
import { iso, isoOrNull } from '../clock.js';
import {
  checkWindow,
  DAY_MS,
  effectiveHoldStatus,
  firstFit,
  freeWindows,
  isLiveHold,
  lapsedAt,
  MAX_WINDOW_MS,
  nextFreeSlot,
  overlaps,
  type Window,
} from '../domain/holds.js';
import { MINUTE } from '../domain/lease.js';
import { listed } from '../domain/lists.js';
import { errors } from '../errors.js';
import { newId } from '../ids.js';
import type { HoldsTable } from '../storage/schema.js';
import { ACTIVE, type Executor, type ResourceKey, type Tx } from '../storage/store.js';
import { writeAudit } from './audit-write.js';
import { actorOf, idempotencyScope, type Presenter, type Principal, type ServiceDeps } from './context.js';
import { actorData, agentOf, emitEvent } from './events/append.js';
import { type IdempotentReply, idempotentTransaction } from './idempotency.js';
import { ensurePlanCapacity } from './plan-limits.js';
import type { WorkService } from './work/index.js';

export type HoldRow = Selectable<HoldsTable>;

/** When `to` is not given, availability looks this far past `from`. */
const DEFAULT_AVAILABILITY_RANGE_MS = 7 * DAY_MS;

export function toHold(row: HoldRow, now: number): Hold {
  return {
    id: row.id,
    agent_id: row.agent_id,
    resource: formatResource(row),
    resource_type: row.resource_type,
    resource_key: row.resource_key,
    start_at: iso(row.start_at),
    end_at: iso(row.end_at),
    status: effectiveHoldStatus(row, now),
    reason: row.reason,
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    expires_at: isoOrNull(row.expires_at),
    idempotency_key: row.idempotency_key,
    created_at: iso(row.created_at),
    released_at: isoOrNull(row.released_at),
  };
}

const toWindow = (w: Window): TimeWindow => ({ start_at: iso(w.start), end_at: iso(w.end) });
const windowOf = (h: HoldRow): Window => ({ start: h.start_at, end: h.end_at });

function resolveHoldResource(resource: string, field = 'resource'): ResourceRef {
  const parsed = parseHoldResource(resource);
  if (!parsed.ok) throw errors.invalid(parsed.message, { [field]: parsed.message });
  return parsed.value;
}

/** `start`/`end` as epoch ms: end after start, at most 31 days apart. */
function parseWindow(startAt: string, endAt: string, names = { start: 'start_at', end: 'end_at' as 'end_at' | 'to' }): Window {
  const start = Date.parse(startAt);
  const end = Date.parse(endAt);
  const check = checkWindow(start, end, names);
  if (!check.ok) throw errors.invalid(`Invalid window: ${check.message}`, { [check.field]: check.message });
  return { start, end };
}

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

/**
 * The schema itself refused an overlapping active hold: PostgreSQL's exclusion constraint (SQLSTATE
 * 23P01) or the SQLite trigger's `RAISE(ABORT, 'hold_overlap')`. The service lock should make this
 * unreachable; if it is reached, the answer is a 409, never a 500.
 */
export function isHoldOverlapViolation(err: unknown): boolean {
  return errCode(err) === '23P01' || (err instanceof Error && err.message.includes('hold_overlap'));
}

type CreateInput = HoldCreateRequest & { idempotency_key?: string | undefined };

/** The live holds a wanted window overlaps (the first ANSWER_LIST_CAP listed), and the next free slot of its length. */
export type HoldConflict = Omit<ConflictsCheckResponse, 'conflict'> & { resource: string };

/** A create: held, or refused because the window overlaps live holds. */
export type HoldCreateOutcome = { outcome: 'created'; hold: Hold } | ({ outcome: 'conflict' } & HoldConflict);

/** A confirm: confirmed (or already firm), or the hold is no longer active (lapsed or released) and cannot be. */
export type HoldConfirmOutcome = { action: 'confirmed' | 'already_confirmed'; hold: Hold } | { action: 'not_active'; status: string };

/**
 * Active holds lapsed by `now` (the sweeper's lookups): those whose window has ended, and those whose
 * tentative TTL has passed, each read through its partial index of active holds (migration 005).
 */
export function lapsedHolds(ex: Executor, now: number, limit: number) {
  const active = () => ex.selectFrom('holds').select(['id', 'org_id', 'resource_type', 'resource_key']).where('status', '=', ACTIVE);
  return [
    active().where('end_at', '<=', now).orderBy('end_at').limit(limit),
    active().where('expires_at', '<=', now).orderBy('expires_at').limit(limit),
  ];
}

export class HoldService {
  constructor(
    private readonly deps: ServiceDeps,
    private readonly work: WorkService,
  ) {}

  private get store() {
    return this.deps.store;
  }

  // -------------------------------------------------------------------------------------------------
  // reading holds of a resource

  /** Active rows on a resource whose window meets `[from, to)` (no TTL or end filter: the caller decides). */
  private activeOn(ex: Executor, orgId: string, ref: ResourceRef, from: number, to: number) {
    return ex
      .selectFrom('holds')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('resource_type', '=', ref.resource_type)
      .where('resource_key', '=', ref.resource_key)
      .where('status', '=', ACTIVE)
      .where('end_at', '>', from)
      .where('start_at', '<', to)
      .orderBy('start_at')
      .orderBy('id')
      .execute();
  }

  /** Live holds that could matter to a window: overlapping it, or within the next-free-slot horizon. */
  private async liveAround(ex: Executor, orgId: string, ref: ResourceRef, wanted: Window, now: number): Promise<HoldRow[]> {
    const rows = await this.activeOn(ex, orgId, ref, wanted.start, wanted.end + MAX_WINDOW_MS);
    return rows.filter((h) => isLiveHold(h, now));
  }

  /** Which of the live holds overlap `wanted`, and the conflict as an answer lists it. */
  private conflictsWith(ref: ResourceRef, live: HoldRow[], wanted: Window, now: number): { rows: HoldRow[]; found: HoldConflict } {
    const rows = live.filter((h) => overlaps(windowOf(h), wanted));
    const next = nextFreeSlot(live.map(windowOf), wanted);
    return {
      rows,
      found: {
        resource: formatResource(ref),
        ...listed(
          'conflicts',
          rows.slice(0, ANSWER_LIST_CAP).map((h) => toHold(h, now)),
          ANSWER_LIST_CAP,
          rows.length,
        ),
        next_free_slot: next ? toWindow(next) : null,
      },
    };
  }

  /** Mark lapsed active holds `expired` (guarded: only rows still active) and audit each; how many it marked. */
  private async lapse(trx: Tx, rows: HoldRow[], now: number): Promise<number> {
    let marked = 0;
    for (const row of rows) {
      if (row.status !== 'active' || isLiveHold(row, now)) continue;
      const at = lapsedAt(row);
      const done = await trx
        .updateTable('holds')
        .set({ status: 'expired', released_at: at })
        .where('id', '=', row.id)
        .where('status', '=', ACTIVE)
        .returning('id')
        .executeTakeFirst();
      if (!done) continue;
      marked += 1;
      await writeAudit(trx, now, {
        org_id: row.org_id,
        actor: { type: 'system', id: null },
        event: 'hold.expired',
        resource: formatResource(row),
        details: {
          hold_id: row.id,
          agent_id: row.agent_id,
          reason: row.expires_at !== null && row.expires_at <= row.end_at ? 'ttl_lapsed' : 'window_ended',
          at: iso(at),
        },
      });
      await emitEvent(this.store, trx, row.org_id, 'hold.expired', now, {
        hold: toHold({ ...row, status: 'expired', released_at: at }, now),
        resource: formatResource(row),
        agent: agentOf(row.agent_id),
        actor: actorData(undefined),
      });
    }
    return marked;
  }

  /**
   * The sweeper's part for holds, as for leases: mark lapsed holds `expired` and audit `hold.expired` soon
   * after they lapse, not only when something next touches their resource. One small transaction per
   * resource, which locks it first as every hold change does: a confirm racing the lapse either lands
   * before it, and the hold stays, or finds it expired; a busy resource holds up only its own holds. Safe
   * on many nodes at once: a hold is marked once. Returns how many it marked.
   */
  async sweep(batch = 100): Promise<number> {
    const seen = await this.store.readNow();
    const byResource = new Map<string, { key: ResourceKey; ids: string[] }>();
    for (const query of lapsedHolds(this.store.db, seen, batch)) {
      for (const h of await query.execute()) {
        const id = `${h.org_id}\u0000${h.resource_type}\u0000${h.resource_key}`;
        const entry = byResource.get(id) ?? {
          key: { org_id: h.org_id, resource_type: h.resource_type, resource_key: h.resource_key },
          ids: [],
        };
        if (!entry.ids.includes(h.id)) entry.ids.push(h.id);
        byResource.set(id, entry);
      }
    }
    let marked = 0;
    for (const { key, ids } of byResource.values()) {
      marked += await this.store.transaction(async (trx) => {
        const { now } = await this.store.lockResources(trx, [key]);
        const fresh = await trx.selectFrom('holds').selectAll().where('id', 'in', ids).execute();
        return this.lapse(trx, fresh, now);
      });
    }
    return marked;
  }

  // -------------------------------------------------------------------------------------------------
  // create

  /** Hold a window: the outcome answered through `present` (the route's; what an Idempotency-Key keeps). */
  async create<B>(p: Principal, input: CreateInput, present: Presenter<HoldCreateOutcome, B>): Promise<IdempotentReply<B>> {
    const agent = await this.work.actingAgent(p, input.agent_id);
    const ref = resolveHoldResource(input.resource);
    const wanted = parseWindow(input.start_at, input.end_at);
    const { idempotency_key: key, ...fingerprint } = input;
    const resource = formatResource(ref);
    try {
      return await idempotentTransaction(
        this.store,
        { scope: idempotencyScope(p), key, fingerprint: { route: 'holds/create', ...fingerprint } },
        this.deps.clock.now(),
        async (trx): Promise<HoldCreateOutcome> => {
          const { now } = await this.store.lockResources(trx, [{ org_id: p.org.id, ...ref }]);
          // A held resource is a protected resource: it counts against the plan.
          await ensurePlanCapacity(this.deps, trx, p.org, { resource: ref });
          if (wanted.end <= now) {
            throw errors.invalid('The window has already ended: end_at must be in the future', { end_at: 'must be in the future' });
          }
          // Every active hold of the resource: lapsed ones are marked expired here, under the lock, so the
          // exclusion constraint (which sees only status) agrees with the decision.
          const active = await this.activeOn(trx, p.org.id, ref, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
          await this.lapse(trx, active, now);
          const live = active.filter((h) => isLiveHold(h, now));
          const { rows: conflicts, found } = this.conflictsWith(ref, live, wanted, now);
          if (conflicts.length > 0) {
            await writeAudit(trx, now, {
              org_id: p.org.id,
              actor: actorOf(p),
              event: 'hold.conflict',
              resource,
              details: {
                agent_id: agent.id,
                start_at: iso(wanted.start),
                end_at: iso(wanted.end),
                conflicting_hold_ids: conflicts.slice(0, ANSWER_LIST_CAP).map((h) => h.id),
                ...(conflicts.length > ANSWER_LIST_CAP ? { conflicting_hold_ids_count: conflicts.length } : {}),
              },
            });
            return { outcome: 'conflict', ...found };
          }
          const row: HoldRow = {
            id: newId('hold'),
            org_id: p.org.id,
            agent_id: agent.id,
            resource_type: ref.resource_type,
            resource_key: ref.resource_key,
            start_at: wanted.start,
            end_at: wanted.end,
            status: 'active',
            reason: input.reason ?? null,
            metadata: JSON.stringify(input.metadata ?? {}),
            expires_at: input.ttl_minutes === undefined ? null : now + input.ttl_minutes * MINUTE,
            idempotency_key: key ?? null,
            created_at: now,
            released_at: null,
          };
          await trx.insertInto('holds').values(row).execute();
          await writeAudit(trx, now, {
            org_id: p.org.id,
            actor: actorOf(p),
            event: 'hold.created',
            resource,
            details: {
              hold_id: row.id,
              agent_id: agent.id,
              start_at: iso(row.start_at),
              end_at: iso(row.end_at),
              expires_at: isoOrNull(row.expires_at),
            },
          });
          const hold = toHold(row, now);
          await emitEvent(this.store, trx, p.org.id, 'hold.created', now, {
            hold,
            resource,
            agent: { id: agent.id, name: agent.name },
            actor: actorData(p),
          });
          return { outcome: 'created', hold };
        },
        present,
      );
    } catch (err) {
      if (!isHoldOverlapViolation(err)) throw err;
      // The database refused the row (the transaction, idempotency record included, rolled back): answer
      // what a fresh read shows. Not stored for replay; a retry decides again.
      this.deps.logger.warn('hold overlap refused by the database', { resource, org_id: p.org.id });
      const now = await this.store.readNow();
      const live = await this.liveAround(this.store.db, p.org.id, ref, wanted, now);
      const { found } = this.conflictsWith(ref, live, wanted, now);
      return { ...present({ outcome: 'conflict', ...found }), replayed: false };
    }
  }

  // -------------------------------------------------------------------------------------------------
  // by id

  /** A hold of the caller's workspace (any agent may read it); an agent changes only its own. */
  private async findHold(p: Principal, holdId: string, forChange: boolean): Promise<HoldRow> {
    const row = await this.store.db
      .selectFrom('holds')
      .selectAll()
      .where('id', '=', holdId)
      .where('org_id', '=', p.org.id)
      .executeTakeFirst();
    if (!row) throw errors.notFound('Hold');
    if (forChange && p.kind === 'agent' && row.agent_id !== p.agent.id) throw errors.forbidden('This hold belongs to another agent');
    return row;
  }

  async get(p: Principal, holdId: string): Promise<Hold> {
    const row = await this.findHold(p, holdId, false);
    return toHold(row, await this.store.readNow());
  }

  /** Lock the hold's resource, re-read the hold, and mark it expired if it has lapsed. */
  private async lockHold(trx: Tx, row: HoldRow) {
    const { now } = await this.store.lockResources(trx, [
      { org_id: row.org_id, resource_type: row.resource_type, resource_key: row.resource_key },
    ]);
    const fresh = await trx.selectFrom('holds').selectAll().where('id', '=', row.id).executeTakeFirstOrThrow();
    if (fresh.status === 'active' && !isLiveHold(fresh, now)) {
      await this.lapse(trx, [fresh], now);
      return { now, hold: { ...fresh, status: 'expired', released_at: lapsedAt(fresh) } };
    }
    return { now, hold: fresh };
  }

  /** DELETE /v1/holds/:id — idempotent: a hold already released or lapsed is `already_released`. */
  async release(p: Principal, holdId: string): Promise<{ action: 'released' | 'already_released'; hold: Hold }> {
    const row = await this.findHold(p, holdId, true);
    return this.store.transaction(async (trx) => {
      const { now, hold } = await this.lockHold(trx, row);
      if (hold.status !== 'active') return { action: 'already_released', hold: toHold(hold, now) };
      const done: HoldRow = { ...hold, status: 'released', released_at: now };
      await trx.updateTable('holds').set({ status: 'released', released_at: now }).where('id', '=', hold.id).execute();
      await writeAudit(trx, now, {
        org_id: hold.org_id,
        actor: actorOf(p),
        event: 'hold.released',
        resource: formatResource(hold),
        details: { hold_id: hold.id, agent_id: hold.agent_id, start_at: iso(hold.start_at), end_at: iso(hold.end_at) },
      });
      const shown = toHold(done, now);
      await emitEvent(this.store, trx, hold.org_id, 'hold.released', now, {
        hold: shown,
        resource: formatResource(hold),
        agent: agentOf(hold.agent_id, p),
        actor: actorData(p),
      });
      return { action: 'released', hold: shown };
    });
  }

  /**
   * POST /v1/holds/:id/confirm — make a tentative hold firm (clear its TTL). A firm hold is
   * `already_confirmed`; a hold that has lapsed or was released is `not_active` with its `status`: its
   * window may have been taken since, so the caller creates a new hold.
   */
  async confirm(p: Principal, holdId: string): Promise<HoldConfirmOutcome> {
    const row = await this.findHold(p, holdId, true);
    return this.store.transaction(async (trx): Promise<HoldConfirmOutcome> => {
      const { now, hold } = await this.lockHold(trx, row);
      if (hold.status !== 'active') return { action: 'not_active', status: hold.status };
      if (hold.expires_at === null) return { action: 'already_confirmed', hold: toHold(hold, now) };
      const done: HoldRow = { ...hold, expires_at: null };
      await trx.updateTable('holds').set({ expires_at: null }).where('id', '=', hold.id).execute();
      await writeAudit(trx, now, {
        org_id: hold.org_id,
        actor: actorOf(p),
        event: 'hold.confirmed',
        resource: formatResource(hold),
        details: { hold_id: hold.id, agent_id: hold.agent_id, ttl_expires_at: iso(hold.expires_at) },
      });
      const shown = toHold(done, now);
      await emitEvent(this.store, trx, hold.org_id, 'hold.confirmed', now, {
        hold: shown,
        resource: formatResource(hold),
        agent: agentOf(hold.agent_id, p),
        actor: actorData(p),
      });
      return { action: 'confirmed', hold: shown };
    });
  }

  // -------------------------------------------------------------------------------------------------
  // lists and previews (no mutation, no lock: a snapshot at the database's clock)

  /**
   * GET /v1/holds. Unlike claim lists (an agent key sees only its own claims), an agent key lists every
   * hold of its workspace: a hold is a published busy window, and scheduling agents need to see the
   * others' to plan around them. Changing a hold stays limited to its owner (and workspace users).
   * Ordered by window start.
   */
  async list(p: Principal, q: HoldListQuery & { limit: number; offset: number }) {
    const now = await this.store.readNow();
    let base = this.store.db.selectFrom('holds').where('org_id', '=', p.org.id);
    if (q.resource !== undefined) {
      const ref = resolveHoldResource(q.resource);
      base = base.where('resource_type', '=', ref.resource_type).where('resource_key', '=', ref.resource_key);
    }
    if (q.agent_id !== undefined) base = base.where('agent_id', '=', q.agent_id);
    if (q.from !== undefined) base = base.where('end_at', '>', Date.parse(q.from));
    if (q.to !== undefined) base = base.where('start_at', '<', Date.parse(q.to));
    if (q.status === 'active') {
      base = base
        .where('status', '=', ACTIVE)
        .where('end_at', '>', now)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]));
    } else if (q.status === 'expired') {
      base = base.where((eb) =>
        eb.or([
          eb('status', '=', 'expired'),
          eb.and([eb('status', '=', ACTIVE), eb.or([eb('end_at', '<=', now), eb('expires_at', '<=', now)])]),
        ]),
      );
    } else if (q.status === 'released') base = base.where('status', '=', 'released');
    const [rows, count] = await Promise.all([
      base.selectAll().orderBy('start_at').orderBy('id').limit(q.limit).offset(q.offset).execute(),
      base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    const total = Number(count.n);
    return {
      data: rows.map((r) => toHold(r, now)),
      pagination: { limit: q.limit, offset: q.offset, total, has_more: q.offset + rows.length < total },
    };
  }

  /**
   * GET /v1/availability: busy windows (live holds overlapping [from, to), whole), the free gaps between
   * them within [from, to), and, with duration_minutes, the first free slot of that length that starts no
   * earlier than now (a slot in the past cannot be booked).
   */
  async availability(p: Principal, q: AvailabilityQuery): Promise<AvailabilityResponse> {
    const ref = resolveHoldResource(q.resource);
    const now = await this.store.readNow();
    const from = q.from === undefined ? now : Date.parse(q.from);
    const to = q.to === undefined ? from + DEFAULT_AVAILABILITY_RANGE_MS : Date.parse(q.to);
    const check = checkWindow(from, to, { start: 'from', end: 'to' });
    if (!check.ok) throw errors.invalid(`Invalid range: ${check.message}`, { to: check.message });
    const live = (await this.activeOn(this.store.db, p.org.id, ref, from, to)).filter((h) => isLiveHold(h, now));
    const busy = live.map(windowOf);
    const slot = q.duration_minutes === undefined ? null : firstFit(busy, Math.max(from, now), to, q.duration_minutes * MINUTE);
    return {
      resource: formatResource(ref),
      from: iso(from),
      to: iso(to),
      ...listed(
        'busy',
        live
          .slice(0, ANSWER_LIST_CAP)
          .map((h) => ({ start_at: iso(h.start_at), end_at: iso(h.end_at), hold_id: h.id, agent_id: h.agent_id })),
        ANSWER_LIST_CAP,
        live.length,
      ),
      ...listed('free', freeWindows(busy, from, to).map(toWindow)),
      first_free_slot: slot ? toWindow(slot) : null,
    };
  }

  /** POST /v1/conflicts/check: what a create would answer, without creating anything. */
  async checkConflicts(p: Principal, body: ConflictsCheckRequest): Promise<ConflictsCheckResponse> {
    const ref = resolveHoldResource(body.resource);
    const wanted = parseWindow(body.start_at, body.end_at);
    const now = await this.store.readNow();
    const live = await this.liveAround(this.store.db, p.org.id, ref, wanted, now);
    const { rows, found } = this.conflictsWith(ref, live, wanted, now);
    return {
      conflict: rows.length > 0,
      conflicts: found.conflicts,
      conflicts_count: found.conflicts_count,
      conflicts_truncated: found.conflicts_truncated,
      next_free_slot: found.next_free_slot,
    };
  }
}
