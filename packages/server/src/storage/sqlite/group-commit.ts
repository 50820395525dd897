/**
 * Group commit for the embedded store. Transactions on the one SQLite connection run one at a time
 * anyway; when several are waiting, they run back to back inside ONE database transaction, each in a
 * savepoint of its own (a failing one rolls back to its savepoint and fails alone), and the batch
 * commits once. Nobody is answered before that commit, so an acknowledged write is still durable;
 * the commit's page writes (and, with synchronous=FULL, its fsync) are shared by the whole batch.
 * A lone transaction runs as a plain one.
 */
import type { ControlledTransaction, Kysely } from 'kysely';
import type { DB } from '../schema.js';
import type { Tx } from '../types.js';

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

export class GroupCommit {
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
