/** Claims as the API shows them: a claim with its live working set, a blocking claim, a file claim. */
import type { BlockingClaim, Claim, FileClaim } from '@availsync/protocol';
import { formatResource, WORKING_SET_LIST_CAP } from '@availsync/protocol';
import { iso, isoOrNull } from '../../clock.js';
import { effectiveStatus } from '../../domain/lease.js';
import { listed } from '../../domain/lists.js';
import type { ClaimRow } from '../../storage/queries/claims.js';
import { type FileClaimRow, workingSetOf, workingSetsOf } from '../../storage/queries/working-sets.js';
import type { Executor } from '../../storage/store.js';

export function toFileClaim(row: FileClaimRow): FileClaim {
  return {
    id: row.id,
    claim_id: row.claim_id,
    resource: `${row.resource_type}:${row.resource_key}`,
    path: row.path,
    mode: row.mode as FileClaim['mode'],
    expires_at: iso(row.expires_at),
    created_at: iso(row.created_at),
  };
}

export function toClaim(row: ClaimRow, workingSet: FileClaimRow[], now: number): Claim {
  const status = effectiveStatus(row, now);
  return {
    id: row.id,
    agent_id: row.agent_id,
    resource: formatResource(row),
    resource_type: row.resource_type,
    resource_key: row.resource_key,
    status,
    mode: row.mode as Claim['mode'],
    reason: row.reason,
    priority: row.priority,
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    fencing_token: row.fencing_token,
    idempotency_key: row.idempotency_key,
    duration_minutes: row.duration_minutes,
    created_at: iso(row.created_at),
    started_at: iso(row.started_at),
    expires_at: iso(row.expires_at),
    released_at: isoOrNull(row.released_at),
    outcome: row.outcome as Claim['outcome'],
    renewal_count: row.renewal_count,
    ...workingSetList(status === 'active' ? workingSet : [], now),
  };
}

/**
 * A claim's own working set as an answer lists it: the live file claims, at most WORKING_SET_LIST_CAP (500,
 * what one request may claim, so an answer always shows what it just claimed) with `working_set_count` and
 * `working_set_truncated` beside them. The whole set can grow past that through `op: add`.
 */
export function workingSetList(rows: FileClaimRow[], now: number) {
  return listed('working_set', liveFileClaims(rows, now), WORKING_SET_LIST_CAP);
}

/** The file claims still leased at `now`, in a stable order. */
export function liveFileClaims(rows: FileClaimRow[], now: number): FileClaim[] {
  return rows
    .filter((f) => f.expires_at > now)
    .sort((a, b) => (a.resource_key + a.mode + a.path < b.resource_key + b.mode + b.path ? -1 : 1))
    .map(toFileClaim);
}

/** Active file claims of these claims, grouped by claim id. */
export async function loadWorkingSets(ex: Executor, claimIds: string[]): Promise<Map<string, FileClaimRow[]>> {
  const out = new Map<string, FileClaimRow[]>();
  if (claimIds.length === 0) return out;
  const [one] = claimIds;
  const rows = claimIds.length === 1 && one !== undefined ? await workingSetOf.execute(ex, { id: one }) : await workingSetsOf(ex, claimIds);
  for (const r of rows) {
    const list = out.get(r.claim_id);
    if (list) list.push(r);
    else out.set(r.claim_id, [r]);
  }
  return out;
}

export async function claimsWithWorkingSets(ex: Executor, rows: ClaimRow[], now: number): Promise<Claim[]> {
  const live = rows.filter((r) => effectiveStatus(r, now) === 'active').map((r) => r.id);
  const sets = await loadWorkingSets(ex, live);
  return rows.map((r) => toClaim(r, sets.get(r.id) ?? [], now));
}

export function toBlockingClaim(row: ClaimRow & { agent_name: string | null }): BlockingClaim {
  return {
    id: row.id,
    agent_id: row.agent_id,
    agent_name: row.agent_name,
    resource: formatResource(row),
    reason: row.reason,
    priority: row.priority,
    expires_at: iso(row.expires_at),
  };
}
