/**
 * The PostgreSQL side of deferWrite and sendAhead (round-trips.ts): one batch per transaction, holding its
 * deferred writes until the commit and marking statements sent ahead, for the connection class
 * (pg-client.ts) to put several statements in one write. Only the store's transaction() creates one.
 */
import { CompiledQuery } from 'kysely';
import type { RoundTripBatch } from '../round-trips.js';
import type { Ahead, Query, Tx, Write } from '../types.js';
import { AheadSlot, WRITE_BEHIND } from './pg-client.js';

export class TransactionBatch implements RoundTripBatch {
  #writes: Write[] = [];

  constructor(private readonly trx: Tx) {}

  defer(write: Write): void {
    this.#writes.push(write);
  }

  async ahead<O>(query: Query<O>): Promise<Ahead<O>> {
    const compiled = query.compile();
    const slot = new AheadSlot();
    await this.trx.executeQuery(CompiledQuery.raw(compiled.sql, [...compiled.parameters, slot]));
    return { rows: async () => (await slot.result()).rows as O[] };
  }

  /**
   * Send the deferred writes as one statement, marked write-behind: the connection answers it at once and
   * sends it in one write with the commit that follows (pg-client.ts), so a failing one fails the commit
   * and the transaction rolls back as a whole.
   */
  async flush(): Promise<void> {
    const pending = this.#writes;
    if (pending.length === 0) return;
    this.#writes = [];
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
    await this.trx.executeQuery(CompiledQuery.raw(WRITE_BEHIND + text, parameters));
  }
}
