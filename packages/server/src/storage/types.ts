/**
 * The types every store shares: the Store interface the services are written against, and the statement
 * shapes it runs. Types only (no runtime code), so any storage file may import them without an import
 * circle. Each member of Store is a capability: where the two databases must behave differently, the
 * difference is named here (a flag or an operation), never asked of `kind` outside storage/.
 */
import type { CompiledQuery, Kysely, Selectable, SelectQueryBuilder, Transaction } from 'kysely';
import type { Clock } from '../clock.js';
import type { Notifications } from './notifications.js';
import type { ClaimsTable, DB, OrgsTable } from './schema.js';

/** Which database a store is on: for display (health, logs) only, never for a decision. */
export type StoreKind = 'sqlite' | 'postgres';
export type Tx = Transaction<DB>;
/** Where a statement can run: the store's database, or one of its transactions. */
export type Executor = Kysely<DB> | Tx;

export interface ResourceKey {
  org_id: string;
  resource_type: string;
  resource_key: string;
}

export interface LockedResource extends ResourceKey {
  fencing_token: number;
}

/** A statement to run: a Kysely builder or a bound prepared query. */
export interface Query<O> {
  compile(): CompiledQuery<O>;
}

/** The rows of each query of a list (lockResourcesThen). */
export type RowsOf<Q extends readonly Query<unknown>[]> = { -readonly [K in keyof Q]: Q[K] extends Query<infer O> ? O[] : never };

/** A write statement (insert, update, delete; a Kysely builder or a bound prepared query) whose result its transaction does not read. */
export interface Write {
  compile(): CompiledQuery;
  execute(): Promise<unknown>;
}

/** A statement sent ahead (sendAhead): its rows, once its round trip has come back. */
export interface Ahead<O> {
  rows(): Promise<O[]>;
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
  /**
   * The planner chooses indexes from statistics it keeps (PostgreSQL: true). SQLite, without ANALYZE
   * statistics, chooses by the query's shape, so a query that must walk one particular index says so in
   * its text (auditPage keeps a filtered export on the primary key).
   */
  readonly plansFromStatistics: boolean;
  /**
   * Tables are found through the connection's `search_path` (PostgreSQL: true), which a database URL can
   * point at a schema that does not exist; readiness then says where to look.
   */
  readonly searchPath: boolean;
  /**
   * Events are numbered after they commit, by a sequencer (PostgreSQL: true: its ids are handed out in
   * insert order, not commit order; migration 008). SQLite numbers them in commit order: false.
   */
  readonly sequencesEvents: boolean;
  /**
   * The directory the embedded store keeps its files in (':memory:' for an in-memory one), where a key
   * that must survive restarts can live beside the data (security/secret-box.ts). A database server has no
   * local directory of its own: undefined.
   */
  readonly dataDir: string | undefined;
  /** Wake-ups between server processes (storage/notifications.ts). */
  readonly notifications: Notifications;
  /**
   * Deliver `payload` on `channel` to every process's listeners once `trx` commits, never if it rolls
   * back (PostgreSQL: `pg_notify` sent with the commit; SQLite: in-process, right after the commit).
   */
  notifyOnCommit(trx: Tx, channel: string, payload: string): Promise<void>;
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
