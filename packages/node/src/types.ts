/**
 * The API's objects, requests and responses as the SDK returns them: snake_case, exactly as the server
 * sends them. They mirror `@availsync/protocol` (whose types are inferred from zod schemas), declared here
 * by hand so the published `.d.ts` files need neither zod nor the protocol package. `test/types.test.ts`
 * proves, at compile time, that each one still matches the protocol's.
 */

export type Timestamp = string;
export type JsonObject = Record<string, unknown>;

export type AgentType = 'generic' | 'coding' | 'mcp' | 'scheduler' | 'automation';
export type AgentMode = 'enforce' | 'observe' | 'inherit';
export type EffectiveMode = 'enforce' | 'observe';
export type ClaimStatus = 'active' | 'released' | 'expired' | 'preempted';
export type Outcome = 'finished' | 'error' | 'noop' | 'cancelled';
export type FileMode = 'edit' | 'delete' | 'review';
export type WorkingSetOp = 'set' | 'add' | 'remove';

// ---------------------------------------------------------------------------------------------------
// Work claims

export interface FileClaim {
  id: string;
  claim_id: string;
  resource: string;
  path: string;
  mode: FileMode;
  expires_at: Timestamp;
  created_at: Timestamp;
}

export interface Claim {
  id: string;
  agent_id: string;
  resource: string;
  resource_type: string;
  resource_key: string;
  status: ClaimStatus;
  mode: EffectiveMode;
  reason: string | null;
  priority: number;
  metadata: JsonObject;
  fencing_token: number;
  idempotency_key: string | null;
  duration_minutes: number;
  created_at: Timestamp;
  started_at: Timestamp;
  expires_at: Timestamp;
  released_at: Timestamp | null;
  outcome: Outcome | null;
  renewal_count: number;
  /** The live file claims, at most 500 (see `working_set_count` / `working_set_truncated`). */
  working_set: FileClaim[];
  working_set_count: number;
  working_set_truncated: boolean;
}

export interface BlockingClaim {
  id: string;
  agent_id: string;
  agent_name: string | null;
  resource: string;
  reason: string | null;
  priority: number;
  expires_at: Timestamp;
}

export interface ShadowDecision {
  action: 'proceed' | 'skip_run';
  reason: string | null;
  blocking_claim: BlockingClaim | null;
}

export interface StartProceed {
  action: 'proceed';
  mode: 'enforce';
  claim: Claim;
  retry_after: null;
  /** Ids of lower-priority claims this start preempted (`preempt: true`). */
  preempted_claims?: string[];
  /** A start with waitSeconds: how long it waited in the queue. */
  waited_ms?: number;
  /** Absent in enforce mode (declared so `started.shadow_mode && started.would_have_blocked` type-checks). */
  shadow_mode?: undefined;
  would_have_blocked?: undefined;
}

export interface StartSkip {
  action: 'skip_run';
  mode: 'enforce';
  reason: string;
  /** `wait_timeout`: a wait ended without a grant; `queued`: others wait ahead in the queue. */
  reason_code?: 'wait_timeout' | 'queued';
  retry_after: Timestamp;
  /** Null only when the resource is free but others wait ahead (`queue_length`). */
  blocking_claim: BlockingClaim | null;
  queue_length?: number;
  waited_ms?: number;
}

export interface StartObserve {
  action: 'proceed';
  mode: 'observe';
  shadow_mode: true;
  claim: null;
  retry_after: null;
  would_have_blocked: boolean;
  shadow_decision: ShadowDecision;
}

/** `POST /v1/work/run/start`. */
export type StartResponse = StartProceed | StartSkip | StartObserve;

export interface BlockingPath {
  path: string;
  claim_id: string;
  agent_id: string;
  mode: FileMode;
  held_path: string;
  expires_at: Timestamp;
}

/** This run's own working set in an answer: up to 500 file claims, with the whole count beside them. */
export interface WorkingSetList {
  working_set: FileClaim[];
  working_set_count: number;
  /** True when `working_set` lists only the first 500 of `working_set_count`. */
  working_set_truncated: boolean;
}
/**
 * Who blocked which paths. Every list is capped at 100 entries: `<list>_count` says how many there are in all
 * and `<list>_truncated` is true when the list shows only the first 100.
 */
export interface BlockedLists {
  blocked_paths: string[];
  blocked_paths_count: number;
  blocked_paths_truncated: boolean;
  /** One entry per (requested path, held file claim) that overlap. */
  blocking: BlockingPath[];
  blocking_count: number;
  blocking_truncated: boolean;
}
export interface WorkingSetUpdated extends WorkingSetList {
  action: 'updated';
}
export interface WorkingSetPartial extends WorkingSetList, BlockedLists {
  action: 'partial_proceed';
  claimed_paths: string[];
  claimed_paths_count: number;
  claimed_paths_truncated: boolean;
}
export interface WorkingSetBlocked extends WorkingSetList, BlockedLists {
  action: 'blocked';
}

/** `POST /v1/work/run/working-set` (the SDK returns `blocked` instead of throwing on its 409). */
export type WorkingSetResult = WorkingSetUpdated | WorkingSetPartial | WorkingSetBlocked;

/** `POST /v1/work/run/extend`. */
export interface ExtendResponse {
  action: 'extended';
  claim: Claim;
  working_set?: WorkingSetResult;
}

/** `POST /v1/work/run/finish`. */
export interface FinishResponse {
  action: 'finished' | 'already_finished';
  claim: Claim;
}

/** `POST /v1/work/check`. */
export interface CheckResponse {
  available: boolean;
  action: 'proceed' | 'skip_run';
  mode: EffectiveMode;
  reason: string | null;
  blocking_claim: BlockingClaim | null;
  retry_after: Timestamp | null;
}

export interface Pagination {
  limit: number;
  offset: number;
  total: number;
  has_more: boolean;
}

export interface List<T> {
  data: T[];
  pagination: Pagination;
}

export interface ClaimResponse {
  claim: Claim;
}

/** `DELETE /v1/work/claims/:claim_id`. */
export interface ReleaseClaimResponse {
  action: 'released' | 'already_released';
  claim: Claim;
}

export interface ProtectedResource {
  resource: string;
  resource_type: string;
  resource_key: string;
  active_claims: number;
  last_claimed_at: Timestamp | null;
  fencing_token: number;
  created_at: Timestamp;
  /** Starts waiting for this resource, in the order they will be granted (first 100). */
  queue: { agent_id: string; priority: number; since: Timestamp }[];
  queue_count: number;
  queue_truncated: boolean;
}

// ---------------------------------------------------------------------------------------------------
// Agent

export interface Agent {
  id: string;
  org_id: string;
  name: string;
  agent_type: AgentType;
  priority: number;
  mode: AgentMode;
  effective_mode: EffectiveMode;
  key_prefix: string | null;
  created_at: Timestamp;
  last_seen_at: Timestamp | null;
  online: boolean;
}

/** `GET /v1/agent`. */
export interface AgentResponse {
  agent: Agent;
}

// ---------------------------------------------------------------------------------------------------
// Availability holds

export type HoldStatus = 'active' | 'released' | 'expired';

export interface Hold {
  id: string;
  agent_id: string;
  resource: string;
  resource_type: string;
  resource_key: string;
  start_at: Timestamp;
  end_at: Timestamp;
  status: HoldStatus;
  reason: string | null;
  metadata: JsonObject;
  /** A tentative hold lapses at this time unless confirmed; null for a firm hold. */
  expires_at: Timestamp | null;
  idempotency_key: string | null;
  created_at: Timestamp;
  released_at: Timestamp | null;
}

export interface HoldResponse {
  hold: Hold;
}

/** `DELETE /v1/holds/:hold_id`. */
export interface ReleaseHoldResponse {
  action: 'released' | 'already_released';
  hold: Hold;
}

/** `POST /v1/holds/:hold_id/confirm`: a tentative hold becomes firm. */
export interface ConfirmHoldResponse {
  action: 'confirmed' | 'already_confirmed';
  hold: Hold;
}

/** Windows are half-open: `[start_at, end_at)`. */
export interface TimeWindow {
  start_at: Timestamp;
  end_at: Timestamp;
}

export interface BusyWindow extends TimeWindow {
  hold_id: string;
  agent_id: string;
}

/** `GET /v1/availability`. */
export interface AvailabilityResponse {
  resource: string;
  from: Timestamp;
  to: Timestamp;
  /** The first 100 busy windows (`busy_count` in all; `busy_truncated` when some are left out). */
  busy: BusyWindow[];
  busy_count: number;
  busy_truncated: boolean;
  /** The first 100 free gaps (`free_count` in all). */
  free: TimeWindow[];
  free_count: number;
  free_truncated: boolean;
  /** The first free window of `duration_minutes`, when that was asked. */
  first_free_slot: TimeWindow | null;
}

/** `POST /v1/conflicts/check`. */
export interface ConflictCheckResponse {
  conflict: boolean;
  /** The first 100 overlapping holds (`conflicts_count` in all; `conflicts_truncated` when some are left out). */
  conflicts: Hold[];
  conflicts_count: number;
  conflicts_truncated: boolean;
  next_free_slot: TimeWindow | null;
}

// ---------------------------------------------------------------------------------------------------
// Activity and MCP

export interface UsageReport {
  id: string;
  agent_id: string;
  claim_id: string | null;
  model: string | null;
  input_tokens: number | null;
  output_tokens: number | null;
  cost_usd: number | null;
  external_run_id: string | null;
  metadata: JsonObject;
  created_at: Timestamp;
}

/** `POST /v1/activity/usage`. */
export interface UsageResponse {
  usage: UsageReport;
}

/** `POST /v1/mcp/heartbeat`. */
export interface HeartbeatResponse {
  ok: true;
  server_time: Timestamp;
}

/** The error envelope of every non-2xx answer. */
export interface ErrorBody {
  error: string;
  message: string;
  request_id: string;
  details?: JsonObject;
  [extra: string]: unknown;
}
