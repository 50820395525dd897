/**
 * One process's view of the event log as it grows: it reads each newly numbered event once and hands it
 * to every live subscriber on this node (SSE streams, the webhook worker), so 500 subscribers cost one
 * read, not 500. It reads when told something committed (storage notifications: PostgreSQL's LISTEN, or
 * the embedded store after a commit) and, as a fallback, every `pollMs` of the clock — a lost
 * notification or a listener that is down costs latency, never an event.
 *
 * On PostgreSQL each read first numbers the committed events (storage/queries/events.ts sequenceEvents).
 * Subscribers get events in `seq` order, each once; one that resumes from an older id reads the log
 * itself up to the feed's cursor, then continues live (services/events/stream.ts).
 */
import type { Clock } from '../../clock.js';
import type { Logger } from '../../logger.js';
import type { Notifications } from '../../storage/notifications.js';
import { EVENTS_CHANNEL, type EventRow, eventsAfter, latestSeq, sequenceEvents } from '../../storage/queries/events.js';
import type { Store } from '../../storage/store.js';

const PAGE = 500;

export interface FeedOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  notifications: Notifications;
  /** The fallback read's period (default 1 s). */
  pollMs?: number;
}

export type FeedListener = (events: readonly EventRow[]) => void;

export class EventFeed {
  readonly #subscribers = new Set<FeedListener>();
  readonly #stop = new AbortController();
  /** Unknown until the log could first be read (a database that is not ready yet: see start()). */
  #cursor: number | undefined;
  #started: Promise<void> | undefined;
  #pumping: Promise<void> | undefined;
  #again = false;
  /** Told once per outage, not at every poll. */
  #failing = false;
  #unlisten = () => {};

  constructor(private readonly opts: FeedOptions) {}

  /** The highest `seq` this node has handed to its subscribers (0 before the log could be read). */
  get cursor(): number {
    return this.#cursor ?? 0;
  }

  /**
   * Begin at the end of the log (subscribers that need older events read them themselves). Idempotent.
   * Never fails: a database that cannot be read yet (down, or migrations not applied in this schema, which
   * readiness reports) is read again at the next wake-up or poll.
   */
  start(): Promise<void> {
    this.#started ??= (async () => {
      this.#unlisten = this.opts.notifications.listen(EVENTS_CHANNEL, () => void this.wake());
      void this.#poll();
      await this.wake();
    })();
    return this.#started;
  }

  /** The log has been read once: `cursor` is where live delivery continues (services/events/stream.ts). */
  get ready(): boolean {
    return this.#cursor !== undefined;
  }

  subscribe(fn: FeedListener): () => void {
    this.#subscribers.add(fn);
    return () => this.#subscribers.delete(fn);
  }

  get subscribers(): number {
    return this.#subscribers.size;
  }

  /** Read what is new now (coalesced: a wake during a read makes one more read, not one per wake). */
  wake(): Promise<void> {
    if (this.#stop.signal.aborted) return Promise.resolve();
    if (this.#pumping) {
      this.#again = true;
      return this.#pumping;
    }
    this.#pumping = (async () => {
      try {
        do {
          this.#again = false;
          await this.#pump();
        } while (this.#again && !this.#stop.signal.aborted);
        this.#failing = false;
      } catch (err) {
        // The database is away (a restart) or not ready: the next notification or poll reads again.
        if (!this.#failing) this.opts.logger.warn('event feed read failed', { error: (err as Error).message });
        this.#failing = true;
      } finally {
        this.#pumping = undefined;
      }
    })();
    return this.#pumping;
  }

  async #pump(): Promise<void> {
    const { store } = this.opts;
    if (store.sequencesEvents) await sequenceEvents(store);
    if (this.#cursor === undefined) {
      this.#cursor = await latestSeq(store.db);
      return;
    }
    for (;;) {
      const rows = await eventsAfter(store.db, this.#cursor, PAGE);
      if (rows.length === 0) return;
      this.#cursor = Number((rows[rows.length - 1] as EventRow).seq);
      for (const fn of [...this.#subscribers]) {
        try {
          fn(rows);
        } catch (err) {
          this.opts.logger.error('event subscriber failed', { error: (err as Error).message });
        }
      }
      if (rows.length < PAGE) return;
    }
  }

  async #poll(): Promise<void> {
    const pollMs = this.opts.pollMs ?? 1_000;
    while (!this.#stop.signal.aborted) {
      await this.opts.clock.sleep(pollMs, this.#stop.signal);
      if (!this.#stop.signal.aborted) await this.wake();
    }
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    this.#unlisten();
    await this.#pumping;
  }
}
