/** The one error vocabulary shared by the server and every client. */
export const ERROR_STATUS = {
  invalid_request: 400,
  unauthorized: 401,
  plan_limit_reached: 402,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  claim_not_active: 409,
  hold_conflict: 409,
  payload_too_large: 413,
  idempotency_key_reused: 422,
  pattern_too_complex: 422,
  rate_limited: 429,
  internal_error: 500,
  service_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorBody {
  error: ErrorCode;
  message: string;
  request_id: string;
  details?: Record<string, unknown>;
  [extra: string]: unknown;
}

export const ID_PREFIX = {
  claim: 'clm',
  agent: 'agt',
  hold: 'hld',
  org: 'org',
  user: 'usr',
  request: 'req',
  file: 'fcl',
  audit: 'aud',
  activity: 'act',
  usage: 'usg',
  invite: 'inv',
  session: 'ses',
  waiter: 'qwt',
  webhook: 'whk',
  delivery: 'whd',
} as const;
