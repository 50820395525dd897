/**
 * Operations: GET /health/ready (readiness; /health stays liveness) and GET /metrics (Prometheus
 * text, off unless AVAILSYNC_METRICS_TOKEN is set, then `Authorization: Bearer <token>`). Both are `public`
 * in the route table: neither takes an account credential; /metrics checks its own token.
 */
import { ReadyResponse } from '@availsync/protocol';
import { createRoute, z } from '@hono/zod-openapi';
import { ApiError, errorBody } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { Router } from '../registry.js';

export { createMetrics } from '../metrics.js';

const tags = ['Diagnostics'];

export function opsRoutes(r: Router, opts: { metrics: Metrics | undefined }) {
  const { ops } = r.services;

  r.add(
    'public',
    createRoute({
      method: 'get',
      path: '/health/ready',
      operationId: 'ready',
      tags,
      summary: 'Readiness: the database answers, migrations are applied, the tables are visible',
      description: 'Use it for load balancers and orchestrators; `/health` is liveness. 503 lists the failing checks.',
      responses: {
        200: { description: 'Ready', content: { 'application/json': { schema: ReadyResponse } } },
        503: { description: 'Not ready', content: { 'application/json': { schema: ReadyResponse } } },
      },
    }),
    async (c) => {
      const result = await ops.ready();
      return c.json(result, result.ready ? 200 : 503, result.ready ? {} : { 'Retry-After': '1', 'Cache-Control': 'no-store' });
    },
  );

  r.add(
    'public',
    createRoute({
      method: 'get',
      path: '/metrics',
      operationId: 'metrics',
      tags,
      summary: 'Prometheus metrics (when AVAILSYNC_METRICS_TOKEN is set; Authorization: Bearer <that token>)',
      description: '404 while AVAILSYNC_METRICS_TOKEN is unset; 401 without the token.',
      responses: {
        200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: z.string() } } },
      },
    }),
    async (c) => {
      const metrics = opts.metrics;
      if (!metrics) throw new ApiError('not_found', `No route ${c.req.method} ${c.req.path}`);
      if (!metrics.authorized(c.req.header('authorization'))) {
        return c.json(
          errorBody(
            new ApiError('unauthorized', 'The metrics token is required: Authorization: Bearer <AVAILSYNC_METRICS_TOKEN>'),
            c.get('requestId'),
          ),
          401,
          {
            'WWW-Authenticate': 'Bearer realm="metrics"',
          },
        );
      }
      const { body, contentType } = await metrics.render();
      return c.body(body, 200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
    },
  );
}
