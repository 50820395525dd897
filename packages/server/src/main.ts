#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
/**
 * availsync-server            serve the API (and the dashboard) on the embedded store or DATABASE_URL
 * availsync-server migrate    apply migrations and exit
 * availsync-server backup / export audit: operations (backup.ts, audit-export.ts)
 */
import { EXPORT_USAGE, exportAudit, parseExportArgs } from './audit-export.js';
import { backupCommand } from './backup.js';
import { systemClock } from './clock.js';
import { ConfigError, loadConfig } from './config.js';
import { hasDashboard } from './http/static.js';
import { createLogger } from './logger.js';
import { planCommand } from './operator.js';
import { createAvailsync, listen, openStore } from './server.js';
import { redactSmtpUrl } from './services/smtp-url.js';
import { readiness } from './storage/readiness.js';
import { createSqliteStore, DataDirLockedError } from './storage/store.js';
import { VERSION } from './version.js';

const USAGE = `availsync-server ${VERSION}

Usage:
  availsync-server            serve the API on PORT (default 8787)
  availsync-server migrate    apply database migrations and exit
  availsync-server plan set <org_id|email> <free|team|unlimited>
                              change a workspace's plan (audited as plan.changed)
  availsync-server backup <file>
                              a consistent copy of the SQLite store while it serves (PostgreSQL: pg_dump)
  availsync-server export audit --format ndjson|csv [--from <time>] [--to <time>] [--org <org_id>]
                              stream the audit log to stdout
  GET /health/ready, and GET /metrics when AVAILSYNC_METRICS_TOKEN is set (see docs/operations.md)
  availsync-server --help

Configuration (environment): PORT, HOST, AVAILSYNC_DATA_DIR, DATABASE_URL, AVAILSYNC_DEFAULT_PLAN,
AVAILSYNC_PUBLIC_URL, LOG_LEVEL, AVAILSYNC_ACTIVITY_RETENTION_DAYS, AVAILSYNC_IDEMPOTENCY_RETENTION_HOURS,
AVAILSYNC_TRUST_PROXY, AVAILSYNC_SIGNUPS_PER_HOUR, AVAILSYNC_MAX_CONNECTIONS_PER_ADDRESS,
AVAILSYNC_HEADERS_TIMEOUT_MS, AVAILSYNC_REQUEST_TIMEOUT_MS, AVAILSYNC_BODY_IDLE_TIMEOUT_MS,
AVAILSYNC_SMTP_URL, AVAILSYNC_SMTP_FROM (see docs/operations.md)`;

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
    let store: ReturnType<typeof openStore>;
    try {
      store = openStore(config, systemClock, logger);
    } catch (err) {
      if (!(err instanceof DataDirLockedError)) throw err;
      const who = err.holderPid ? `availsync-server (pid ${err.holderPid})` : 'availsync-server';
      process.stderr.write(
        `availsync-server migrate: another ${who} holds the data directory ${err.dataDir}, so nothing was migrated. ` +
          'A server applies the migrations itself when it starts; to migrate by hand, stop it first.\n',
      );
      return 1;
    }
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
  if (command === 'backup') {
    return backupCommand(rest, config, {
      out: (line) => process.stdout.write(`${line}\n`),
      err: (line) => process.stderr.write(`${line}\n`),
    });
  }
  if (command === 'export') {
    const opts = parseExportArgs(rest);
    if (typeof opts === 'string') {
      process.stderr.write(`${opts}\n\n${EXPORT_USAGE}\n`);
      return 2;
    }
    if (!config.databaseUrl && !existsSync(join(config.dataDir, 'availsync.db'))) {
      process.stderr.write(
        `availsync-server export: no database at ${join(config.dataDir, 'availsync.db')} (is AVAILSYNC_DATA_DIR right?)\n`,
      );
      return 1;
    }
    // Read-only, beside the server (as `plan`): the embedded store without its lock file, no migrations.
    const store = config.databaseUrl
      ? openStore({ ...config, pgPoolSize: 1 }, systemClock, logger)
      : createSqliteStore({ dataDir: config.dataDir, clock: systemClock, shared: true });
    try {
      const rows = await exportAudit(store, opts, process.stdout);
      await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
      process.stderr.write(`exported ${rows} audit event${rows === 1 ? '' : 's'} (${opts.format})\n`);
      return 0;
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'EPIPE') throw err;
      // The reader went away (`| head`): the export is incomplete, and says so.
      process.stderr.write('availsync-server export: stopped, the reader closed stdout before the end\n');
      return 1;
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
  // The SMTP URL only ever as redactSmtpUrl prints it: its password never reaches a log line.
  const mail = config.smtpUrl ? redactSmtpUrl(config.smtpUrl) : 'off (AVAILSYNC_SMTP_URL unset: invite links are copied by hand)';
  logger.info('listening', { url: http.url, store: where, version: VERSION, mail });
  if (config.smtpUrl && !config.publicUrl) {
    logger.warn(
      'AVAILSYNC_SMTP_URL is set without AVAILSYNC_PUBLIC_URL: password reset emails are not sent (their link needs the public address)',
    );
  }
  const ready = await readiness(instance.store);
  if (!ready.ready) logger.warn('not ready: GET /health/ready answers 503', { checks: ready.checks.filter((c) => !c.ok) });
  process.stdout.write(`${startLine(http.url, hasDashboard(dashboardDir), where)}\n`);

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

/** The one plain line `npm start` ends with (JSON logs go to stderr): where to open the dashboard. */
function startLine(url: string, dashboard: boolean, where: string): string {
  // A wildcard address is not one to open in a browser: the same port on this machine is.
  const open = `${url.replace(/^http:\/\/(0\.0\.0\.0|\[::\])(?=:)/, 'http://localhost')}/`;
  return dashboard
    ? `Availsync ${VERSION}: dashboard and API at ${open} (${where})`
    : `Availsync ${VERSION}: API at ${open} (${where}; no dashboard build: run npm run build)`;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    const command = process.argv[2] ?? 'serve';
    const what = command === 'serve' ? 'availsync-server failed to start' : `availsync-server ${command} failed`;
    if (err instanceof ConfigError) process.stderr.write(`${err.message}\n`);
    else process.stderr.write(`${what}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
