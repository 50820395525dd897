/**
 * The storage seam: one Kysely codebase over SQLite and PostgreSQL. Everything that differs between the
 * two databases lives in this file and nowhere else:
 *   - how a connection is opened and tuned;
 *   - `lockResources`: serialise deciders on a resource (row locks on PostgreSQL; SQLite has one writer);
 *   - `now`: the one clock (PostgreSQL `clock_timestamp()` after the lock; SQLite the injected clock,
 *     never below a stored high-water mark);
 *   - `isUniqueViolation` / `isTransient`: error classification;
 *   - `forUpdateSkipLocked` for the sweeper;
 *   - `lockOrg`: serialise plan-limit checks of one workspace (a row lock on PostgreSQL; SQLite has one writer).
 */
import { existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import {
  CompiledQuery,
  type ControlledTransaction,
  Kysely,
  Migrator,
  PostgresDialect,
  type Selectable,
  type SelectQueryBuilder,
  SqliteDialect,
  sql,
  type Transaction,
} from 'kysely';
import pg from 'pg';
import type { Clock } from '../clock.js';
import { type Checkpointer, startCheckpointer } from './checkpointer.js';
import { migrationProvider } from './migrations/index.js';
import { AheadSlot, isStalePlan, pgClientClass, WRITE_BEHIND } from './pg-client.js';
import { param, prepare } from './prepared.js';
import type { ClaimsTable, DB, OrgsTable } from './schema.js';

// int8 (bigint) columns hold epoch milliseconds and counters: well inside 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

export type StoreKind = 'sqlite' | 'postgres';
export type Tx = Transaction<DB>;
export type Executor = Kysely<DB> | Tx;

export interface ResourceKey {
  org_id: string;
  resource_type: string;
  resource_key: string;
}

export interface LockedResource extends ResourceKey {
  fencing_token: number;
}

export interface Store {
  readonly kind: StoreKind;
  /**
   * Write transactions run one at a time (SQLite: one process, one connection), so nothing another request
   * writes can commit between two reads of one transaction. PostgreSQL: false.
   */
  readonly serialized: boolean;
  /**
   * A list can be bound as one array parameter (`column = any($1)`), so a statement's text does not depend
   * on the list's length. PostgreSQL: true; SQLite has no array type: false.
   */
  readonly arrayParameters: boolean;
  readonly db: Kysely<DB>;
  readonly clock: Clock;
  /** Run `fn` in one transaction, retrying deadlocks and serialization failures a few times. */
  transaction<T>(fn: (trx: Tx) => Promise<T>): Promise<T>;
  /**
   * Create (if new) and lock the resource rows, in sorted order so two transactions never deadlock, then
   * read the clock after the locks. Returns the rows in the order given.
   */
  lockResources(trx: Tx, keys: ResourceKey[]): Promise<{ now: number; rows: LockedResource[] }>;
  /**
   * lockResources, then run `reads` in order, each seeing everything committed before the locks were
   * granted. On PostgreSQL the locks and the reads go out in one round trip (the read is sent before the
   * locks are answered; the database runs it after): a start's resource, then its live claims and rules;
   * a working-set update's two resources, then the claim, its working set and the others' paths.
   */
  lockResourcesThen<const Q extends readonly Query<unknown>[]>(
    trx: Tx,
    keys: ResourceKey[],
    reads: Q,
  ): Promise<{ now: number; rows: LockedResource[]; results: RowsOf<Q> }>;
  /**
   * Lock a claim's resource row, then the claim's own row, and read the clock after both (one statement on
   * PostgreSQL; the resource is the claim's, which never changes). The claim as it is now, or undefined
   * if there is no claim with this id (in any workspace: the caller checks whose it is).
   */
  lockClaim<O = never>(
    trx: Tx,
    claimId: string,
    /** Run after the lock, as in lockResourcesThen (PostgreSQL: in the same round trip). */
    then?: Query<O>,
  ): Promise<{ now: number; claim: Selectable<ClaimsTable>; rows: O[] } | undefined>;
  /** The decision clock inside a write transaction. */
  now(trx: Executor): Promise<number>;
  /** The clock for reads outside a lock (display, previews). */
  readNow(): Promise<number>;
  /**
   * Lock the workspace row for the rest of the transaction and return it (undefined if there is none), so
   * plan-limit checks of one workspace run one at a time: `SELECT … FOR UPDATE` on PostgreSQL; a plain read
   * on SQLite, whose transactions are already serialised. Take it after any resource locks, never before.
   */
  lockOrg(trx: Tx, orgId: string): Promise<Selectable<OrgsTable> | undefined>;
  /** `FOR UPDATE SKIP LOCKED` where the database has it (PostgreSQL); SQLite has one writer anyway. */
  skipLocked<O>(q: SelectQueryBuilder<DB, keyof DB, O>): SelectQueryBuilder<DB, keyof DB, O>;
  /** `FOR UPDATE` where the database has it (PostgreSQL); SQLite has one writer anyway. */
  forUpdate<O>(q: SelectQueryBuilder<DB, keyof DB, O>): SelectQueryBuilder<DB, keyof DB, O>;
  isUniqueViolation(err: unknown): boolean;
  /** The database is unreachable or restarting: answer 503 and let the client retry. */
  isUnavailable(err: unknown): boolean;
  migrate(): Promise<void>;
  /**
   * Open the connections the store will serve with now (PostgreSQL: the whole pool), so that the first
   * requests after a start do not each wait for a new connection. The server calls it before it listens.
   * Never fails: a connection it cannot open is reported (`onPoolError`) and opened on demand later.
   */
  warm(): Promise<void>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** A statement to run: a Kysely builder or a bound prepared query. */
export interface Query<O> {
  compile(): CompiledQuery<O>;
}

/** The rows of each query of a list (lockResourcesThen). */
export type RowsOf<Q extends readonly Query<unknown>[]> = { -readonly [K in keyof Q]: Q[K] extends Query<infer O> ? O[] : never };

async function run<O>(ex: Executor, query: Query<O>): Promise<O[]> {
  return (await ex.executeQuery(query.compile())).rows;
}

/** A write statement (insert, update, delete; a Kysely builder or a bound prepared query) whose result its transaction does not read. */
export interface Write {
  compile(): CompiledQuery;
  execute(): Promise<unknown>;
}

/** Transactions whose deferred writes are held until just before their commit (PostgreSQL's). */
const pendingWrites = new WeakMap<Executor, Write[]>();

/**
 * Write now, or — inside a PostgreSQL transaction — just before it commits, together with the other
 * deferred writes in ONE statement (data-modifying CTEs): a claim's row, its audit row and its idempotency
 * record cost one round trip instead of three. Only for writes nothing later in the transaction reads:
 * a deferred write is not visible until the flush. Outside a store transaction, and on SQLite (no round
 * trips), it runs at once.
 */
export async function deferWrite(ex: Executor, write: Write): Promise<void> {
  const pending = pendingWrites.get(ex);
  if (pending) pending.push(write);
  else await write.execute();
}

/** A statement sent ahead (sendAhead): its rows, once its round trip has come back. */
export interface Ahead<O> {
  rows(): Promise<O[]>;
}

/**
 * Run a statement whose result is not needed yet. Inside a PostgreSQL transaction it is held and goes out
 * in one write with the transaction's next statement (storage/pg-client.ts): PostgreSQL runs them in
 * order, each with a snapshot taken after the one before finished, but the pair costs one round trip.
 * `rows()` then answers without another (asked for before anything else was sent, it sends the statement
 * on its own). Elsewhere (SQLite, no round trips; outside a transaction) it runs at once.
 */
export async function sendAhead<O>(ex: Executor, query: Query<O>): Promise<Ahead<O>> {
  if (!pendingWrites.has(ex)) {
    const rows = await run(ex, query);
    return { rows: async () => rows };
  }
  const compiled = query.compile();
  const slot = new AheadSlot();
  await ex.executeQuery(CompiledQuery.raw(compiled.sql, [...compiled.parameters, slot]));
  return { rows: async () => (await slot.result()).rows as O[] };
}

/**
 * Send a transaction's deferred writes as one statement, marked write-behind: the connection answers it at
 * once and sends it in one write with the commit that follows (storage/pg-client.ts), so a failing one
 * fails the commit and the transaction rolls back as a whole.
 */
async function flushWrites(trx: Tx): Promise<void> {
  const pending = pendingWrites.get(trx);
  if (!pending || pending.length === 0) return;
  pendingWrites.set(trx, []);
  const compiled = pending.map((w) => w.compile());
  // Several: WITH w0 AS (…), w1 AS (…) SELECT 1. PostgreSQL runs every data-modifying CTE exactly once, to
  // completion, whether or not the main query reads it. They share one snapshot, which is why only
  // writes that do not depend on each other may be deferred. Each statement's $n placeholders are
  // renumbered after the previous ones' (Kysely's SQL has no other `$<digits>`: identifiers are plain
  // and values are always parameters).
  const parameters: unknown[] = [];
  const ctes = compiled.map(({ sql: text, parameters: values }, i) => {
    const offset = parameters.length;
    parameters.push(...values);
    return `w${i} as (${offset === 0 ? text : text.replace(/\$(\d+)/g, (_: string, n: string) => `$${Number(n) + offset}`)})`;
  });
  const text = compiled.length === 1 ? (compiled[0] as CompiledQuery).sql : `with ${ctes.join(', ')} select 1`;
  await trx.executeQuery(CompiledQuery.raw(WRITE_BEHIND + text, parameters));
}

/**
 * `'active'` as a literal in the SQL text. The partial indexes (`WHERE status = 'active'`) only serve a
 * query whose text says so: a bound parameter hides the value from SQLite's planner, which then walks a
 * resource's whole claim history instead of its one active claim.
 */
export const ACTIVE = sql<string>`'active'`;

export function sortKeys<T extends ResourceKey>(keys: T[]): T[] {
  const seen = new Map<string, T>();
  for (const k of keys) seen.set(`${k.org_id}\u0000${k.resource_type}\u0000${k.resource_key}`, k);
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
}

async function runMigrations(db: Kysely<DB>, schema?: string): Promise<void> {
  // Kysely's Migrator takes a database lock (pg_advisory_xact_lock on PostgreSQL), so several nodes
  // starting at once apply each migration exactly once. In a schema of its own (tests), name it: Kysely
  // otherwise finds its bookkeeping tables in *any* schema and skips creating them in this one.
  const migrator = new Migrator({ db, provider: migrationProvider, ...(schema ? { migrationTableSchema: schema } : {}) });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(`migration ${failed?.migrationName ?? ''} failed: ${String(error)}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// PostgreSQL

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
}

const PG_UNAVAILABLE = new Set(['57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006', '53300']);
const NODE_NET_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH']);

/** Thrown to run a transaction again (store.transaction retries it as a serialization failure). */
class LockOrderRetry extends Error {
  readonly code = '40001';
  constructor() {
    super('a resource row appeared behind a lock already taken: the transaction runs again');
  }
}

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

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

  const store: Store = {
    kind: 'postgres',
    serialized: false,
    arrayParameters: true,
    db,
    clock,
    async transaction(fn) {
      for (let attempt = 0; ; attempt++) {
        try {
          return await db.transaction().execute(async (trx) => {
            pendingWrites.set(trx, []);
            const result = await fn(trx);
            await flushWrites(trx);
            return result;
          });
        } catch (err) {
          const code = errCode(err);
          // Deadlocks and serialization failures; a statement gone stale under a migration (prepared again).
          if ((code === '40P01' || code === '40001' || isStalePlan(err)) && attempt < 4) continue;
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
      // Asking for the first answer sends what is held (store.sendAhead).
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
      for (const read of reads) again.push(await run(trx, read));
      return { ...relocked, results: again as RowsOf<typeof reads> };
    },
    async lockClaim(trx, claimId, then) {
      const lock = await sendAhead(trx, lockClaimRow.bind(trx, { id: claimId }));
      const rows = then ? await run(trx, then) : [];
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
    isUniqueViolation: (err) => errCode(err) === '23505',
    isUnavailable(err) {
      const code = errCode(err);
      if (code && (PG_UNAVAILABLE.has(code) || NODE_NET_ERRORS.has(code))) return true;
      const msg = err instanceof Error ? err.message : '';
      return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(msg);
    },
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
      await db.destroy();
    },
  };
  return store;
}

/** `clock_timestamp()` in epoch ms: the database's clock at the moment the statement reads it. */
const DB_NOW = sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`;

/**
 * Lock a resource row `FOR UPDATE`, or create it if it is new, and read the clock after the lock
 * (PostgreSQL; prepared once). `FOR UPDATE` only marks the row: an upsert's `DO UPDATE` (the obvious way to
 * lock-or-create) writes a new version of the row on every lock. No row comes back in one rare case: the row
 * did not exist in this statement's snapshot and another transaction created it meanwhile (the insert found
 * its key and did nothing); a new statement, with a new snapshot, then finds and locks it.
 */
const lockResourceRow = prepare((db) => ({
  compile: () =>
    sql<LockedResource & { now: number }>`
      with existing as (
        select org_id, resource_type, resource_key, fencing_token from resources
        where org_id = ${param<string>('org_id')} and resource_type = ${param<string>('resource_type')}
          and resource_key = ${param<string>('resource_key')}
        for update
      ), created as (
        insert into resources (org_id, resource_type, resource_key, fencing_token, created_at)
        select ${param<string>('org_id')}, ${param<string>('resource_type')}, ${param<string>('resource_key')}, 0, ${DB_NOW}
        where not exists (select 1 from existing)
        on conflict (org_id, resource_type, resource_key) do nothing
        returning org_id, resource_type, resource_key, fencing_token
      )
      select *, ${DB_NOW} as now from existing
      union all
      select *, ${DB_NOW} as now from created`.compile(db),
}));

/**
 * A claim's resource row, then the claim's row, locked `FOR UPDATE`, and the clock read after both
 * (PostgreSQL; prepared once). Every claim's resource row exists: the start that made the claim created it,
 * and resource rows are never deleted. The claim is read in a LATERAL subquery that depends on the lock, so
 * it runs after it; it reads the statement's snapshot from before the lock wait, but `FOR UPDATE` in READ
 * COMMITTED returns the newest committed version of a row changed since.
 */
const lockClaimRow = prepare((db) => ({
  compile: () =>
    sql<Selectable<ClaimsTable> & { locked_at: number }>`
      with r as (
        select 1 as locked from claims k
        join resources res
          on res.org_id = k.org_id and res.resource_type = k.resource_type and res.resource_key = k.resource_key
        where k.id = ${param<string>('id')}
        for update of res
      )
      select c.*, ${DB_NOW} as locked_at
      from r cross join lateral (select * from claims where id = ${param<string>('id')} and r.locked = 1 for update) c`.compile(db),
}));

/**
 * A claim by id (prepared once; SQLite's lockClaim, where one writer needs no locks, and reads). By id
 * alone, the workspace checked by the caller: with `AND org_id = $2` in a prepared statement, a PostgreSQL
 * generic plan chosen while the table was small walked the workspace's whole claim history through
 * (org_id, created_at) instead of the primary key (613 µs a lookup after a few thousand claims).
 */
export const claimById = prepare((db) => db.selectFrom('claims').selectAll().where('id', '=', param<string>('id')));

/** A resource row (SQLite, where one writer needs no row lock; prepared once). */
const resourceRow = prepare((db) =>
  db
    .selectFrom('resources')
    .select(['org_id', 'resource_type', 'resource_key', 'fencing_token'])
    .where('org_id', '=', param<string>('org_id'))
    .where('resource_type', '=', param<string>('resource_type'))
    .where('resource_key', '=', param<string>('resource_key')),
);

// ---------------------------------------------------------------------------------------------------
// SQLite

export interface SqliteOptions {
  /** Directory holding availsync.db and the lock file; ':memory:' for throwaway tests. */
  dataDir: string;
  clock: Clock;
  synchronous?: 'NORMAL' | 'FULL';
  onCheckpointError?: (message: string) => void;
  /**
   * Open without taking the one-server lock file: for a short operator command (`plan set`) while the
   * server runs. SQLite's own locking serialises its writes; never serve requests from a shared store.
   */
  shared?: boolean;
  /** Told the number of transactions each commit carried (group commit; see GroupCommit). */
  onCommit?: (transactions: number) => void;
}

const LOCK_DB = 'server.lock';
const PID_FILE = 'server.pid';

/** Another process holds the data directory's one-server lock. */
export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    /** The holder's pid, from its pid file, when known. */
    readonly holderPid: string | undefined,
  ) {
    super(
      `Another availsync-server${holderPid ? ` (pid ${holderPid})` : ''} is using ${dataDir}. The embedded SQLite store serves one process; ` +
        'stop it, choose another AVAILSYNC_DATA_DIR, or set DATABASE_URL to run several nodes on PostgreSQL.',
    );
  }
}

/**
 * One server process per SQLite file. The lock is an OS file lock (SQLite's own, held by an open
 * EXCLUSIVE transaction on a tiny lock database): the kernel drops it when the process dies, so a
 * `kill -9` leaves nothing stale behind and two servers starting at once cannot both win. The pid file
 * only names the holder in the refusal message.
 */
function acquireProcessLock(dir: string): () => void {
  const lock = new SqliteDatabase(join(dir, LOCK_DB));
  lock.pragma('busy_timeout = 0');
  lock.pragma('locking_mode = EXCLUSIVE');
  try {
    lock.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    lock.close();
    if (!/SQLITE_BUSY|SQLITE_LOCKED/.test(errCode(err) ?? String(err))) throw err;
    let holder: string | undefined;
    try {
      holder = readFileSync(join(dir, PID_FILE), 'utf8').trim() || undefined;
    } catch {
      /* no pid file yet */
    }
    throw new DataDirLockedError(dir, holder);
  }
  writeFileSync(join(dir, PID_FILE), String(process.pid));
  return () => {
    try {
      unlinkSync(join(dir, PID_FILE));
    } catch {
      /* already gone */
    }
    lock.exec('ROLLBACK');
    lock.close();
  };
}

/**
 * Kysely prepares a statement for every query; preparing costs more than running a small one. The
 * statements of this single connection are reused by SQL text (a bounded cache: a few hundred shapes).
 */
function withStatementCache(raw: SqliteDatabase.Database) {
  const cache = new Map<string, SqliteDatabase.Statement>();
  return {
    close: () => raw.close(),
    prepare(sqlText: string) {
      let stmt = cache.get(sqlText);
      if (!stmt) {
        if (cache.size >= 2000) cache.clear();
        stmt = raw.prepare(sqlText);
        cache.set(sqlText, stmt);
      }
      return stmt;
    },
  };
}

/**
 * Group commit for the embedded store. Transactions on the one SQLite connection run one at a time
 * anyway; when several are waiting, they run back to back inside ONE database transaction, each in a
 * savepoint of its own (a failing one rolls back to its savepoint and fails alone), and the batch
 * commits once. Nobody is answered before that commit, so an acknowledged write is still durable;
 * the commit's page writes (and, with synchronous=FULL, its fsync) are shared by the whole batch.
 * A lone transaction runs as a plain one.
 */
interface Job {
  fn: (trx: Tx) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * At most this many transactions per commit: a batch runs without yielding, so this bounds how long one
 * turn of the event loop can take (16 kept the loop's delay near 10 ms at 32 clients; 64 doubled it).
 */
export const GROUP_COMMIT_MAX_BATCH = 16;

class GroupCommit {
  #queue: Job[] = [];
  #draining = false;
  constructor(
    private readonly db: Kysely<DB>,
    /** Runs last in every transaction (and batch) before its commit. */
    private readonly beforeCommit: (trx: Tx) => Promise<void>,
    private readonly onCommit: (transactions: number) => void = () => {},
    private readonly maxBatch = GROUP_COMMIT_MAX_BATCH,
  ) {}

  run<T>(fn: (trx: Tx) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.#draining) {
        // Start after the event loop's poll phase: the requests read from the sockets in this turn have
        // all queued their transactions by then, and share one commit. (Starting at once, the lone
        // transaction — synchronous underneath — would finish before the next request is even parsed.)
        this.#draining = true;
        setImmediate(() => void this.#drain());
      }
    });
  }

  async #drain() {
    try {
      for (;;) {
        await this.#batch(this.#queue.splice(0, this.maxBatch));
        if (this.#queue.length === 0) break;
        // More waiting: let timers and sockets run between batches, so no turn of the loop runs long.
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      this.#draining = false;
    }
  }

  async #batch(jobs: Job[]) {
    if (jobs.length === 1) {
      const job = jobs[0] as Job;
      await this.db
        .transaction()
        .execute(async (trx) => {
          const value = await job.fn(trx);
          await this.beforeCommit(trx);
          return value;
        })
        .then((value) => {
          this.onCommit(1);
          job.resolve(value);
        }, job.reject);
      return;
    }
    let trx: ControlledTransaction<DB>;
    try {
      trx = await this.db.startTransaction().execute();
    } catch (err) {
      for (const job of jobs) job.reject(err);
      return;
    }
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    for (const [i, job] of jobs.entries()) {
      const name = `job${i}`;
      let sp: ControlledTransaction<DB, [string]> | undefined;
      try {
        sp = await trx.savepoint(name).execute();
        const value = await job.fn(sp);
        await sp.releaseSavepoint(name).execute();
        outcomes.push({ ok: true, value });
      } catch (error) {
        if (sp) {
          await sp
            .rollbackToSavepoint(name)
            .execute()
            .catch(() => {});
          await sp
            .releaseSavepoint(name)
            .execute()
            .catch(() => {});
        }
        outcomes.push({ ok: false, error });
      }
    }
    try {
      await this.beforeCommit(trx);
      await trx.commit().execute();
    } catch (err) {
      await trx
        .rollback()
        .execute()
        .catch(() => {});
      for (const job of jobs) job.reject(err);
      return;
    }
    this.onCommit(jobs.length);
    for (const [i, job] of jobs.entries()) {
      const outcome = outcomes[i] as (typeof outcomes)[number];
      if (outcome.ok) job.resolve(outcome.value);
      else job.reject(outcome.error);
    }
  }
}

export function createSqliteStore(opts: SqliteOptions): Store {
  const memory = opts.dataDir === ':memory:';
  let releaseLock = () => {};
  let file = ':memory:';
  if (!memory) {
    if (!existsSync(opts.dataDir)) mkdirSync(opts.dataDir, { recursive: true });
    if (!opts.shared) releaseLock = acquireProcessLock(opts.dataDir);
    file = join(opts.dataDir, 'availsync.db');
  }
  const raw = new SqliteDatabase(file);
  raw.pragma('journal_mode = WAL');
  // NORMAL in WAL mode: a commit is in the WAL file before it is acknowledged, so it survives kill -9 of
  // the process; FULL also fsyncs each commit, for power loss.
  raw.pragma(`synchronous = ${opts.synchronous ?? 'NORMAL'}`);
  raw.pragma('busy_timeout = 5000');
  raw.pragma('temp_store = MEMORY');
  raw.pragma('cache_size = -65536');
  raw.pragma('journal_size_limit = 67108864');
  let checkpointer: Checkpointer | undefined;
  if (!memory) {
    raw.pragma('wal_autocheckpoint = 0');
    checkpointer = startCheckpointer(file, {
      onError: (message) => {
        // Never let the WAL grow without bound: fall back to in-line checkpoints.
        raw.pragma('wal_autocheckpoint = 1000');
        opts.onCheckpointError?.(message);
      },
    });
  }
  const db = new Kysely<DB>({ dialect: new SqliteDialect({ database: withStatementCache(raw) }) });
  const clock = opts.clock;
  // The high-water mark: the embedded store's clock never runs backwards, even across restarts or a
  // machine clock that steps back. Loaded at migrate(), kept in memory, persisted with every commit.
  let hwm = 0;

  const tick = () => {
    const now = Math.max(clock.now(), hwm);
    hwm = now;
    return now;
  };
  // The mark is persisted once per commit (a batch's transactions share it), in the same commit as the
  // writes that used it; never lowered (an operator command on a shared store may be behind the server).
  const groupCommit = new GroupCommit(
    db,
    async (trx) => {
      await trx
        .updateTable('meta')
        .set({ value: String(hwm) })
        .where('key', '=', 'clock_hwm')
        .where(sql<number>`cast(value as integer)`, '<', hwm)
        .execute();
    },
    opts.onCommit,
  );
  const pingStatement = raw.prepare('select 1');

  const store: Store = {
    kind: 'sqlite',
    serialized: true,
    arrayParameters: false,
    db,
    clock,
    transaction: (fn) => groupCommit.run(fn),
    async lockResources(trx, keys) {
      // One process writes this file and its transactions run one at a time: there is nothing to lock.
      // Only create the rows that are missing (reads never dirty a page).
      const now = await store.now(trx);
      const rows: LockedResource[] = [];
      for (const k of keys) {
        let row = await resourceRow.first(trx, k);
        if (!row) {
          await trx
            .insertInto('resources')
            .values({ ...k, fencing_token: 0, created_at: now })
            .execute();
          row = { ...k, fencing_token: 0 };
        }
        rows.push(row);
      }
      return { now, rows };
    },
    async lockResourcesThen(trx, keys, reads) {
      const locked = await store.lockResources(trx, keys);
      const results = [] as unknown[][];
      for (const read of reads) results.push(await run(trx, read));
      return { ...locked, results: results as RowsOf<typeof reads> };
    },
    async lockClaim(trx, claimId, then) {
      const claim = await claimById.first(trx, { id: claimId });
      return claim && { now: await store.now(trx), claim, rows: then ? await run(trx, then) : [] };
    },
    async now() {
      // Persisted by the transaction's commit (GroupCommit's beforeCommit).
      return tick();
    },
    async readNow() {
      // A read raises the mark too: once an answer said a lease had expired, no later answer may see an
      // earlier time (the model test found this). It is persisted with the next write.
      return tick();
    },
    lockOrg: (trx, orgId) => trx.selectFrom('orgs').selectAll().where('id', '=', orgId).executeTakeFirst(),
    skipLocked: (q) => q,
    forUpdate: (q) => q,
    isUniqueViolation: (err) => /UNIQUE constraint failed|SQLITE_CONSTRAINT_(UNIQUE|PRIMARYKEY)/.test(errCode(err) ?? String(err)),
    isUnavailable: (err) => /SQLITE_(BUSY|IOERR|FULL|CANTOPEN)/.test(errCode(err) ?? ''),
    async migrate() {
      await runMigrations(db);
      await db
        .insertInto('meta')
        .values({ key: 'clock_hwm', value: '0' })
        .onConflict((oc) => oc.doNothing())
        .execute();
      const row = await db.selectFrom('meta').select('value').where('key', '=', 'clock_hwm').executeTakeFirst();
      hwm = Math.max(hwm, Number(row?.value ?? 0));
    },
    async warm() {
      // One connection, opened with the store.
    },
    async ping() {
      try {
        pingStatement.get();
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      await checkpointer?.stop();
      await db.destroy();
      releaseLock();
    },
  };
  return store;
}
