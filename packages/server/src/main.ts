#!/usr/bin/env node
import { fileURLToPath } from 'node:url';
import { systemClock } from './clock.js';
/**
 * availsync-server            serve the API (and the dashboard) on the embedded store or DATABASE_URL
 * availsync-server migrate    apply migrations and exit
 */
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { planCommand } from './operator.js';
import { createAvailsync, listen, openStore } from './server.js';
import { createSqliteStore } from './storage/store.js';
import { VERSION } from './version.js';

const USAGE = `availsync-server ${VERSION}

Usage:
  availsync-server            serve the API on PORT (default 8787)
  availsync-server migrate    apply database migrations and exit
  availsync-server plan set <org_id|email> <free|team|unlimited>
                              change a workspace's plan (audited as plan.changed)
  availsync-server --help

Configuration (environment): PORT, HOST, AVAILSYNC_DATA_DIR, DATABASE_URL, AVAILSYNC_DEFAULT_PLAN,
AVAILSYNC_PUBLIC_URL, LOG_LEVEL, AVAILSYNC_ACTIVITY_RETENTION_DAYS, AVAILSYNC_IDEMPOTENCY_RETENTION_HOURS,
AVAILSYNC_TRUST_PROXY, AVAILSYNC_SIGNUPS_PER_HOUR, AVAILSYNC_MAX_CONNECTIONS_PER_ADDRESS,
AVAILSYNC_HEADERS_TIMEOUT_MS, AVAILSYNC_REQUEST_TIMEOUT_MS, AVAILSYNC_BODY_IDLE_TIMEOUT_MS
(see docs/operations.md)`;

async function main(argv: string[]): Promise<number> {
  const [command = 'serve', ...rest] = argv;
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (command === '--version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const config = loadConfig();
  const logger = createLogger(config.logLevel);

  if (command === 'migrate') {
    const store = openStore(config, systemClock, logger);
    await store.migrate();
    await store.close();
    process.stdout.write(`migrations applied (${store.kind})\n`);
    return 0;
  }
  if (command === 'plan') {
    // On the embedded store this may run beside the server: it opens the file without the server's lock
    // file (SQLite serialises the one write). The server reads the plan on every request.
    const store = config.databaseUrl
      ? openStore(config, systemClock, logger)
      : createSqliteStore({ dataDir: config.dataDir, clock: systemClock, shared: true });
    try {
      await store.migrate();
      return await planCommand(rest, store, systemClock.now(), {
        out: (line) => process.stdout.write(`${line}\n`),
        err: (line) => process.stderr.write(`${line}\n`),
      });
    } finally {
      await store.close();
    }
  }
  if (command !== 'serve') {
    process.stderr.write(`unknown command "${[command, ...rest].join(' ')}"\n\n${USAGE}\n`);
    return 2;
  }

  // The dashboard's build (npm run build puts it in packages/server/dist/dashboard); from src/ or dist/ alike.
  const dashboardDir = fileURLToPath(new URL('../dist/dashboard/', import.meta.url));
  const instance = await createAvailsync({ config, logger, dashboardDir });
  await instance.store.warm();
  const http = await listen(instance, config.port, config.host, { limits: config.http, https: config.secureCookies });
  const where = config.databaseUrl ? 'PostgreSQL' : `SQLite in ${config.dataDir}`;
  logger.info('listening', { url: http.url, store: where, version: VERSION });
  if (process.stdout.isTTY) process.stdout.write(`Availsync ${VERSION} listening on ${http.url} (${where})\n`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('draining', { signal });
    http.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('shutdown failed', { error: String(err) });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return -1;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    if (err instanceof ConfigError) process.stderr.write(`${err.message}\n`);
    else process.stderr.write(`availsync-server failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
