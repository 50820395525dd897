/**
 * What operating the server asks of the store, for the HTTP layer's diagnostics (/health, /health/ready,
 * /metrics) and its error handler: liveness, readiness, whether an error means the database is away, the
 * active-claims gauge, and timing of every transaction.
 */
import type { ReadyResponse } from '@availsync/protocol';
import { readiness } from '../storage/readiness.js';
import { ACTIVE, type Store, type StoreKind } from '../storage/store.js';
import type { ServiceDeps } from './context.js';

/** The active-claims count stops here: a scrape costs at most this many index entries. */
const ACTIVE_COUNT_CAP = 1_000_000;

export class OperationsService {
  constructor(private readonly deps: ServiceDeps) {}

  private get store(): Store {
    return this.deps.store;
  }

  /** Liveness: which database, and whether it answers. */
  async health(): Promise<{ kind: StoreKind; ok: boolean }> {
    return { kind: this.store.kind, ok: await this.store.ping() };
  }

  /** Readiness: the database answers, the migrations are applied, the tables are visible. */
  ready(): Promise<ReadyResponse> {
    return readiness(this.store);
  }

  /** The error means the database is unreachable or restarting (answered 503: retry shortly). */
  isUnavailable(err: unknown): boolean {
    return this.store.isUnavailable(err);
  }

  /** Claims whose status is active, counted up to ACTIVE_COUNT_CAP. */
  async activeClaims(): Promise<number> {
    const db = this.store.db;
    const capped = db
      .selectFrom('claims')
      .select((eb) => eb.lit(1).as('one'))
      .where('status', '=', ACTIVE)
      .limit(ACTIVE_COUNT_CAP)
      .as('a');
    const row = await db
      .selectFrom(capped)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /** Time every transaction of the store from now on (its `transaction` wrapped, where every service calls it). */
  timeTransactions(observe: (seconds: number) => void): void {
    const store = this.store;
    const transaction = store.transaction.bind(store);
    (store as { transaction: Store['transaction'] }).transaction = async (fn) => {
      const t0 = performance.now();
      try {
        return await transaction(fn);
      } finally {
        observe((performance.now() - t0) / 1000);
      }
    };
  }
}
