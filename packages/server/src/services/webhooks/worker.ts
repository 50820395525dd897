/**
 * The delivery worker, one per process. The event log is the outbox: each endpoint's `cursor` is the last
 * event it was given (or skipped as not subscribed), and moves only after a 2xx, so an event committed and
 * not yet delivered is still after the cursor when the process dies (kill -9) and is delivered by whoever
 * takes the endpoint next: at least once, never lost.
 *
 * One endpoint at a time is leased in the database (storage/queries/webhooks.ts), so one node delivers an
 * endpoint at a time and its events go out in `seq` order across nodes; a failed attempt ends the batch
 * and the endpoint waits out its backoff (exponential, full jitter) before the same event is tried again.
 * The worker wakes on the EventFeed (a new event), on a change to an endpoint, and on clock sleeps until
 * the next endpoint is due; never on wall time of its own, so tests move backoff with ManualClock.
 */
import { randomBytes } from 'node:crypto';
import { newId } from '../../ids.js';
import { eventsAfter } from '../../storage/queries/events.js';
import {
  advanceCursor,
  backlog,
  claimDueWebhook,
  insertDelivery,
  nextDueAt,
  recordFailure,
  releaseLease,
  type WebhookRow,
} from '../../storage/queries/webhooks.js';
import { writeAudit } from '../audit-write.js';
import type { ServiceDeps } from '../context.js';
import type { EventFeed } from '../events/feed.js';
import { backoffDelay, DISABLE_AFTER_MS } from './backoff.js';
import { type AttemptResult, attempt } from './deliver.js';
import { deliveryBody, liveEvent } from './format.js';
import type { WebhookSecrets } from './service.js';

/** Longer than one attempt (10 s) plus its writes; renewed after every delivered event. */
export const LEASE_MS = 20_000;
/** With an endpoint waiting, look again at least this often (another node's changes do not wake this one). */
const IDLE_MS = 30_000;
const PAGE = 100;

export type DeliveryOutcome = 'success' | 'failure' | 'refused';

export class WebhookWorker {
  readonly #owner = `node_${randomBytes(8).toString('hex')}`;
  readonly #stop = new AbortController();
  #wake = new AbortController();
  #dirty = false;
  #running: Promise<void> | undefined;
  #unsubscribe = () => {};
  /** True while the worker sleeps with nothing it can deliver now (tests wait for it before moving the clock). */
  idle = false;
  /** Counted per attempt (http/metrics.ts wires the counter). */
  onAttempt: (outcome: DeliveryOutcome) => void = () => {};

  constructor(
    private readonly deps: ServiceDeps,
    private readonly feed: EventFeed,
    private readonly secrets: WebhookSecrets,
  ) {}

  private get allowPrivate(): boolean {
    return this.deps.config.webhookAllowPrivate === true;
  }

  start(): void {
    if (this.#running) return;
    this.#unsubscribe = this.feed.subscribe(() => this.wake());
    this.#running = this.#loop();
  }

  /** Look for work now (coalesced). */
  wake(): void {
    this.#dirty = true;
    this.#wake.abort();
  }

  /** Undelivered events over every enabled endpoint (the metrics gauge), capped. */
  backlog(cap = 100_000): Promise<number> {
    return backlog(this.deps.store.db, cap);
  }

  async #loop(): Promise<void> {
    const { clock, logger, store } = this.deps;
    while (!this.#stop.signal.aborted) {
      // Reset before looking: a wake from here on either sets #dirty (seen below) or aborts this signal.
      if (this.#wake.signal.aborted) this.#wake = new AbortController();
      this.#dirty = false;
      // Undefined: nothing waits for any endpoint, so only a new event (the feed, which polls itself)
      // or a changed endpoint can give work: no clock sleep at all then.
      let wait: number | undefined;
      try {
        while (!this.#stop.signal.aborted && (await this.#deliverOne())) {}
        const due = await nextDueAt(store.db);
        if (due !== undefined) wait = Math.min(IDLE_MS, Math.max(0, due - clock.now()));
      } catch (err) {
        logger.warn('webhook worker failed', { error: (err as Error).message });
        wait = 1_000;
      }
      if (this.#dirty || this.#stop.signal.aborted) continue;
      const woken = AbortSignal.any([this.#stop.signal, this.#wake.signal]);
      this.idle = true;
      if (wait === undefined)
        await new Promise<void>((resolve) =>
          woken.aborted ? resolve() : woken.addEventListener('abort', () => resolve(), { once: true }),
        );
      else await clock.sleep(wait, woken);
      this.idle = false;
    }
  }

  /** Lease one due endpoint and deliver what waits for it. False when none is due. */
  async #deliverOne(): Promise<boolean> {
    const { store, clock } = this.deps;
    const hook = await store.transaction((trx) => claimDueWebhook(store, trx, clock.now(), this.#owner, LEASE_MS));
    if (!hook) return false;
    let cursor = Number(hook.cursor);
    // Failures in a row so far: the leased row's, until an event is taken.
    let failures = hook.attempts;
    try {
      const secret = this.secrets.box().open(hook.secret, hook.id);
      const types = new Set(JSON.parse(hook.events) as string[]);
      const all = types.has('*');
      for (;;) {
        const rows = await eventsAfter(store.db, cursor, PAGE, hook.org_id);
        for (const row of rows) {
          if (this.#stop.signal.aborted) break;
          if (!all && !types.has(row.type)) {
            cursor = Number(row.seq);
            continue;
          }
          const event = liveEvent(row);
          const res = await attempt({
            url: hook.url,
            secret,
            eventId: String(event.id),
            body: deliveryBody(hook.format, event),
            now: clock.now(),
            allowPrivate: this.allowPrivate,
          });
          await this.#log(hook, Number(row.seq), row.type, failures + 1, res);
          if (!res.ok) {
            await this.#failed(hook, cursor, failures, failures === hook.attempts ? hook.failing_since : null);
            return true;
          }
          failures = 0;
          cursor = Number(row.seq);
          // A lease lost (this node was paused past it): another node has the endpoint now; stop here.
          if (!(await advanceCursor(store.db, hook.id, this.#owner, cursor, clock.now() + LEASE_MS))) return true;
        }
        if (rows.length < PAGE || this.#stop.signal.aborted) break;
      }
      await releaseLease(store.db, hook.id, this.#owner, cursor);
    } catch (err) {
      await releaseLease(store.db, hook.id, this.#owner, cursor).catch(() => {});
      throw err;
    }
    return true;
  }

  async #log(hook: WebhookRow, seq: number, type: string, attemptNo: number, res: AttemptResult): Promise<void> {
    this.onAttempt(res.ok ? 'success' : res.error?.startsWith('refused:') ? 'refused' : 'failure');
    await insertDelivery(this.deps.store.db, {
      id: newId('delivery'),
      webhook_id: hook.id,
      org_id: hook.org_id,
      event_seq: seq,
      event_type: type,
      attempt: attemptNo,
      status: res.status,
      ok: res.ok ? 1 : 0,
      error: res.error,
      duration_ms: res.durationMs,
      created_at: this.deps.clock.now(),
    });
  }

  /** A failed attempt: back off, or after three days of failures in a row disable the endpoint (audited). */
  async #failed(hook: WebhookRow, cursor: number, before: number, since: number | null): Promise<void> {
    const { store, clock } = this.deps;
    const now = clock.now();
    const attempts = before + 1;
    const failingSince = since === null ? now : Number(since);
    const disable = now - failingSince >= DISABLE_AFTER_MS;
    await store.transaction(async (trx) => {
      const changed = await recordFailure(trx, hook.id, this.#owner, {
        cursor,
        attempts,
        failingSince,
        nextAttemptAt: now + backoffDelay(attempts),
        disable,
        now,
      });
      if (changed && disable) {
        await writeAudit(trx, now, {
          org_id: hook.org_id,
          actor: { type: 'system', id: null },
          event: 'webhook.disabled',
          details: { webhook_id: hook.id, url: hook.url, reason: 'failing', failing_since: new Date(failingSince).toISOString(), attempts },
        });
      }
    });
    if (disable) this.deps.logger.warn('webhook disabled after failing for 3 days', { webhook_id: hook.id });
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    this.#unsubscribe();
    await this.#running;
  }
}
