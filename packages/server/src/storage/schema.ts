/**
 * Table shapes as Kysely sees them. Every timestamp is epoch milliseconds (bigint): one representation
 * on both stores, compared as numbers, formatted as RFC 3339 only at the HTTP edge. JSON is stored as text.
 */
import type { Generated } from 'kysely';

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

/** A user's role in a workspace (SPEC §12). */
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
  idempotency_keys: IdempotencyTable;
  audit_events: AuditTable;
  meta: MetaTable;
  rate_limits: RateLimitsTable;
}

/** Placeholder so `Generated` stays imported for future serial columns. */
export type _Generated = Generated<number>;
