/**
 * Governance: workspace rules and resource dependencies, plans and their limits, billing
 * status, activity (runtime traffic) and usage reports, the audit log, value and health, setup checks and
 * the MCP heartbeat.
 *
 * Shapes only: the server checks what depends on other fields or on stored state (default ≤ max, a
 * resource depending on itself, from ≤ to) and answers 400 with `details` per field.
 */
import { z } from 'zod';
import { EffectiveMode, ListQuery, Metadata, Pagination, Plan, Timestamp } from './schemas.js';

const Instant = z.iso.datetime({ offset: true }).describe('RFC 3339 timestamp, e.g. 2026-03-02T10:00:00Z');
const WorkResourceField = z.string().min(3).max(260).describe('repo:owner/name or project:key');
const IdField = z.string().min(1).max(64);

// ---------------------------------------------------------------------------------------------------
// Rules

export const RULES_MAX_CLAIM_MINUTES = 720;
export const RULES_MAX_DEPENDENCIES = 200;
export const RULES_MAX_DEPENDS_ON = 50;

export const DependencyRule = z
  .object({
    resource: WorkResourceField,
    depends_on: z.array(WorkResourceField).min(1).max(RULES_MAX_DEPENDS_ON),
  })
  .strict()
  .describe('Claims on `resource` and on each of `depends_on` conflict with each other, in both directions');

export const Rules = z.object({
  default_mode: EffectiveMode.describe('Mode of agents whose own mode is `inherit`'),
  default_claim_minutes: z.number().int().min(1).max(RULES_MAX_CLAIM_MINUTES),
  max_claim_minutes: z.number().int().min(1).max(RULES_MAX_CLAIM_MINUTES),
  dependencies: z.array(DependencyRule),
});

/** PUT body: omitted fields keep their values; `dependencies`, when given, replaces the whole list. */
export const RulesUpdateRequest = z
  .object({
    default_mode: EffectiveMode.optional(),
    default_claim_minutes: z.number().int().min(1).max(RULES_MAX_CLAIM_MINUTES).optional(),
    max_claim_minutes: z.number().int().min(1).max(RULES_MAX_CLAIM_MINUTES).optional(),
    dependencies: z.array(DependencyRule).max(RULES_MAX_DEPENDENCIES).optional(),
  })
  .strict();

// ---------------------------------------------------------------------------------------------------
// Plans and billing

export const PlanLimitName = z.enum(['agents', 'active_claims', 'protected_resources', 'monthly_api_calls']);

/** `null` means unlimited. */
export const PLAN_LIMITS = {
  free: { agents: 3, active_claims: 3, protected_resources: 25, monthly_api_calls: 10_000 },
  team: { agents: 50, active_claims: 100, protected_resources: 1_000, monthly_api_calls: 1_000_000 },
  unlimited: { agents: null, active_claims: null, protected_resources: null, monthly_api_calls: null },
} as const satisfies Record<z.infer<typeof Plan>, Record<z.infer<typeof PlanLimitName>, number | null>>;

const Limit = z.number().int().nullable().describe('null: unlimited');
export const PlanLimits = z.object({
  agents: Limit,
  active_claims: Limit,
  protected_resources: Limit,
  monthly_api_calls: Limit,
});

export const PlanUsage = z.object({
  agents: z.number().int(),
  active_claims: z.number().int(),
  protected_resources: z.number().int(),
  monthly_api_calls: z.number().int(),
  period: z.string().describe('The calendar month (UTC) API calls are counted in, YYYY-MM'),
  period_start: Timestamp,
  period_end: Timestamp,
});

export const UpgradeHint = z.object({
  limit: PlanLimitName,
  current: z.number().int(),
  max: z.number().int(),
  suggested_plan: Plan,
  message: z.string(),
});

export const BillingStatusResponse = z.object({
  plan: Plan,
  limits: PlanLimits,
  usage: PlanUsage,
  upgrade_hints: z.array(UpgradeHint),
});

/** `details` of a 402 plan_limit_reached. */
export const PlanLimitDetails = z.object({
  limit: PlanLimitName,
  current: z.number().int(),
  max: z.number().int(),
  plan: Plan,
});

// ---------------------------------------------------------------------------------------------------
// Activity and usage

export const ActivityType = z.enum(['work', 'hold', 'usage', 'heartbeat', 'setup_test', 'other']);

export const Activity = z.object({
  id: z.string(),
  agent_id: z.string(),
  type: ActivityType,
  method: z.string(),
  route: z.string().describe('The route pattern, e.g. /v1/work/claims/:claim_id'),
  status_code: z.number().int(),
  action: z
    .string()
    .nullable()
    .describe(
      'The answer’s action (proceed, skip_run, extended, …); shadow_skip_run for an observe-mode start that would have been blocked',
    ),
  resource: z.string().nullable(),
  latency_ms: z.number(),
  request_id: z.string(),
  created_at: Timestamp,
});

const ActivityStatus = z
  .string()
  .regex(/^(ok|error|[1-5][0-9][0-9])$/, 'ok, error, or a status code such as 402')
  .describe('ok (status < 400), error (≥ 400), or one status code');

export const ActivityListQuery = z.object({
  agent_id: IdField.optional(),
  status: ActivityStatus.optional(),
  type: ActivityType.optional(),
  from: Instant.optional(),
  to: Instant.optional(),
  ...ListQuery,
});

export const ActivityList = z.object({ data: z.array(Activity), pagination: Pagination });

export const UsageReportRequest = z
  .object({
    claim_id: IdField.optional(),
    model: z.string().min(1).max(200).optional(),
    input_tokens: z.number().int().min(0).max(1e12).optional(),
    output_tokens: z.number().int().min(0).max(1e12).optional(),
    cost_usd: z.number().min(0).max(1e7).optional(),
    external_run_id: z.string().min(1).max(200).optional(),
    metadata: Metadata.optional(),
    idempotency_key: z.string().min(1).max(255).optional(),
  })
  .strict();

export const UsageReport = z.object({
  id: z.string(),
  agent_id: z.string(),
  claim_id: z.string().nullable(),
  model: z.string().nullable(),
  input_tokens: z.number().int().nullable(),
  output_tokens: z.number().int().nullable(),
  cost_usd: z.number().nullable(),
  external_run_id: z.string().nullable(),
  metadata: z.record(z.string(), z.unknown()),
  created_at: Timestamp,
});

export const UsageReportResponse = z.object({ usage: UsageReport });

// ---------------------------------------------------------------------------------------------------
// Audit

export const ActorType = z.enum(['agent', 'user', 'system']);

export const AuditEvent = z.object({
  id: z.string(),
  event: z.string(),
  actor_type: ActorType,
  actor_id: z.string().nullable(),
  resource: z.string().nullable(),
  claim_id: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
  created_at: Timestamp,
});

export const AuditListQuery = z.object({
  agent_id: IdField.optional().describe('Events whose actor is this agent'),
  actor_type: ActorType.optional(),
  actor_id: IdField.optional(),
  event: z
    .string()
    .regex(/^[a-z_]+(\.[a-z_]+)*(\.\*)?$/, 'an event name such as claim.started, or a prefix such as claim.*')
    .max(100)
    .optional(),
  resource: z.string().min(3).max(260).optional(),
  claim_id: IdField.optional(),
  from: Instant.optional(),
  to: Instant.optional(),
  ...ListQuery,
});

export const AuditList = z.object({ data: z.array(AuditEvent), pagination: Pagination });

// ---------------------------------------------------------------------------------------------------
// Value and health

export const AgentHealth = z.enum(['healthy', 'idle', 'stale', 'never_seen']);

/** How `health` is decided from the last time an agent was seen (any request or heartbeat). */
export const AGENT_HEALTH_THRESHOLDS = {
  /** Seen at most this long ago (or online): healthy. */
  healthy_within_hours: 24,
  /** Seen at most this long ago: idle; longer: stale. */
  idle_within_days: 7,
} as const;

export const ValueHealthQuery = z.object({
  days: z.coerce.number().int().min(1).max(90).optional().describe('Window of the counters, default 30 days'),
});

export const Hotspot = z.object({
  resource: z.string(),
  path: z.string().optional().describe('Set for a working-set path that conflicted'),
  conflicts: z.number().int(),
});

export const AgentHealthRow = z.object({
  id: z.string(),
  name: z.string(),
  health: AgentHealth,
  last_seen_at: Timestamp.nullable(),
  online: z.boolean(),
});

export const ValueHealthResponse = z.object({
  window: z.object({ from: Timestamp, to: Timestamp, days: z.number().int() }),
  conflicts_prevented: z.number().int().describe('runs_skipped + working_set_conflicts'),
  runs_skipped: z.number().int().describe('Enforce-mode starts answered skip_run'),
  would_have_blocked: z.number().int().describe('Observe-mode starts that enforce mode would have skipped'),
  working_set_conflicts: z.number().int().describe('Working-set updates that had paths blocked by another run'),
  active_claims: z.number().int(),
  claims_started_7d: z.number().int(),
  tokens_reported: z.number().int(),
  cost_reported_usd: z.number(),
  hotspots: z.array(Hotspot).describe('The 10 resources and paths with the most conflicts'),
  hotspots_count: z.number().int().describe('How many resources and paths had conflicts in the window'),
  hotspots_truncated: z.boolean().describe('True when hotspots lists only the first 10'),
  agents: z.array(AgentHealthRow).describe('The first 100 agents, oldest first'),
  agents_count: z.number().int().describe('How many agents the workspace has'),
  agents_truncated: z.boolean().describe('True when agents lists only the first 100'),
});

// ---------------------------------------------------------------------------------------------------
// Setup checks and heartbeat

export const SETUP_TEST_RESOURCE = 'project:availsync-setup-test';

export const ConnectionCheck = z.object({ name: z.string(), ok: z.boolean(), message: z.string() });

export const TestConnectionResponse = z.object({
  ready: z.boolean(),
  agent_id: z.string(),
  checks: z.array(ConnectionCheck),
});

export const SetupTestStep = z.object({
  name: z.enum(['start', 'working_set', 'extend', 'finish']),
  ok: z.boolean(),
  status_code: z.number().int().nullable().describe('null when the step did not run'),
  action: z.string().nullable(),
  message: z.string(),
  result: z.unknown().describe('The body the step’s endpoint would have answered'),
});

export const SetupTestResponse = z.object({
  ok: z.boolean(),
  agent_id: z.string(),
  resource: z.string(),
  claim_id: z.string().nullable(),
  steps: z.array(SetupTestStep),
});

export const HeartbeatRequest = z
  .object({
    client: z.string().min(1).max(100).optional().describe('e.g. availsync-mcp'),
    version: z.string().min(1).max(50).optional(),
  })
  .strict();

export const HeartbeatResponse = z.object({ ok: z.literal(true), server_time: Timestamp });

export type DependencyRule = z.infer<typeof DependencyRule>;
export type Rules = z.infer<typeof Rules>;
export type RulesUpdateRequest = z.infer<typeof RulesUpdateRequest>;
export type PlanLimitNameValue = z.infer<typeof PlanLimitName>;
export type PlanLimits = z.infer<typeof PlanLimits>;
export type PlanUsage = z.infer<typeof PlanUsage>;
export type UpgradeHint = z.infer<typeof UpgradeHint>;
export type BillingStatusResponse = z.infer<typeof BillingStatusResponse>;
export type PlanLimitDetails = z.infer<typeof PlanLimitDetails>;
export type ActivityTypeValue = z.infer<typeof ActivityType>;
export type Activity = z.infer<typeof Activity>;
export type ActivityListQuery = z.infer<typeof ActivityListQuery>;
export type UsageReportRequest = z.infer<typeof UsageReportRequest>;
export type UsageReport = z.infer<typeof UsageReport>;
export type AuditEvent = z.infer<typeof AuditEvent>;
export type AuditListQuery = z.infer<typeof AuditListQuery>;
export type AgentHealthValue = z.infer<typeof AgentHealth>;
export type ValueHealthResponse = z.infer<typeof ValueHealthResponse>;
export type ConnectionCheck = z.infer<typeof ConnectionCheck>;
export type TestConnectionResponse = z.infer<typeof TestConnectionResponse>;
export type SetupTestStep = z.infer<typeof SetupTestStep>;
export type SetupTestResponse = z.infer<typeof SetupTestResponse>;
export type HeartbeatRequest = z.infer<typeof HeartbeatRequest>;
