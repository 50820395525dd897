import { AuditList, AuditListQuery } from '@availsync/protocol';
import { createRoute } from '@hono/zod-openapi';
import { page, type Router } from '../registry.js';
import { ok, sessionUser } from './own-workspace.js';

export function auditRoutes(r: Router) {
  const { audit } = r.services;
  r.add(
    'session',
    createRoute({
      method: 'get',
      path: '/v1/audit',
      operationId: 'listAudit',
      tags: ['Audit'],
      summary: 'Governance events with their actor, newest first',
      description:
        'Filters: agent_id (events an agent did), actor_type, actor_id, event (claim.started, or a prefix such as claim.*), resource, claim_id, from (inclusive), to (exclusive).',
      request: { query: AuditListQuery },
      responses: { 200: ok(AuditList, 'A page of audit events') },
    }),
    async (c) => {
      const q = c.req.valid('query');
      return c.json(await audit.list(sessionUser(c), { ...q, ...page(q) }), 200);
    },
  );
}
