/**
 * `availsync-server backup <file>`: a consistent copy of the embedded SQLite database, taken while the server
 * runs, with SQLite's online backup API (better-sqlite3's `.backup()`), from this second process.
 *
 * The server's lock file is left alone: the backup neither takes it (the server holds it) nor touches the
 * pid file; it opens the database as `plan set` does, and SQLite's own locks keep each step of the copy
 * consistent (a step that sees the source changed by the server starts the copy again, so what is written
 * is one committed state). The copy goes to `<file>.partial`, is checked (`PRAGMA integrity_check`), made a
 * self-contained rollback-journal file, and renamed over `<file>`; a failed backup leaves no `<file>`.
 * On PostgreSQL the command says to use pg_dump.
 */
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import type { CommandIo } from './operator.js';

export const BACKUP_USAGE = 'Usage: availsync-server backup <file>     a consistent copy of the embedded SQLite database, online';

export const PG_DUMP_HINT =
  'availsync-server backup copies the embedded SQLite store; on PostgreSQL use pg_dump, e.g.\n' +
  '  pg_dump --format=custom --file=availsync.dump "$DATABASE_URL"\n' +
  'and pg_restore to restore it (see docs/operations.md).';

export interface BackupSource {
  dataDir: string;
  databaseUrl: string | undefined;
}

/** Returns the exit code: 0 written, 1 failed (or PostgreSQL), 2 bad usage. */
export async function backupCommand(args: string[], source: BackupSource, io: CommandIo): Promise<number> {
  const [target, ...extra] = args;
  if (!target || extra.length > 0 || target.startsWith('-')) {
    io.err(BACKUP_USAGE);
    return 2;
  }
  if (source.databaseUrl) {
    io.err(PG_DUMP_HINT);
    return 1;
  }
  const db = join(source.dataDir, 'availsync.db');
  const file = resolve(target);
  if (!existsSync(db)) {
    io.err(`no database at ${db} (is AVAILSYNC_DATA_DIR right?)`);
    return 1;
  }
  if ([db, `${db}-wal`, `${db}-shm`, `${db}-journal`].includes(file) || dirname(file) === resolve(source.dataDir)) {
    io.err(`write the backup outside the data directory ${source.dataDir}`);
    return 2;
  }
  const partial = `${file}.partial`;
  rmSync(partial, { force: true });
  const src = new SqliteDatabase(db, { fileMustExist: true });
  try {
    src.pragma('busy_timeout = 5000');
    // After the first step, the rest in one: one read transaction, so the server's commits cannot restart it.
    const meta = await src.backup(partial, { progress: ({ totalPages }) => Math.max(totalPages, 100) });
    const copy = new SqliteDatabase(partial);
    try {
      const check = copy.pragma('integrity_check', { simple: true });
      if (check !== 'ok') throw new Error(`the copy failed its integrity check: ${String(check)}`);
      copy.pragma('journal_mode = DELETE');
    } finally {
      copy.close();
    }
    const fd = openSync(partial, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(partial, file);
    io.out(`backup of ${db} written to ${file} (${meta.totalPages} pages, ${statSync(file).size} bytes)`);
    io.out(`restore: stop the server, copy it to <AVAILSYNC_DATA_DIR>/availsync.db (no -wal or -shm beside it), start the server`);
    return 0;
  } catch (err) {
    rmSync(partial, { force: true });
    io.err(`backup failed: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    src.close();
  }
}
