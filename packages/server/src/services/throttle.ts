/**
 * Rate-limit buckets in the `rate_limits` table, so every node shares them. Each attempt reads the bucket,
 * decides with the pure `decideAttempt` and applies the decision with a guarded write (an insert that
 * yields to a concurrent one, or an update that matches the row as read): two racing attempts cannot both
 * take the last free slot, and a refused attempt changes nothing (waiting is never made longer by asking).
 */
import { type BucketState, decideAttempt, type ThrottlePolicy } from '../domain/throttle.js';
import type { Store } from '../storage/store.js';

/** Rows whose window opened longer ago than this are pruned (the longest window in use). */
export const LONGEST_WINDOW_MS = 3_600_000;
const ATTEMPTS = 8;

export class Throttle {
  constructor(private readonly store: Store) {}

  /** Count one attempt against `key`: 0 when it may go ahead, else the seconds to wait (Retry-After). */
  async attempt(key: string, policy: ThrottlePolicy, now: number): Promise<number> {
    const db = this.store.db;
    for (let i = 0; i < ATTEMPTS; i++) {
      const row: BucketState | undefined = await db
        .selectFrom('rate_limits')
        .select(['window_start', 'count'])
        .where('key', '=', key)
        .executeTakeFirst();
      const state = row && { window_start: Number(row.window_start), count: Number(row.count) };
      const decision = decideAttempt(state, policy, now);
      if (!decision.ok) return decision.retryAfterS;
      if (!state) {
        const inserted = await db
          .insertInto('rate_limits')
          .values({ key, ...decision.next })
          .onConflict((oc) => oc.column('key').doNothing())
          .returning('key')
          .executeTakeFirst();
        if (inserted) return 0;
        continue;
      }
      const updated = await db
        .updateTable('rate_limits')
        .set(decision.next)
        .where('key', '=', key)
        .where('window_start', '=', state.window_start)
        .where('count', '=', state.count)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 1) return 0;
    }
    return 1; // Contended past reason: ask the caller to come back in a second.
  }

  /** Take back one counted attempt (one that turned out fine). */
  async undo(key: string): Promise<void> {
    await this.store.db
      .updateTable('rate_limits')
      .set((eb) => ({ count: eb('count', '-', 1) }))
      .where('key', '=', key)
      .where('count', '>', 0)
      .execute();
  }

  /** Forget a bucket. */
  async reset(key: string): Promise<void> {
    await this.store.db.deleteFrom('rate_limits').where('key', '=', key).execute();
  }

  /**
   * True the first time `marker` is seen in the window opened at `windowStart` (a row pruned with the
   * buckets): one audit row per throttled bucket and window, however often the client knocks.
   */
  async firstTime(marker: string, windowStart: number): Promise<boolean> {
    const row = await this.store.db
      .insertInto('rate_limits')
      .values({ key: `once:${marker}:${windowStart}`, window_start: windowStart, count: 1 })
      .onConflict((oc) => oc.column('key').doNothing())
      .returning('key')
      .executeTakeFirst();
    return row !== undefined;
  }

  /** The window start of a bucket (for `firstTime`), or undefined. */
  async windowOf(key: string): Promise<number | undefined> {
    const row = await this.store.db.selectFrom('rate_limits').select('window_start').where('key', '=', key).executeTakeFirst();
    return row ? Number(row.window_start) : undefined;
  }

  /** Delete buckets (and markers) whose window opened before `now - LONGEST_WINDOW_MS`, in batches. */
  async prune(now: number, batch = 2_000): Promise<number> {
    const cutoff = now - LONGEST_WINDOW_MS;
    let total = 0;
    for (;;) {
      const res = await this.store.db
        .deleteFrom('rate_limits')
        .where('key', 'in', (eb) => eb.selectFrom('rate_limits').select('key').where('window_start', '<', cutoff).limit(batch))
        .executeTakeFirst();
      const n = Number(res.numDeletedRows);
      total += n;
      if (n < batch) return total;
    }
  }
}
