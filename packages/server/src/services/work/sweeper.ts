/** The sweeper's part for leases: lapsed claims marked expired (with audit) soon after they lapse. */
import { lapsedClaims } from '../../storage/queries/claims.js';
import { deleteLapsedFileClaims } from '../../storage/queries/working-sets.js';
import type { WorkContext } from './context.js';
import { expireClaims } from './expiry.js';

/**
 * Mark up to `batch` lapsed leases expired (with audit) and drop lapsed file claims; how many lapsed
 * claims it took. Safe on many nodes at once: rows another node is sweeping are skipped (store.skipLocked).
 */
export function sweepClaims(ctx: WorkContext, batch: number): Promise<number> {
  return ctx.store.transaction(async (trx) => {
    const now = await ctx.store.now(trx);
    const rows = await ctx.store.skipLocked(lapsedClaims(trx, now, batch)).execute();
    await expireClaims(ctx.store, trx, rows, now);
    await deleteLapsedFileClaims(trx, now);
    return rows.length;
  });
}
