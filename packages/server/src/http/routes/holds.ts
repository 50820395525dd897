import {
  AvailabilityQuery,
  AvailabilityResponse,
  ConflictsCheckRequest,
  ConflictsCheckResponse,
  HoldConfirmResponse,
  HoldConflictResponse,
  HoldCreateRequest,
  HoldList,
  HoldListQuery,
  HoldReleaseResponse,
  HoldResponse,
} from '@availsync/protocol';
import { createRoute, z } from '@hono/zod-openapi';
import { idempotencyKey, page, type Router, send } from '../registry.js';
import { holdConfirmReply, holdCreatedReply } from '../replies.js';

const json = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } }, required: true });
const ok = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const HoldIdParam = z.object({ hold_id: z.string().min(1).max(64) });
const tags = ['Availability holds'];

export function holdRoutes(r: Router) {
  const { holds } = r.services;

  r.add(
    'either',
    createRoute({
      method: 'post',
      path: '/v1/holds',
      operationId: 'createHold',
      tags,
      summary: 'Hold a future time window on a resource',
      description:
        'Reserves [start_at, end_at) on the resource. Two active holds on one resource never overlap: an overlap is 409 hold_conflict with the conflicting holds and next_free_slot. With ttl_minutes the hold is tentative and lapses unless confirmed. Supports Idempotency-Key.',
      request: { body: json(HoldCreateRequest) },
      responses: {
        201: ok(HoldResponse, 'Held'),
        409: ok(HoldConflictResponse, 'The window overlaps an active hold'),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const key = idempotencyKey(c, body.idempotency_key);
      const reply = await holds.create(c.get('principal'), { ...body, idempotency_key: key }, holdCreatedReply);
      return send(c, reply);
    },
  );

  r.add(
    'either',
    createRoute({
      method: 'get',
      path: '/v1/holds',
      operationId: 'listHolds',
      tags,
      summary: 'List holds',
      description:
        'Every hold of the workspace (an agent key sees the other agents’ holds too, to plan around them), ordered by start_at. from/to keep holds whose window meets [from, to).',
      request: { query: HoldListQuery },
      responses: { 200: ok(HoldList, 'A page of holds') },
    }),
    async (c) => {
      const q = c.req.valid('query');
      return c.json(await holds.list(c.get('principal'), { ...q, ...page(q) }), 200);
    },
  );

  r.add(
    'either',
    createRoute({
      method: 'get',
      path: '/v1/holds/{hold_id}',
      operationId: 'getHold',
      tags,
      summary: 'Fetch one hold',
      request: { params: HoldIdParam },
      responses: { 200: ok(HoldResponse, 'The hold') },
    }),
    async (c) => c.json({ hold: await holds.get(c.get('principal'), c.req.valid('param').hold_id) }, 200),
  );

  r.add(
    'either',
    createRoute({
      method: 'delete',
      path: '/v1/holds/{hold_id}',
      operationId: 'releaseHold',
      tags,
      summary: 'Release a hold (idempotent)',
      description:
        'Only the agent that holds it, or a workspace user, may release it. A hold already released or lapsed is already_released.',
      request: { params: HoldIdParam },
      responses: { 200: ok(HoldReleaseResponse, 'released or already_released') },
    }),
    async (c) => c.json(await holds.release(c.get('principal'), c.req.valid('param').hold_id), 200),
  );

  r.add(
    'either',
    createRoute({
      method: 'post',
      path: '/v1/holds/{hold_id}/confirm',
      operationId: 'confirmHold',
      tags,
      summary: 'Confirm a tentative hold',
      description: 'Clears the hold’s TTL so it no longer lapses. A hold that has lapsed or was released is 409 conflict with its status.',
      request: { params: HoldIdParam },
      responses: {
        200: ok(HoldConfirmResponse, 'confirmed or already_confirmed'),
        409: ok(z.object({ error: z.literal('conflict'), status: z.string() }).passthrough(), 'The hold is no longer active'),
      },
    }),
    async (c) => send(c, holdConfirmReply(await holds.confirm(c.get('principal'), c.req.valid('param').hold_id))),
  );

  r.add(
    'either',
    createRoute({
      method: 'get',
      path: '/v1/availability',
      operationId: 'getAvailability',
      tags,
      summary: 'Busy and free windows of a resource',
      description:
        'Busy windows (active holds overlapping [from, to)), the free gaps within [from, to), and with duration_minutes the first free slot of that length. from defaults to now, to to from + 7 days; at most 31 days.',
      request: { query: AvailabilityQuery },
      responses: { 200: ok(AvailabilityResponse, 'Availability') },
    }),
    async (c) => c.json(await holds.availability(c.get('principal'), c.req.valid('query')), 200),
  );

  r.add(
    'either',
    createRoute({
      method: 'post',
      path: '/v1/conflicts/check',
      operationId: 'checkConflicts',
      tags,
      summary: 'Preview whether a window is free',
      description: 'What POST /v1/holds would decide, without creating anything: the conflicting holds and next_free_slot.',
      request: { body: json(ConflictsCheckRequest) },
      responses: { 200: ok(ConflictsCheckResponse, 'The preview') },
    }),
    async (c) => c.json(await holds.checkConflicts(c.get('principal'), c.req.valid('json')), 200),
  );
}
