import { SetupTestResponse, TestConnectionResponse } from '@availsync/protocol';
import { createRoute } from '@hono/zod-openapi';
import type { Router } from '../registry.js';
import { AgentParam, ok, ownWorkspace } from './own-workspace.js';

const tags = ['Agents'];

export function setupRoutes(r: Router) {
  const { setup } = r.services;

  r.add(
    'session',
    createRoute({
      method: 'post',
      path: '/v1/orgs/{org_id}/agents/{agent_id}/test-connection',
      operationId: 'testAgentConnection',
      tags,
      summary: "Read-only readiness of an agent's connection",
      description: 'Checks: agent exists, key issued, seen recently, effective mode, plan capacity. Changes nothing.',
      request: { params: AgentParam },
      responses: { 200: ok(TestConnectionResponse, 'Readiness') },
    }),
    async (c) => {
      const { org_id, agent_id } = c.req.valid('param');
      return c.json(await setup.testConnection(ownWorkspace(c, org_id), agent_id), 200);
    },
  );

  r.add(
    'session',
    createRoute({
      method: 'post',
      path: '/v1/orgs/{org_id}/agents/{agent_id}/setup-test',
      operationId: 'runAgentSetupTest',
      tags,
      summary: 'Run start → working-set → extend → finish as the agent on project:availsync-setup-test',
      description:
        'Runs the real work flow as the agent, without its key; each step is recorded as setup_test activity. The claim is always finished.',
      request: { params: AgentParam },
      responses: { 200: ok(SetupTestResponse, 'Each step and its result') },
    }),
    async (c) => {
      const { org_id, agent_id } = c.req.valid('param');
      return c.json(await setup.setupTest(ownWorkspace(c, org_id), agent_id, c.get('requestId')), 200);
    },
  );
}
