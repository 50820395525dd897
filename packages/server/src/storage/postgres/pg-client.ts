/**
 * The PostgreSQL connection class the store's pool hands to Kysely. On a claim's path the server's own
 * CPU goes mostly into socket writes and wake-ups, one per round trip, so this client saves round trips
 * that Kysely's driver cannot ask it to save:
 *
 *  - Named prepared statements. Kysely sends every query unnamed, so PostgreSQL would parse, analyse and
 *    plan it on each execution, which costs more than running one of our small indexed statements. Each
 *    distinct SQL text gets a name (the same text always the same one), so a connection prepares a
 *    statement once and then only binds and executes it. Statements with long value lists
 *    (`MAX_NAMED_VALUES`), and texts beyond the first `PREPARED_LIMIT` distinct ones, go unnamed, which
 *    bounds what a connection keeps.
 *  - `begin` is not sent on its own: it goes out in one write with the transaction's first statement
 *    (node-postgres' pipeline mode, so the statement does not wait for the `begin`'s answer).
 *  - A write-behind statement (its text starts with `WRITE_BEHIND`: a transaction's deferred writes, whose
 *    result nobody reads) is answered at once and sent in one write with the statement after it, the
 *    `commit`. Its error, if any, is the commit's: the transaction rolls back as a whole.
 *  - A statement sent ahead (its last value is an `AheadSlot`: sendAhead, round-trips.ts) is answered at once too,
 *    and goes out in one write with the transaction's next statement; PostgreSQL runs the two in order,
 *    the later one with a snapshot taken after the earlier finished. Its own result arrives in the slot.
 *    If an earlier statement of a write fails, so does the statement the caller awaits, with that error.
 *
 * A transaction that ends before any statement reached the server sends nothing at all. Everything else
 * (pg-pool's own calls, callbacks, cursors) passes through unchanged.
 *
 * A prepared statement goes stale when another node's migration changes the columns it returns (`select *`
 * from a table that gained a column): PostgreSQL refuses to run it ("cached plan must not change result
 * type", SQLSTATE 0A000) on every execution until it is prepared again. On that error the connection moves
 * to a new generation of statement names (`avs_3` becomes `avs_3_g1`), so each statement it sends from then
 * on is prepared afresh; nothing is deallocated, so no statement in flight loses its name. The failed
 * transaction is run again by the store (`isStalePlan`), a failed statement outside one here.
 */
import pg from 'pg';

/** Prefix of a statement to send with the next one of its transaction (see above). */
export const WRITE_BEHIND = '/* write-behind */ ';

const PREPARED_LIMIT = 1000;
/**
 * Statements with more values than this go unnamed: their texts vary with the length of a list (a 50-path
 * working set's IN list and VALUES rows, several such in one deferred write), so each length, and each
 * combination, is a text of its own. Named, they would fill PREPARED_LIMIT with statements seldom run
 * twice and keep large plans on every connection. Every statement of a claim's path has far fewer.
 */
export const MAX_NAMED_VALUES = 100;
const statementNames = new Map<string, string>();

function statementName(text: string, values: unknown[]): string | undefined {
  if (values.length > MAX_NAMED_VALUES) return undefined;
  let name = statementNames.get(text);
  if (name === undefined && statementNames.size < PREPARED_LIMIT) {
    name = `avs_${statementNames.size}`;
    statementNames.set(text, name);
  }
  return name;
}

/**
 * Where the result of a statement sent ahead arrives. Asked for before the statement went out (nothing
 * else was sent since), it sends what the connection holds at once.
 */
export class AheadSlot {
  #result: Promise<pg.QueryResult> | undefined;
  #flush: (() => void) | undefined;

  /** The connection holds the statement; `flush` sends it now. */
  held(flush: () => void): void {
    this.#flush = flush;
  }

  /** The statement went out; this is its answer. */
  sent(result: Promise<pg.QueryResult>): void {
    this.#result = result;
    // Read or not, its failure is also the failure of the statement sent with it.
    result.catch(() => {});
  }

  result(): Promise<pg.QueryResult> {
    if (!this.#result) this.#flush?.();
    return this.#result ?? Promise.reject(new Error('a statement sent ahead never reached the database (its transaction ended first)'));
  }
}

interface Statement {
  text: string;
  values?: unknown[];
  slot?: AheadSlot;
}

const answered = (command: string): pg.QueryResult => ({ command, rowCount: null, oid: 0, fields: [], rows: [] });

/**
 * A prepared statement whose result columns changed since it was prepared (see above). Told by the
 * function that raises it, as the message is translated under the server's `lc_messages`.
 */
export function isStalePlan(err: unknown): boolean {
  const e = err as { code?: unknown; routine?: unknown; message?: unknown } | null;
  if (e?.code !== '0A000') return false;
  return e.routine === 'RevalidateCachedQuery' || String(e.message).includes('cached plan must not change result type');
}

export interface PgClientOptions {
  /** Name each distinct statement text (default true); off behind PgBouncer's transaction mode before 1.21. */
  preparedStatements: boolean;
  /**
   * Settings for each new connection, sent as `SET`s once it is open. Not as the `options` startup
   * parameter, which connection poolers refuse (PgBouncer: "unsupported startup parameter: options").
   */
  settings?: Record<string, string> | undefined;
  /** Told the statements of each round trip (tests count them). */
  onRoundTrip?: ((statements: string[]) => void) | undefined;
}

/** The client class for `new pg.Pool({ Client })`. */
export function pgClientClass(opts: PgClientOptions): typeof pg.Client {
  const setup = Object.entries(opts.settings ?? {})
    .map(([name, value]) => `set ${name} = ${value}`)
    .join('; ');
  return class AvailsyncPgClient extends pg.Client {
    /** Statements answered but not yet sent: the `begin`, write-behinds. */
    #held: Statement[] = [];
    #inTransaction = false;
    /** Bumped when a prepared statement went stale: every statement is prepared again, under a new name. */
    #generation = 0;

    constructor(config?: string | pg.ClientConfig) {
      super({ ...(typeof config === 'string' ? { connectionString: config } : config), pipeline: true } as pg.ClientConfig);
    }

    // biome-ignore lint/suspicious/noExplicitAny: pg-pool connects with a callback; a promise otherwise.
    override connect(callback?: (err: Error) => void): any {
      const ready = super.connect().then(async () => {
        if (!setup) return;
        try {
          await super.query(setup);
        } catch (err) {
          await this.end().catch(() => {});
          throw err;
        }
      });
      if (!callback) return ready;
      ready.then(
        () => callback(null as unknown as Error),
        (err: Error) => callback(err),
      );
    }

    // biome-ignore lint/suspicious/noExplicitAny: pg's query() is heavily overloaded; this forwards them all.
    override query(config: any, values?: any, callback?: any): any {
      // Kysely calls query(text, values) and awaits the promise; anything else is not ours to reorder.
      if (typeof config !== 'string' || !Array.isArray(values) || callback !== undefined) {
        return super.query(config, values, callback);
      }
      const text = config;
      const slot = values.at(-1);
      if (slot instanceof AheadSlot) {
        const statement = { text, values: values.slice(0, -1), slot };
        if (!this.#inTransaction) return this.#send([statement]);
        this.#held.push(statement);
        slot.held(() => this.#flush());
        return Promise.resolve(answered('SELECT'));
      }
      if (text === 'begin') {
        this.#inTransaction = true;
        this.#held = [{ text }];
        return Promise.resolve(answered('BEGIN'));
      }
      if (text === 'commit' || text === 'rollback') {
        const held = this.#held;
        this.#held = [];
        this.#inTransaction = false;
        // Nothing of this transaction reached the server: there is nothing to end.
        if (held[0]?.text === 'begin' && (text === 'rollback' || held.length === 1)) {
          return Promise.resolve(answered(text.toUpperCase()));
        }
        // A rollback drops the held writes; a commit carries them.
        return this.#send(text === 'commit' ? [...held, { text }] : [{ text }]);
      }
      if (this.#inTransaction && text.startsWith(WRITE_BEHIND)) {
        this.#held.push({ text, values });
        return Promise.resolve(answered('SELECT'));
      }
      const held = this.#held;
      this.#held = [];
      const statement = { text, values };
      if (this.#inTransaction) return this.#send([...held, statement]);
      // Outside a transaction a stale statement is simply sent again, prepared afresh.
      return this.#send([statement]).catch((err: unknown) => {
        if (isStalePlan(err)) return this.#send([statement]);
        throw err;
      });
    }

    /** Send what is held now (a statement sent ahead whose result is wanted before the next statement). */
    #flush(): void {
      const held = this.#held;
      this.#held = [];
      if (held.some((s) => s.text !== 'begin')) this.#send(held).catch(() => {});
      else this.#held = held;
    }

    /** Send statements in one write (pipelined); answer with the last one's result or the first error. */
    #send(statements: Statement[]): Promise<pg.QueryResult> {
      const generation = this.#generation;
      const answer = this.#write(statements);
      // A stale statement moves the connection to new statement names (see above), once per generation.
      answer.catch((err: unknown) => {
        if (this.#generation === generation && isStalePlan(err)) this.#generation += 1;
      });
      return answer;
    }

    #write(statements: Statement[]): Promise<pg.QueryResult> {
      opts.onRoundTrip?.(statements.map((s) => s.text));
      if (statements.length === 1) return this.#submit(statements[0] as Statement);
      const stream = this.connection.stream;
      stream.cork();
      let sent: Promise<pg.QueryResult>[];
      try {
        sent = statements.map((s) => this.#submit(s));
      } finally {
        stream.uncork();
      }
      // Answers arrive in order, so Promise.all fails with the first statement that failed (those after
      // it in the transaction fail only because it is aborted).
      return Promise.all(sent).then((results) => results[results.length - 1] as pg.QueryResult);
    }

    #submit({ text, values, slot }: Statement): Promise<pg.QueryResult> {
      let result: Promise<pg.QueryResult>;
      if (values === undefined) result = super.query(text);
      else {
        const base = opts.preparedStatements ? statementName(text, values) : undefined;
        const name = base && this.#generation > 0 ? `${base}_g${this.#generation}` : base;
        result = name ? super.query({ name, text, values }) : super.query(text, values);
      }
      slot?.sent(result);
      return result;
    }
  };
}
