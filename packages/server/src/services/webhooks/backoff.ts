/** Retries: exponential backoff with full jitter, from 1 s, capped at an hour; 3 days of failure disables. */
import { WEBHOOK_DISABLE_AFTER_DAYS } from '@availsync/protocol';

export const BACKOFF_BASE_MS = 1_000;
export const BACKOFF_CAP_MS = 3_600_000;
export const DISABLE_AFTER_MS = WEBHOOK_DISABLE_AFTER_DAYS * 24 * 3_600_000;

/** The longest wait before retry `failures` (1 = after the first failure). */
export function backoffCeiling(failures: number): number {
  return Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(30, Math.max(0, failures - 1)));
}

/** Full jitter: anywhere in [0, ceiling], so endpoints failing together do not retry together. */
export function backoffDelay(failures: number, random: () => number = Math.random): number {
  return Math.floor(random() * backoffCeiling(failures));
}
