/**
 * Composition: config → store → migrate → services → app → sweeper → listen. Used by main.ts and by the
 * test harness (which passes its own store and clock).
 */
import type { AddressInfo } from 'node:net';
import { type Clock, systemClock } from './clock.js';
import type { Config } from './config.js';
import { createApp } from './http/app.js';
import { type ServeOptions, serveHttp } from './http/node-server.js';
import { serviceReplies } from './http/replies.js';
import { createLogger, type Logger } from './logger.js';
import { assembleServices, type ServiceDeps, type Services } from './services/index.js';
import { createPostgresStore, createSqliteStore, type Store } from './storage/store.js';

const RETENTION_FIRST_RUN_MS = 60_000;
const RETENTION_INTERVAL_MS = 3_600_000;

export function openStore(config: Config, clock: Clock, logger: Logger): Store {
  if (config.databaseUrl) {
    return createPostgresStore({
      url: config.databaseUrl,
      clock,
      poolSize: config.pgPoolSize,
      idleTxTimeoutMs: config.pgIdleTxTimeoutMs,
      preparedStatements: config.pgPreparedStatements,
      ...(config.pgListen !== undefined ? { listen: config.pgListen } : {}),
      onPoolError: (err) => logger.warn('postgres connection error', { error: err.message }),
    });
  }
  return createSqliteStore({ dataDir: config.dataDir, clock, synchronous: config.sqliteSynchronous });
}

/** The services, answering as the HTTP API does wherever they answer for a route (http/replies.ts). */
export function createServices(deps: ServiceDeps): Services {
  return assembleServices(deps, serviceReplies);
}

export interface AvailsyncOptions {
  config: Config;
  store?: Store;
  clock?: Clock;
  logger?: Logger;
  /** Run the background sweeper (default true). Tests call `sweep()` themselves. */
  sweeper?: boolean;
  /** The dashboard build to serve at `/` (main.ts passes dist/dashboard); none when omitted. */
  dashboardDir?: string;
}

export async function createAvailsync(opts: AvailsyncOptions) {
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? createLogger(opts.config.logLevel);
  const store = opts.store ?? openStore(opts.config, clock, logger);
  await store.migrate();
  const services = createServices({ store, clock, logger, config: opts.config });
  await services.events.start();
  services.webhookWorker.start();
  const { app, routes } = createApp({
    services,
    logger,
    secureCookies: opts.config.secureCookies,
    metricsToken: opts.config.metricsToken,
    ...(opts.dashboardDir ? { dashboardDir: opts.dashboardDir } : {}),
  });

  let sweepTimer: NodeJS.Timeout | undefined;
  let sweeping: Promise<unknown> = Promise.resolve();
  if (opts.sweeper ?? true) {
    sweepTimer = setInterval(() => {
      // Each part on its own: one failing neither stops the other nor lets close() run under it.
      sweeping = Promise.allSettled(
        [services.work.sweep(), services.holds.sweep()].map((part) =>
          part.catch((err: unknown) => logger.warn('sweep failed', { error: String(err) })),
        ),
      );
    }, opts.config.sweepIntervalMs);
    sweepTimer.unref();
  }
  // Retention (activity, idempotency records) alongside the sweeper: soon after start, then hourly.
  let pruneTimer: NodeJS.Timeout | undefined;
  let pruning: Promise<unknown> = Promise.resolve();
  if (opts.sweeper ?? true) {
    const prune = () => {
      pruning = services.retention.prune().catch((err: unknown) => logger.warn('retention prune failed', { error: String(err) }));
    };
    pruneTimer = setTimeout(function again() {
      prune();
      pruneTimer = setTimeout(again, RETENTION_INTERVAL_MS);
      pruneTimer.unref();
    }, RETENTION_FIRST_RUN_MS);
    pruneTimer.unref();
  }

  return {
    app,
    routes,
    services,
    store,
    logger,
    async close() {
      if (sweepTimer) clearInterval(sweepTimer);
      if (pruneTimer) clearTimeout(pruneTimer);
      await sweeping;
      await pruning;
      await services.activity.recorder.close();
      await services.webhookWorker.stop();
      await services.events.stop();
      await services.mailer.close();
      await store.close();
    },
  };
}

export type Availsync = Awaited<ReturnType<typeof createAvailsync>>;

/**
 * Serve over HTTP with the socket limits (timeouts, connections per address: http/node-server.ts).
 * Resolves once listening; `stop()` drains in-flight requests and closes the store.
 */
export async function listen(instance: Availsync, port: number, host: string, opts: ServeOptions = {}) {
  const server = await serveHttp(instance.app.fetch, port, host, opts);
  const address = server.address() as AddressInfo;
  return {
    server,
    port: address.port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`,
    async stop() {
      // Event streams never end by themselves: end them, or close() would wait for them forever.
      instance.services.eventStreams.closeAll();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Idle keep-alive sockets would hold close() open; in-flight requests still finish.
        (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.();
      });
      await instance.close();
    },
  };
}
