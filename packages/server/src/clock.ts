/**
 * The one clock. Lease decisions never read a client's clock or several servers' clocks:
 * - PostgreSQL: `clock_timestamp()` read inside the transaction after the row lock, plus `offsetMs()`
 *   (always 0 in production; tests move it forward to expire leases without sleeping).
 * - SQLite (one process per file): `now()` of this clock, never below a stored high-water mark.
 */
export interface Clock {
  /** Milliseconds since the epoch, as this process sees it. */
  now(): number;
  /** Added to the database clock. 0 except in tests. */
  offsetMs(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  offsetMs: () => 0,
};

/** A clock tests drive by hand. On PostgreSQL it shifts the database clock by the same amount. */
export class ManualClock implements Clock {
  #now: number;
  #offset = 0;
  constructor(start: number = Date.parse('2026-01-01T00:00:00.000Z')) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  offsetMs(): number {
    return this.#offset;
  }
  /** Move time by `ms` (negative moves it back; the embedded store's high-water mark then holds it). */
  advance(ms: number): void {
    this.#now += ms;
    this.#offset += ms;
  }
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function isoOrNull(ms: number | null | undefined): string | null {
  return ms == null ? null : new Date(ms).toISOString();
}
