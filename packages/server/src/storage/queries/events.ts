/**
 * The event log's statements (migration 008 explains `seq`). Appends go with the change's own
 * transaction (deferred to its commit on PostgreSQL, like audit rows); reads are by `seq`.
 */
import { sql } from 'kysely';
import { param, prepare, prepareInsert } from '../prepared.js';
import { deferWrite, type Executor, type Store, type Tx } from '../store.js';

export interface EventRow {
  seq: number;
  org_id: string;
  type: string;
  created_at: number;
  /** JSON text. */
  data: string;
}

export interface NewEvent {
  org_id: string;
  type: string;
  created_at: number;
  data: Record<string, unknown>;
}

const insertEvent = prepareInsert('events', ['ord', 'org_id', 'type', 'created_at', 'data']);

/** Appends of this process, counted: a transaction's events are all appended by one process, in order. */
let appended = 0;

/** The notifications channel the event log wakes its readers on (services/events/feed.ts). */
export const EVENTS_CHANNEL = 'events';

/**
 * Append events in the caller's transaction: they commit, or vanish, with the change they describe. Every
 * process's readers are woken when they commit: on PostgreSQL by the statement trigger of migration 008
 * (no statement of ours), on SQLite by the store right after the commit.
 */
export async function appendEvents(store: Store, trx: Tx, events: readonly NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  for (const e of events) {
    await deferWrite(
      trx,
      insertEvent.bind(trx, { ord: ++appended, org_id: e.org_id, type: e.type, created_at: e.created_at, data: JSON.stringify(e.data) }),
    );
  }
  if (!store.sequencesEvents) await store.notifyOnCommit(trx, EVENTS_CHANNEL, '');
}

const after = prepare((db) =>
  db
    .selectFrom('events')
    .select(['seq', 'org_id', 'type', 'created_at', 'data'])
    .where('seq', '>', param<number>('after'))
    .orderBy('seq')
    .limit(param<number>('limit')),
);

const afterInOrg = prepare((db) =>
  db
    .selectFrom('events')
    .select(['seq', 'org_id', 'type', 'created_at', 'data'])
    .where('org_id', '=', param<string>('org'))
    .where('seq', '>', param<number>('after'))
    .orderBy('seq')
    .limit(param<number>('limit')),
);

/** Events numbered after `afterSeq`, in order: every workspace's, or one's. */
export async function eventsAfter(ex: Executor, afterSeq: number, limit: number, orgId?: string): Promise<EventRow[]> {
  const rows =
    orgId === undefined
      ? await after.execute(ex, { after: afterSeq, limit })
      : await afterInOrg.execute(ex, { org: orgId, after: afterSeq, limit });
  return rows as EventRow[];
}

/** The highest `seq` numbered so far (0 for an empty log). */
export async function latestSeq(ex: Executor): Promise<number> {
  const row = await ex
    .selectFrom('events')
    .select((eb) => eb.fn.max('seq').as('seq'))
    .executeTakeFirst();
  return Number(row?.seq ?? 0);
}

/**
 * PostgreSQL only (store.sequencesEvents): number the events committed so far, continuing from the highest
 * `seq`. Numbering happens after commit, so a reader that has seen `seq` N can never later find an event
 * below N: every later numbering starts above the highest number given. Among the events one run finds,
 * a transaction's events keep their append order (`ord`), and transactions go by their first row id: a
 * transaction that waited for another's lock (the one order that matters, on one resource) wrote its
 * events after the other committed, so its rows come later. One node at a time numbers (a
 * transaction-level advisory lock; a node that does not get it leaves the work to the one that did, whose
 * commit wakes everyone). Returns how many it numbered.
 */
export async function sequenceEvents(store: Store, batch = 1_000): Promise<number> {
  return store.transaction(async (trx) => {
    const lock = await sql<{
      ok: boolean;
    }>`select pg_try_advisory_xact_lock(hashtext(current_schema() || '.availsync_events')) as ok`.execute(trx);
    if (!lock.rows[0]?.ok) return 0;
    const done = await sql`
      with todo as (
        select rid, row_number() over (order by first_rid, ord) as n
        from (
          select rid, ord, min(rid) over (partition by txid) as first_rid from events
          where seq is null order by rid limit ${batch}
        ) t
      ), base as (select coalesce(max(seq), 0) as b from events)
      update events e set seq = base.b + todo.n from todo, base where e.rid = todo.rid`.execute(trx);
    const n = Number(done.numAffectedRows ?? 0);
    if (n > 0) await sql`select pg_notify(left('availsync_events_' || lower(current_schema()), 63), 'seq')`.execute(trx);
    return n;
  });
}

/** The lowest `seq` still in the log (null for an empty log): a resume from below it has lost events. */
export async function oldestSeq(ex: Executor): Promise<number | null> {
  const row = await ex
    .selectFrom('events')
    .select((eb) => eb.fn.min('seq').as('seq'))
    .executeTakeFirst();
  return row?.seq === null || row?.seq === undefined ? null : Number(row.seq);
}

/**
 * Retention: events older than `before`, a batch at a time (returns how many went). The newest numbered
 * event always stays: PostgreSQL's sequencer continues from the highest `seq` in the table, and an empty
 * log would start again at 1, below ids subscribers already hold.
 */
export async function pruneEvents(ex: Executor, before: number, batch: number): Promise<number> {
  const newest = ex.selectFrom('events').select((eb) => eb.fn.max('seq').as('m'));
  const old = ex
    .selectFrom('events')
    .select('seq')
    .where('created_at', '<', before)
    .where('seq', '<', newest)
    .orderBy('created_at')
    .limit(batch);
  const res = await ex.deleteFrom('events').where('seq', 'in', old).executeTakeFirst();
  return Number(res.numDeletedRows ?? 0);
}
