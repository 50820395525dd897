/**
 * One error type for everything the SDK throws about the API or the network. It carries the API's error
 * code, the HTTP status and the request id (quote it to support), never the API key: messages are built
 * from the server's message (which never echoes credentials) and scrubbed of the key once more.
 */
import type { ErrorBody, JsonObject } from './types.js';

export type AvailsyncErrorKind = 'auth' | 'validation' | 'plan_limit' | 'conflict' | 'rate_limit' | 'network' | 'timeout' | 'api';

export interface AvailsyncErrorInit {
  kind: AvailsyncErrorKind;
  code: string;
  message: string;
  status?: number | null;
  requestId?: string | null;
  details?: JsonObject | null;
  body?: ErrorBody | null;
  retryAfterMs?: number | null;
  cause?: unknown;
}

export class AvailsyncError extends Error {
  override readonly name = 'AvailsyncError';
  /** What went wrong, coarsely: branch on this. */
  readonly kind: AvailsyncErrorKind;
  /** The API's error code (`unauthorized`, `claim_not_active`, ...), or `network_error` / `timeout` / `http_<status>`. */
  readonly code: string;
  /** HTTP status, or null when no answer arrived. */
  readonly status: number | null;
  /** `req_...` of the failed request, when the server answered. */
  readonly requestId: string | null;
  /** The API's `details` (each invalid field, or the plan limit that was hit). */
  readonly details: JsonObject | null;
  /** The whole error body (for extras such as `status` on claim_not_active or `conflicts` on hold_conflict). */
  readonly body: ErrorBody | null;
  /** The server's Retry-After, in milliseconds, when it sent one. */
  readonly retryAfterMs: number | null;

  constructor(init: AvailsyncErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.kind = init.kind;
    this.code = init.code;
    this.status = init.status ?? null;
    this.requestId = init.requestId ?? null;
    this.details = init.details ?? null;
    this.body = init.body ?? null;
    this.retryAfterMs = init.retryAfterMs ?? null;
  }

  toJSON() {
    return {
      name: this.name,
      kind: this.kind,
      code: this.code,
      status: this.status,
      requestId: this.requestId,
      message: this.message,
      details: this.details,
    };
  }
}

export function isAvailsyncError(value: unknown): value is AvailsyncError {
  return value instanceof AvailsyncError;
}

/** The kind of an HTTP error answer. */
export function kindOfStatus(status: number, code: string): AvailsyncErrorKind {
  if (status === 401 || status === 403) return 'auth';
  if (status === 402 || code === 'plan_limit_reached') return 'plan_limit';
  if (status === 409) return 'conflict';
  if (status === 429) return 'rate_limit';
  // 422 covers idempotency_key_reused and pattern_too_complex (a working-set path over the caps, or a request over its overlap budget).
  if (status === 400 || status === 413 || status === 422 || code === 'pattern_too_complex') return 'validation';
  return 'api';
}

/** Replace every occurrence of `secret` in `text` (a defence in depth: nothing should contain it). */
export function redact(text: string, secret: string | undefined): string {
  if (!secret || secret.length < 8) return text;
  return text.split(secret).join('[redacted api key]');
}
