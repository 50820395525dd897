/**
 * The audit log read in keyset pages over its primary key (ids sort in creation order, ids.ts), for the
 * export (audit-export.ts). A storage operation rather than a query in the export because the SQLite text
 * must steer its planner (Store.plansFromStatistics); the export itself stays dialect-neutral.
 */
import { type Selectable, sql } from 'kysely';
import type { AuditTable } from './schema.js';
import type { Store } from './types.js';

/** An audit row as the export reads it. */
export type AuditRow = Selectable<AuditTable>;

export interface AuditPage {
  /** Rows after this id (the last of the previous page); from the first row when absent. */
  after?: string | undefined;
  /** One workspace's rows only. */
  org?: string | undefined;
  /** `created_at` from (inclusive) and to (exclusive), epoch ms. */
  from?: number | undefined;
  to?: number | undefined;
  limit: number;
}

/** One page of audit rows in id order: at most `limit`, fewer only at the end. */
export function auditPage(store: Store, page: AuditPage): Promise<AuditRow[]> {
  let q = store.db.selectFrom('audit_events').selectAll().orderBy('id').limit(page.limit);
  if (page.after !== undefined) q = q.where('id', '>', page.after);
  if (page.org !== undefined) {
    // SQLite without statistics would take the (org_id, created_at) index and sort the workspace's
    // every row for each batch; `+org_id` keeps it on the primary key. PostgreSQL plans from statistics.
    q = store.plansFromStatistics ? q.where('org_id', '=', page.org) : q.where(sql<string>`+${sql.ref('org_id')}`, '=', page.org);
  }
  if (page.from !== undefined) q = q.where('created_at', '>=', page.from);
  if (page.to !== undefined) q = q.where('created_at', '<', page.to);
  return q.execute();
}
