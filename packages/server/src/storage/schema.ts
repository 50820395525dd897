/**
 * Every table as Kysely sees it, grouped by area, and `DB`, the whole database. Every timestamp is epoch
 * milliseconds (bigint): one representation on both stores, compared as numbers, formatted as RFC 3339
 * only at the HTTP edge. JSON is stored as text. A table's shape here follows its migrations (the
 * migration that made it is named in its area); change both together, never one alone.
 */
import type { Generated } from 'kysely';

// ---------------------------------------------------------------------------------------------------
// Workspaces, people and agents (migration 001)

export interface OrgsTable {
  id: string;
  name: string;
  plan: string;
  default_mode: string;
  default_claim_minutes: number;
  max_claim_minutes: number;
  created_at: number;
}

export interface UsersTable {
  id: string;
  org_id: string;
  email: string;
  password_hash: string;
  created_at: number;
  last_login_at: number | null;
}

export interface SessionsTable {
  token_hash: string;
  /** The opaque id the sessions list shows (migration 007); never the token or its hash. */
  id: string;
  user_id: string;
  /** The workspace it signed in to (its default when a request names none). */
  org_id: string;
  created_at: number;
  expires_at: number;
  user_agent: string | null;
  address: string | null;
}

/** A user's role in a workspace. */
export interface MembershipsTable {
  org_id: string;
  user_id: string;
  role: string;
  created_at: number;
}

export interface InvitesTable {
  id: string;
  org_id: string;
  email: string;
  role: string;
  token_hash: string;
  invited_by: string | null;
  created_at: number;
  expires_at: number;
  accepted_at: number | null;
  accepted_by: string | null;
  revoked_at: number | null;
}

export interface PasswordResetsTable {
  token_hash: string;
  user_id: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

export interface AgentsTable {
  id: string;
  org_id: string;
  name: string;
  agent_type: string;
  priority: number;
  mode: string;
  key_hash: string | null;
  key_prefix: string | null;
  key_created_at: number | null;
  created_at: number;
  last_seen_at: number | null;
  last_heartbeat_at: number | null;
  deleted_at: number | null;
}

// ---------------------------------------------------------------------------------------------------
// Work: resources, claims and their working sets (migration 001; working-set indexes 004)

export interface ResourcesTable {
  org_id: string;
  resource_type: string;
  resource_key: string;
  fencing_token: number;
  created_at: number;
  last_claimed_at: number | null;
}

export interface ClaimsTable {
  id: string;
  org_id: string;
  agent_id: string;
  resource_type: string;
  resource_key: string;
  status: string;
  mode: string;
  reason: string | null;
  priority: number;
  metadata: string;
  fencing_token: number;
  idempotency_key: string | null;
  duration_minutes: number;
  created_at: number;
  started_at: number;
  expires_at: number;
  released_at: number | null;
  outcome: string | null;
  renewal_count: number;
}

export interface FileClaimsTable {
  id: string;
  org_id: string;
  claim_id: string;
  resource_type: string;
  resource_key: string;
  path: string;
  mode: string;
  expires_at: number;
  created_at: number;
}

// ---------------------------------------------------------------------------------------------------
// Holds: reserved windows on a resource (migration 002; sweep indexes 005)

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

// ---------------------------------------------------------------------------------------------------
// Governance: dependencies between resources, activity and usage (migration 003)

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

// ---------------------------------------------------------------------------------------------------
// Agent hook sessions: one per coding-agent session the hooks follow (migration 006)

export interface HookSessionsTable {
  org_id: string;
  agent_id: string;
  session_key: string;
  client: string;
  session_id: string;
  /** The session's run resource (the repository, or the session's own project in `files` scope). */
  resource: string;
  /** Where its files are claimed: the repository. */
  ws_resource: string;
  generation: number;
  claim_id: string | null;
  claim_expires_at: number | null;
  /** JSON: path → git status letters and content hash, as the command hook last saw the work tree. */
  git_status: string | null;
  ended_at: number | null;
  created_at: number;
  updated_at: number;
}

// ---------------------------------------------------------------------------------------------------
// Bookkeeping: idempotent replays, the audit log, store metadata, rate limits (migration 001)

export interface IdempotencyTable {
  scope: string;
  key: string;
  request_hash: string;
  status_code: number;
  response: string;
  created_at: number;
}

export interface AuditTable {
  id: string;
  org_id: string;
  actor_type: string;
  actor_id: string | null;
  event: string;
  resource: string | null;
  claim_id: string | null;
  details: string;
  created_at: number;
}

export interface MetaTable {
  key: string;
  value: string;
}

export interface RateLimitsTable {
  key: string;
  window_start: number;
  count: number;
}

// ---------------------------------------------------------------------------------------------------
// The database

// ---------------------------------------------------------------------------------------------------
// Live events (migration 008)

/** One committed change (GET /v1/events, webhooks). `seq` is the public id; see migration 008. */
export interface EventsTable {
  /** SQLite: the rowid. PostgreSQL: null until the sequencer numbers it (storage/queries/events.ts). */
  seq: Generated<number | null>;
  /** The order of appends within one transaction (migration 008). */
  ord: number;
  org_id: string;
  type: string;
  created_at: number;
  /** JSON text. */
  data: string;
}

// The wait queue (migration 009)

/** One start waiting for a resource; see migration 009. */
export interface QueueWaitersTable {
  /** Arrival order. */
  n: Generated<number>;
  id: string;
  org_id: string;
  resource_type: string;
  resource_key: string;
  agent_id: string;
  priority: number;
  idem_scope: string | null;
  idem_key: string | null;
  created_at: number;
  deadline: number;
  heartbeat_at: number;
}

// ---------------------------------------------------------------------------------------------------
// Webhooks (migration 010)

export interface WebhooksTable {
  id: string;
  org_id: string;
  url: string;
  description: string | null;
  /** JSON array of event types, or ["*"]. */
  events: string;
  format: string;
  /** AES-256-GCM ciphertext of the signing secret (security/secret-box.ts). */
  secret: string;
  enabled: number;
  disabled_reason: string | null;
  /** The last event seq delivered or skipped. */
  cursor: number;
  /** Failed attempts in a row (the backoff's exponent). */
  attempts: Generated<number>;
  failing_since: number | null;
  next_attempt_at: Generated<number>;
  lease_owner: string | null;
  lease_until: Generated<number>;
  created_at: number;
  updated_at: number;
}

export interface WebhookDeliveriesTable {
  id: string;
  webhook_id: string;
  org_id: string;
  event_seq: number | null;
  event_type: string;
  attempt: number;
  status: number | null;
  ok: number;
  error: string | null;
  duration_ms: number;
  created_at: number;
}

export interface DB {
  orgs: OrgsTable;
  users: UsersTable;
  sessions: SessionsTable;
  memberships: MembershipsTable;
  invites: InvitesTable;
  password_resets: PasswordResetsTable;
  agents: AgentsTable;
  resources: ResourcesTable;
  claims: ClaimsTable;
  file_claims: FileClaimsTable;
  holds: HoldsTable;
  resource_dependencies: ResourceDependenciesTable;
  activity_events: ActivityEventsTable;
  usage_reports: UsageReportsTable;
  usage_counters: UsageCountersTable;
  hook_sessions: HookSessionsTable;
  idempotency_keys: IdempotencyTable;
  audit_events: AuditTable;
  meta: MetaTable;
  rate_limits: RateLimitsTable;
  events: EventsTable;
  queue_waiters: QueueWaitersTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
}
