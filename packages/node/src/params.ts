/**
 * The parameters of the client's calls: camelCase, as a caller writes them (client.ts turns them into the
 * API's snake_case bodies). Shared by client.ts and with-claim.ts, so neither imports the other's types.
 */
import type { ClaimStatus, FileMode, HoldStatus, JsonObject, Outcome, WorkingSetOp } from './types.js';

export interface StartParams {
  /** `type:key`, e.g. `repo:owner/repo` or `project:homepage`. */
  resource: string;
  durationMinutes?: number | undefined;
  reason?: string | undefined;
  /** One key per logical run; a replay returns the first answer. The SDK generates one when absent. */
  idempotencyKey?: string | undefined;
  metadata?: JsonObject | undefined;
  /** At most 5 minutes ahead (clock skew); reserve later windows with holds. */
  startAt?: string | Date | undefined;
  /** At most the agent's own priority. */
  priority?: number | undefined;
  /** Preempt strictly lower-priority claims. */
  preempt?: boolean | undefined;
  /**
   * Wait in the resource's queue up to this many seconds (0–900) while it is blocked: `proceed` with
   * `waited_ms` when granted, `skip_run` with `reason_code: 'wait_timeout'` when not. The call's timeout
   * is stretched to cover the wait, and a retry keeps the idempotency key, so it keeps its place.
   */
  waitSeconds?: number | undefined;
}

export type CheckParams = Omit<StartParams, 'idempotencyKey' | 'waitSeconds'>;

export interface WorkingSetUpdate {
  /** 1–500 repo-relative POSIX paths; a trailing `/` is a directory; globs allowed. */
  paths: string[];
  mode?: FileMode | undefined;
  /** Default: the claim's resource. `repo:owner/repo` lets project claims coordinate on one repo's paths. */
  resource?: string | undefined;
  /** 30–3600, default 600; never past the claim's expiry. */
  leaseSeconds?: number | undefined;
  op?: WorkingSetOp | undefined;
}

export interface ExtendParams {
  /** Default: the claim's original duration. The new expiry is now + duration (not additive). */
  durationMinutes?: number | undefined;
  /** Refresh file claims in the same call. */
  workingSet?: WorkingSetUpdate | undefined;
}

export interface FinishParams {
  outcome?: Outcome | undefined;
  reason?: string | undefined;
  metadata?: JsonObject | undefined;
}

export interface ListParams {
  resource?: string | undefined;
  status?: ClaimStatus | undefined;
  limit?: number | undefined;
  offset?: number | undefined;
}

export interface HoldCreateParams {
  resource: string;
  startAt: string | Date;
  endAt: string | Date;
  reason?: string | undefined;
  metadata?: JsonObject | undefined;
  /** A tentative hold lapses after this many minutes unless confirmed. */
  ttlMinutes?: number | undefined;
  idempotencyKey?: string | undefined;
}

export interface HoldListParams {
  resource?: string | undefined;
  status?: HoldStatus | undefined;
  from?: string | Date | undefined;
  to?: string | Date | undefined;
  limit?: number | undefined;
  offset?: number | undefined;
}

export interface AvailabilityParams {
  resource: string;
  from?: string | Date | undefined;
  to?: string | Date | undefined;
  /** Ask for `first_free_slot` of at least this length. */
  durationMinutes?: number | undefined;
}

export interface ConflictCheckParams {
  resource: string;
  startAt: string | Date;
  endAt: string | Date;
}

export interface UsageParams {
  claimId?: string | undefined;
  model?: string | undefined;
  inputTokens?: number | undefined;
  outputTokens?: number | undefined;
  costUsd?: number | undefined;
  externalRunId?: string | undefined;
  metadata?: JsonObject | undefined;
  idempotencyKey?: string | undefined;
}

export interface HeartbeatParams {
  /** e.g. `availsync-mcp`. */
  client?: string | undefined;
  version?: string | undefined;
}
