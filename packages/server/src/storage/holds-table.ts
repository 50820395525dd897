/**
 * The `holds` table (migration 002) as Kysely sees it. Declared by interface merging into `DB` so the
 * holds feature stays in files of its own; like every other table, timestamps are epoch ms (bigint) and
 * metadata is JSON text.
 */
export interface HoldsTable {
  id: string;
  org_id: string;
  agent_id: string;
  resource_type: string;
  resource_key: string;
  /** The reserved window, `[start_at, end_at)` half-open. */
  start_at: number;
  end_at: number;
  /** `active` | `released` | `expired`. An active row past `expires_at` or `end_at` reads as expired. */
  status: string;
  reason: string | null;
  metadata: string;
  /** Tentative holds lapse here unless confirmed; null for a firm hold. */
  expires_at: number | null;
  idempotency_key: string | null;
  created_at: number;
  released_at: number | null;
}

declare module './schema.js' {
  interface DB {
    holds: HoldsTable;
  }
}
