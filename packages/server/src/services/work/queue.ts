/**
 * The node's side of the wait queue: the starts of this process waiting for a resource, and
 * what wakes them. The queue itself is rows in the database (migration 009); this only decides when a
 * waiter should run its start's transaction again, which alone grants.
 *
 * - A claim ending (finish, release, expiry, preemption) is announced by migration 009's trigger on the
 *   `queue` channel with the resource; a waiter leaving announces it too. On a notification the node reads
 *   the queues of its waiters on that resource once and wakes only those at the head of their scope's queue
 *   (no thundering herd: the others stay asleep).
 * - Every QUEUE_TICK_MS of the clock, while it has waiters: their rows' heartbeat is refreshed (a dead
 *   node's rows go stale and are skipped), and the same head check runs as a poll, for a LISTEN that is
 *   down or behind PgBouncer's transaction mode: a head is woken if its scope is free, or if it did not
 *   know it was the head (so it learns the blocking lease's end and sleeps until then).
 */
import { formatResource } from '@availsync/protocol';
import { isLiveWaiter, QUEUE_TICK_MS } from '../../domain/queue.js';
import { heldIn, touchWaiters, type WaiterRow, waitersOn } from '../../storage/queries/queue.js';
import type { ResourceKey, Store } from '../../storage/store.js';

export const QUEUE_CHANNEL = 'queue';

/** A resource as the trigger names it: `org_id type:key`. */
export const queueKey = (k: ResourceKey) => `${k.org_id} ${formatResource(k)}`;

export class LocalWaiter {
  /** The waiter's row, once it has joined. */
  id: string | undefined;
  scope: ResourceKey[];
  /** The last decision found it at the head of its scope's queue (it then sleeps until the blocking lease ends). */
  knownHead = false;
  #woken = false;
  #wake: (() => void) | undefined;

  constructor(scope: ResourceKey[]) {
    this.scope = scope;
  }

  wake(): void {
    this.#woken = true;
    this.#wake?.();
  }

  /** Sleep on the clock until `until`, a wake() (also one that came before the sleep) or `signal`. */
  async sleep(store: Store, until: number, signal: AbortSignal | undefined): Promise<void> {
    if (this.#woken || signal?.aborted) {
      this.#woken = false;
      return;
    }
    const stop = new AbortController();
    const abort = () => stop.abort();
    signal?.addEventListener('abort', abort, { once: true });
    this.#wake = abort;
    try {
      await store.clock.sleep(Math.max(0, until - store.clock.now()), stop.signal);
    } finally {
      this.#wake = undefined;
      this.#woken = false;
      signal?.removeEventListener('abort', abort);
    }
  }
}

export class QueueWaker {
  readonly #waiters = new Set<LocalWaiter>();
  #unlisten: (() => void) | undefined;
  #ticking = false;
  /** Ends the tick's sleep when the last waiter goes (no sleeper left behind on the clock). */
  #idle = new AbortController();

  constructor(private readonly store: Store) {}

  /** How many starts of this process wait (the queue-waiters gauge). */
  get size(): number {
    return this.#waiters.size;
  }

  add(w: LocalWaiter): void {
    this.#waiters.add(w);
    this.#unlisten ??= this.store.notifications.listen(QUEUE_CHANNEL, (payload) => void this.#heard(payload));
    if (!this.#ticking) void this.#tick();
  }

  remove(w: LocalWaiter): void {
    this.#waiters.delete(w);
    if (this.#waiters.size === 0) {
      this.#unlisten?.();
      this.#unlisten = undefined;
      this.#idle.abort();
    }
  }

  async #heard(payload: string): Promise<void> {
    const hit = [...this.#waiters].filter((w) => payload === '' || w.scope.some((k) => queueKey(k) === payload));
    // A waiter that was the head when it last decided is woken without a read: only a later arrival of
    // higher priority can have passed it, and then its decision (under the locks) just says wait again.
    const heads = hit.filter((w) => w.knownHead);
    for (const w of heads) w.wake();
    await this.#wakeHeads(
      hit.filter((w) => !w.knownHead),
      false,
    );
  }

  async #tick(): Promise<void> {
    this.#ticking = true;
    this.#idle = new AbortController();
    try {
      while (this.#waiters.size > 0) {
        await this.store.clock.sleep(QUEUE_TICK_MS, this.#idle.signal);
        if (this.#waiters.size === 0) break;
        const ids = [...this.#waiters].flatMap((w) => (w.id ? [w.id] : []));
        try {
          await touchWaiters(this.store.db, ids, this.store.clock.now());
        } catch {
          // The database is away: the rows may go stale; a waiter that finds its row gone joins again.
        }
        await this.#wakeHeads([...this.#waiters], true);
      }
    } finally {
      this.#ticking = false;
    }
  }

  /** Wake those of `candidates` at the head of their scope's queue (a poll: only if free, or not known head). */
  async #wakeHeads(candidates: LocalWaiter[], poll: boolean): Promise<void> {
    const joined = candidates.filter((w) => w.id !== undefined);
    for (const w of candidates) if (w.id === undefined) w.wake();
    if (joined.length === 0) return;
    const now = this.store.clock.now();
    const byOrg = new Map<string, LocalWaiter[]>();
    for (const w of joined) {
      const org = w.scope[0]?.org_id ?? '';
      byOrg.set(org, [...(byOrg.get(org) ?? []), w]);
    }
    for (const ws of byOrg.values()) {
      const seen = new Map<string, ResourceKey>();
      for (const w of ws) for (const k of w.scope) seen.set(queueKey(k), k);
      const scope = [...seen.values()];
      let rows: WaiterRow[];
      let held: Set<string>;
      try {
        rows = (await waitersOn(this.store.db, scope).execute()).filter((r) => isLiveWaiter(r, now));
        held = new Set(
          poll ? (await heldIn(this.store.db, scope, now).execute()).map((r) => queueKey({ ...r, org_id: scope[0]?.org_id ?? '' })) : [],
        );
      } catch {
        // Cannot tell who is the head: let them all decide (each under its locks).
        for (const w of ws) w.wake();
        continue;
      }
      for (const w of ws) {
        const keys = new Set(w.scope.map(queueKey));
        // Its row is gone (removed as stale while this node was paused): it joins again.
        if (!rows.some((r) => r.id === w.id)) {
          w.wake();
          continue;
        }
        const head = rows.find((r) => keys.has(queueKey(r)));
        if (head?.id !== w.id) continue;
        if (!poll || !w.knownHead || !w.scope.some((k) => held.has(queueKey(k)))) w.wake();
      }
    }
  }
}
