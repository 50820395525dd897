/**
 * @availsync/node: guard coding-agent runs, cron jobs and automations with time-bounded work claims.
 *
 *   const availsync = createAvailsyncClient({ apiKey, agentId, baseUrl });
 *   const result = await availsync.work.withClaim('repo:owner/repo', { durationMinutes: 45 }, async ({ claim, signal }) => { ... });
 */
export {
  type AvailabilityParams,
  type AvailsyncClient,
  type AvailsyncClientOptions,
  type CheckParams,
  type ConflictCheckParams,
  createAvailsyncClient,
  DEFAULT_BASE_URL,
  DEFAULT_MAX_RETRIES,
  DEFAULT_TIMEOUT_MS,
  type ExtendParams,
  type FinishParams,
  type HeartbeatParams,
  type HoldCreateParams,
  type HoldListParams,
  type ListParams,
  type StartParams,
  type UsageParams,
  type WorkApi,
  type WorkingSetUpdate,
} from './client.js';
export { AvailsyncError, type AvailsyncErrorKind, isAvailsyncError } from './errors.js';
export type { FetchInitLike, FetchLike, FetchResponseLike, RequestOptions, RetryInfo } from './http.js';
export type * from './types.js';
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
