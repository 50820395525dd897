/**
 * createApp(deps): middleware order, the one error handler, the route list, /v1/openapi.json.
 */
import { HealthResponse } from '@availsync/protocol';
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { newId } from '../ids.js';
import type { Logger } from '../logger.js';
import type { Services } from '../services/index.js';
import { VERSION } from '../version.js';
import type { AppEnv, RouteInfo } from './env.js';
import { ApiError, errorBody, errorHeaders, httpStatus } from './errors.js';
import { responseHeaders } from './middleware/headers.js';
import { createRouter } from './registry.js';
import { accountSecurityRoutes } from './routes/account.js';
import { accountRoutes } from './routes/accounts.js';
import { activityRoutes } from './routes/activity.js';
import { auditRoutes } from './routes/audit.js';
import { billingRoutes } from './routes/billing.js';
import { eventRoutes } from './routes/events.js';
import { holdRoutes } from './routes/holds.js';
import { hookRoutes } from './routes/hooks.js';
import { mcpRoutes } from './routes/mcp.js';
import { memberRoutes } from './routes/members.js';
import { createMetrics, opsRoutes } from './routes/ops.js';
import { rulesRoutes } from './routes/rules.js';
import { setupRoutes } from './routes/setup.js';
import { valueRoutes } from './routes/value.js';
import { webhookRoutes } from './routes/webhooks.js';
import { workRoutes } from './routes/work.js';
import { hasDashboard, serveDashboard } from './static.js';

export const MAX_BODY_BYTES = 1024 * 1024;

export interface AppOptions {
  services: Services;
  logger: Logger;
  secureCookies: boolean;
  startedAt?: number;
  /** A dashboard build to serve at `/` (ignored when it holds no index.html). */
  dashboardDir?: string;
  /** AVAILSYNC_METRICS_TOKEN: GET /metrics is served (to this bearer token) only when set. */
  metricsToken?: string | undefined;
}

type Issue = { path: readonly PropertyKey[]; message: string; code?: string; keys?: readonly string[] };

function fieldDetails(issues: readonly Issue[]): Record<string, string> {
  // A Map, not an object literal: an unknown field may be called `__proto__`.
  const details = new Map<string, string>();
  const add = (key: string, message: string) => {
    const before = details.get(key);
    details.set(key, before ? `${before}; ${message}` : message);
  };
  for (const issue of issues) {
    const path = issue.path.map(String);
    // Schemas are strict: name each unknown field itself, not the object that holds it.
    if (issue.code === 'unrecognized_keys' && issue.keys?.length) {
      for (const k of issue.keys) add([...path, k].join('.'), 'unknown field');
    } else add(path.join('.') || 'body', issue.message);
  }
  return Object.fromEntries(details);
}

/**
 * Where (as a `details` key) validated input holds a NUL character, or undefined. PostgreSQL text cannot
 * store U+0000, so no request may carry one: refused here, the same on every store, rather than failing in
 * the database as a 500. Iterative, so deeply nested input cannot overflow the stack.
 */
function nulField(value: unknown): string | undefined {
  const stack: [unknown, string][] = [[value, '']];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [v, path] = next;
    const at = (k: string | number) => (path ? `${path}.${k}` : String(k));
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return path || 'body';
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], at(i)]);
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v).reverse()) {
        if (k.includes('\u0000')) return at(k);
        stack.push([x, at(k)]);
      }
    }
  }
  return undefined;
}

export function createApp(opts: AppOptions) {
  const { services, logger } = opts;
  const startedAt = opts.startedAt ?? Date.now();
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      const what = result.target === 'json' ? 'request body' : result.target;
      if (!result.success) throw new ApiError('invalid_request', `Invalid ${what}`, fieldDetails(result.error.issues));
      const nul = nulField(result.data);
      if (nul !== undefined) {
        throw new ApiError('invalid_request', `Invalid ${what}: text may not contain NUL (U+0000) characters`, {
          [nul]: 'contains a NUL character',
        });
      }
    },
  });

  // Metrics first, so every request is counted (routes: filled below, read at request time).
  const metrics = opts.metricsToken ? createMetrics({ token: opts.metricsToken, services, routes: () => routes }) : undefined;
  if (metrics) app.use('*', metrics.middleware);

  app.use('*', async (c, next) => {
    const id = newId('request');
    c.set('requestId', id);
    c.header('X-Request-Id', id);
    const t0 = performance.now();
    await next();
    logger.debug('request', {
      request_id: id,
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round(performance.now() - t0),
    });
  });
  app.use('*', responseHeaders({ https: opts.secureCookies }));
  const limitBody = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new ApiError('payload_too_large', `Request bodies are limited to ${MAX_BODY_BYTES} bytes`);
    },
  });
  // Looking at `c.req.raw.body` makes the Node adapter build a full web Request and stream the body
  // through it, which costs more than the rest of a small request. So: no check on GET/HEAD, and a
  // declared Content-Length (Node's parser holds the body to it) is judged from the header alone, which
  // leaves the adapter's direct read of the body for the validator. Chunked bodies are counted as read.
  app.use('/v1/*', (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    const length = c.req.header('content-length');
    if (length !== undefined && c.req.header('transfer-encoding') === undefined && /^\d+$/.test(length)) {
      if (Number(length) > MAX_BODY_BYTES) {
        throw new ApiError('payload_too_large', `Request bodies are limited to ${MAX_BODY_BYTES} bytes`);
      }
      return next();
    }
    return limitBody(c, next);
  });

  const onError = (err: Error, c: Context<AppEnv>) => {
    const requestId = c.get('requestId') ?? newId('request');
    let apiErr: ApiError;
    if (err instanceof ApiError) apiErr = err;
    else if (err instanceof HTTPException && err.status < 500) {
      // Hono's own 4xx: malformed JSON in the body, an unreadable request.
      apiErr = new ApiError(
        err.status === 413 ? 'payload_too_large' : 'invalid_request',
        err.message || 'Malformed request',
        err.status === 413 ? undefined : { body: err.message },
      );
    } else if (services.ops.isUnavailable(err)) {
      logger.warn('database unavailable', { request_id: requestId, error: err.message });
      apiErr = new ApiError('service_unavailable', 'The database is unavailable; retry shortly', undefined, undefined, 1);
    } else {
      logger.error('unhandled error', { request_id: requestId, error: err.message, stack: err.stack });
      apiErr = new ApiError('internal_error', 'Something went wrong on our side. Quote the request id if you contact support.');
    }
    return c.json(errorBody(apiErr, requestId), httpStatus(apiErr) as 400, errorHeaders(apiErr));
  };
  app.onError(onError);
  app.notFound((c) => c.json(errorBody(new ApiError('not_found', `No route ${c.req.method} ${c.req.path}`), c.get('requestId')), 404));

  const routes: RouteInfo[] = [];
  const router = createRouter(app, services, routes, { secureCookies: opts.secureCookies });

  router.add(
    'public',
    createRoute({
      method: 'get',
      path: '/health',
      operationId: 'health',
      tags: ['Diagnostics'],
      summary: 'Liveness and database reachability',
      responses: {
        200: { description: 'Healthy', content: { 'application/json': { schema: HealthResponse } } },
        503: { description: 'Database unreachable' },
      },
    }),
    async (c) => {
      const database = await services.ops.health();
      const { ok } = database;
      return c.json(
        {
          status: ok ? 'ok' : 'degraded',
          database,
          version: VERSION,
          uptime_s: Math.round((Date.now() - startedAt) / 1000),
        },
        ok ? 200 : 503,
      );
    },
  );
  opsRoutes(router, { metrics });
  accountRoutes(router, { secureCookies: opts.secureCookies });
  accountSecurityRoutes(router, { secureCookies: opts.secureCookies });
  memberRoutes(router, { secureCookies: opts.secureCookies });
  workRoutes(router);
  holdRoutes(router);
  eventRoutes(router);
  hookRoutes(router);
  rulesRoutes(router);
  billingRoutes(router);
  activityRoutes(router);
  auditRoutes(router);
  valueRoutes(router);
  setupRoutes(router);
  webhookRoutes(router);
  mcpRoutes(app, { services, logger, routes, maxBodyBytes: MAX_BODY_BYTES });
  if (hasDashboard(opts.dashboardDir)) serveDashboard(app, opts.dashboardDir);

  app.openAPIRegistry.registerComponent('securitySchemes', 'agentKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'Agent API key: avs_live_...',
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'session', {
    type: 'apiKey',
    in: 'cookie',
    name: 'availsync_session',
    description:
      'The dashboard session. Each route needs a role in the workspace (owner, admin, member, viewer): the one its path names, ' +
      'else the one the X-Availsync-Workspace header names, else the workspace the session signed in to. State-changing calls ' +
      'send X-CSRF-Token (from GET /v1/session).',
  });
  app.doc31('/v1/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Availsync API',
      version: VERSION,
      description: 'The pre-flight coordination layer AI coding agents, cron jobs and automations check before they act.',
    },
  });

  return { app, routes };
}
