/**
 * PostgreSQL's side of storage/notifications.ts: one dedicated connection per server process that LISTENs
 * on the channels someone listens to. It is not from the pool (a pooled connection goes back to others,
 * and PgBouncer in transaction mode cannot keep a LISTEN at all: then set the listener's own URL, or
 * readers fall back to polling). When the connection drops it is opened again with backoff, and every
 * listener is told '' ("you may have missed something: re-read").
 */
import pg from 'pg';
import { channelName, LocalNotifications, type Notifications } from '../notifications.js';

export interface ListenerOptions {
  url: string;
  /** The schema the tables live in (channel names carry it), resolved when the first listener comes. */
  schema: () => Promise<string>;
  applicationName: string;
  onError?: (err: Error) => void;
  /** Off: no connection is opened and `live` stays false (readers poll). */
  enabled?: boolean;
}

export class PostgresNotifications implements Notifications {
  readonly #local = new LocalNotifications();
  #client: pg.Client | undefined;
  #connecting: Promise<void> | undefined;
  #live = false;
  #closed = false;
  #retryMs = 100;
  #retryTimer: NodeJS.Timeout | undefined;
  #schema: string | undefined;

  constructor(private readonly opts: ListenerOptions) {}

  get live(): boolean {
    return this.#live;
  }

  listen(channel: string, fn: (payload: string) => void): () => void {
    const first = !this.#local.channels().includes(channel);
    const off = this.#local.listen(channel, fn);
    if (first && this.opts.enabled !== false) void this.#subscribe(channel);
    return off;
  }

  emit(channel: string, payload: string): void {
    this.#local.emit(channel, payload);
  }

  #name(channel: string): string {
    return channelName(channel, this.#schema ?? 'public');
  }

  async #subscribe(channel: string): Promise<void> {
    await this.#connect();
    const client = this.#client;
    if (!client) return;
    try {
      await client.query(`listen "${this.#name(channel)}"`);
    } catch (err) {
      this.opts.onError?.(err as Error);
    }
  }

  #connect(): Promise<void> {
    if (this.#client || this.#closed) return Promise.resolve();
    this.#connecting ??= (async () => {
      const client = new pg.Client({ connectionString: this.opts.url, application_name: `${this.opts.applicationName}-listen` });
      client.on('error', (err) => this.#lost(client, err));
      client.on('end', () => this.#lost(client));
      client.on('notification', (msg) => {
        const channel = this.#local.channels().find((c) => this.#name(c) === msg.channel);
        if (channel) this.#local.emit(channel, msg.payload ?? '');
      });
      try {
        this.#schema ??= await this.opts.schema();
        await client.connect();
        for (const c of this.#local.channels()) await client.query(`listen "${this.#name(c)}"`);
        if (this.#closed) {
          await client.end().catch(() => {});
          return;
        }
        this.#client = client;
        this.#live = true;
        this.#retryMs = 100;
        // Whatever was sent while no one listened: re-read.
        for (const c of this.#local.channels()) this.#local.emit(c, '');
      } catch (err) {
        this.opts.onError?.(err as Error);
        await client.end().catch(() => {});
        this.#retry();
      }
    })().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  #lost(client: pg.Client, err?: Error) {
    if (this.#client !== client) return;
    if (err) this.opts.onError?.(err);
    this.#client = undefined;
    this.#live = false;
    client.end().catch(() => {});
    this.#retry();
  }

  #retry() {
    if (this.#closed || this.#retryTimer) return;
    const wait = this.#retryMs;
    this.#retryMs = Math.min(this.#retryMs * 2, 5_000);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#connect();
    }, wait);
    this.#retryTimer.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#live = false;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    await this.#connecting;
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => {});
    await this.#local.close();
  }
}
