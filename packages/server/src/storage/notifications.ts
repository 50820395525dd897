/**
 * Wake-ups between server processes: "something committed that you may want to read". A notification
 * carries no data a reader relies on — the database is the truth; a listener re-reads what it needs — so
 * a lost or doubled notification costs a little latency or a spare read, never correctness (readers also
 * poll as a fallback).
 *
 * - PostgreSQL: LISTEN on one dedicated connection per process (postgres/listener.ts); the notifications
 *   themselves are sent by the database (triggers, or `pg_notify` in the committing transaction), so they
 *   reach every node only when, and only if, the change commits.
 * - SQLite (one process per file): in-process, fired by the store after a commit.
 *
 * Channels are named per schema (`availsync_<channel>_<schema>`), so several test schemas in one database
 * never hear each other.
 */
export interface Notifications {
  /** Call `fn` for every notification on `channel` (payload as sent; '' after a reconnect: re-read). */
  listen(channel: string, fn: (payload: string) => void): () => void;
  /** In-process delivery (SQLite, and a node telling itself without a round trip). */
  emit(channel: string, payload: string): void;
  /** False while the PostgreSQL listening connection is down: readers must rely on polling. */
  readonly live: boolean;
  close(): Promise<void>;
}

/** The in-process notifications: SQLite's, and the base of PostgreSQL's. */
export class LocalNotifications implements Notifications {
  readonly #listeners = new Map<string, Set<(payload: string) => void>>();
  get live(): boolean {
    return true;
  }
  listen(channel: string, fn: (payload: string) => void): () => void {
    const set = this.#listeners.get(channel) ?? new Set();
    this.#listeners.set(channel, set);
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) this.#listeners.delete(channel);
    };
  }
  emit(channel: string, payload: string): void {
    for (const fn of [...(this.#listeners.get(channel) ?? [])]) {
      try {
        fn(payload);
      } catch {
        // A listener's failure is its own: the others still hear.
      }
    }
  }
  channels(): string[] {
    return [...this.#listeners.keys()];
  }
  async close(): Promise<void> {
    this.#listeners.clear();
  }
}

/** The database-side channel name of `channel` in `schema`. */
export function channelName(channel: string, schema: string): string {
  return `availsync_${channel}_${schema}`.toLowerCase().slice(0, 63);
}
