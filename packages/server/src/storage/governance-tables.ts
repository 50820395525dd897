/**
 * The governance tables (migration 003) as Kysely sees them, declared by interface merging into `DB` so
 * the feature stays in files of its own. Timestamps are epoch ms (bigint); JSON is text.
 */
export interface ResourceDependenciesTable {
  org_id: string;
  resource_type: string;
  resource_key: string;
  depends_on_type: string;
  depends_on_key: string;
  created_at: number;
}

export interface ActivityEventsTable {
  id: string;
  org_id: string;
  agent_id: string;
  /** work | hold | usage | heartbeat | setup_test | other */
  type: string;
  method: string;
  /** The route pattern, e.g. /v1/work/claims/:claim_id */
  route: string;
  status_code: number;
  action: string | null;
  resource: string | null;
  latency_ms: number;
  request_id: string;
  created_at: number;
}

export interface UsageReportsTable {
  id: string;
  org_id: string;
  agent_id: string;
  claim_id: string | null;
  model: string | null;
  input_tokens: number | null;
  output_tokens: number | null;
  cost_usd: number | null;
  external_run_id: string | null;
  metadata: string;
  created_at: number;
}

export interface UsageCountersTable {
  org_id: string;
  /** YYYY-MM, UTC */
  period: string;
  api_calls: number;
}

declare module './schema.js' {
  interface DB {
    resource_dependencies: ResourceDependenciesTable;
    activity_events: ActivityEventsTable;
    usage_reports: UsageReportsTable;
    usage_counters: UsageCountersTable;
  }
}
