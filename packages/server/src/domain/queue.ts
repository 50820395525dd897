/**
 * The wait queue's pure rules. Order: higher priority first, then arrival. A row whose node
 * stopped refreshing it (killed, partitioned) or whose wait is long over is not in the queue any more.
 */

/** How often a waiting node refreshes its rows' heartbeat and polls for wake-ups it may have missed. */
export const QUEUE_TICK_MS = 1_000;
/** A row not refreshed for this long belongs to a dead node: ignored, and removed by the next decider. */
export const QUEUE_STALE_MS = 15 * QUEUE_TICK_MS;

export interface QueuedWaiter {
  id: string;
  priority: number;
  n: number;
  deadline: number;
  heartbeat_at: number;
}

export function isLiveWaiter(w: Pick<QueuedWaiter, 'deadline' | 'heartbeat_at'>, now: number): boolean {
  return w.heartbeat_at > now - QUEUE_STALE_MS && w.deadline > now - QUEUE_STALE_MS;
}

/**
 * The waiters a start must let go first. Its own row (`mine`): those ahead of it in order. A new waiting
 * start, or a preempting one: those of at least its priority (it queues behind equals, ahead of lower
 * ones; a preemption would take over from those anyway). A start that neither waits nor preempts: all of
 * them — nobody jumps the queue.
 */
export function waitersAhead<W extends QueuedWaiter>(
  queue: readonly W[],
  mine: W | undefined,
  req: { priority: number; wait: boolean; preempt: boolean },
): W[] {
  if (mine) return queue.filter((w) => w !== mine && (w.priority > mine.priority || (w.priority === mine.priority && w.n < mine.n)));
  if (req.wait || req.preempt) return queue.filter((w) => w.priority >= req.priority);
  return [...queue];
}
