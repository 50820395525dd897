import {
  CheckResponse,
  ClaimExtendRequest,
  ClaimList,
  ClaimListQuery,
  ClaimResponse,
  ReleaseResponse,
  ResourceList,
  RunExtendRequest,
  RunExtendResponse,
  RunFinishRequest,
  RunFinishResponse,
  RunStartRequest,
  RunStartResponse,
  WorkingSetRequest,
  WorkingSetResult,
} from '@availsync/protocol';
import { createRoute, z } from '@hono/zod-openapi';
import { idempotencyKey, page, type RouteOptions, type Router, send } from '../registry.js';
import { extendReply, legacyClaimReply, startReply, workingSetReply } from '../replies.js';

const json = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } }, required: true });
const ok = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const ClaimIdParam = z.object({ claim_id: z.string().min(1).max(64) });
const tags = ['Work coordination'];

export const LEGACY_SUNSET = 'Sat, 01 May 2027 00:00:00 GMT';

/** Start, extend, finish and working-set updates confirm the caller's key inside their transaction (services/principals.ts). */
const confirmsKey: RouteOptions = { keyCache: true };

export function workRoutes(r: Router) {
  const { work } = r.services;

  r.add(
    'either',
    createRoute({
      method: 'post',
      path: '/v1/work/run/start',
      operationId: 'startRun',
      tags,
      summary: 'Start a guarded run',
      description:
        'Claims the resource for this agent (proceed, with a fencing token), or answers skip_run with the blocking claim and retry_after. In observe mode it proceeds without a lease and reports the shadow decision.',
      request: { body: json(RunStartRequest) },
      responses: { 200: ok(RunStartResponse, 'proceed, skip_run, or observe-mode proceed') },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const key = idempotencyKey(c, body.idempotency_key);
      const reply = await work.start(c.get('principal'), { ...body, idempotency_key: key, signal: c.req.raw.signal }, startReply);
      return send(c, reply);
    },
    confirmsKey,
  );

  r.add(
    'either',
    createRoute({
      method: 'post',
      path: '/v1/work/run/extend',
      operationId: 'extendRun',
      tags,
      summary: 'Extend an active run',
      description: 'New expires_at = now + duration (not additive). An ended lease is 409 claim_not_active and is never revived.',
      request: { body: json(RunExtendRequest) },
      responses: {
        200: ok(RunExtendResponse, 'extended'),
        409: ok(z.object({ error: z.literal('claim_not_active'), status: z.string() }), 'The claim is no longer active'),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      return send(c, extendReply(await work.extend(c.get('principal'), body.claim_id, body)));
    },
    confirmsKey,
  );

  r.add(
    'either',
    createRoute({
      method: 'post',
      path: '/v1/work/run/finish',
      operationId: 'finishRun',
      tags,
      summary: 'Finish a run',
      description: 'Releases the claim and its working set. Safe to call any number of times: already_finished is success.',
      request: { body: json(RunFinishRequest) },
      responses: { 200: ok(RunFinishResponse, 'finished or already_finished') },
    }),
    async (c) => {
      const body = c.req.valid('json');
      return c.json(await work.finish(c.get('principal'), body.claim_id, body), 200);
    },
    confirmsKey,
  );

  r.add(
    'either',
    createRoute({
      method: 'post',
      path: '/v1/work/run/working-set',
      operationId: 'updateWorkingSet',
      tags,
      summary: 'Declare the files this run is touching',
      description:
        'Returns updated, partial_proceed, or 409 blocked when no requested edit/delete path was claimable. Each path has at most 512 ' +
        'characters and 16 wildcards (*, ?, **, [...] and a trailing / each count), else 422 pattern_too_complex; so does a request ' +
        'whose overlap decisions pass its work budget. blocking, blocked_paths and claimed_paths list at most 100 entries, with ' +
        '<list>_count and <list>_truncated beside them; working_set lists up to 500.',
      request: { body: json(WorkingSetRequest) },
      responses: { 200: ok(WorkingSetResult, 'updated or partial_proceed'), 409: ok(WorkingSetResult, 'blocked, or claim_not_active') },
    }),
    async (c) => {
      const body = c.req.valid('json');
      return send(c, workingSetReply(await work.updateWorkingSet(c.get('principal'), body.claim_id, body)));
    },
    confirmsKey,
  );

  r.add(
    'either',
    createRoute({
      method: 'post',
      path: '/v1/work/check',
      operationId: 'checkWork',
      tags,
      summary: 'Preview whether a resource is available',
      description: 'The start decision without mutating anything.',
      request: { body: json(RunStartRequest) },
      responses: { 200: ok(CheckResponse, 'The decision') },
    }),
    async (c) => c.json(await work.check(c.get('principal'), c.req.valid('json')), 200),
  );

  r.add(
    'either',
    createRoute({
      method: 'post',
      path: '/v1/work/claim',
      operationId: 'legacyClaim',
      tags,
      deprecated: true,
      summary: 'Legacy claim (use /v1/work/run/start)',
      description: 'Same decision as run/start; 201 { claim } or 409 conflict. Sends Deprecation, Sunset and Link headers.',
      request: { body: json(RunStartRequest) },
      responses: {
        201: ok(ClaimResponse, 'Claimed'),
        409: ok(z.object({ error: z.literal('conflict') }).passthrough(), 'Held by another claim'),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const key = idempotencyKey(c, body.idempotency_key);
      const deprecation = { Deprecation: 'true', Sunset: LEGACY_SUNSET, Link: '</v1/work/run/start>; rel="successor-version"' };
      const reply = await work.start(
        c.get('principal'),
        { ...body, idempotency_key: key, signal: c.req.raw.signal },
        legacyClaimReply,
        'work/claim',
      );
      return send(c, reply, deprecation);
    },
    confirmsKey,
  );

  r.add(
    'either',
    createRoute({
      method: 'get',
      path: '/v1/work/claims/{claim_id}',
      operationId: 'getClaim',
      tags,
      summary: 'Fetch one claim',
      description: 'Any claim of the workspace: an agent may poll a claim that blocked it.',
      request: { params: ClaimIdParam },
      responses: { 200: ok(ClaimResponse, 'The claim') },
    }),
    async (c) => c.json({ claim: await work.get(c.get('principal'), c.req.valid('param').claim_id) }, 200),
  );

  r.add(
    'either',
    createRoute({
      method: 'post',
      path: '/v1/work/claims/{claim_id}/extend',
      operationId: 'extendClaim',
      tags,
      summary: 'Extend a specific claim',
      request: { params: ClaimIdParam, body: json(ClaimExtendRequest) },
      responses: {
        200: ok(RunExtendResponse, 'extended'),
        409: ok(z.object({ error: z.literal('claim_not_active') }).passthrough(), 'Not active'),
      },
    }),
    async (c) => send(c, extendReply(await work.extend(c.get('principal'), c.req.valid('param').claim_id, c.req.valid('json')))),
    confirmsKey,
  );

  r.add(
    'either',
    createRoute({
      method: 'delete',
      path: '/v1/work/claims/{claim_id}',
      operationId: 'releaseClaim',
      tags,
      summary: 'Release a specific claim (idempotent)',
      request: { params: ClaimIdParam },
      responses: { 200: ok(ReleaseResponse, 'released or already_released') },
    }),
    async (c) => c.json(await work.release(c.get('principal'), c.req.valid('param').claim_id), 200),
    confirmsKey,
  );

  r.add(
    'either',
    createRoute({
      method: 'get',
      path: '/v1/work/claims',
      operationId: 'listClaims',
      tags,
      summary: 'List claims',
      description: 'Newest first. An agent key lists only its own claims. Active claims include their working set.',
      request: { query: ClaimListQuery },
      responses: { 200: ok(ClaimList, 'A page of claims') },
    }),
    async (c) => {
      const q = c.req.valid('query');
      return c.json(await work.list(c.get('principal'), { ...q, ...page(q) }), 200);
    },
  );

  r.add(
    'either',
    createRoute({
      method: 'get',
      path: '/v1/work/resources',
      operationId: 'listResources',
      tags,
      summary: 'List protected resources',
      request: { query: z.object({ limit: ClaimListQuery.shape.limit, offset: ClaimListQuery.shape.offset }) },
      responses: { 200: ok(ResourceList, 'A page of resources') },
    }),
    async (c) => c.json(await work.resources(c.get('principal'), page(c.req.valid('query'))), 200),
  );
}
