import { ValueHealthQuery, ValueHealthResponse } from '@availsync/protocol';
import { createRoute } from '@hono/zod-openapi';
import type { Router } from '../registry.js';
import { ok, sessionUser } from './own-workspace.js';

export function valueRoutes(r: Router) {
  const { value } = r.services;
  r.add(
    'session',
    createRoute({
      method: 'get',
      path: '/v1/value/health',
      operationId: 'getValueHealth',
      tags: ['Activity and diagnostics'],
      summary: 'Conflicts prevented, observe-mode findings, hotspots and per-agent health',
      description:
        'Counters cover the last `days` (default 30). Agent health: healthy = online or seen in the last 24 h; idle = seen 24 h to 7 days ago; stale = longer; never_seen = no request yet.',
      request: { query: ValueHealthQuery },
      responses: { 200: ok(ValueHealthResponse, 'Value and health') },
    }),
    async (c) => c.json(await value.health(sessionUser(c), c.req.valid('query')), 200),
  );
}
