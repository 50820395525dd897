/**
 * Zod schemas of every request and response of the v1 API. The server validates requests with them and
 * generates /v1/openapi.json from them; clients import the inferred types.
 */
import { z } from 'zod';

const METADATA_MAX_BYTES = 8 * 1024;
/** The longest a start may wait in a resource queue. */
export const MAX_WAIT_SECONDS = 900;

/** Bytes of `value` as JSON. Nesting too deep to serialise (a stack overflow) is far over any limit. */
function jsonBytes(value: unknown): number {
  try {
    return new TextEncoder().encode(JSON.stringify(value)).length;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

export const Timestamp = z.string().describe('RFC 3339 UTC timestamp with milliseconds');
export const Metadata = z
  .record(z.string(), z.unknown())
  .refine((value) => jsonBytes(value) <= METADATA_MAX_BYTES, {
    message: 'metadata must be at most 8 KiB of JSON',
  })
  .describe('Free-form JSON object, at most 8 KiB');

export const AgentType = z.enum(['generic', 'coding', 'mcp', 'scheduler', 'automation']);
export const AgentMode = z.enum(['enforce', 'observe', 'inherit']);
export const EffectiveMode = z.enum(['enforce', 'observe']);
export const ClaimStatus = z.enum(['active', 'released', 'expired', 'preempted']);
export const Outcome = z.enum(['finished', 'error', 'noop', 'cancelled']);
export const FileMode = z.enum(['edit', 'delete', 'review']);
export const Plan = z.enum(['free', 'team', 'unlimited']);

const IdempotencyKeyField = z.string().min(1).max(255).optional();
const AgentIdField = z
  .string()
  .min(1)
  .max(64)
  .optional()
  .describe('Required with a session cookie; with an agent key it is optional and must match the key');

/**
 * Every list in an answer is capped: at most ANSWER_LIST_CAP entries, with `<list>_count` (how
 * many there are in all) and `<list>_truncated` (true when some were left out) beside it. The one exception
 * is a claim's own `working_set`, which lists up to WORKING_SET_LIST_CAP file claims (a single request may
 * claim 500 paths, and its answer shows them all) with the same two fields beside it.
 */
export const ANSWER_LIST_CAP = 100;
export const WORKING_SET_LIST_CAP = 500;
const countOf = (list: string, cap: number = ANSWER_LIST_CAP) =>
  z.number().int().describe(`How many ${list} there are in all (the list shows at most ${cap})`);
const truncatedOf = (list: string, cap: number = ANSWER_LIST_CAP) => z.boolean().describe(`True when ${list} lists only the first ${cap}`);

// ---------------------------------------------------------------------------------------------------
// Objects returned by the API

export const FileClaim = z.object({
  id: z.string(),
  claim_id: z.string(),
  resource: z.string(),
  path: z.string(),
  mode: FileMode,
  expires_at: Timestamp,
  created_at: Timestamp,
});

export const Claim = z.object({
  id: z.string(),
  agent_id: z.string(),
  resource: z.string(),
  resource_type: z.string(),
  resource_key: z.string(),
  status: ClaimStatus,
  mode: EffectiveMode,
  reason: z.string().nullable(),
  priority: z.number().int(),
  metadata: z.record(z.string(), z.unknown()),
  fencing_token: z.number().int(),
  idempotency_key: z.string().nullable(),
  duration_minutes: z.number().int(),
  created_at: Timestamp,
  started_at: Timestamp,
  expires_at: Timestamp,
  released_at: Timestamp.nullable(),
  outcome: Outcome.nullable(),
  renewal_count: z.number().int(),
  working_set: z.array(FileClaim),
  working_set_count: countOf('working_set entries', WORKING_SET_LIST_CAP),
  working_set_truncated: truncatedOf('working_set', WORKING_SET_LIST_CAP),
});

export const BlockingClaim = z.object({
  id: z.string(),
  agent_id: z.string(),
  agent_name: z.string().nullable(),
  resource: z.string(),
  reason: z.string().nullable(),
  priority: z.number().int(),
  expires_at: Timestamp,
});

export const Agent = z.object({
  id: z.string(),
  org_id: z.string(),
  name: z.string(),
  agent_type: AgentType,
  priority: z.number().int(),
  mode: AgentMode,
  effective_mode: EffectiveMode,
  key_prefix: z.string().nullable(),
  created_at: Timestamp,
  last_seen_at: Timestamp.nullable(),
  online: z.boolean(),
});

export const User = z.object({ id: z.string(), email: z.string(), created_at: Timestamp });
export const Workspace = z.object({
  id: z.string(),
  name: z.string(),
  plan: Plan,
  created_at: Timestamp,
});

/** A member's role in a workspace, most powerful first. */
export const Role = z.enum(['owner', 'admin', 'member', 'viewer']);
/** A workspace the signed-in user belongs to, with their role there. */
export const WorkspaceMembership = Workspace.extend({ role: Role });

export const Pagination = z.object({
  limit: z.number().int(),
  offset: z.number().int(),
  total: z.number().int(),
  has_more: z.boolean(),
});

export const ErrorResponse = z
  .object({
    error: z.string(),
    message: z.string(),
    request_id: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  })
  .passthrough();

// ---------------------------------------------------------------------------------------------------
// Work coordination requests

/** Either `resource: "repo:owner/name"` or `resource_type` + `resource_key`. */
export const ResourceSelector = {
  resource: z.string().min(3).max(260).optional().describe('type:key, e.g. repo:owner/repo'),
  resource_type: z.string().min(1).max(40).optional(),
  resource_key: z.string().min(1).max(220).optional(),
};

export const RunStartRequest = z
  .object({
    agent_id: AgentIdField,
    ...ResourceSelector,
    duration_minutes: z.number().int().min(1).max(720).optional(),
    reason: z.string().max(500).optional(),
    metadata: Metadata.optional(),
    start_at: z.iso.datetime({ offset: true }).optional(),
    priority: z.number().int().min(0).max(1000).optional(),
    preempt: z.boolean().optional(),
    wait_seconds: z
      .number()
      .int()
      .min(0)
      .max(MAX_WAIT_SECONDS)
      .optional()
      .describe('Wait in the resource queue up to this long while it is blocked; 0 (default) answers at once'),
    idempotency_key: IdempotencyKeyField,
  })
  .strict();

export const RunExtendRequest = z
  .object({
    claim_id: z.string().min(1).max(64),
    duration_minutes: z.number().int().min(1).max(720).optional(),
    working_set: z.lazy(() => WorkingSetUpdate).optional(),
  })
  .strict();

export const ClaimExtendRequest = z.object({ duration_minutes: z.number().int().min(1).max(720).optional() }).strict();

export const RunFinishRequest = z
  .object({
    claim_id: z.string().min(1).max(64),
    outcome: Outcome.optional(),
    reason: z.string().max(500).optional(),
    metadata: Metadata.optional(),
  })
  .strict();

export const WorkingSetUpdate = z
  .object({
    mode: FileMode.optional(),
    paths: z.array(z.string().max(1024)).min(1).max(500),
    resource: z.string().min(3).max(260).optional(),
    lease_seconds: z.number().int().min(30).max(3600).optional(),
    op: z.enum(['set', 'add', 'remove']).optional(),
  })
  .strict();

export const WorkingSetRequest = WorkingSetUpdate.extend({ claim_id: z.string().min(1).max(64) }).strict();

export const BlockingPath = z.object({
  path: z.string(),
  claim_id: z.string(),
  agent_id: z.string(),
  mode: FileMode,
  held_path: z.string(),
  expires_at: Timestamp,
});

const WorkingSetList = {
  working_set: z.array(FileClaim),
  working_set_count: countOf('working_set entries', WORKING_SET_LIST_CAP),
  working_set_truncated: truncatedOf('working_set', WORKING_SET_LIST_CAP),
};
const BlockedLists = {
  blocked_paths: z.array(z.string()),
  blocked_paths_count: countOf('blocked paths'),
  blocked_paths_truncated: truncatedOf('blocked_paths'),
  blocking: z.array(BlockingPath).describe('One entry per (requested path, held file claim) that overlap'),
  blocking_count: countOf('blocking entries'),
  blocking_truncated: truncatedOf('blocking'),
};

export const WorkingSetResult = z.union([
  z.object({ action: z.literal('updated'), ...WorkingSetList }),
  z.object({
    action: z.literal('partial_proceed'),
    claimed_paths: z.array(z.string()),
    claimed_paths_count: countOf('claimed paths'),
    claimed_paths_truncated: truncatedOf('claimed_paths'),
    ...BlockedLists,
    ...WorkingSetList,
  }),
  z.object({ action: z.literal('blocked'), ...BlockedLists, ...WorkingSetList }),
]);

export const ShadowDecision = z.object({
  action: z.enum(['proceed', 'skip_run']),
  reason: z.string().nullable(),
  blocking_claim: BlockingClaim.nullable(),
});

export const RunStartResponse = z.union([
  z.object({
    action: z.literal('proceed'),
    mode: z.literal('enforce'),
    claim: Claim,
    retry_after: z.null(),
    preempted_claims: z.array(z.string()).optional(),
    waited_ms: z.number().int().optional().describe('A start with wait_seconds: how long it waited in the queue'),
  }),
  z.object({
    action: z.literal('skip_run'),
    mode: z.literal('enforce'),
    reason: z.string(),
    reason_code: z
      .enum(['wait_timeout', 'queued'])
      .optional()
      .describe('wait_timeout: the wait ended without a grant; queued: others wait ahead'),
    retry_after: Timestamp,
    blocking_claim: BlockingClaim.nullable().describe('Null only when the resource is free but others wait ahead (queue_length)'),
    queue_length: z.number().int().optional().describe('Starts waiting for this resource ahead of this one'),
    waited_ms: z.number().int().optional(),
  }),
  z.object({
    action: z.literal('proceed'),
    mode: z.literal('observe'),
    shadow_mode: z.literal(true),
    claim: z.null(),
    retry_after: z.null(),
    would_have_blocked: z.boolean(),
    shadow_decision: ShadowDecision,
  }),
]);

export const RunExtendResponse = z.object({
  action: z.literal('extended'),
  claim: Claim,
  working_set: WorkingSetResult.optional(),
});

export const RunFinishResponse = z.object({
  action: z.enum(['finished', 'already_finished']),
  claim: Claim,
});

export const CheckResponse = z.object({
  available: z.boolean(),
  action: z.enum(['proceed', 'skip_run']),
  mode: EffectiveMode,
  reason: z.string().nullable(),
  blocking_claim: BlockingClaim.nullable(),
  retry_after: Timestamp.nullable(),
});

export const ClaimResponse = z.object({ claim: Claim });
export const ReleaseResponse = z.object({
  action: z.enum(['released', 'already_released']),
  claim: Claim,
});

export const ListQuery = {
  limit: z.coerce.number().int().min(1).optional(),
  offset: z.coerce.number().int().min(0).optional(),
};

export const ClaimListQuery = z.object({
  resource: z.string().max(260).optional(),
  status: ClaimStatus.optional(),
  agent_id: z.string().max(64).optional(),
  ...ListQuery,
});

export const ClaimList = z.object({ data: z.array(Claim), pagination: Pagination });

export const ProtectedResource = z.object({
  resource: z.string(),
  resource_type: z.string(),
  resource_key: z.string(),
  active_claims: z.number().int(),
  last_claimed_at: Timestamp.nullable(),
  fencing_token: z.number().int(),
  created_at: Timestamp,
  queue: z
    .array(z.object({ agent_id: z.string(), priority: z.number().int(), since: Timestamp }))
    .describe('Starts waiting for this resource, in the order they will be granted'),
  queue_count: countOf('queued starts'),
  queue_truncated: truncatedOf('queue'),
});
export const ResourceList = z.object({ data: z.array(ProtectedResource), pagination: Pagination });

// ---------------------------------------------------------------------------------------------------
// Workspace auth and agents

export const SignupRequest = z
  .object({
    email: z.email().max(254),
    password: z.string().min(10).max(256),
    workspace_name: z.string().trim().min(1).max(100),
  })
  .strict();

export const LoginRequest = z.object({ email: z.string().min(1).max(254), password: z.string().min(1).max(256) }).strict();

export const SessionResponse = z.object({
  user: User,
  workspace: WorkspaceMembership.describe("The workspace this session acts in, with the user's role there"),
  workspaces: z.array(WorkspaceMembership).describe('Every workspace the user belongs to (oldest membership first, at most 100)'),
  csrf_token: z.string(),
});

export const AgentCreateRequest = z
  .object({
    name: z.string().trim().min(1).max(100),
    agent_type: AgentType.optional(),
    priority: z.number().int().min(0).max(1000).optional(),
    mode: AgentMode.optional(),
    idempotency_key: IdempotencyKeyField,
  })
  .strict();

export const AgentPatchRequest = z
  .object({
    name: z.string().trim().min(1).max(100).optional(),
    agent_type: AgentType.optional(),
    priority: z.number().int().min(0).max(1000).optional(),
    mode: AgentMode.optional(),
  })
  .strict();

export const AgentResponse = z.object({ agent: Agent });
export const AgentWithKeyResponse = z.object({
  agent: Agent,
  api_key: z
    .string()
    .nullable()
    .describe('The new key, shown once. Null on an idempotent replay: keys are never stored or shown twice (rotate to get a new one).'),
});
export const AgentList = z.object({ data: z.array(Agent), pagination: Pagination });

export const HealthResponse = z.object({
  status: z.enum(['ok', 'degraded']),
  database: z.object({ kind: z.enum(['sqlite', 'postgres']), ok: z.boolean() }),
  version: z.string(),
  uptime_s: z.number(),
});

/** GET /health/ready: 503 until the database answers, the migrations are applied and the tables are visible. */
export const ReadyResponse = z.object({
  ready: z.boolean(),
  checks: z.array(z.object({ name: z.enum(['database', 'migrations', 'schema']), ok: z.boolean(), message: z.string() })),
});
export type ReadyResponse = z.infer<typeof ReadyResponse>;

export type Claim = z.infer<typeof Claim>;
export type FileClaim = z.infer<typeof FileClaim>;
export type BlockingClaim = z.infer<typeof BlockingClaim>;
export type BlockingPath = z.infer<typeof BlockingPath>;
export type Agent = z.infer<typeof Agent>;
export type RunStartRequest = z.infer<typeof RunStartRequest>;
export type RunStartResponse = z.infer<typeof RunStartResponse>;
export type RunExtendRequest = z.infer<typeof RunExtendRequest>;
export type RunExtendResponse = z.infer<typeof RunExtendResponse>;
export type RunFinishRequest = z.infer<typeof RunFinishRequest>;
export type RunFinishResponse = z.infer<typeof RunFinishResponse>;
export type WorkingSetUpdate = z.infer<typeof WorkingSetUpdate>;
export type WorkingSetRequest = z.infer<typeof WorkingSetRequest>;
export type WorkingSetResult = z.infer<typeof WorkingSetResult>;
export type CheckResponse = z.infer<typeof CheckResponse>;
export type ClaimListQuery = z.infer<typeof ClaimListQuery>;
export type ProtectedResource = z.infer<typeof ProtectedResource>;
export type Pagination = z.infer<typeof Pagination>;
export type AgentTypeValue = z.infer<typeof AgentType>;
export type AgentModeValue = z.infer<typeof AgentMode>;
export type EffectiveModeValue = z.infer<typeof EffectiveMode>;
export type ClaimStatusValue = z.infer<typeof ClaimStatus>;
export type OutcomeValue = z.infer<typeof Outcome>;
export type FileModeValue = z.infer<typeof FileMode>;
export type PlanValue = z.infer<typeof Plan>;
export type RoleValue = z.infer<typeof Role>;
export type SessionResponse = z.infer<typeof SessionResponse>;
