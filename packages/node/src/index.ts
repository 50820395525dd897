/**
 * @availsync/node: guard coding-agent runs, cron jobs and automations with time-bounded work claims.
 *
 *   const availsync = createAvailsyncClient({ apiKey, agentId, baseUrl });
 *   const result = await availsync.work.withClaim('repo:owner/repo', { durationMinutes: 45 }, async ({ claim, signal }) => { ... });
 */
export {
  type AvailsyncClient,
  type AvailsyncClientOptions,
  createAvailsyncClient,
  DEFAULT_BASE_URL,
  DEFAULT_MAX_RETRIES,
  DEFAULT_TIMEOUT_MS,
  type WorkApi,
} from './client.js';
export { AvailsyncError, type AvailsyncErrorKind, isAvailsyncError } from './errors.js';
export type { FetchInitLike, FetchLike, FetchResponseLike, RequestOptions, RetryInfo } from './http.js';
export type {
  AvailabilityParams,
  CheckParams,
  ConflictCheckParams,
  ExtendParams,
  FinishParams,
  HeartbeatParams,
  HoldCreateParams,
  HoldListParams,
  ListParams,
  StartParams,
  UsageParams,
  WorkingSetUpdate,
} from './params.js';
export type {
  Agent,
  AgentMode,
  AgentResponse,
  AgentType,
  AvailabilityResponse,
  BlockingClaim,
  BlockingPath,
  BusyWindow,
  CheckResponse,
  Claim,
  ClaimResponse,
  ClaimStatus,
  ConfirmHoldResponse,
  ConflictCheckResponse,
  EffectiveMode,
  ErrorBody,
  ExtendResponse,
  FileClaim,
  FileMode,
  FinishResponse,
  HeartbeatResponse,
  Hold,
  HoldResponse,
  HoldStatus,
  JsonObject,
  List,
  Outcome,
  Pagination,
  ProtectedResource,
  ReleaseClaimResponse,
  ReleaseHoldResponse,
  ShadowDecision,
  StartObserve,
  StartProceed,
  StartResponse,
  StartSkip,
  Timestamp,
  TimeWindow,
  UsageReport,
  UsageResponse,
  WorkingSetBlocked,
  WorkingSetOp,
  WorkingSetPartial,
  WorkingSetResult,
  WorkingSetUpdated,
} from './types.js';
export { VERSION } from './version.js';
export type {
  ActiveClaim,
  Shadow,
  WithClaimCallback,
  WithClaimContext,
  WithClaimOptions,
  WithClaimProceed,
  WithClaimResult,
  WithClaimSkip,
} from './with-claim.js';
