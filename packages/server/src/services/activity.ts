/**
 * Activity: one row per agent-key request, recorded without slowing or failing the request.
 *
 * The recorder keeps rows in memory and writes them in batches — when 500 are waiting, ~250 ms after the
 * first one, and on close() — in one transaction that also adds them to the workspace's monthly API-call
 * counter (`usage_counters`). A failed write is logged and dropped: activity is diagnostics, never a
 * reason to fail or delay an agent's request. Monthly usage is the stored counter (re-read at most every
 * few seconds, so several nodes see each other's traffic) plus what this process has not written yet.
 */
import type { Activity, ActivityListQuery, ActivityTypeValue, UsageReport, UsageReportRequest } from '@availsync/protocol';
import type { Selectable } from 'kysely';
import { iso } from '../clock.js';
import { checkCapacity, limitsOf, periodOf } from '../domain/plans.js';
import { errors } from '../errors.js';
import { newId } from '../ids.js';
import type { ActivityEventsTable, UsageReportsTable } from '../storage/schema.js';
import type { OrgRow, Presenter, Principal, ServiceDeps } from './context.js';
import { idempotencyScope } from './context.js';
import { type IdempotentReply, idempotentTransaction } from './idempotency.js';
import { planLimitError } from './plan-limits.js';

export type ActivityRow = Selectable<ActivityEventsTable>;
export type UsageRow = Selectable<UsageReportsTable>;

export interface ActivityInput {
  org_id: string;
  agent_id: string;
  type: ActivityTypeValue;
  method: string;
  route: string;
  status_code: number;
  action: string | null;
  resource: string | null;
  latency_ms: number;
  request_id: string;
  /** Counts toward the monthly API calls (default true; heartbeats and refused over-limit calls do not). */
  counted?: boolean;
}

export interface RecorderOptions {
  /** Write when this many rows wait. */
  batchSize?: number;
  /** Write at most this long after the first waiting row. */
  flushIntervalMs?: number;
  /** Re-read a workspace's stored monthly counter at most this often. */
  counterTtlMs?: number;
}

const INSERT_CHUNK = 200;

export class ActivityRecorder {
  readonly #deps: ServiceDeps;
  readonly #batchSize: number;
  readonly #intervalMs: number;
  readonly #ttlMs: number;
  #rows: ActivityRow[] = [];
  /** API calls recorded but not yet written, by `org \0 period`. */
  #pending = new Map<string, number>();
  /** API calls in a write that has not finished yet. */
  #writing = new Map<string, number>();
  /** The stored counter as last read or written, with the (process) time it was read. */
  #stored = new Map<string, { value: number; at: number }>();
  #timer: NodeJS.Timeout | undefined;
  #chain: Promise<void> = Promise.resolve();

  constructor(deps: ServiceDeps, opts: RecorderOptions = {}) {
    this.#deps = deps;
    this.#batchSize = opts.batchSize ?? 500;
    this.#intervalMs = opts.flushIntervalMs ?? 250;
    this.#ttlMs = opts.counterTtlMs ?? 5_000;
  }

  /** Queue one row. Never throws and never waits. */
  record(input: ActivityInput): void {
    try {
      const now = this.#deps.clock.now();
      const { counted = true, ...fields } = input;
      this.#rows.push({ id: newId('activity'), ...fields, latency_ms: Math.round(fields.latency_ms * 100) / 100, created_at: now });
      if (counted) {
        const key = counterKey(input.org_id, periodOf(now).period);
        this.#pending.set(key, (this.#pending.get(key) ?? 0) + 1);
      }
      if (this.#rows.length >= this.#batchSize) void this.flush();
      else if (!this.#timer) {
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          void this.flush();
        }, this.#intervalMs);
        this.#timer.unref();
      }
    } catch (err) {
      this.#deps.logger.warn('activity not recorded', { error: String(err) });
    }
  }

  /** Write everything recorded so far. Resolves when it is written (or dropped after a logged failure). */
  flush(): Promise<void> {
    const next = this.#chain.then(() => this.#write());
    this.#chain = next;
    return next;
  }

  /** Stop the timer and write what is left. */
  async close(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  async #write(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const rows = this.#rows;
    const calls = this.#pending;
    this.#rows = [];
    this.#pending = new Map();
    if (rows.length === 0 && calls.size === 0) return;
    for (const [k, n] of calls) this.#writing.set(k, (this.#writing.get(k) ?? 0) + n);
    try {
      const totals = await this.#deps.store.transaction(async (trx) => {
        for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
          await trx
            .insertInto('activity_events')
            .values(rows.slice(i, i + INSERT_CHUNK))
            .execute();
        }
        const out = new Map<string, number>();
        // Sorted, so two nodes writing counters of the same workspaces never deadlock.
        for (const k of [...calls.keys()].sort()) {
          const [org_id = '', period = ''] = k.split('\u0000');
          const row = await trx
            .insertInto('usage_counters')
            .values({ org_id, period, api_calls: calls.get(k) ?? 0 })
            .onConflict((oc) =>
              oc.columns(['org_id', 'period']).doUpdateSet((eb) => ({
                api_calls: eb(eb.ref('usage_counters.api_calls'), '+', eb.ref('excluded.api_calls')),
              })),
            )
            .returning('api_calls')
            .executeTakeFirstOrThrow();
          out.set(k, Number(row.api_calls));
        }
        return out;
      });
      const at = Date.now();
      for (const [k, value] of totals) this.#stored.set(k, { value, at });
    } catch (err) {
      this.#deps.logger.warn('activity write failed; rows dropped', { rows: rows.length, error: String(err) });
    } finally {
      for (const [k, n] of calls) {
        const left = (this.#writing.get(k) ?? 0) - n;
        if (left > 0) this.#writing.set(k, left);
        else this.#writing.delete(k);
      }
    }
  }

  /** Agent-key API calls of the workspace this calendar month (UTC): stored plus not yet written. */
  async monthlyCalls(orgId: string): Promise<number> {
    const key = counterKey(orgId, periodOf(this.#deps.clock.now()).period);
    let stored = this.#stored.get(key);
    if (!stored || Date.now() - stored.at > this.#ttlMs) {
      const [, period] = key.split('\u0000');
      const row = await this.#deps.store.db
        .selectFrom('usage_counters')
        .select('api_calls')
        .where('org_id', '=', orgId)
        .where('period', '=', period ?? '')
        .executeTakeFirst();
      stored = { value: Number(row?.api_calls ?? 0), at: Date.now() };
      this.#stored.set(key, stored);
    }
    return stored.value + (this.#writing.get(key) ?? 0) + (this.#pending.get(key) ?? 0);
  }

  /** 402 once the plan's monthly API calls are used up. Costs nothing on plans without that limit. */
  async ensureMonthlyCapacity(org: OrgRow): Promise<void> {
    if (limitsOf(org.plan).monthly_api_calls === null) return;
    const decision = checkCapacity(org.plan, 'monthly_api_calls', await this.monthlyCalls(org.id));
    if (!decision.ok) throw planLimitError(decision.details);
  }
}

function counterKey(orgId: string, period: string): string {
  return `${orgId}\u0000${period}`;
}

export function toActivity(row: ActivityRow): Activity {
  return {
    id: row.id,
    agent_id: row.agent_id,
    type: row.type as ActivityTypeValue,
    method: row.method,
    route: row.route,
    status_code: row.status_code,
    action: row.action,
    resource: row.resource,
    latency_ms: Number(row.latency_ms),
    request_id: row.request_id,
    created_at: iso(row.created_at),
  };
}

export function toUsage(row: UsageRow): UsageReport {
  return {
    id: row.id,
    agent_id: row.agent_id,
    claim_id: row.claim_id,
    model: row.model,
    input_tokens: row.input_tokens == null ? null : Number(row.input_tokens),
    output_tokens: row.output_tokens == null ? null : Number(row.output_tokens),
    cost_usd: row.cost_usd == null ? null : Number(row.cost_usd),
    external_run_id: row.external_run_id,
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    created_at: iso(row.created_at),
  };
}

/** A time range filter: `from` inclusive, `to` exclusive; from after to is a 400. */
export function timeRange(q: { from?: string | undefined; to?: string | undefined }): { from?: number; to?: number } {
  const from = q.from === undefined ? undefined : Date.parse(q.from);
  const to = q.to === undefined ? undefined : Date.parse(q.to);
  if (from !== undefined && to !== undefined && from > to) throw errors.invalid('from must not be after to', { from: 'after to' });
  return { ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) };
}

export class ActivityService {
  constructor(
    private readonly deps: ServiceDeps,
    readonly recorder: ActivityRecorder,
  ) {}

  /** GET /v1/activity: newest first. */
  async list(p: Principal, q: ActivityListQuery & { limit: number; offset: number }) {
    const db = this.deps.store.db;
    const range = timeRange(q);
    let base = db.selectFrom('activity_events').where('org_id', '=', p.org.id);
    if (q.agent_id) base = base.where('agent_id', '=', q.agent_id);
    if (q.type) base = base.where('type', '=', q.type);
    if (q.status === 'ok') base = base.where('status_code', '<', 400);
    else if (q.status === 'error') base = base.where('status_code', '>=', 400);
    else if (q.status) base = base.where('status_code', '=', Number(q.status));
    if (range.from !== undefined) base = base.where('created_at', '>=', range.from);
    if (range.to !== undefined) base = base.where('created_at', '<', range.to);
    const [rows, count] = await Promise.all([
      base.selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(q.limit).offset(q.offset).execute(),
      base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    const total = Number(count.n);
    return {
      data: rows.map(toActivity),
      pagination: { limit: q.limit, offset: q.offset, total, has_more: q.offset + rows.length < total },
    };
  }

  /**
   * POST /v1/activity/usage: the report as stored, answered through `present` (the route's). A claim, if
   * named, must be one of the calling agent's own.
   */
  async reportUsage<B>(
    p: Principal,
    input: UsageReportRequest,
    key: string | undefined,
    present: Presenter<UsageReport, B>,
  ): Promise<IdempotentReply<B>> {
    if (p.kind !== 'agent') throw errors.forbidden('Usage is reported with an agent API key');
    const { idempotency_key: _ignored, ...fields } = input;
    return idempotentTransaction(
      this.deps.store,
      { scope: idempotencyScope(p), key, fingerprint: { route: 'activity/usage', ...fields } },
      this.deps.clock.now(),
      async (trx): Promise<UsageReport> => {
        if (fields.claim_id !== undefined) {
          const claim = await trx
            .selectFrom('claims')
            .select(['agent_id'])
            .where('id', '=', fields.claim_id)
            .where('org_id', '=', p.org.id)
            .executeTakeFirst();
          if (!claim) throw errors.notFound('Claim');
          if (claim.agent_id !== p.agent.id) throw errors.forbidden('This claim belongs to another agent');
        }
        const row: UsageRow = {
          id: newId('usage'),
          org_id: p.org.id,
          agent_id: p.agent.id,
          claim_id: fields.claim_id ?? null,
          model: fields.model ?? null,
          input_tokens: fields.input_tokens ?? null,
          output_tokens: fields.output_tokens ?? null,
          cost_usd: fields.cost_usd ?? null,
          external_run_id: fields.external_run_id ?? null,
          metadata: JSON.stringify(fields.metadata ?? {}),
          created_at: this.deps.clock.now(),
        };
        await trx.insertInto('usage_reports').values(row).execute();
        return toUsage(row);
      },
      present,
    );
  }
}
