/**
 * One server process per SQLite data directory. The lock is an OS file lock (SQLite's own, held by an open
 * EXCLUSIVE transaction on a tiny lock database): the kernel drops it when the process dies, so a `kill -9`
 * leaves nothing stale behind and two servers starting at once cannot both win. The pid file only names
 * the holder in the refusal message.
 */
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { errCode } from '../error-code.js';

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

/** Take the directory's lock, or throw DataDirLockedError; returns the function that releases it. */
export function acquireProcessLock(dir: string): () => void {
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
