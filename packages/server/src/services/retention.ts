/**
 * Retention: activity rows, live events (past the Last-Event-ID window), idempotency records, lapsed rate-limit buckets and idle coding-agent hook
 * sessions are pruned on a schedule; the audit log is kept.
 * Deletes run in small batches so the embedded store (one writer) never stalls requests for long.
 */

import { EVENT_RETENTION_DAYS } from '@availsync/protocol';
import { pruneEvents } from '../storage/queries/events.js';
import { pruneActivity, pruneHookSessions, pruneIdempotencyKeys } from '../storage/queries/retention.js';
import { pruneDeliveries } from '../storage/queries/webhooks.js';
import type { ServiceDeps } from './context.js';
import { Throttle } from './throttle.js';

export const DEFAULT_ACTIVITY_RETENTION_DAYS = 30;
export const DEFAULT_IDEMPOTENCY_RETENTION_HOURS = 48;
/** Idempotency keys are kept at least 24 h, whatever the configuration says. */
export const MIN_IDEMPOTENCY_RETENTION_HOURS = 24;
/**
 * A hook session untouched this long is forgotten (its run ended or lapsed long before: runs last at most 12 h).
 * Never sooner than a day after the idempotency records: a session's start key is derived from its row, and a
 * row made afresh must not meet the old row's key still on record.
 */
export const HOOK_SESSION_RETENTION_DAYS = 7;
const BATCH = 2_000;
const HOUR = 3_600_000;

/** Run a batched delete until a batch comes back short: how many rows went in all. */
async function drain(batch: (limit: number) => Promise<number>): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await batch(BATCH);
    total += n;
    if (n < BATCH) return total;
  }
}

export interface RetentionPolicy {
  activityDays?: number | undefined;
  idempotencyHours?: number | undefined;
  /** At least EVENT_RETENTION_DAYS (7): a subscriber may resume within it. */
  eventDays?: number | undefined;
}

export class RetentionService {
  constructor(
    private readonly deps: ServiceDeps,
    private readonly policy: RetentionPolicy = {},
  ) {}

  get activityDays(): number {
    return Math.max(1, this.policy.activityDays ?? DEFAULT_ACTIVITY_RETENTION_DAYS);
  }

  get eventDays(): number {
    return Math.max(EVENT_RETENTION_DAYS, this.policy.eventDays ?? EVENT_RETENTION_DAYS);
  }

  get idempotencyHours(): number {
    return Math.max(MIN_IDEMPOTENCY_RETENTION_HOURS, this.policy.idempotencyHours ?? DEFAULT_IDEMPOTENCY_RETENTION_HOURS);
  }

  /**
   * Delete activity older than the retention days, idempotency records older than the retention hours,
   * and rate-limit buckets whose window lapsed (they would start over anyway).
   */
  async prune(now = this.deps.clock.now()): Promise<{
    activity: number;
    idempotency_keys: number;
    rate_limits: number;
    hook_sessions: number;
    events: number;
    webhook_deliveries: number;
  }> {
    const db = this.deps.store.db;
    const activityCutoff = now - this.activityDays * 24 * HOUR;
    const idemCutoff = now - this.idempotencyHours * HOUR;
    const activity = await drain((limit) => pruneActivity(db, activityCutoff, limit));
    const idempotency = await drain((limit) => pruneIdempotencyKeys(db, idemCutoff, limit));
    const rateLimits = await new Throttle(this.deps.store).prune(now, BATCH);
    const hookCutoff = now - Math.max(HOOK_SESSION_RETENTION_DAYS * 24, this.idempotencyHours + 24) * HOUR;
    const hookSessions = await drain((limit) => pruneHookSessions(db, hookCutoff, limit));
    const events = await drain((limit) => pruneEvents(db, now - this.eventDays * 24 * HOUR, limit));
    // The webhook delivery log is kept as long as activity.
    const deliveries = await drain((limit) => pruneDeliveries(db, activityCutoff, limit));
    return {
      activity,
      idempotency_keys: idempotency,
      rate_limits: rateLimits,
      hook_sessions: hookSessions,
      events,
      webhook_deliveries: deliveries,
    };
  }
}
