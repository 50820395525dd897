import {
  ActivityList,
  ActivityListQuery,
  HeartbeatRequest,
  HeartbeatResponse,
  UsageReportRequest,
  UsageReportResponse,
} from '@availsync/protocol';
import { createRoute } from '@hono/zod-openapi';
import { idempotencyKey, page, type Router, send } from '../registry.js';
import { usageReply } from '../replies.js';
import { json, ok, sessionUser } from './own-workspace.js';

const tags = ['Activity and diagnostics'];

export function activityRoutes(r: Router) {
  const { activity, presence } = r.services;

  r.add(
    'session',
    createRoute({
      method: 'get',
      path: '/v1/activity',
      operationId: 'listActivity',
      tags,
      summary: 'Agent API traffic, newest first',
      description:
        'One row per agent-key request. status is ok (< 400), error (≥ 400) or one status code; from is inclusive, to exclusive.',
      request: { query: ActivityListQuery },
      responses: { 200: ok(ActivityList, 'A page of activity') },
    }),
    async (c) => {
      const q = c.req.valid('query');
      return c.json(await activity.list(sessionUser(c), { ...q, ...page(q) }), 200);
    },
  );

  r.add(
    'agent',
    createRoute({
      method: 'post',
      path: '/v1/activity/usage',
      operationId: 'reportUsage',
      tags,
      summary: 'Report model usage (tokens, cost) for a run',
      request: { body: json(UsageReportRequest) },
      responses: { 201: ok(UsageReportResponse, 'Recorded') },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const reply = await activity.reportUsage(c.get('principal'), body, idempotencyKey(c, body.idempotency_key), usageReply);
      return send(c, reply);
    },
  );

  r.add(
    'agent',
    createRoute({
      method: 'post',
      path: '/v1/mcp/heartbeat',
      operationId: 'mcpHeartbeat',
      tags,
      summary: 'An MCP client is alive: the agent reads as online for 2 minutes',
      request: { body: { ...json(HeartbeatRequest), required: false } },
      responses: { 200: ok(HeartbeatResponse, 'Recorded') },
    }),
    async (c) => c.json(await presence.heartbeat(c.get('principal')), 200),
  );
}
