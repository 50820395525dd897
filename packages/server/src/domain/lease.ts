/** Lease arithmetic. An active claim past `expires_at` is expired for every decision at once. */
export type ClaimStatus = 'active' | 'released' | 'expired' | 'preempted';

export interface LeaseLike {
  status: string;
  expires_at: number;
}

export function isLive(claim: LeaseLike, now: number): boolean {
  return claim.status === 'active' && claim.expires_at > now;
}

/** The status a reader should see: `active` rows past their expiry read as `expired`. */
export function effectiveStatus(claim: LeaseLike, now: number): ClaimStatus {
  if (claim.status === 'active' && claim.expires_at <= now) return 'expired';
  return claim.status as ClaimStatus;
}

export const MINUTE = 60_000;

/** Duration asked for, else the workspace default, capped by the workspace maximum. */
export function leaseMinutes(
  requested: number | undefined,
  defaults: { default_claim_minutes: number; max_claim_minutes: number },
): number {
  return Math.min(requested ?? defaults.default_claim_minutes, defaults.max_claim_minutes);
}

/** `start_at` may be at most this far ahead of the server clock (clock skew); later is a hold. */
export const START_AT_SKEW_MS = 5 * MINUTE;
