/** Ending lapsed leases, wherever a use case finds one: a start, a change of the claim, the sweeper. */
import { formatResource } from '@availsync/protocol';
import { iso } from '../../clock.js';
import { type ClaimRow, expireIfActive } from '../../storage/queries/claims.js';
import { deleteWorkingSet } from '../../storage/queries/working-sets.js';
import type { Store, Tx } from '../../storage/store.js';
import { writeAudit } from '../audit-write.js';
import { agentOf, emitEvent } from '../events/append.js';
import { toClaim } from './claims-view.js';

/** Mark lapsed leases `expired`, release their working sets and audit it. Guarded: only rows still active. */
export async function expireClaims(store: Store, trx: Tx, rows: ClaimRow[], now: number): Promise<void> {
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
    const expired: ClaimRow = { ...row, status: 'expired', released_at: row.expires_at };
    await emitEvent(store, trx, row.org_id, 'claim.expired', now, {
      claim: toClaim(expired, [], now),
      resource: formatResource(row),
      agent: agentOf(row.agent_id),
      actor: { type: 'system', id: null },
    });
  }
}

/** The claim as it stands at `now`, read under its lock: a lapsed active lease is marked expired first. */
export async function expireIfLapsed(store: Store, trx: Tx, claim: ClaimRow, now: number) {
  if (claim.status === 'active' && claim.expires_at <= now) {
    await expireClaims(store, trx, [claim], now);
    return { now, claim: { ...claim, status: 'expired', released_at: claim.expires_at } };
  }
  return { now, claim };
}
