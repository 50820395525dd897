/**
 * Webhooks: GET|POST /v1/orgs/:org_id/webhooks, PATCH|DELETE …/:webhook_id,
 * GET …/:webhook_id/deliveries, POST …/:webhook_id/test. Workspace sessions only (admins: http/roles.ts);
 * an agent key is refused by the auth mode. The use cases are in services/webhooks.
 */
import {
  WebhookCreatedResponse,
  WebhookCreateRequest,
  WebhookDeletedResponse,
  WebhookDeliveryList,
  WebhookDeliveryListQuery,
  WebhookList,
  WebhookListQuery,
  WebhookPatchRequest,
  WebhookResponse,
  WebhookTestResponse,
} from '@availsync/protocol';
import { createRoute, z } from '@hono/zod-openapi';
import { page, type Router } from '../registry.js';
import { json, OrgParam, ok, ownWorkspace } from './own-workspace.js';

const WebhookParam = OrgParam.extend({ webhook_id: z.string().min(1).max(64) });

export function webhookRoutes(r: Router) {
  const { webhooks } = r.services;
  const tags = ['Webhooks'];

  r.add(
    'session',
    createRoute({
      method: 'get',
      path: '/v1/orgs/{org_id}/webhooks',
      operationId: 'listWebhooks',
      tags,
      summary: 'List the webhook endpoints, oldest first (never their secrets)',
      request: { params: OrgParam, query: WebhookListQuery },
      responses: { 200: ok(WebhookList, 'A page of endpoints') },
    }),
    async (c) => c.json(await webhooks.list(ownWorkspace(c, c.req.valid('param').org_id), page(c.req.valid('query'))), 200),
  );

  r.add(
    'session',
    createRoute({
      method: 'post',
      path: '/v1/orgs/{org_id}/webhooks',
      operationId: 'createWebhook',
      tags,
      summary: 'Add an endpoint; its signing secret is in this answer only',
      description:
        'Events committed from now on are POSTed to `url`, signed (`Availsync-Signature: t=…,v1=…`), in order, at least once. ' +
        'URLs that resolve to loopback or private addresses are refused (400) unless AVAILSYNC_WEBHOOK_ALLOW_PRIVATE=1.',
      request: { params: OrgParam, body: json(WebhookCreateRequest) },
      responses: { 201: ok(WebhookCreatedResponse, 'Created: keep `secret`, it is never shown again') },
    }),
    async (c) => c.json(await webhooks.create(ownWorkspace(c, c.req.valid('param').org_id), c.req.valid('json')), 201),
  );

  r.add(
    'session',
    createRoute({
      method: 'patch',
      path: '/v1/orgs/{org_id}/webhooks/{webhook_id}',
      operationId: 'updateWebhook',
      tags,
      summary: 'Change an endpoint, or enable or disable it',
      description: 'Enabling again retries at once, from the first event not yet delivered.',
      request: { params: WebhookParam, body: json(WebhookPatchRequest) },
      responses: { 200: ok(WebhookResponse, 'The endpoint as it is now') },
    }),
    async (c) => {
      const { org_id, webhook_id } = c.req.valid('param');
      return c.json(await webhooks.update(ownWorkspace(c, org_id), webhook_id, c.req.valid('json')), 200);
    },
  );

  r.add(
    'session',
    createRoute({
      method: 'delete',
      path: '/v1/orgs/{org_id}/webhooks/{webhook_id}',
      operationId: 'deleteWebhook',
      tags,
      summary: 'Delete an endpoint and its delivery log',
      request: { params: WebhookParam },
      responses: { 200: ok(WebhookDeletedResponse, 'Deleted') },
    }),
    async (c) => {
      const { org_id, webhook_id } = c.req.valid('param');
      return c.json(await webhooks.remove(ownWorkspace(c, org_id), webhook_id), 200);
    },
  );

  r.add(
    'session',
    createRoute({
      method: 'get',
      path: '/v1/orgs/{org_id}/webhooks/{webhook_id}/deliveries',
      operationId: 'listWebhookDeliveries',
      tags,
      summary: "An endpoint's delivery attempts, newest first",
      request: { params: WebhookParam, query: WebhookDeliveryListQuery },
      responses: { 200: ok(WebhookDeliveryList, 'A page of attempts') },
    }),
    async (c) => {
      const { org_id, webhook_id } = c.req.valid('param');
      return c.json(await webhooks.deliveries(ownWorkspace(c, org_id), webhook_id, page(c.req.valid('query'))), 200);
    },
  );

  r.add(
    'session',
    createRoute({
      method: 'post',
      path: '/v1/orgs/{org_id}/webhooks/{webhook_id}/test',
      operationId: 'testWebhook',
      tags,
      summary: 'Send a test event (`webhook.test`) to the endpoint now, and log it',
      description: 'Answers 200 with the attempt whatever the endpoint answered: `delivery.ok` says whether it took it.',
      request: { params: WebhookParam },
      responses: { 200: ok(WebhookTestResponse, 'The attempt') },
    }),
    async (c) => {
      const { org_id, webhook_id } = c.req.valid('param');
      return c.json(await webhooks.test(ownWorkspace(c, org_id), webhook_id), 200);
    },
  );
}
