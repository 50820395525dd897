/**
 * The errors services raise, in the API's vocabulary (the error codes of @availsync/protocol) but with no
 * HTTP in them: no status code, no header. The HTTP layer maps a code to its status and builds the one
 * envelope (http/errors.ts); the MCP tools and the hooks read the same code.
 */
import type { ErrorCode } from '@availsync/protocol';

export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    /** Extra top-level fields some answers document (e.g. `status` on claim_not_active). */
    readonly extra?: Record<string, unknown>,
    /** When the caller may try again, in seconds (rate limits, an unavailable database). */
    readonly retryAfterS?: number,
  ) {
    // An API error is an answer, not a bug: skip the stack trace V8 would capture (it costs more than
    // the rest of a 401). Unexpected errors keep theirs.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
  }
}

export const errors = {
  invalid: (message: string, details?: Record<string, unknown>) => new ApiError('invalid_request', message, details),
  unauthorized: (message = 'A valid credential is required') => new ApiError('unauthorized', message),
  forbidden: (message: string) => new ApiError('forbidden', message),
  notFound: (what: string) => new ApiError('not_found', `${what} not found`),
  conflict: (message: string, details?: Record<string, unknown>) => new ApiError('conflict', message, details),
  /** 422: a working-set pattern over the caps, or a request over its overlap budget (docs/limits). */
  patternTooComplex: (message: string, details: Record<string, unknown>) => new ApiError('pattern_too_complex', message, details),
};
