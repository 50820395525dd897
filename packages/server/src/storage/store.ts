/**
 * The storage seam: one Kysely codebase over SQLite and PostgreSQL, and the one import point for the rest
 * of the server (services, http, tests import from here). Where things live:
 *   - types.ts: the Store interface and the statement types, each capability commented;
 *   - postgres/: the PostgreSQL store (createPostgresStore), its pipelining connection class, row-lock
 *     statements, round-trip batching and error classification;
 *   - sqlite/: the embedded store (createSqliteStore), group commit, the data-dir process lock, the
 *     statement cache, the WAL checkpointer, error classification;
 *   - shared-sql.ts (ACTIVE, claimById, sortKeys), round-trips.ts (deferWrite, sendAhead), prepared.ts
 *     (prepare, param), schema.ts (every table), migrations/.
 *
 * The rule: no code outside storage/ asks which database it is on (`kind` is for display). Where behaviour
 * must differ, the Store names it as a capability (`serialized`, `arrayParameters`, `lockResources`,
 * `skipLocked`, …) or storage offers the operation itself (auditPage).
 */
export { type AuditPage, type AuditRow, auditPage } from './audit-pages.js';
export { createPostgresStore, type PostgresOptions } from './postgres/store.js';
export { deferWrite, sendAhead } from './round-trips.js';
export { ACTIVE, claimById, sortKeys } from './shared-sql.js';
export { GROUP_COMMIT_MAX_BATCH } from './sqlite/group-commit.js';
export { DataDirLockedError } from './sqlite/process-lock.js';
export { createSqliteStore, type SqliteOptions } from './sqlite/store.js';
export type { Ahead, Executor, LockedResource, Query, ResourceKey, RowsOf, Store, StoreKind, Tx, Write } from './types.js';
