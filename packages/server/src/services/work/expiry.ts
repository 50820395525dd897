/** Ending lapsed leases, wherever a use case finds one: a start, a change of the claim, the sweeper. */
import { formatResource } from '@availsync/protocol';
import { iso } from '../../clock.js';
import { type ClaimRow, expireIfActive } from '../../storage/queries/claims.js';
import { deleteWorkingSet } from '../../storage/queries/working-sets.js';
import type { Tx } from '../../storage/store.js';
import { writeAudit } from '../audit-write.js';

/** Mark lapsed leases `expired`, release their working sets and audit it. Guarded: only rows still active. */
export async function expireClaims(trx: Tx, rows: ClaimRow[], now: number): Promise<void> {
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

/** The claim as it stands at `now`, read under its lock: a lapsed active lease is marked expired first. */
export async function expireIfLapsed(trx: Tx, claim: ClaimRow, now: number) {
  if (claim.status === 'active' && claim.expires_at <= now) {
    await expireClaims(trx, [claim], now);
    return { now, claim: { ...claim, status: 'expired', released_at: claim.expires_at } };
  }
  return { now, claim };
}
