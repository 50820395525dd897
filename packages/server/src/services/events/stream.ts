/**
 * One subscriber's view of its workspace's events (GET /v1/events): the log after its Last-Event-ID,
 * then the node's live EventFeed, with no gap and no duplicate between the two.
 *
 * The seam: the subscription registers with the feed and reads the feed's cursor C in the same tick (the
 * feed moves its cursor and hands the rows to its subscribers synchronously, so nothing can fall between).
 * Every event above C reaches the subscription live; the events in (Last-Event-ID, C] are read from the
 * log, a page at a time as the subscriber drains them. Live events wait in a bounded queue meanwhile: a
 * subscriber that does not drain it is cut off (it resumes with its Last-Event-ID, losing nothing).
 */
import { EVENT_TYPES, type EventType, isAgentVisibleEvent, type LiveEvent } from '@availsync/protocol';
import { iso } from '../../clock.js';
import { ApiError, errors } from '../../errors.js';
import { type EventRow, eventsAfter, oldestSeq } from '../../storage/queries/events.js';
import type { Store } from '../../storage/store.js';
import type { Principal } from '../context.js';
import type { EventFeed } from './feed.js';

const PAGE = 200;

export interface StreamLimits {
  /** Live events a subscriber may leave undrained before it is cut off (default 1 000). */
  maxQueued?: number;
  /** Open streams per workspace on this node (default 100). */
  maxPerWorkspace?: number;
}

export interface OpenInput {
  /** Resume after this id (Last-Event-ID); undefined: only events from now on. */
  after?: number | undefined;
  /** Only these types (`?types=`); undefined: every type the caller may see. */
  types?: readonly string[] | undefined;
}

/** Parse `?types=a,b`: every name must be an event type (an unknown one is a 400 before the stream starts). */
export function parseTypes(raw: string | undefined): EventType[] | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const names = raw
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  const known = new Set<string>(EVENT_TYPES);
  const unknown = names.filter((t) => !known.has(t));
  if (unknown.length > 0) {
    throw errors.invalid(`Unknown event type: ${unknown.slice(0, 5).join(', ')}`, {
      types: `each must be one of ${EVENT_TYPES.join(', ')}`,
    });
  }
  return [...new Set(names)] as EventType[];
}

/** Parse a Last-Event-ID (header or `?last_event_id=`): a non-negative integer. */
export function parseLastEventId(raw: string | undefined): number | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  if (!/^\d{1,15}$/.test(raw.trim())) throw errors.invalid('Last-Event-ID must be an event id', { last_event_id: 'an integer ≥ 0' });
  return Number(raw.trim());
}

export function toLiveEvent(row: EventRow): LiveEvent {
  return {
    id: Number(row.seq),
    type: row.type as EventType,
    created_at: iso(Number(row.created_at)),
    workspace_id: row.org_id,
    data: JSON.parse(row.data) as Record<string, unknown>,
  };
}

export class EventSubscription {
  readonly #queue: LiveEvent[] = [];
  #backlogFrom: number;
  #wake: (() => void) | undefined;
  #overflowed = false;
  #closed = false;
  #unsubscribe: () => void = () => {};
  #onClose: () => void;
  /**
   * Told at once when the subscriber is cut off (its writer may be stuck behind a full socket) or closed
   * from outside (closeAll): the answer must end now.
   */
  onEnd: () => void = () => {};

  constructor(
    private readonly store: Store,
    readonly orgId: string,
    private readonly wanted: (type: string) => boolean,
    /** Backlog runs from here up to `seam` (the feed's cursor when this subscription joined it). */
    after: number,
    private readonly seam: number,
    private readonly maxQueued: number,
    onClose: () => void,
  ) {
    this.#backlogFrom = after;
    this.#onClose = onClose;
  }

  /** Called by EventStreams in the tick it joins the feed. */
  attach(feed: EventFeed, after: number): void {
    const floor = Math.max(after, this.seam);
    this.#unsubscribe = feed.subscribe((rows) => {
      if (this.#closed) return;
      for (const row of rows) {
        if (row.org_id !== this.orgId || Number(row.seq) <= floor || !this.wanted(row.type)) continue;
        this.#queue.push(toLiveEvent(row));
      }
      if (this.#queue.length > this.maxQueued) {
        this.#overflowed = true;
        this.#queue.length = 0;
        this.#unsubscribe();
        this.onEnd();
      }
      this.#notify();
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Cut off for not draining its queue: the stream ends; the client resumes with its Last-Event-ID. */
  get overflowed(): boolean {
    return this.#overflowed;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /**
   * The next events, in order: a page of the backlog while there is one, then what arrived live. Empty
   * when there is nothing now (wait with `changed`), or when cut off or closed.
   */
  async take(): Promise<LiveEvent[]> {
    if (this.#closed || this.#overflowed) return [];
    if (this.#backlogFrom < this.seam) {
      const rows = await eventsAfter(this.store.db, this.#backlogFrom, PAGE, this.orgId);
      const upTo = rows.filter((r) => Number(r.seq) <= this.seam);
      this.#backlogFrom = upTo.length === PAGE ? Number((upTo[upTo.length - 1] as EventRow).seq) : this.seam;
      const out = upTo.filter((r) => this.wanted(r.type)).map(toLiveEvent);
      if (out.length > 0) return out;
      if (this.#backlogFrom < this.seam) return this.take();
    }
    return this.#queue.splice(0, this.#queue.length);
  }

  /** Resolves when live events arrive, the subscription is cut off, or closed. */
  changed(): Promise<void> {
    if (this.#queue.length > 0 || this.#overflowed || this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    this.#onClose();
    this.#notify();
    this.onEnd();
  }
}

export class EventStreams {
  readonly #open = new Map<string, number>();
  readonly #subs = new Set<EventSubscription>();
  readonly maxQueued: number;
  readonly maxPerWorkspace: number;

  constructor(
    private readonly store: Store,
    private readonly feed: EventFeed,
    limits: StreamLimits = {},
  ) {
    this.maxQueued = limits.maxQueued ?? 1_000;
    this.maxPerWorkspace = limits.maxPerWorkspace ?? 100;
  }

  /**
   * End every open stream (a server shutting down: an HTTP server waits for its open answers, and a stream
   * never ends by itself). Clients reconnect, to another node, with their Last-Event-ID.
   */
  closeAll(): void {
    for (const sub of [...this.#subs]) sub.close();
  }

  /** Open streams on this node, per workspace id. */
  openStreams(orgId: string): number {
    return this.#open.get(orgId) ?? 0;
  }

  /**
   * Subscribe `p` to its workspace's events. Everything that can refuse (a full workspace, an id older
   * than retention, the log unreadable) refuses here, before the stream's answer starts.
   */
  async open(p: Principal, input: OpenInput): Promise<EventSubscription> {
    const orgId = p.org.id;
    if (this.openStreams(orgId) >= this.maxPerWorkspace) {
      throw new ApiError(
        'rate_limited',
        `At most ${this.maxPerWorkspace} event streams per workspace may be open`,
        undefined,
        undefined,
        5,
      );
    }
    await this.feed.start();
    if (!this.feed.ready) throw new ApiError('service_unavailable', 'The event log cannot be read now', undefined, undefined, 1);
    if (input.after !== undefined) {
      // Ids are consecutive: a gap below the oldest event kept means events after `after` were pruned.
      const oldest = await oldestSeq(this.store.db);
      if (oldest !== null && input.after + 1 < oldest) {
        throw errors.conflict('Events after this Last-Event-ID are past retention: reload the state and reconnect without it', {
          reason: 'events_expired',
          last_event_id: input.after,
          oldest_event_id: oldest,
        });
      }
    }
    const types = input.types ? new Set(input.types) : undefined;
    const agent = p.kind === 'agent';
    const wanted = (type: string) => (!agent || isAgentVisibleEvent(type)) && (types === undefined || types.has(type));
    // Registered with the feed and its cursor read in one tick: the seam (see the file's comment).
    const seam = this.feed.cursor;
    const after = input.after ?? seam;
    this.#open.set(orgId, this.openStreams(orgId) + 1);
    const sub: EventSubscription = new EventSubscription(this.store, orgId, wanted, after, seam, this.maxQueued, () => {
      this.#subs.delete(sub);
      const n = this.openStreams(orgId) - 1;
      if (n <= 0) this.#open.delete(orgId);
      else this.#open.set(orgId, n);
    });
    this.#subs.add(sub);
    sub.attach(this.feed, after);
    return sub;
  }
}
