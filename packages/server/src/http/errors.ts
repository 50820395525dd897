/** One error envelope, built in one place: { error, message, request_id, details? } plus named extras. */
import { ERROR_STATUS, type ErrorCode } from '@availsync/protocol';
import { redactKeys } from '../security/redact.js';

export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    /** Extra top-level fields some endpoints document (e.g. `status` on claim_not_active). */
    readonly extra?: Record<string, unknown>,
    readonly headers?: Record<string, string>,
  ) {
    // An API error is an answer, not a bug: skip the stack trace V8 would capture (it costs more than
    // the rest of a 401). Unexpected errors keep theirs.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    this.status = ERROR_STATUS[code];
  }
}

export const errors = {
  invalid: (message: string, details?: Record<string, unknown>) => new ApiError('invalid_request', message, details),
  unauthorized: (message = 'A valid credential is required') => new ApiError('unauthorized', message),
  forbidden: (message: string) => new ApiError('forbidden', message),
  notFound: (what: string) => new ApiError('not_found', `${what} not found`),
  /** 422: a working-set pattern over the caps, or a request over its overlap budget (SPEC §14). */
  patternTooComplex: (message: string, details: Record<string, unknown>) => new ApiError('pattern_too_complex', message, details),
};

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
