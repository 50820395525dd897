/**
 * deferWrite and sendAhead: how a service tells its store that a statement's answer can wait, so that the
 * store may send it together with another one and save a round trip. Dialect-neutral: a store that has
 * round trips to save (PostgreSQL, postgres/batch.ts) registers a batch for each transaction it runs;
 * where there is none (SQLite, which has no round trips; outside a store transaction) the statement runs
 * at once, so a service never asks which database it is on.
 */
import { runQuery } from './shared-sql.js';
import type { Ahead, Executor, Query, Tx, Write } from './types.js';

/** One transaction's statements held to go out with others (registered by its store). */
export interface RoundTripBatch {
  /** Hold a write until just before the commit. */
  defer(write: Write): void;
  /** Send a statement with the transaction's next one. */
  ahead<O>(query: Query<O>): Promise<Ahead<O>>;
}

const batches = new WeakMap<Executor, RoundTripBatch>();

/** Called by a store as it opens a transaction whose statements it batches. */
export function batchRoundTrips(trx: Tx, batch: RoundTripBatch): void {
  batches.set(trx, batch);
}

/**
 * Write now, or — inside a PostgreSQL transaction — just before it commits, together with the other
 * deferred writes in ONE statement (data-modifying CTEs): a claim's row, its audit row and its idempotency
 * record cost one round trip instead of three. Only for writes nothing later in the transaction reads:
 * a deferred write is not visible until the flush. Outside a store transaction, and on SQLite (no round
 * trips), it runs at once.
 */
export async function deferWrite(ex: Executor, write: Write): Promise<void> {
  const batch = batches.get(ex);
  if (batch) batch.defer(write);
  else await write.execute();
}

/**
 * Run a statement whose result is not needed yet. Inside a PostgreSQL transaction it is held and goes out
 * in one write with the transaction's next statement (postgres/pg-client.ts): PostgreSQL runs them in
 * order, each with a snapshot taken after the one before finished, but the pair costs one round trip.
 * `rows()` then answers without another (asked for before anything else was sent, it sends the statement
 * on its own). Elsewhere (SQLite, no round trips; outside a transaction) it runs at once.
 */
export function sendAhead<O>(ex: Executor, query: Query<O>): Promise<Ahead<O>> {
  const batch = batches.get(ex);
  return batch ? batch.ahead(query) : runNow(ex, query);
}

async function runNow<O>(ex: Executor, query: Query<O>): Promise<Ahead<O>> {
  const rows = await runQuery(ex, query);
  return { rows: async () => rows };
}
