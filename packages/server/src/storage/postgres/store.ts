/**
 * The PostgreSQL store: a pool of pipelining connections (pg-client.ts), row locks taken in one sorted
 * order (row-locks.ts), the database's `clock_timestamp()` read after the locks as the decision clock, and
 * a transaction's deferred and sent-ahead statements batched into fewer round trips (batch.ts). Everything
 * PostgreSQL-specific about running a transaction lives in this folder.
 */
import { CompiledQuery, Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Clock } from '../../clock.js';
import { runMigrations } from '../migrate.js';
import { batchRoundTrips, sendAhead } from '../round-trips.js';
import type { DB } from '../schema.js';
import { runQuery, sortKeys } from '../shared-sql.js';
import type { Ahead, LockedResource, RowsOf, Store } from '../types.js';
import { TransactionBatch } from './batch.js';
import { isRetryable, isUnavailable, isUniqueViolation, LockOrderRetry } from './errors.js';
import { PostgresNotifications } from './listener.js';
import { pgClientClass } from './pg-client.js';
import { DB_NOW, lockClaimRow, lockResourceRow } from './row-locks.js';

export interface PostgresOptions {
  url: string;
  clock: Clock;
  poolSize?: number;
  /**
   * PostgreSQL ends a transaction left idle this long (default 10 s). A paused or partitioned server
   * process must not hold a resource's row lock, and so the resource, for ever.
   */
  idleTxTimeoutMs?: number;
  /** Tests isolate themselves in a schema of their own. */
  schema?: string;
  onPoolError?: (err: Error) => void;
  /**
   * Named prepared statements (default true). Turn off behind a pooler that does not keep them per
   * client (PgBouncer in transaction mode before 1.21).
   */
  preparedStatements?: boolean;
  /** Told the statements of each round trip to PostgreSQL (tests count them). */
  onRoundTrip?: (statements: string[]) => void;
  /** The connections' `application_name`, as `pg_stat_activity` shows it (default `PGAPPNAME`, else `availsync`). */
  applicationName?: string;
  /**
   * Where the LISTEN connection goes (storage/notifications.ts): the same URL by default; a direct URL
   * when `url` is a transaction-mode pooler (PgBouncer cannot keep a LISTEN); false for none (readers
   * then poll).
   */
  listen?: string | false;
}

const INT8_OID = 20;
const int8AsNumber = (text: string) => Number(text);

/**
 * int8 (bigint) columns hold epoch milliseconds and counters, well inside 2^53: this pool's connections read
 * them as numbers. Set per pool, not in pg's global parsers, so no other pg user in the process is changed.
 */
const types: pg.CustomTypesConfig = {
  getTypeParser: (oid, format) => (oid === INT8_OID && format !== 'binary' ? int8AsNumber : pg.types.getTypeParser(oid, format)),
};

export function createPostgresStore(opts: PostgresOptions): Store {
  const poolSize = opts.poolSize ?? 10;
  const pool = new pg.Pool({
    Client: pgClientClass({
      preparedStatements: opts.preparedStatements ?? true,
      onRoundTrip: opts.onRoundTrip,
      settings: {
        idle_in_transaction_session_timeout: String(opts.idleTxTimeoutMs ?? 10_000),
        ...(opts.schema ? { search_path: `"${opts.schema.replaceAll('"', '""')}"` } : {}),
      },
    }),
    types,
    connectionString: opts.url,
    max: poolSize,
    // Connections, once opened, stay open (node-postgres closes idle ones after 10 s by default). A new
    // connection is a new PostgreSQL backend, cold: its catalog caches are empty and every prepared
    // statement is parsed again. Load on a coordination service comes in bursts: in the first second of a
    // 32-client burst after 12 s of quiet, p99 was 43-75 ms on reopened connections and 30-51 ms on kept
    // ones (three runs each). A connection that breaks (a database restart) is still dropped and replaced.
    min: poolSize,
    connectionTimeoutMillis: 5000,
    application_name: opts.applicationName ?? process.env.PGAPPNAME ?? 'availsync',
  });
  // A connection dropping (a database restart) must never crash the process. The pool reports idle
  // clients' errors; a client checked out mid-transaction emits 'error' on itself, and an 'error' event
  // without a listener kills Node. Its pending or next query fails, and the request answers 503.
  pool.on('error', (err) => opts.onPoolError?.(err));
  pool.on('connect', (client) => {
    client.on('error', (err) => opts.onPoolError?.(err));
  });
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  const clock = opts.clock;
  const notifications = new PostgresNotifications({
    url: opts.listen || opts.url,
    enabled: opts.listen !== false,
    applicationName: opts.applicationName ?? process.env.PGAPPNAME ?? 'availsync',
    schema: async () =>
      opts.schema ?? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]?.schema ?? 'public',
    onError: (err) => opts.onPoolError?.(err),
  });

  const store: Store = {
    kind: 'postgres',
    dataDir: undefined,
    serialized: false,
    arrayParameters: true,
    plansFromStatistics: true,
    searchPath: true,
    sequencesEvents: true,
    notifications,
    async notifyOnCommit(trx, channel, payload) {
      // Held, and sent in one write with the commit (or dropped with a rollback): no round trip of its own.
      await sendAhead(trx, {
        compile: () =>
          CompiledQuery.raw(`select pg_notify(left(lower('availsync_' || $1 || '_' || current_schema()), 63), $2)`, [channel, payload]),
      });
    },
    db,
    clock,
    async transaction(fn) {
      for (let attempt = 0; ; attempt++) {
        try {
          return await db.transaction().execute(async (trx) => {
            const batch = new TransactionBatch(trx);
            batchRoundTrips(trx, batch);
            const result = await fn(trx);
            await batch.flush();
            return result;
          });
        } catch (err) {
          if (isRetryable(err) && attempt < 4) continue;
          throw err;
        }
      }
    },
    async lockResources(trx, keys) {
      const sorted = sortKeys(keys);
      const locked = new Map<string, LockedResource>();
      let now = 0;
      // One statement per resource, in sorted order: it locks the row, or creates it (ours until commit),
      // and reads `clock_timestamp()` after that.
      for (const k of sorted) {
        let row = await lockResourceRow.first(trx, k);
        // Created by another transaction since this statement's snapshot (rare): again, with a new one.
        for (let attempt = 0; !row && attempt < 3; attempt++) row = await lockResourceRow.first(trx, k);
        if (!row) throw new Error(`could not lock resource ${k.resource_type}:${k.resource_key}`);
        locked.set(`${k.resource_type}:${k.resource_key}`, row);
        // The test offset is read here, after the lock is held, so time stays monotonic per resource
        // even while a test moves the clock concurrently (0 in production).
        now = Number(row.now) + clock.offsetMs();
      }
      return { now, rows: keys.map((k) => locked.get(`${k.resource_type}:${k.resource_key}`) as LockedResource) };
    },
    async lockResourcesThen(trx, keys, reads) {
      // Every lock in sorted order, then every read, in one write; PostgreSQL runs them in that order.
      const sorted = sortKeys(keys);
      const locks: Ahead<LockedResource & { now: number }>[] = [];
      for (const k of sorted) locks.push(await sendAhead(trx, lockResourceRow.bind(trx, k)));
      const ahead: Ahead<unknown>[] = [];
      for (const read of reads) ahead.push(await sendAhead(trx, read));
      // Asking for the first answer sends what is held (sendAhead).
      const lockRows = [];
      for (const lock of locks) lockRows.push((await lock.rows())[0]);
      const results = [] as unknown[][];
      for (const read of ahead) results.push(await read.rows());
      const locked = new Map(lockRows.filter((r) => r !== undefined).map((r) => [`${r.resource_type}:${r.resource_key}`, r]));
      const last = lockRows.at(-1);
      const missing = lockRows.findIndex((r) => r === undefined);
      if (missing >= 0 && missing < lockRows.length - 1) {
        // A row created by another transaction since its lock statement's snapshot (rare), and locks
        // after it in the order already held: locking it now would break the sorted order (a deadlock with
        // a transaction holding it and waiting for one of ours). Run the whole transaction again.
        throw new LockOrderRetry();
      }
      if (last && locked.size === lockRows.length) {
        // The clock as read by the last lock statement, after every lock was granted.
        return {
          now: Number(last.now) + clock.offsetMs(),
          rows: keys.map((k) => locked.get(`${k.resource_type}:${k.resource_key}`) as LockedResource),
          results: results as RowsOf<typeof reads>,
        };
      }
      // The last row was created by another transaction since its lock statement's snapshot (rare): the
      // reads ran without its lock. Lock with new statements (the rows already locked are ours, and the
      // missing one comes last in the order), then read again.
      const relocked = await store.lockResources(trx, keys);
      const again = [] as unknown[][];
      for (const read of reads) again.push(await runQuery(trx, read));
      return { ...relocked, results: again as RowsOf<typeof reads> };
    },
    async lockClaim(trx, claimId, then) {
      const lock = await sendAhead(trx, lockClaimRow.bind(trx, { id: claimId }));
      const rows = then ? await runQuery(trx, then) : [];
      const [row] = await lock.rows();
      if (!row) return undefined;
      const { locked_at, ...claim } = row;
      return { now: Number(locked_at) + clock.offsetMs(), claim, rows };
    },
    async now(trx) {
      const { rows } = await sql<{ now: number }>`select ${DB_NOW} as now`.execute(trx);
      return Number(rows[0]?.now) + clock.offsetMs();
    },
    async readNow() {
      return store.now(db);
    },
    lockOrg(trx, orgId) {
      return trx.selectFrom('orgs').selectAll().where('id', '=', orgId).forUpdate().executeTakeFirst();
    },
    skipLocked(q) {
      return q.forUpdate().skipLocked();
    },
    forUpdate(q) {
      return q.forUpdate();
    },
    isUniqueViolation,
    isUnavailable,
    async migrate() {
      if (opts.schema) await sql`create schema if not exists ${sql.id(opts.schema)}`.execute(db);
      // Name the schema Kysely keeps its bookkeeping in: the connection's own. Left unnamed, Kysely finds
      // kysely_migration tables in *any* schema (another app's) and skips creating them in this one.
      const schema =
        opts.schema ?? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]?.schema ?? 'public';
      await runMigrations(db, schema);
    },
    async warm() {
      // Concurrent checkouts: each opens a connection of its own, up to the pool's size. One that cannot
      // be opened (max_connections reached, say) is reported and left to open on demand, as before.
      const opened = await Promise.allSettled(Array.from({ length: poolSize }, () => pool.connect()));
      for (const r of opened) {
        if (r.status === 'fulfilled') r.value.release();
        else opts.onPoolError?.(r.reason instanceof Error ? r.reason : new Error(String(r.reason)));
      }
    },
    async ping() {
      try {
        await sql`select 1`.execute(db);
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      await notifications.close();
      await db.destroy();
    },
  };
  return store;
}
