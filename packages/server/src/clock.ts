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
  /**
   * Resolves after `ms` of this clock's time, or as soon as `signal` aborts (it never rejects). Waits that
   * depend on time (a queued start's deadline, a webhook's backoff) sleep on the clock, so tests move them
   * with ManualClock.advance() instead of sleeping.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

function abortable(signal: AbortSignal | undefined, arm: (done: () => void) => () => void): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    let disarm = () => {};
    const done = () => {
      disarm();
      signal?.removeEventListener('abort', done);
      resolve();
    };
    disarm = arm(done);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export const systemClock: Clock = {
  now: () => Date.now(),
  offsetMs: () => 0,
  sleep: (ms, signal) =>
    abortable(signal, (done) => {
      const timer = setTimeout(done, Math.max(0, ms));
      return () => clearTimeout(timer);
    }),
};

/** A clock tests drive by hand. On PostgreSQL it shifts the database clock by the same amount. */
interface Sleeper {
  due: number;
  seq: number;
  done: () => void;
}

export class ManualClock implements Clock {
  #now: number;
  #offset = 0;
  #sleepers: Sleeper[] = [];
  #seq = 0;
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
    // Wake the sleepers now due, earliest first (ties in the order they slept).
    const due = this.#sleepers.filter((s) => s.due <= this.#now).sort((a, b) => a.due - b.due || a.seq - b.seq);
    for (const s of due) s.done();
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return abortable(signal, (done) => {
      const sleeper: Sleeper = { due: this.#now + Math.max(0, ms), seq: this.#seq++, done };
      this.#sleepers.push(sleeper);
      if (ms <= 0) queueMicrotask(done);
      return () => {
        this.#sleepers = this.#sleepers.filter((s) => s !== sleeper);
      };
    });
  }
  /** How many sleeps are pending: a test waits for a queued start to be asleep before it moves time. */
  get sleeping(): number {
    return this.#sleepers.length;
  }
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function isoOrNull(ms: number | null | undefined): string | null {
  return ms == null ? null : new Date(ms).toISOString();
}
