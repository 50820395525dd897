import type { Principal } from '../services/context.js';

export type AuthMode = 'agent' | 'session' | 'either' | 'public';

export interface AppEnv {
  Variables: {
    requestId: string;
    principal: Principal;
    /** The raw session token, only on cookie-authenticated requests (for logout). */
    sessionToken: string | undefined;
  };
}

/** What the shared security suite needs to know about each route. */
export interface RouteInfo {
  method: string;
  /** Hono-style path, e.g. /v1/work/claims/:claim_id */
  path: string;
  auth: AuthMode;
  operationId: string;
}
