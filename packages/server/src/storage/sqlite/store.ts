/**
 * The embedded SQLite store: one process (process-lock.ts), one connection with its statements cached
 * (statement-cache.ts), transactions run one at a time and committed in groups (group-commit.ts), WAL
 * checkpoints off the event loop (checkpointer.ts). With one writer there is nothing to lock; the decision
 * clock is the injected one, never below a high-water mark stored with every commit. Everything
 * SQLite-specific about running a transaction lives in this folder.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import type { Clock } from '../../clock.js';
import { runMigrations } from '../migrate.js';
import { LocalNotifications } from '../notifications.js';
import { param, prepare } from '../prepared.js';
import type { DB } from '../schema.js';
import { claimById, runQuery } from '../shared-sql.js';
import type { LockedResource, RowsOf, Store } from '../types.js';
import { type Checkpointer, startCheckpointer } from './checkpointer.js';
import { isUnavailable, isUniqueViolation } from './errors.js';
import { GroupCommit } from './group-commit.js';
import { acquireProcessLock } from './process-lock.js';
import { withStatementCache } from './statement-cache.js';

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

/** A resource row (one writer needs no row lock; prepared once). */
const resourceRow = prepare((db) =>
  db
    .selectFrom('resources')
    .select(['org_id', 'resource_type', 'resource_key', 'fencing_token'])
    .where('org_id', '=', param<string>('org_id'))
    .where('resource_type', '=', param<string>('resource_type'))
    .where('resource_key', '=', param<string>('resource_key')),
);

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
  // Migration 009's trigger on claims calls it: a notification told after the commit, like notifyOnCommit.
  raw.function('availsync_notify', (channel: unknown, payload: unknown) => {
    pendingNotes.push([String(channel), String(payload)]);
    return null;
  });
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
  // Notifications asked for by the transactions of the batch now running: told after its commit. (One
  // writer: whatever is pending at a commit was asked for by that batch; a transaction rolled back inside
  // it costs its listeners a spare read, never a missed one.)
  const notifications = new LocalNotifications();
  let pendingNotes: [channel: string, payload: string][] = [];
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
    (transactions) => {
      opts.onCommit?.(transactions);
      if (pendingNotes.length === 0) return;
      const notes = pendingNotes;
      pendingNotes = [];
      for (const [channel, payload] of notes) notifications.emit(channel, payload);
    },
  );
  const pingStatement = raw.prepare('select 1');

  const store: Store = {
    kind: 'sqlite',
    dataDir: opts.dataDir,
    serialized: true,
    arrayParameters: false,
    plansFromStatistics: false,
    searchPath: false,
    sequencesEvents: false,
    notifications,
    async notifyOnCommit(_trx, channel, payload) {
      pendingNotes.push([channel, payload]);
    },
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
      for (const read of reads) results.push(await runQuery(trx, read));
      return { ...locked, results: results as RowsOf<typeof reads> };
    },
    async lockClaim(trx, claimId, then) {
      const claim = await claimById.first(trx, { id: claimId });
      return claim && { now: await store.now(trx), claim, rows: then ? await runQuery(trx, then) : [] };
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
    isUniqueViolation,
    isUnavailable,
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
      await notifications.close();
      await checkpointer?.stop();
      await db.destroy();
      releaseLock();
    },
  };
  return store;
}
