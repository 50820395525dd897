/**
 * Routes are registered from one list. Each carries its auth mode, which adds the authentication
 * middleware (run before request validation) and lets the shared security suite test every route.
 */

import { ErrorResponse } from '@availsync/protocol';
import type { OpenAPIHono, RouteConfig, RouteHandler } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import type { Reply } from '../services/context.js';
import type { Services } from '../services/index.js';
import type { AppEnv, AuthMode, RouteInfo } from './env.js';
import { errors } from './errors.js';
import { recordActivity } from './middleware/activity.js';
import { authenticate } from './middleware/auth.js';
import { requiredRole } from './roles.js';

export type RouteContext<R extends RouteConfig> = Parameters<RouteHandler<R, AppEnv>>[0];

export interface Router {
  services: Services;
  add<R extends RouteConfig>(auth: AuthMode, route: R, handler: (c: RouteContext<R>) => Promise<Response>, opts?: RouteOptions): void;
}

export interface RouteOptions {
  /**
   * The handler's service confirms an agent principal inside its own transaction (services/principals.ts), so
   * the key may come from this node's cache. Only for services that do: any other would act on a key row
   * it never read.
   */
  keyCache?: boolean;
}

export function createRouter(
  app: OpenAPIHono<AppEnv>,
  services: Services,
  list: RouteInfo[],
  appOpts: { secureCookies?: boolean } = {},
): Router {
  return {
    services,
    add(auth, route, handler, opts = {}) {
      const path = route.path.replace(/\{(\w+)\}/g, ':$1');
      const method = route.method.toUpperCase();
      const operationId = route.operationId ?? `${route.method} ${route.path}`;
      const role = requiredRole(operationId, method);
      const middleware: MiddlewareHandler<AppEnv>[] =
        auth === 'public' ? [] : [authenticate(auth, services, { ...opts, role, secureCookies: appOpts.secureCookies ?? false })];
      // Every agent-key request is recorded as activity (and counted toward the plan's monthly calls).
      if (auth === 'agent' || auth === 'either') middleware.push(recordActivity(services.activity.recorder, { method, path }));
      const security =
        auth === 'public'
          ? []
          : auth === 'agent'
            ? [{ agentKey: [] }]
            : auth === 'session'
              ? [{ session: [] }]
              : [{ agentKey: [] }, { session: [] }];
      app.openapi({ ...route, middleware, security, responses: { ...errorResponses, ...route.responses } }, handler as never);
      list.push({
        method,
        path,
        auth,
        operationId,
      });
    },
  };
}

const errorResponses = Object.fromEntries(
  [
    [400, 'Invalid request: `details` lists each field'],
    [401, 'Missing, malformed, unknown or rotated credentials'],
    [402, 'plan_limit_reached: `details` is { limit, current, max, plan }'],
    [403, 'Authenticated but not allowed'],
    [404, 'Unknown id, or an id of another workspace'],
    [
      422,
      'idempotency_key_reused: Idempotency-Key reused with a different request; or pattern_too_complex: a working-set path over the caps ' +
        '(512 characters, 16 wildcards: `details` is { field, path_index, limit: "length"|"wildcards", max, actual }) or a request whose ' +
        'overlap work passed its budget (`details.limit` "work")',
    ],
    [429, 'Rate limited; see Retry-After'],
    [500, 'Internal error'],
  ].map(([code, description]) => [code, { description, content: { 'application/json': { schema: ErrorResponse } } }]),
);

/** Send a service reply whose status is part of the result (marked when it is an idempotent replay). */
export function send(c: Context<AppEnv>, reply: Reply & { replayed?: boolean }, headers?: Record<string, string>): Response {
  let body = reply.body as Record<string, unknown>;
  // Error replies are stored for idempotent replay without a request id: each answer carries its own.
  if (typeof body.error === 'string') body = { ...body, request_id: c.get('requestId') };
  const replayed = reply.replayed ? { 'Idempotent-Replayed': 'true' } : undefined;
  return c.json(body, reply.status as 200, { ...reply.headers, ...replayed, ...headers });
}

/** `?limit` default 50, capped at 100; `?offset` default 0. */
export function page(q: { limit?: number | undefined; offset?: number | undefined }) {
  return { limit: Math.min(q.limit ?? 50, 100), offset: q.offset ?? 0 };
}

/** The Idempotency-Key header, or the `idempotency_key` body field; both must agree. */
export function idempotencyKey(c: Context<AppEnv>, bodyKey?: string): string | undefined {
  const header = c.req.header('idempotency-key');
  if (header !== undefined && bodyKey !== undefined && header !== bodyKey) {
    throw errors.invalid('The Idempotency-Key header and the idempotency_key field differ', { idempotency_key: 'differs from the header' });
  }
  const key = header ?? bodyKey;
  if (key !== undefined && (key.length === 0 || key.length > 255)) {
    throw errors.invalid('Idempotency keys are 1-255 characters', { idempotency_key: '1-255 characters' });
  }
  return key;
}
