/**
 * Idempotency inside the caller's transaction. The key row is inserted first: on PostgreSQL a concurrent
 * request with the same key waits on that uncommitted row and then reads the committed answer; on SQLite
 * transactions are serialised. A replay returns the original status and body; the same key with a
 * different request is 422.
 */
import { createHash } from 'node:crypto';
import { ApiError } from '../http/errors.js';
import { param, prepare } from '../storage/prepared.js';
import { deferWrite, type Tx } from '../storage/store.js';
import type { Reply } from './context.js';

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

/**
 * `forStorage` shapes what is kept for replays: a secret in the answer (a new API key) is returned once
 * and never stored, so a replay answers without it.
 */
export async function idempotent<B>(
  trx: Tx,
  req: IdempotencyRequest,
  createdAt: number,
  run: () => Promise<Reply<B>>,
  forStorage: (body: B) => unknown = (body) => body,
): Promise<IdempotentReply<B>> {
  if (!req.key) return { ...(await run()), replayed: false };
  const hash = requestHash(req.fingerprint);
  const inserted = await claimKey.first(trx, { scope: req.scope, key: req.key, hash, created_at: createdAt });
  if (!inserted) {
    const row = await trx
      .selectFrom('idempotency_keys')
      .select(['request_hash', 'status_code', 'response'])
      .where('scope', '=', req.scope)
      .where('key', '=', req.key)
      .executeTakeFirstOrThrow();
    if (row.request_hash !== hash) {
      throw new ApiError(
        'idempotency_key_reused',
        'This Idempotency-Key was already used with a different request. Use a new key for a new request.',
      );
    }
    return { status: row.status_code, body: JSON.parse(row.response) as B, replayed: true };
  }
  const reply = await run();
  await deferWrite(
    trx,
    recordReply.bind(trx, { status: reply.status, response: JSON.stringify(forStorage(reply.body)), scope: req.scope, key: req.key }),
  );
  return { ...reply, replayed: false };
}
