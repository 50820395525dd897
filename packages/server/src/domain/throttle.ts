/**
 * Slow-downs, decided purely (no I/O, `now` passed in). A bucket counts attempts in a fixed window that
 * opens at its first attempt. The first `free` attempts of a window pass at once; after that the n-th
 * attempt waits until `window_start + base * 2^(n - free - 1)`, so each extra try costs twice the wait of
 * the one before, and a window that lapses starts over. Nobody is locked out for longer than one window,
 * and a bucket only ever slows the keys it is made of (an address, an address and an email).
 */
export interface ThrottlePolicy {
  windowMs: number;
  /** Attempts in a window that never wait. */
  free: number;
  /** The wait before the first attempt past `free`; doubled for each one after. Omit for a plain limit. */
  baseDelayMs?: number;
}

export interface BucketState {
  window_start: number;
  count: number;
}

export type ThrottleDecision = { ok: true; next: BucketState } | { ok: false; retryAfterS: number };

/** When the n-th attempt (1-based) of a window may go ahead, relative to the window's start. */
export function delayOf(policy: ThrottlePolicy, n: number): number {
  if (n <= policy.free) return 0;
  if (policy.baseDelayMs === undefined) return policy.windowMs;
  const doublings = Math.min(n - policy.free - 1, 40);
  return Math.min(policy.windowMs, policy.baseDelayMs * 2 ** doublings);
}

/** May one more attempt go ahead at `now`? If so, the bucket's next state; if not, seconds to wait. */
export function decideAttempt(state: BucketState | undefined, policy: ThrottlePolicy, now: number): ThrottleDecision {
  if (!state || state.window_start + policy.windowMs <= now) return { ok: true, next: { window_start: now, count: 1 } };
  const n = state.count + 1;
  // delayOf is capped at the window, and the window has not lapsed: a capped wait lasts until it does.
  const at = state.window_start + delayOf(policy, n);
  if (at > now) return { ok: false, retryAfterS: Math.max(1, Math.ceil((at - now) / 1000)) };
  return { ok: true, next: { window_start: state.window_start, count: n } };
}
