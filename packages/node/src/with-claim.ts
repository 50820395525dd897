/**
 * work.withClaim: start a guarded run, call `fn` only on `proceed`, keep the lease alive while it runs,
 * and finish in `finally`. What it guarantees:
 *
 * - `skip_run` never calls `fn`; it returns the reason, `retryAfter` and the blocking claim.
 * - Observe mode calls `fn` with `claim: null` and the shadow decision; there is no lease to extend or finish.
 * - With `autoExtendIntervalMs`, the lease is extended every interval (by `autoExtendDurationMinutes`,
 *   refreshing `autoExtendWorkingSet`). Extends are chained, never overlapping.
 * - `signal` (in the callback's context) aborts when the lease is lost: an extend answered
 *   `claim_not_active` (preempted or expired), or the lease's end passed without a successful extend. Long
 *   work should watch it and stop instead of running unprotected.
 * - The claim is finished in `finally` with `finished`, or `error` when `fn` threw (`cancelled` when the
 *   caller's own signal aborted it; `ctx.setOutcome` overrides both). The finish is not tied to the
 *   caller's signal: an aborted run still releases its lease.
 * - `finishError` and `autoExtendError` are returned beside the result (and attached to the error `fn`
 *   threw, which is rethrown unchanged), never swallowed.
 * - Every timer is cleared, and in-flight extends are aborted and awaited, before withClaim returns; the
 *   timers are unref'd, so they never hold a process open.
 * - An `idempotencyKey` names one run: when the very first start attempt is answered with a stored replay,
 *   the run was already started by an earlier call (another process, or one that died), so `fn` is not
 *   called again and the result is `skip_run` with `alreadyStarted` set to the claim as it is now.
 */
import { AvailsyncError } from './errors.js';
import type { Answer, RequestOptions } from './http.js';
import type { ExtendParams, FinishParams, StartParams, WorkingSetUpdate } from './params.js';
import type {
  BlockingClaim,
  Claim,
  ClaimResponse,
  ExtendResponse,
  FinishResponse,
  JsonObject,
  Outcome,
  ShadowDecision,
  StartResponse,
  WorkingSetResult,
} from './types.js';

/** The calls of the client's work API that withClaim makes (client.ts passes its `work` object). */
interface WorkCalls {
  get(claimId: string, opts?: RequestOptions): Promise<ClaimResponse>;
  extend(claimId: string, params?: ExtendParams, opts?: RequestOptions): Promise<ExtendResponse>;
  finish(claimId: string, params?: FinishParams, opts?: RequestOptions): Promise<FinishResponse>;
  updateWorkingSet(claimId: string, update: WorkingSetUpdate, opts?: RequestOptions): Promise<WorkingSetResult>;
}

export interface WithClaimOptions extends Omit<StartParams, 'resource'> {
  /**
   * Extend the lease this often while `fn` runs (e.g. `(45 - 5) * 60_000`), or `'auto'`: every half of the
   * lease the server granted. Unset or 0: no auto-extend.
   */
  autoExtendIntervalMs?: number | 'auto' | undefined;
  /** Each auto-extend sets the lease to now + this. Default: `durationMinutes`, else the claim's own duration. */
  autoExtendDurationMinutes?: number | undefined;
  /** Refresh these file claims with each auto-extend. */
  autoExtendWorkingSet?: WorkingSetUpdate | undefined;
  /** `reason` sent with the finish. */
  finishReason?: string | undefined;
  /** `metadata` merged into the claim at finish. */
  finishMetadata?: JsonObject | undefined;
  /** Cancels the start call, and aborts the callback's `signal`. The finish still happens. */
  signal?: AbortSignal | undefined;
}

export interface Shadow {
  /** True in observe mode: no lease was taken. */
  enabled: boolean;
  /** Observe mode only: enforce mode would have answered skip_run. */
  wouldHaveBlocked: boolean;
  /** Observe mode only: what enforce mode would have decided. */
  decision: ShadowDecision | null;
}

/** The lease held while the callback runs (null in observe mode). */
export interface ActiveClaim {
  readonly id: string;
  readonly resource: string;
  readonly fencingToken: number;
  /** The lease's end as last reported by the server. */
  readonly expiresAt: string;
  /** The claim as last reported by the server (updated by every extend). */
  readonly current: Claim;
  /** True once the lease is known to be lost (the context's `signal` has aborted). */
  readonly lost: boolean;
  /** Declare the files this run is touching: `updated`, `partial_proceed` or `blocked`. */
  updateWorkingSet(update: WorkingSetUpdate, opts?: RequestOptions): Promise<WorkingSetResult>;
  /** Extend now (auto-extend does this on its own when configured). */
  extend(params?: { durationMinutes?: number; workingSet?: WorkingSetUpdate }, opts?: RequestOptions): Promise<ExtendResponse>;
}

export interface WithClaimContext {
  claim: ActiveClaim | null;
  shadow: Shadow;
  /** Aborts when the lease is lost (or the caller's `signal` aborts). Its reason is an AvailsyncError `lease_lost`. */
  signal: AbortSignal;
  /** Finish with this outcome (`noop`, `cancelled`, ...) instead of finished/error. */
  setOutcome(outcome: Outcome, reason?: string): void;
}

export type WithClaimCallback<T> = (ctx: WithClaimContext) => Promise<T> | T;

export interface WithClaimProceed<T> {
  action: 'proceed';
  result: T;
  /** The claim as finished (or last seen); null in observe mode. */
  claim: Claim | null;
  shadow: Shadow;
  /** The outcome the claim was finished with; null in observe mode. */
  outcome: Outcome | null;
  /** The work succeeded but the final finish failed: the lease ends at its expiry instead. */
  finishError?: Error;
  /** An automatic extend failed while the work went on (the last such failure). */
  autoExtendError?: Error;
  /** Set when the lease was lost while the callback ran (its `signal` aborted with this). */
  leaseLost?: AvailsyncError;
}

export interface WithClaimSkip {
  action: 'skip_run';
  reason: string;
  /** When the blocking lease ends (null when the run with this idempotency key already ended). */
  retryAfter: string | null;
  blockingClaim: BlockingClaim | null;
  /** Set when an earlier call with the same idempotencyKey already started this run. */
  alreadyStarted?: Claim;
}

export type WithClaimResult<T> = WithClaimProceed<T> | WithClaimSkip;

const MINUTE = 60_000;
const NO_SHADOW: Shadow = { enabled: false, wouldHaveBlocked: false, decision: null };

function invalid(message: string): AvailsyncError {
  return new AvailsyncError({ kind: 'validation', code: 'invalid_options', message: `withClaim: ${message}` });
}

function isNotActive(err: unknown): err is AvailsyncError {
  return err instanceof AvailsyncError && err.code === 'claim_not_active';
}

/** A controller that also aborts when `parent` does; `dispose` unhooks it. */
function linkedController(parent: AbortSignal | undefined) {
  const controller = new AbortController();
  if (!parent) return { controller, dispose: () => {} };
  const onAbort = () => controller.abort(parent.reason);
  if (parent.aborted) onAbort();
  else parent.addEventListener('abort', onAbort, { once: true });
  return { controller, dispose: () => parent.removeEventListener('abort', onAbort) };
}

/** Keeps one lease: extends on a chained timer, watches its end, and reports its loss once. */
class LeaseKeeper {
  snapshot: Claim;
  lostError: AvailsyncError | undefined;
  autoExtendError: Error | undefined;
  outcome: Outcome | undefined;
  outcomeReason: string | undefined;
  private stopped = false;
  private extendTimer: ReturnType<typeof setTimeout> | undefined;
  private deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  private inFlight: Promise<void> | undefined;
  private readonly stopper = new AbortController();

  constructor(
    private readonly work: WorkCalls,
    claim: Claim,
    private readonly lease: AbortController,
    private readonly auto: { intervalMs: number; durationMinutes: number | undefined; workingSet: WorkingSetUpdate | undefined },
  ) {
    this.snapshot = claim;
  }

  begin(sentAt: number) {
    this.setDeadline(sentAt, Date.parse(this.snapshot.expires_at) - Date.parse(this.snapshot.started_at));
    this.scheduleAuto();
  }

  /**
   * The lease's end on this process's clock, measured from when the request was sent, so it is never later
   * than the server's (no clock skew: only durations cross the wire).
   */
  private setDeadline(sentAt: number, leaseMs: number) {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    if (this.stopped || this.lostError) return;
    const wait = Math.max(0, sentAt + leaseMs - Date.now());
    this.deadlineTimer = setTimeout(() => {
      this.markLost(
        new AvailsyncError({
          kind: 'conflict',
          code: 'lease_lost',
          message: `The lease on ${this.snapshot.resource} (claim ${this.snapshot.id}) reached its end (${this.snapshot.expires_at}) without a successful extend`,
          details: { claim_id: this.snapshot.id, status: 'expired' },
          cause: this.autoExtendError,
        }),
      );
    }, wait);
    this.deadlineTimer.unref?.();
  }

  markLost(err: AvailsyncError) {
    if (this.lostError) return;
    this.lostError = err;
    this.clearTimers();
    this.lease.abort(err);
  }

  private lostFrom(err: AvailsyncError): AvailsyncError {
    const status = typeof err.body?.status === 'string' ? err.body.status : 'unknown';
    return new AvailsyncError({
      kind: 'conflict',
      code: 'lease_lost',
      status: err.status,
      requestId: err.requestId,
      message: `The lease on ${this.snapshot.resource} (claim ${this.snapshot.id}) was lost: the claim is ${status}`,
      details: { claim_id: this.snapshot.id, status },
      cause: err,
    });
  }

  async extend(params: { durationMinutes?: number | undefined; workingSet?: WorkingSetUpdate | undefined }, opts?: RequestOptions) {
    const sentAt = Date.now();
    try {
      const res = await this.work.extend(this.snapshot.id, params, opts);
      this.snapshot = res.claim;
      this.setDeadline(sentAt, (params.durationMinutes ?? res.claim.duration_minutes) * MINUTE);
      return res;
    } catch (err) {
      if (isNotActive(err)) this.markLost(this.lostFrom(err));
      throw err;
    }
  }

  async updateWorkingSet(update: WorkingSetUpdate, opts?: RequestOptions) {
    try {
      return await this.work.updateWorkingSet(this.snapshot.id, update, opts);
    } catch (err) {
      if (isNotActive(err)) this.markLost(this.lostFrom(err));
      throw err;
    }
  }

  private scheduleAuto() {
    if (this.auto.intervalMs <= 0 || this.stopped || this.lostError) return;
    this.extendTimer = setTimeout(() => {
      this.extendTimer = undefined;
      this.inFlight = this.autoExtend().finally(() => {
        this.inFlight = undefined;
        this.scheduleAuto();
      });
    }, this.auto.intervalMs);
    this.extendTimer.unref?.();
  }

  private async autoExtend() {
    try {
      const res = await this.extend(
        { durationMinutes: this.auto.durationMinutes, workingSet: this.auto.workingSet },
        { signal: this.stopper.signal },
      );
      const ws = res.working_set;
      if (ws && ws.action !== 'updated') {
        this.autoExtendError = new AvailsyncError({
          kind: 'conflict',
          code: 'working_set_blocked',
          message: `Auto-extend refreshed the lease, but another run holds ${ws.blocked_paths.join(', ')}`,
          details: { blocked_paths: ws.blocked_paths, blocking: ws.blocking },
        });
      }
    } catch (err) {
      if (this.stopped) return; // aborted by stop(): the run is over
      this.autoExtendError = err instanceof Error ? err : new Error(String(err));
    }
  }

  private clearTimers() {
    if (this.extendTimer) clearTimeout(this.extendTimer);
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.extendTimer = undefined;
    this.deadlineTimer = undefined;
  }

  /** Stop extending: clear the timers, abort an in-flight extend and wait for it to settle. */
  async stop() {
    this.stopped = true;
    this.clearTimers();
    this.stopper.abort();
    await this.inFlight;
  }

  handle(): ActiveClaim {
    const keeper = this;
    return {
      get id() {
        return keeper.snapshot.id;
      },
      get resource() {
        return keeper.snapshot.resource;
      },
      get fencingToken() {
        return keeper.snapshot.fencing_token;
      },
      get expiresAt() {
        return keeper.snapshot.expires_at;
      },
      get current() {
        return keeper.snapshot;
      },
      get lost() {
        return keeper.lostError !== undefined;
      },
      updateWorkingSet: (update, opts) => keeper.updateWorkingSet(update, opts),
      extend: (params = {}, opts) => keeper.extend(params, opts),
    };
  }
}

type StartAnswer = (params: StartParams, opts?: RequestOptions) => Promise<Answer<StartResponse>>;

function toBlocking(claim: Claim): BlockingClaim {
  return {
    id: claim.id,
    agent_id: claim.agent_id,
    agent_name: null,
    resource: claim.resource,
    reason: claim.reason,
    priority: claim.priority,
    expires_at: claim.expires_at,
  };
}

export async function withClaim<T>(
  work: WorkCalls,
  startAnswer: StartAnswer,
  resource: string,
  options: WithClaimOptions,
  fn: WithClaimCallback<T>,
): Promise<WithClaimResult<T>> {
  if (typeof resource !== 'string' || resource === '') throw invalid('resource must be a "type:key" string, e.g. repo:owner/repo');
  if (typeof fn !== 'function') throw invalid('the last argument must be the function to run');
  const {
    autoExtendIntervalMs = 0,
    autoExtendDurationMinutes,
    autoExtendWorkingSet,
    finishReason,
    finishMetadata,
    signal,
    ...start
  } = options ?? {};
  if (
    autoExtendIntervalMs !== 'auto' &&
    (typeof autoExtendIntervalMs !== 'number' || !Number.isFinite(autoExtendIntervalMs) || autoExtendIntervalMs < 0)
  ) {
    throw invalid("autoExtendIntervalMs must be a non-negative number of milliseconds, or 'auto'");
  }
  const leaseMinutes = autoExtendDurationMinutes ?? start.durationMinutes;
  if (
    typeof autoExtendIntervalMs === 'number' &&
    autoExtendIntervalMs > 0 &&
    leaseMinutes !== undefined &&
    autoExtendIntervalMs >= leaseMinutes * MINUTE
  ) {
    throw invalid(
      `autoExtendIntervalMs (${autoExtendIntervalMs}) must be shorter than the lease (${leaseMinutes} min), or the lease lapses between extends`,
    );
  }

  const sentAt = Date.now();
  const answer = await startAnswer({ ...start, resource }, signal ? { signal } : undefined);
  const started = answer.body;

  if (started.action === 'skip_run') {
    return { action: 'skip_run', reason: started.reason, retryAfter: started.retry_after, blockingClaim: started.blocking_claim };
  }

  const { controller: lease, dispose } = linkedController(signal);
  try {
    if (started.mode === 'observe') {
      const shadow: Shadow = { enabled: true, wouldHaveBlocked: started.would_have_blocked, decision: started.shadow_decision };
      const result = await fn({ claim: null, shadow, signal: lease.signal, setOutcome: () => {} });
      return { action: 'proceed', result, claim: null, shadow, outcome: null };
    }

    if (answer.replayed && answer.attempts === 1 && start.idempotencyKey !== undefined) {
      let current = started.claim;
      try {
        current = (await work.get(started.claim.id)).claim;
      } catch {
        /* the replayed claim is still the best we know */
      }
      const active = current.status === 'active';
      return {
        action: 'skip_run',
        reason: active
          ? `A run with idempotency key "${start.idempotencyKey}" already started (claim ${current.id}, active until ${current.expires_at})`
          : `A run with idempotency key "${start.idempotencyKey}" already ran (claim ${current.id} is ${current.status})`,
        retryAfter: active ? current.expires_at : null,
        blockingClaim: toBlocking(current),
        alreadyStarted: current,
      };
    }

    const granted = Date.parse(started.claim.expires_at) - Date.parse(started.claim.started_at);
    const keeper = new LeaseKeeper(work, started.claim, lease, {
      intervalMs: autoExtendIntervalMs === 'auto' ? Math.max(1000, Math.floor(granted / 2)) : autoExtendIntervalMs,
      durationMinutes: autoExtendDurationMinutes ?? start.durationMinutes,
      workingSet: autoExtendWorkingSet,
    });
    // A waited start was granted at least waited_ms after it was sent: the lease is counted from then.
    keeper.begin(sentAt + (started.mode === 'enforce' ? (started.waited_ms ?? 0) : 0));
    const ctx: WithClaimContext = {
      claim: keeper.handle(),
      shadow: NO_SHADOW,
      signal: lease.signal,
      setOutcome(outcome, reason) {
        keeper.outcome = outcome;
        keeper.outcomeReason = reason;
      },
    };

    let result: T | undefined;
    let thrown: { error: unknown } | undefined;
    try {
      result = await fn(ctx);
    } catch (error) {
      thrown = { error };
    }
    await keeper.stop();

    const outcome: Outcome = keeper.outcome ?? (thrown ? (signal?.aborted ? 'cancelled' : 'error') : 'finished');
    let finishError: Error | undefined;
    let claim = keeper.snapshot;
    try {
      claim = (await work.finish(claim.id, { outcome, reason: keeper.outcomeReason ?? finishReason, metadata: finishMetadata })).claim;
    } catch (err) {
      finishError = err instanceof Error ? err : new Error(String(err));
    }
    const extras = {
      ...(finishError ? { finishError } : {}),
      ...(keeper.autoExtendError ? { autoExtendError: keeper.autoExtendError } : {}),
      ...(keeper.lostError ? { leaseLost: keeper.lostError } : {}),
    };
    if (thrown) {
      const error = thrown.error;
      if (error !== null && typeof error === 'object' && Object.isExtensible(error)) {
        for (const [k, v] of Object.entries(extras)) {
          if (!(k in error)) Object.defineProperty(error, k, { value: v, enumerable: false, configurable: true, writable: true });
        }
      }
      throw error;
    }
    return { action: 'proceed', result: result as T, claim, shadow: NO_SHADOW, outcome, ...extras };
  } finally {
    dispose();
  }
}
