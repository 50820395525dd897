/** One error envelope, built in one place: { error, message, request_id, details? } plus named extras. */
import { ERROR_STATUS } from '@availsync/protocol';
import { ApiError } from '../errors.js';
import { redactKeys } from '../security/redact.js';

export { ApiError, errors } from '../errors.js';

/** An error only the HTTP layer raises, with headers of its own (e.g. the MCP route's WWW-Authenticate). */
export class HttpError extends ApiError {
  constructor(
    from: ApiError,
    readonly headers: Record<string, string>,
  ) {
    super(from.code, from.message, from.details, from.extra, from.retryAfterS);
  }
}

export function httpStatus(err: ApiError): number {
  return ERROR_STATUS[err.code];
}

export function errorHeaders(err: ApiError): Record<string, string> | undefined {
  const retry = err.retryAfterS === undefined ? undefined : { 'Retry-After': String(err.retryAfterS) };
  if (err instanceof HttpError) return { ...retry, ...err.headers };
  return retry;
}

export function errorBody(err: ApiError, requestId: string): Record<string, unknown> {
  return {
    error: err.code,
    // A key pasted into a URL path would otherwise come back in "No route GET /v1/avs_live_...".
    message: redactKeys(err.message),
    request_id: requestId,
    ...(err.details ? { details: err.details } : {}),
    ...err.extra,
  };
}
