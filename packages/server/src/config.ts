import { resolve } from 'node:path';
import { z } from 'zod';

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
  AVAILSYNC_ACTIVITY_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
  AVAILSYNC_IDEMPOTENCY_RETENTION_HOURS: z.coerce
    .number()
    .int()
    .min(24, 'idempotency keys are kept at least 24 hours')
    .max(24 * 3650)
    .default(48),
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
  /** Activity rows older than this are pruned (default 30). */
  activityRetentionDays?: number;
  /** Idempotency records older than this are pruned (default 48, never below 24). */
  idempotencyRetentionHours?: number;
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
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
    activityRetentionDays: e.AVAILSYNC_ACTIVITY_RETENTION_DAYS,
    idempotencyRetentionHours: e.AVAILSYNC_IDEMPOTENCY_RETENTION_HOURS,
  };
}
