/**
 * PostgreSQL's errors, classified for the store: a unique violation (the caller's conflict), the database
 * unavailable (answer 503, the client retries), and what makes a transaction worth running again. By
 * SQLSTATE and Node's network codes, never by message text (translated under the server's `lc_messages`),
 * except the few driver messages that carry no code.
 */
import { errCode } from '../error-code.js';
import { isStalePlan } from './pg-client.js';

const PG_UNAVAILABLE = new Set(['57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006', '53300']);
const NODE_NET_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH']);

/** Thrown to run a transaction again (store.transaction retries it as a serialization failure). */
export class LockOrderRetry extends Error {
  readonly code = '40001';
  constructor() {
    super('a resource row appeared behind a lock already taken: the transaction runs again');
  }
}

/** Deadlocks and serialization failures; a statement gone stale under a migration (prepared again). */
export function isRetryable(err: unknown): boolean {
  const code = errCode(err);
  return code === '40P01' || code === '40001' || isStalePlan(err);
}

export function isUniqueViolation(err: unknown): boolean {
  return errCode(err) === '23505';
}

export function isUnavailable(err: unknown): boolean {
  const code = errCode(err);
  if (code && (PG_UNAVAILABLE.has(code) || NODE_NET_ERRORS.has(code))) return true;
  const msg = err instanceof Error ? err.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(msg);
}
