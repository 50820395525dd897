/**
 * Idempotency: a request and its key in one transaction. The key row is inserted first: on PostgreSQL a
 * concurrent request with the same key waits on that uncommitted row and then reads the committed answer;
 * on SQLite transactions are serialised. A replay returns the original status and body; the same key with a
 * different request is 422.
 */
import { createHash } from 'node:crypto';
import { ApiError } from '../errors.js';
import { param, prepare } from '../storage/prepared.js';
import { deferWrite, type Store, sendAhead, type Tx } from '../storage/store.js';
import type { Presenter, Reply } from './context.js';

export interface IdempotencyRequest {
  scope: string;
  key: string | undefined;
  /** What makes two requests "the same": the route and the canonical body. */
  fingerprint: unknown;
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function requestHash(fingerprint: unknown): string {
  return createHash('sha256').update(canonical(fingerprint)).digest('hex');
}

export type IdempotentReply<B> = Reply<B> & { replayed: boolean };

// On the claim path (every start with a key): prepared once.
const claimKey = prepare((db) =>
  db
    .insertInto('idempotency_keys')
    .values({
      scope: param('scope'),
      key: param('key'),
      request_hash: param('hash'),
      status_code: 0,
      response: '',
      created_at: param('created_at'),
    })
    .onConflict((oc) => oc.columns(['scope', 'key']).doNothing())
    .returning('key'),
);
const recordReply = prepare((db) =>
  db
    .updateTable('idempotency_keys')
    .set({ status_code: param('status'), response: param('response') })
    .where('scope', '=', param<string>('scope'))
    .where('key', '=', param<string>('key')),
);

const storedReply = prepare((db) =>
  db
    .selectFrom('idempotency_keys')
    .select(['request_hash', 'status_code', 'response'])
    .where('scope', '=', param<string>('scope'))
    .where('key', '=', param<string>('key')),
);

/**
 * An outcome that is not an answer yet (a start that joined the wait queue): the transaction commits what
 * `run` wrote, but the key is not kept, so the request (or its retry with the same key) runs again.
 */
export class Unsettled<T> {
  constructor(readonly value: T) {}
}

const freeKey = prepare((db) =>
  db.deleteFrom('idempotency_keys').where('scope', '=', param<string>('scope')).where('key', '=', param<string>('key')),
);

/** Thrown inside the transaction when its key was already used: the transaction rolls back, then the stored reply is read. */
class Replay extends Error {}

/**
 * `run` in a transaction of its own, at most once per key, its outcome answered through `present`. The key
 * row goes out ahead (sendAhead): on PostgreSQL in one round trip with `run`'s first statement, which
 * PostgreSQL runs after it. So `run` has already started when it is known whether the key was new: if it
 * was not, or `run` failed and the key was not new, the transaction rolls back — nothing `run` did lands —
 * and the stored reply is returned.
 *
 * What is kept for replays is `present`'s reply (the interface's own answer, so a replay is the same
 * answer). `forStorage` shapes the outcome kept: a secret in it (a new API key) is returned once and never
 * stored, so a replay answers without it.
 */
export function idempotentTransaction<O, B>(
  store: Store,
  req: IdempotencyRequest,
  createdAt: number,
  run: (trx: Tx) => Promise<O>,
  present: Presenter<O, B>,
  opts: {
    forStorage?: (outcome: O) => O;
    transaction?: <T>(fn: (trx: Tx) => Promise<T>) => Promise<T>;
  } = {},
): Promise<IdempotentReply<B>> {
  return idempotentAttempt<O, never, B>(store, req, createdAt, run, present, opts) as Promise<IdempotentReply<B>>;
}

/** idempotentTransaction whose `run` may answer Unsettled: returned as it is, the key left free. */
export async function idempotentAttempt<O, U, B>(
  store: Store,
  req: IdempotencyRequest,
  createdAt: number,
  run: (trx: Tx) => Promise<O | Unsettled<U>>,
  present: Presenter<O, B>,
  opts: {
    forStorage?: (outcome: O) => O;
    /** The transaction to run in (default the store's; the claim path's confirms the caller's key). */
    transaction?: <T>(fn: (trx: Tx) => Promise<T>) => Promise<T>;
  } = {},
): Promise<IdempotentReply<B> | Unsettled<U>> {
  const { key } = req;
  const { forStorage, transaction = (fn) => store.transaction(fn) } = opts;
  if (!key) {
    const outcome = await transaction(run);
    return outcome instanceof Unsettled ? outcome : { ...present(outcome), replayed: false };
  }
  const hash = requestHash(req.fingerprint);
  for (;;) {
    try {
      return await transaction(async (trx): Promise<IdempotentReply<B> | Unsettled<U>> => {
        const claimed = await sendAhead(trx, claimKey.bind(trx, { scope: req.scope, key, hash, created_at: createdAt }));
        // Whether `run` answered or failed, a key used before means the stored reply.
        const ran = await run(trx).then(
          (outcome) => ({ outcome }),
          (error: unknown) => ({ error }),
        );
        if ((await claimed.rows()).length === 0) throw new Replay();
        if ('error' in ran) throw ran.error;
        if (ran.outcome instanceof Unsettled) {
          await deferWrite(trx, freeKey.bind(trx, { scope: req.scope, key }));
          return ran.outcome;
        }
        const reply = present(ran.outcome);
        const kept = forStorage ? present(forStorage(ran.outcome)) : reply;
        await deferWrite(trx, recordReply.bind(trx, { status: kept.status, response: JSON.stringify(kept.body), scope: req.scope, key }));
        return { ...reply, replayed: false };
      });
    } catch (err) {
      if (!(err instanceof Replay)) throw err;
    }
    // The insert found the key committed (it waits for a transaction still writing it), so it is there
    // now, unless the retention sweep removed it in between: then the request runs again, as new.
    const row = await storedReply.first(store.db, { scope: req.scope, key });
    if (!row) continue;
    if (row.request_hash !== hash) {
      throw new ApiError(
        'idempotency_key_reused',
        'This Idempotency-Key was already used with a different request. Use a new key for a new request.',
      );
    }
    return { status: row.status_code, body: JSON.parse(row.response) as B, replayed: true };
  }
}
