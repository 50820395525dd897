import { resolve } from 'node:path';
import { z } from 'zod';
import { parseTrustProxy, type TrustProxy, TrustProxyError } from './http/client-address.js';
import { smtpUrlProblem } from './services/smtp-url.js';

const Env = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8787),
  HOST: z.string().min(1).default('127.0.0.1'),
  AVAILSYNC_DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'DATABASE_URL must be a postgres:// URL')
    .optional()
    .or(z.literal('').transform(() => undefined)),
  AVAILSYNC_DEFAULT_PLAN: z.enum(['free', 'team', 'unlimited']).default('free'),
  AVAILSYNC_PUBLIC_URL: z
    .string()
    .url()
    .optional()
    .or(z.literal('').transform(() => undefined)),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  AVAILSYNC_METRICS_TOKEN: z
    .string()
    .min(16, 'the metrics token must be at least 16 characters (e.g. openssl rand -hex 24)')
    .optional()
    .or(z.literal('').transform(() => undefined)),
  AVAILSYNC_SWEEP_INTERVAL_MS: z.coerce.number().int().min(100).default(5000),
  AVAILSYNC_SQLITE_SYNCHRONOUS: z.enum(['NORMAL', 'FULL']).default('NORMAL'),
  AVAILSYNC_PG_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  AVAILSYNC_PG_IDLE_TX_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  AVAILSYNC_PG_PREPARED_STATEMENTS: z.enum(['on', 'off']).default('on'),
  /** `off`, or a postgres:// URL for the LISTEN connection (direct, when DATABASE_URL is a transaction-mode pooler). */
  AVAILSYNC_PG_LISTEN_URL: z
    .union([z.literal('off'), z.url({ protocol: /^postgres(ql)?$/ })])
    .optional()
    .or(z.literal('').transform(() => undefined)),
  AVAILSYNC_ACTIVITY_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
  /** Last-Event-ID can resume within this window (at least 7 days). */
  AVAILSYNC_EVENT_RETENTION_DAYS: z.coerce.number().int().min(7, 'events are kept at least 7 days').max(3650).default(7),
  AVAILSYNC_IDEMPOTENCY_RETENTION_HOURS: z.coerce
    .number()
    .int()
    .min(24, 'idempotency keys are kept at least 24 hours')
    .max(24 * 3650)
    .default(48),
  AVAILSYNC_TRUST_PROXY: z.string().optional(),
  AVAILSYNC_SIGNUPS_PER_HOUR: z.coerce.number().int().min(1).max(1_000_000).default(20),
  AVAILSYNC_MAX_CONNECTIONS_PER_ADDRESS: z.coerce.number().int().min(1).max(1_000_000).default(256),
  AVAILSYNC_HEADERS_TIMEOUT_MS: z.coerce.number().int().min(100).default(20_000),
  AVAILSYNC_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).default(60_000),
  AVAILSYNC_BODY_IDLE_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
  AVAILSYNC_SMTP_URL: z
    .string()
    .refine((v) => smtpUrlProblem(v) === undefined, { error: (i) => smtpUrlProblem(String(i.input)) ?? 'invalid' })
    .optional()
    .or(z.literal('').transform(() => undefined)),
  AVAILSYNC_SMTP_FROM: z
    .string()
    .max(254)
    .optional()
    .or(z.literal('').transform(() => undefined)),
  AVAILSYNC_SECRETS_KEY: z
    .string()
    .refine((v) => Buffer.from(v, 'base64').length === 32, 'AVAILSYNC_SECRETS_KEY must be 32 bytes, base64 (openssl rand -base64 32)')
    .optional()
    .or(z.literal('').transform(() => undefined)),
  AVAILSYNC_WEBHOOK_ALLOW_PRIVATE: z.enum(['0', '1']).default('0'),
});

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | undefined;
  defaultPlan: 'free' | 'team' | 'unlimited';
  publicUrl: string | undefined;
  secureCookies: boolean;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /** GET /metrics answers to `Authorization: Bearer <this>`; unset (or empty): /metrics is 404. */
  metricsToken?: string | undefined;
  sweepIntervalMs: number;
  sqliteSynchronous: 'NORMAL' | 'FULL';
  pgPoolSize: number;
  /** A transaction idle this long (a paused or partitioned node) is ended by PostgreSQL, releasing its locks. */
  pgIdleTxTimeoutMs: number;
  /** Named prepared statements on PostgreSQL (off behind PgBouncer's transaction mode before 1.21). */
  pgPreparedStatements: boolean;
  /**
   * Where PostgreSQL's LISTEN connection goes (storage/notifications.ts): DATABASE_URL when undefined; a
   * direct URL behind a transaction-mode pooler; false for none (readers poll).
   */
  pgListen?: string | false | undefined;
  /** Activity rows older than this are pruned (default 30). */
  activityRetentionDays?: number;
  /** Events are kept this many days (AVAILSYNC_EVENT_RETENTION_DAYS, at least 7): Last-Event-ID resumes within it. */
  eventRetentionDays?: number;
  /** GET /v1/events limits per node: undrained live events per stream, open streams per workspace. */
  eventStreams?: { maxQueued?: number; maxPerWorkspace?: number };
  /** Idempotency records older than this are pruned (default 48, never below 24). */
  idempotencyRetentionHours?: number;
  /** Where the client address comes from (AVAILSYNC_TRUST_PROXY); the socket peer when omitted. */
  trustProxy?: TrustProxy;
  /** Sign-ups per client address per hour (default 20). */
  signupsPerHour?: number;
  /** HTTP limits of the Node server (server.ts `listen`); the documented defaults when omitted. */
  http?: Partial<HttpLimits>;
  /** AVAILSYNC_SMTP_URL: invites and password resets are emailed through it (never log it: redactSmtpUrl). */
  smtpUrl?: string | undefined;
  /** AVAILSYNC_SMTP_FROM: the From of those emails (default `Availsync <no-reply@host>`). */
  smtpFrom?: string | undefined;
  /** AVAILSYNC_SECRETS_KEY (base64, 32 bytes): encrypts webhook secrets at rest (never log it). */
  secretsKey?: string | undefined;
  /** AVAILSYNC_WEBHOOK_ALLOW_PRIVATE=1: webhooks may point at loopback and private addresses. */
  webhookAllowPrivate?: boolean;
}

/** The Node server's socket limits (docs/operations.md). */
export interface HttpLimits {
  /** All request headers must arrive within this (default 20 s). */
  headersTimeoutMs: number;
  /** A whole request, body included, must arrive within this (default 60 s). */
  requestTimeoutMs: number;
  /** A request body that sends nothing for this long is closed (default 30 s). */
  bodyIdleTimeoutMs: number;
  /** Open connections per client address (IPv6: per /64); more are closed at once (default 256). */
  maxConnectionsPerAddress: number;
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  let trustProxy: TrustProxy;
  try {
    trustProxy = parseTrustProxy(e.AVAILSYNC_TRUST_PROXY);
  } catch (err) {
    if (err instanceof TrustProxyError) throw new ConfigError(`Invalid configuration:\n  ${err.message}`);
    throw err;
  }
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir: resolve(e.AVAILSYNC_DATA_DIR),
    databaseUrl: e.DATABASE_URL,
    defaultPlan: e.AVAILSYNC_DEFAULT_PLAN,
    publicUrl: e.AVAILSYNC_PUBLIC_URL,
    secureCookies: e.AVAILSYNC_PUBLIC_URL?.startsWith('https://') ?? false,
    logLevel: e.LOG_LEVEL,
    metricsToken: e.AVAILSYNC_METRICS_TOKEN || undefined,
    sweepIntervalMs: e.AVAILSYNC_SWEEP_INTERVAL_MS,
    sqliteSynchronous: e.AVAILSYNC_SQLITE_SYNCHRONOUS,
    pgPoolSize: e.AVAILSYNC_PG_POOL_SIZE,
    pgIdleTxTimeoutMs: e.AVAILSYNC_PG_IDLE_TX_TIMEOUT_MS,
    pgPreparedStatements: e.AVAILSYNC_PG_PREPARED_STATEMENTS === 'on',
    pgListen: e.AVAILSYNC_PG_LISTEN_URL === 'off' ? false : e.AVAILSYNC_PG_LISTEN_URL,
    activityRetentionDays: e.AVAILSYNC_ACTIVITY_RETENTION_DAYS,
    eventRetentionDays: e.AVAILSYNC_EVENT_RETENTION_DAYS,
    idempotencyRetentionHours: e.AVAILSYNC_IDEMPOTENCY_RETENTION_HOURS,
    trustProxy,
    signupsPerHour: e.AVAILSYNC_SIGNUPS_PER_HOUR,
    http: {
      headersTimeoutMs: e.AVAILSYNC_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: e.AVAILSYNC_REQUEST_TIMEOUT_MS,
      bodyIdleTimeoutMs: e.AVAILSYNC_BODY_IDLE_TIMEOUT_MS,
      maxConnectionsPerAddress: e.AVAILSYNC_MAX_CONNECTIONS_PER_ADDRESS,
    },
    smtpUrl: e.AVAILSYNC_SMTP_URL,
    smtpFrom: e.AVAILSYNC_SMTP_FROM,
    secretsKey: e.AVAILSYNC_SECRETS_KEY,
    webhookAllowPrivate: e.AVAILSYNC_WEBHOOK_ALLOW_PRIVATE === '1',
  };
}
