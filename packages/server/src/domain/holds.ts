/**
 * Availability arithmetic, pure: no I/O, no clock. Windows are half-open `[start, end)` in epoch ms, so
 * [10:00, 11:00) and [11:00, 12:00) touch without overlapping.
 */

export interface Window {
  start: number;
  end: number;
}

export const DAY_MS = 24 * 60 * 60 * 1000;
/** Longest hold window, longest availability range, and how far ahead next_free_slot searches. */
export const MAX_WINDOW_MS = 31 * DAY_MS;

export interface HoldLike {
  status: string;
  end_at: number;
  expires_at: number | null;
}

/** An active hold blocks only until its window ends and, if tentative, until its TTL lapses. */
export function isLiveHold(hold: HoldLike, now: number): boolean {
  return hold.status === 'active' && hold.end_at > now && (hold.expires_at === null || hold.expires_at > now);
}

/** The status a reader should see: an active row that has lapsed reads as `expired`. */
export function effectiveHoldStatus(hold: HoldLike, now: number): 'active' | 'released' | 'expired' {
  if (hold.status === 'active' && !isLiveHold(hold, now)) return 'expired';
  return hold.status as 'active' | 'released' | 'expired';
}

/** When a lapsed hold stopped blocking: its TTL or its end, whichever came first. */
export function lapsedAt(hold: HoldLike): number {
  return hold.expires_at === null ? hold.end_at : Math.min(hold.expires_at, hold.end_at);
}

export function overlaps(a: Window, b: Window): boolean {
  return a.start < b.end && b.start < a.end;
}

/** Sort and merge windows that overlap or touch; empty windows are dropped. */
export function mergeWindows(windows: readonly Window[]): Window[] {
  const sorted = windows.filter((w) => w.end > w.start).sort((a, b) => a.start - b.start || a.end - b.end);
  const out: Window[] = [];
  for (const w of sorted) {
    const last = out[out.length - 1];
    if (last && w.start <= last.end) last.end = Math.max(last.end, w.end);
    else out.push({ start: w.start, end: w.end });
  }
  return out;
}

/** The gaps between busy windows inside `[from, to)`. */
export function freeWindows(busy: readonly Window[], from: number, to: number): Window[] {
  const free: Window[] = [];
  let cursor = from;
  for (const b of mergeWindows(busy)) {
    if (b.end <= cursor) continue;
    if (b.start >= to) break;
    if (b.start > cursor) free.push({ start: cursor, end: b.start });
    cursor = Math.max(cursor, b.end);
    if (cursor >= to) return free;
  }
  if (cursor < to) free.push({ start: cursor, end: to });
  return free;
}

/**
 * The earliest window of `length` ms that starts at or after `earliest`, ends by `to`, and overlaps no busy
 * window; null when none fits.
 */
export function firstFit(busy: readonly Window[], earliest: number, to: number, length: number): Window | null {
  if (length <= 0) return null;
  let start = earliest;
  for (const b of mergeWindows(busy)) {
    if (b.end <= start) continue;
    if (b.start >= start + length) break;
    start = b.end;
  }
  return start + length <= to ? { start, end: start + length } : null;
}

/**
 * next_free_slot for a requested window: the earliest start ≥ the requested start where a window of the
 * same length overlaps nothing, searched up to `horizon` ms ahead (31 days). The window itself when free.
 */
export function nextFreeSlot(busy: readonly Window[], wanted: Window, horizon = MAX_WINDOW_MS): Window | null {
  const length = wanted.end - wanted.start;
  return firstFit(busy, wanted.start, wanted.start + horizon + length, length);
}

export type WindowCheck = { ok: true } | { ok: false; field: 'end_at' | 'to'; message: string };

/** `end > start`, and at most 31 days long. */
export function checkWindow(start: number, end: number, names: { start: string; end: 'end_at' | 'to' }): WindowCheck {
  if (!(end > start)) return { ok: false, field: names.end, message: `${names.end} must be after ${names.start}` };
  if (end - start > MAX_WINDOW_MS) return { ok: false, field: names.end, message: `at most 31 days after ${names.start}` };
  return { ok: true };
}
