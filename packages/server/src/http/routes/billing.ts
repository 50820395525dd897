import { BillingStatusResponse } from '@availsync/protocol';
import { createRoute } from '@hono/zod-openapi';
import type { Router } from '../registry.js';
import { ok, sessionUser } from './own-workspace.js';

export function billingRoutes(r: Router) {
  const { plans } = r.services;
  r.add(
    'session',
    createRoute({
      method: 'get',
      path: '/v1/billing/status',
      operationId: 'getBillingStatus',
      tags: ['Plans'],
      summary: 'The plan, its limits, current usage and upgrade hints',
      responses: { 200: ok(BillingStatusResponse, 'Billing status') },
    }),
    async (c) => c.json(await plans.status(sessionUser(c)), 200),
  );
}
