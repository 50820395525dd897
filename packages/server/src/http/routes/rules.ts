import { Rules, RulesUpdateRequest } from '@availsync/protocol';
import { createRoute } from '@hono/zod-openapi';
import type { Router } from '../registry.js';
import { json, OrgParam, ok, ownWorkspace } from './own-workspace.js';

const tags = ['Rules'];

export function rulesRoutes(r: Router) {
  const { rules } = r.services;

  r.add(
    'session',
    createRoute({
      method: 'get',
      path: '/v1/orgs/{org_id}/rules',
      operationId: 'getRules',
      tags,
      summary: 'Workspace rules: default mode, claim lengths, resource dependencies',
      request: { params: OrgParam },
      responses: { 200: ok(Rules, 'The rules') },
    }),
    async (c) => c.json(await rules.get(ownWorkspace(c, c.req.valid('param').org_id)), 200),
  );

  r.add(
    'session',
    createRoute({
      method: 'put',
      path: '/v1/orgs/{org_id}/rules',
      operationId: 'updateRules',
      tags,
      summary: 'Change workspace rules (audited as rules.updated)',
      description:
        'Omitted fields keep their values; dependencies, when given, replaces the whole list. A dependency makes claims on the two resources conflict in both directions. default_claim_minutes ≤ max_claim_minutes ≤ 720; a resource may not depend on itself.',
      request: { params: OrgParam, body: json(RulesUpdateRequest) },
      responses: { 200: ok(Rules, 'The rules now in force') },
    }),
    async (c) => c.json(await rules.update(ownWorkspace(c, c.req.valid('param').org_id), c.req.valid('json')), 200),
  );
}
