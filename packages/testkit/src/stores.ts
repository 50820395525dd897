/**
 * The stores a suite runs on: a real SQLite file in a temp dir, or a fresh schema of the real PostgreSQL
 * server, both driven by a manual clock. `for (const store of STORES) describe(store, ...)` runs a suite on
 * every store; AVAILSYNC_TEST_SKIP_PG=1 (set by scripts/test.mjs when PostgreSQL is down) leaves SQLite only.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Config, createPostgresStore, createSqliteStore, type ManualClock } from '@availsync/server';
import pg from 'pg';

export type StoreKind = 'sqlite' | 'postgres';
export const PG_URL = process.env.AVAILSYNC_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const PG_ENABLED = process.env.AVAILSYNC_TEST_SKIP_PG !== '1';
export const STORES: StoreKind[] = PG_ENABLED ? ['sqlite', 'postgres'] : ['sqlite'];

export const testConfig: Config = {
  port: 0,
  host: '127.0.0.1',
  dataDir: ':memory:',
  databaseUrl: undefined,
  defaultPlan: 'unlimited',
  publicUrl: undefined,
  secureCookies: false,
  logLevel: 'silent',
  sweepIntervalMs: 60_000,
  sqliteSynchronous: 'NORMAL',
  pgPoolSize: 10,
  pgIdleTxTimeoutMs: 10_000,
  pgPreparedStatements: true,
  // In-process requests share one address ('unknown'): suites sign up far more than a person would.
  signupsPerHour: 1_000_000,
};

/** A throwaway store: a SQLite file in a temp dir, or a fresh PostgreSQL schema. */
export function makeStore(kind: StoreKind, clock: ManualClock, where?: { dir?: string; schema?: string }) {
  if (kind === 'sqlite') {
    const dir = where?.dir ?? mkdtempSync(join(tmpdir(), 'availsync-test-'));
    const store = createSqliteStore({ dataDir: dir, clock });
    return { store, dir, schema: undefined, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const schema = where?.schema ?? `t_${randomBytes(6).toString('hex')}`;
  const store = createPostgresStore({ url: PG_URL, clock, schema, poolSize: 20 });
  return {
    store,
    dir: undefined,
    schema,
    drop: async () => {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
    },
  };
}
