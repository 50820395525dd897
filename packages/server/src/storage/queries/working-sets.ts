/**
 * The statements of working sets (file claims): a claim's own set, the paths other runs hold, and the
 * changes a working-set update defers to its commit. Where a list of paths is bound, a store with array
 * parameters (PostgreSQL) gets one array per list (`= any($1)`, `unnest($1::text[], …)`): one statement
 * text whatever the list's length, so it stays a prepared statement (storage/postgres/pg-client.ts) and uses the
 * same indexes. Without them (SQLite) the list goes inline (`in (…)`, a multi-row `values`).
 */
import type { ResourceRef } from '@availsync/protocol';
import { type Selectable, sql } from 'kysely';
import { isLiteralPath } from '../../domain/paths.js';
import { param, prepare } from '../prepared.js';
import type { FileClaimsTable } from '../schema.js';
import { ACTIVE, type Executor, type Store, type Tx } from '../store.js';

/** What decides a list's form: whether the store binds a list as one array parameter. */
type Lists = Pick<Store, 'arrayParameters'>;

export type FileClaimRow = Selectable<FileClaimsTable>;
/** Another run's file claim on a working set's resource (heldByOthers), with its claim's agent and lease. */
export type OtherFileClaim = FileClaimRow & { agent_id: string; claim_expires_at: number };

/** One claim's working set (`id`): prepared once (extend, working-set updates, one claim's answer). */
export const workingSetOf = prepare((db) => db.selectFrom('file_claims').selectAll().where('claim_id', '=', param<string>('id')));

/** The working sets of several claims. */
export function workingSetsOf(ex: Executor, claimIds: readonly string[]): Promise<FileClaimRow[]> {
  return ex.selectFrom('file_claims').selectAll().where('claim_id', 'in', claimIds).execute();
}

/** Drop a claim's whole working set (`id`) when the claim ends by finishing: deferred. */
export const dropWorkingSet = prepare((db) => db.deleteFrom('file_claims').where('claim_id', '=', param<string>('id')));

/** Drop a claim's whole working set when it expires, is preempted, or its agent goes. */
export async function deleteWorkingSet(trx: Tx, claimId: string): Promise<void> {
  await trx.deleteFrom('file_claims').where('claim_id', '=', claimId).execute();
}

/** Drop every file claim whose own lease has lapsed (the sweeper; no resource locks, see the upsert). */
export async function deleteLapsedFileClaims(trx: Tx, now: number): Promise<void> {
  await trx.deleteFrom('file_claims').where('expires_at', '<=', now).execute();
}

/**
 * Held paths that are patterns, not literals (domain/paths.ts isLiteralPath: a wildcard, a class, or a
 * trailing '/'; none is special to LIKE). Word for word the condition of the partial index
 * `file_claims_patterns` (migration 004): only a query that says it exactly can use that index.
 */
const HELD_PATTERN = sql<boolean>`(file_claims.path LIKE '%*%' OR file_claims.path LIKE '%?%' OR file_claims.path LIKE '%[%' OR file_claims.path LIKE '%/')`;

/** `column IN (list)`; with `arrays` (store.arrayParameters) `column = ANY($1)`. */
function inList(arrays: boolean, column: string, list: readonly string[]) {
  return arrays ? sql<boolean>`${sql.ref(column)} = any(${list})` : sql<boolean>`${sql.ref(column)} in (${sql.join(list)})`;
}

/**
 * Other runs' edit/delete file claims on a working set's resource, of claims still marked active (their
 * leases are checked by the caller, against the clock read after the locks). When every requested path is
 * a literal file path, only two kinds of held path can overlap one (OverlapIndex): the same literal, and a
 * pattern. The database finds those two by index (migration 004), so the check costs the same however
 * many paths other runs hold on a large shared repository. `arrays`: the store's arrayParameters (the
 * services call heldByOthersOn, which reads it).
 */
export function heldByOthers(
  ex: Executor,
  claim: { id: string; org_id: string },
  ws: { ref: ResourceRef; paths: readonly string[] },
  arrays: boolean,
) {
  const held = () =>
    ex
      .selectFrom('file_claims')
      .innerJoin('claims', 'claims.id', 'file_claims.claim_id')
      .selectAll('file_claims')
      .select(['claims.agent_id as agent_id', 'claims.expires_at as claim_expires_at'])
      .where('file_claims.org_id', '=', claim.org_id)
      .where('file_claims.resource_type', '=', ws.ref.resource_type)
      .where('file_claims.resource_key', '=', ws.ref.resource_key)
      .where('file_claims.claim_id', '!=', claim.id)
      .where('file_claims.mode', 'in', ['edit', 'delete'])
      .where('claims.status', '=', ACTIVE);
  if (ws.paths.length === 0 || !ws.paths.every(isLiteralPath)) return held();
  return held()
    .where(inList(arrays, 'file_claims.path', ws.paths))
    .unionAll(held().where(HELD_PATTERN));
}

/** heldByOthers, in the list form `store` takes. */
export function heldByOthersOn(
  store: Lists,
  ex: Executor,
  claim: { id: string; org_id: string },
  ws: { ref: ResourceRef; paths: readonly string[] },
) {
  return heldByOthers(ex, claim, ws, store.arrayParameters);
}

/** Which of a claim's file claims a change removes: its paths on one resource in one mode. */
export interface WorkingSetSlice {
  claimId: string;
  ref: ResourceRef;
  mode: string;
}

/** Remove `paths` from the slice: unexecuted, for deferWrite. */
export function removeFileClaims(store: Lists, trx: Tx, slice: WorkingSetSlice, paths: readonly string[]) {
  return trx
    .deleteFrom('file_claims')
    .where('claim_id', '=', slice.claimId)
    .where('resource_type', '=', slice.ref.resource_type)
    .where('resource_key', '=', slice.ref.resource_key)
    .where('mode', '=', slice.mode)
    .where(inList(store.arrayParameters, 'path', paths));
}

/**
 * One statement for the whole set: new paths are inserted, held ones get the new lease `expiresAt` (and
 * keep their id and created_at). Unexecuted, for deferWrite. With array parameters the rows go as one
 * array per column (unnest): one statement text for any number of rows.
 */
export function upsertFileClaims(store: Lists, trx: Tx, rows: FileClaimRow[], expiresAt: number) {
  const column = <K extends keyof FileClaimRow>(k: K) => rows.map((v) => v[k]);
  const insert = trx.insertInto('file_claims');
  const values = store.arrayParameters
    ? insert.columns(['id', 'org_id', 'claim_id', 'resource_type', 'resource_key', 'path', 'mode', 'expires_at', 'created_at']).expression(
        sql`select * from unnest(${column('id')}::text[], ${column('org_id')}::text[], ${column('claim_id')}::text[],
                ${column('resource_type')}::text[], ${column('resource_key')}::text[], ${column('path')}::text[],
                ${column('mode')}::text[], ${column('expires_at')}::bigint[], ${column('created_at')}::bigint[])`,
      )
    : insert.values(rows);
  return values.onConflict((oc) =>
    oc.columns(['claim_id', 'resource_type', 'resource_key', 'mode', 'path']).doUpdateSet({ expires_at: expiresAt }),
  );
}
