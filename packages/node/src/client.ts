/**
 * createAvailsyncClient: camelCase options in, the API's snake_case objects out (as the server sends them).
 */
import { AvailsyncError } from './errors.js';
import { type Answer, type Call, type FetchLike, type RequestOptions, type RetryInfo, Transport } from './http.js';
import type {
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
import type {
  AgentResponse,
  AvailabilityResponse,
  CheckResponse,
  Claim,
  ClaimResponse,
  ConfirmHoldResponse,
  ConflictCheckResponse,
  ExtendResponse,
  FinishResponse,
  HeartbeatResponse,
  Hold,
  HoldResponse,
  List,
  ProtectedResource,
  ReleaseClaimResponse,
  ReleaseHoldResponse,
  StartResponse,
  UsageResponse,
  WorkingSetResult,
} from './types.js';
import { type WithClaimCallback, type WithClaimOptions, type WithClaimResult, withClaim } from './with-claim.js';

export const DEFAULT_BASE_URL = 'http://127.0.0.1:8787';
export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_RETRIES = 2;

export interface AvailsyncClientOptions {
  /** The agent's API key (`avs_live_...`). Keep it in server, CI, MCP or automation environment variables. */
  apiKey: string;
  /** The agent the key belongs to. Sent with start/check so the server refuses a key/agent mix-up. */
  agentId?: string | undefined;
  /** Default: `AVAILSYNC_API_URL`, else http://127.0.0.1:8787. */
  baseUrl?: string | undefined;
  /** Per attempt, in milliseconds. Default 30 000. 0 or Infinity: no timeout (the call waits for its answer or its signal). */
  timeoutMs?: number | undefined;
  /** Default `globalThis.fetch`. */
  fetch?: FetchLike | undefined;
  /** Retries of a failed call where retrying is safe. Default 2 (three attempts). */
  maxRetries?: number | undefined;
  /** First backoff ceiling; doubles each retry (full jitter). Default 500 ms. */
  retryBaseDelayMs?: number | undefined;
  /** Backoff cap. Default 8 000 ms. */
  retryMaxDelayMs?: number | undefined;
  /** A Retry-After longer than this is not waited for: the error is thrown. Default 60 000 ms. */
  maxRetryAfterMs?: number | undefined;
  /** Called before each retry (for logging). */
  onRetry?: ((info: RetryInfo) => void) | undefined;
  /** Replaces the default User-Agent (`availsync-node/<version> node/<version>`). */
  userAgent?: string | undefined;
}

const time = (v: string | Date | undefined) => (v instanceof Date ? v.toISOString() : v);
const encodeId = (id: string) => encodeURIComponent(id);

/** snake_case body of a working-set update. */
export function workingSetBody(u: WorkingSetUpdate) {
  return { paths: u.paths, mode: u.mode, resource: u.resource, lease_seconds: u.leaseSeconds, op: u.op };
}

/** The 409 `blocked` answer of the working-set endpoint is a result, not an error. */
const blockedIsAnswer = (status: number, body: unknown) =>
  status === 409 && body !== null && typeof body === 'object' && (body as { action?: unknown }).action === 'blocked';

export type AvailsyncClient = ReturnType<typeof createAvailsyncClient>;

export function createAvailsyncClient(options: AvailsyncClientOptions) {
  if (options === null || typeof options !== 'object') {
    throw new AvailsyncError({ kind: 'validation', code: 'invalid_options', message: 'createAvailsyncClient needs an options object' });
  }
  if (typeof options.apiKey !== 'string' || options.apiKey.trim() === '') {
    throw new AvailsyncError({
      kind: 'auth',
      code: 'missing_api_key',
      message: 'createAvailsyncClient: apiKey is required (the agent key, e.g. from AVAILSYNC_API_KEY)',
    });
  }
  const fetchImpl = options.fetch ?? (globalThis.fetch as unknown as FetchLike | undefined);
  if (typeof fetchImpl !== 'function') {
    throw new AvailsyncError({
      kind: 'validation',
      code: 'invalid_options',
      message: 'No fetch implementation: use Node 18 or newer, or pass options.fetch',
    });
  }
  const envUrl = typeof process === 'undefined' ? undefined : process.env?.AVAILSYNC_API_URL;
  const baseUrl = options.baseUrl || envUrl || DEFAULT_BASE_URL;
  try {
    new URL(baseUrl);
  } catch {
    throw new AvailsyncError({ kind: 'validation', code: 'invalid_options', message: `baseUrl is not a URL: ${baseUrl}` });
  }
  const transport = new Transport({
    apiKey: options.apiKey.trim(),
    baseUrl,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    maxRetries: options.maxRetries ?? DEFAULT_MAX_RETRIES,
    fetch: fetchImpl,
    retryBaseDelayMs: options.retryBaseDelayMs ?? 500,
    retryMaxDelayMs: options.retryMaxDelayMs ?? 8_000,
    maxRetryAfterMs: options.maxRetryAfterMs ?? 60_000,
    userAgent: options.userAgent,
    onRetry: options.onRetry,
  });
  const agentId = options.agentId || undefined;

  const send = async <T>(call: Call): Promise<T> => (await transport.request<T>(call)).body;

  const startBody = (p: CheckParams) => ({
    agent_id: agentId,
    resource: p.resource,
    duration_minutes: p.durationMinutes,
    reason: p.reason,
    metadata: p.metadata,
    start_at: time(p.startAt),
    priority: p.priority,
    preempt: p.preempt,
  });

  /** `start`, with the transport's facts (attempts, idempotent replay) that withClaim needs. */
  const startAnswer = (params: StartParams, opts?: RequestOptions): Promise<Answer<StartResponse>> =>
    transport.request<StartResponse>({
      method: 'POST',
      path: '/v1/work/run/start',
      body: { ...startBody(params), wait_seconds: params.waitSeconds },
      idempotent: true,
      idempotencyKey: params.idempotencyKey ?? true,
      options: withWait(params.waitSeconds, opts),
    });

  // A waiting start's answer comes after the wait: each attempt's timeout covers it.
  const withWait = (waitSeconds: number | undefined, opts: RequestOptions | undefined): RequestOptions | undefined => {
    if (!waitSeconds || waitSeconds <= 0) return opts;
    const base = opts?.timeoutMs ?? options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (base <= 0 || !Number.isFinite(base)) return opts;
    return { ...opts, timeoutMs: base + waitSeconds * 1000 };
  };

  const work = {
    /** Start a guarded run: `proceed` (with a claim), `skip_run`, or observe-mode `proceed` with shadow metadata. */
    start(params: StartParams, opts?: RequestOptions): Promise<StartResponse> {
      return startAnswer(params, opts).then((a) => a.body);
    },
    /** The start decision without changing anything. */
    check(params: CheckParams, opts?: RequestOptions): Promise<CheckResponse> {
      return send({ method: 'POST', path: '/v1/work/check', body: startBody(params), idempotent: true, options: opts });
    },
    /** One claim of the workspace, by id: `{ claim }`. */
    get(claimId: string, opts?: RequestOptions): Promise<ClaimResponse> {
      return send({ method: 'GET', path: `/v1/work/claims/${encodeId(claimId)}`, idempotent: true, options: opts });
    },
    /** This agent's claims, newest first; active claims include their working set. */
    list(params: ListParams = {}, opts?: RequestOptions): Promise<List<Claim>> {
      return send({
        method: 'GET',
        path: '/v1/work/claims',
        query: { resource: params.resource, status: params.status, limit: params.limit, offset: params.offset },
        idempotent: true,
        options: opts,
      });
    },
    /** Extend an active lease to now + duration. A lease that ended throws `claim_not_active` (kind `conflict`). */
    extend(claimId: string, params: ExtendParams = {}, opts?: RequestOptions): Promise<ExtendResponse> {
      return send({
        method: 'POST',
        path: '/v1/work/run/extend',
        body: {
          claim_id: claimId,
          duration_minutes: params.durationMinutes,
          working_set: params.workingSet ? workingSetBody(params.workingSet) : undefined,
        },
        idempotent: true,
        options: opts,
      });
    },
    /** Release the claim (and its working set). Safe to repeat: `already_finished` is success. */
    finish(claimId: string, params: FinishParams = {}, opts?: RequestOptions): Promise<FinishResponse> {
      return send({
        method: 'POST',
        path: '/v1/work/run/finish',
        body: { claim_id: claimId, outcome: params.outcome, reason: params.reason, metadata: params.metadata },
        idempotent: true,
        options: opts,
      });
    },
    /** Declare the files a run is touching: `updated`, `partial_proceed`, or `blocked` (not thrown). */
    updateWorkingSet(claimId: string, update: WorkingSetUpdate, opts?: RequestOptions): Promise<WorkingSetResult> {
      return send({
        method: 'POST',
        path: '/v1/work/run/working-set',
        body: { claim_id: claimId, ...workingSetBody(update) },
        idempotent: true,
        accept: blockedIsAnswer,
        options: opts,
      });
    },
    /** Release a claim by id (the lower-level DELETE; idempotent). */
    release(claimId: string, opts?: RequestOptions): Promise<ReleaseClaimResponse> {
      return send({ method: 'DELETE', path: `/v1/work/claims/${encodeId(claimId)}`, idempotent: true, options: opts });
    },
    /** Protected resources of the workspace, with active claim counts and fencing tokens. */
    resources(params: { limit?: number; offset?: number } = {}, opts?: RequestOptions): Promise<List<ProtectedResource>> {
      return send({ method: 'GET', path: '/v1/work/resources', query: params, idempotent: true, options: opts });
    },
    /**
     * The recommended helper: start, run `fn` only on `proceed`, auto-extend while it runs, and finish in
     * `finally` (see WithClaimOptions).
     */
    withClaim<T>(resource: string, opts: WithClaimOptions, fn: WithClaimCallback<T>): Promise<WithClaimResult<T>> {
      return withClaim(work, startAnswer, resource, opts, fn);
    },
  };

  const holds = {
    /** Reserve a window: `201 { hold }`; an overlap throws `hold_conflict` (kind `conflict`, see `error.body`). */
    create(params: HoldCreateParams, opts?: RequestOptions): Promise<HoldResponse> {
      return send({
        method: 'POST',
        path: '/v1/holds',
        body: {
          agent_id: agentId,
          resource: params.resource,
          start_at: time(params.startAt),
          end_at: time(params.endAt),
          reason: params.reason,
          metadata: params.metadata,
          ttl_minutes: params.ttlMinutes,
        },
        idempotent: true,
        idempotencyKey: params.idempotencyKey ?? true,
        options: opts,
      });
    },
    /** One hold of the workspace, by id. */
    get(holdId: string, opts?: RequestOptions): Promise<HoldResponse> {
      return send({ method: 'GET', path: `/v1/holds/${encodeId(holdId)}`, idempotent: true, options: opts });
    },
    /** Make a tentative hold (`ttlMinutes`) firm. */
    confirm(holdId: string, opts?: RequestOptions): Promise<ConfirmHoldResponse> {
      return send({ method: 'POST', path: `/v1/holds/${encodeId(holdId)}/confirm`, idempotent: true, options: opts });
    },
    /** Release a hold (idempotent: `already_released`). */
    release(holdId: string, opts?: RequestOptions): Promise<ReleaseHoldResponse> {
      return send({ method: 'DELETE', path: `/v1/holds/${encodeId(holdId)}`, idempotent: true, options: opts });
    },
    list(params: HoldListParams = {}, opts?: RequestOptions): Promise<List<Hold>> {
      return send({
        method: 'GET',
        path: '/v1/holds',
        query: {
          resource: params.resource,
          status: params.status,
          from: time(params.from),
          to: time(params.to),
          limit: params.limit,
          offset: params.offset,
        },
        idempotent: true,
        options: opts,
      });
    },
  };

  const availability = {
    /** Busy and free windows of a resource, and the first free slot of `durationMinutes`. */
    get(params: AvailabilityParams, opts?: RequestOptions): Promise<AvailabilityResponse> {
      return send({
        method: 'GET',
        path: '/v1/availability',
        query: { resource: params.resource, from: time(params.from), to: time(params.to), duration_minutes: params.durationMinutes },
        idempotent: true,
        options: opts,
      });
    },
  };

  const conflicts = {
    /** Would this window conflict with a hold? No mutation. */
    check(params: ConflictCheckParams, opts?: RequestOptions): Promise<ConflictCheckResponse> {
      return send({
        method: 'POST',
        path: '/v1/conflicts/check',
        body: { resource: params.resource, start_at: time(params.startAt), end_at: time(params.endAt) },
        idempotent: true,
        options: opts,
      });
    },
  };

  const activity = {
    /** Report token usage or an external run id, optionally tied to a claim. */
    reportUsage(params: UsageParams, opts?: RequestOptions): Promise<UsageResponse> {
      return send({
        method: 'POST',
        path: '/v1/activity/usage',
        body: {
          claim_id: params.claimId,
          model: params.model,
          input_tokens: params.inputTokens,
          output_tokens: params.outputTokens,
          cost_usd: params.costUsd,
          external_run_id: params.externalRunId,
          metadata: params.metadata,
        },
        idempotent: false,
        idempotencyKey: params.idempotencyKey ?? true,
        options: opts,
      });
    },
  };

  const agent = {
    /** The calling agent's profile and effective mode: what a client checks first. */
    me(opts?: RequestOptions): Promise<AgentResponse> {
      return send({ method: 'GET', path: '/v1/agent', idempotent: true, options: opts });
    },
  };

  const mcp = {
    /** Report an MCP client as online (`online` on the agent for 2 minutes). */
    heartbeat(params: HeartbeatParams = {}, opts?: RequestOptions): Promise<HeartbeatResponse> {
      return send({ method: 'POST', path: '/v1/mcp/heartbeat', body: params, idempotent: true, options: opts });
    },
  };

  return { baseUrl, agentId, work, holds, availability, conflicts, activity, agent, mcp };
}

export type WorkApi = AvailsyncClient['work'];
