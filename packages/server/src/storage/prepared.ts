/**
 * Prepared queries for the hottest statements (the claim path). Building a query with Kysely and compiling
 * it to SQL costs more than SQLite takes to run a small indexed statement, and the claim path runs about a
 * dozen per claim. A `Prepared` query is built once per dialect with named placeholders (`param('id')`)
 * in place of the values, compiled, and from then on only has its values put in:
 *
 *   const claimById = prepare((db) => db.selectFrom('claims').selectAll().where('id', '=', param('id')));
 *   const row = await claimById.first(trx, { id });
 *
 * The SQL text is the one Kysely generates, so the statement caches (SQLite's per connection, PostgreSQL's
 * named statements) apply as before. Only for queries whose shape is fixed; anything with a variable
 * number of values stays an ordinary Kysely query.
 */
import type { Compilable, CompiledQuery } from 'kysely';
import type { DB } from './schema.js';
import type { Executor } from './types.js';

class Placeholder {
  constructor(readonly name: string) {}
}

/** A named value slot in a prepared query, typed as the value it stands for. */
export function param<T>(name: string): T {
  return new Placeholder(name) as unknown as T;
}

interface Compiled<O> {
  query: CompiledQuery<O>;
  /** For each parameter of the compiled query: the placeholder's name, or its constant value. */
  slots: ({ name: string } | { value: unknown })[];
}

/** A prepared query with its values: what `deferWrite` takes, and what can be executed. */
export interface BoundQuery<O> {
  compile(): CompiledQuery<O>;
  execute(): Promise<O[]>;
}

/** The values for the placeholders, by name (extra fields are ignored). */
type Values = object;

export class Prepared<O> {
  // Keyed by the dialect's adapter class: SQLite and PostgreSQL compile to different SQL.
  readonly #compiled = new Map<unknown, Compiled<O>>();

  constructor(private readonly build: (db: Executor) => Compilable<O>) {}

  #compile(ex: Executor): Compiled<O> {
    const dialect = ex.getExecutor().adapter.constructor;
    let compiled = this.#compiled.get(dialect);
    if (!compiled) {
      const query = this.build(ex).compile();
      const slots = query.parameters.map((p) => (p instanceof Placeholder ? { name: p.name } : { value: p }));
      compiled = { query, slots };
      this.#compiled.set(dialect, compiled);
    }
    return compiled;
  }

  /** The query with `values` put in. A placeholder without a value is a programming error, not a NULL. */
  bind(ex: Executor, values: Values): BoundQuery<O> {
    const { query, slots } = this.#compile(ex);
    const parameters = slots.map((slot) => {
      if ('value' in slot) return slot.value;
      const value = (values as Record<string, unknown>)[slot.name];
      if (value === undefined) throw new Error(`prepared query: no value for "${slot.name}"`);
      return value;
    });
    const bound: CompiledQuery<O> = { ...query, parameters };
    return {
      compile: () => bound,
      execute: async () => (await ex.executeQuery(bound)).rows,
    };
  }

  execute(ex: Executor, values: Values): Promise<O[]> {
    return this.bind(ex, values).execute();
  }

  async first(ex: Executor, values: Values): Promise<O | undefined> {
    return (await this.execute(ex, values))[0];
  }
}

export function prepare<O>(build: (db: Executor) => Compilable<O>): Prepared<O> {
  return new Prepared<O>(build);
}

/** A one-row insert into `table` with a placeholder per column, named after it: bind it with the row. */
export function prepareInsert<T extends keyof DB>(table: T, columns: readonly (keyof DB[T] & string)[]): Prepared<unknown> {
  return prepare((db) => db.insertInto(table).values(Object.fromEntries(columns.map((c) => [c, param(c)])) as never));
}
