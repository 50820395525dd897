import {
  AgentCreateRequest,
  AgentList,
  AgentPatchRequest,
  AgentResponse,
  AgentWithKeyResponse,
  LoginRequest,
  SessionResponse,
  SignupRequest,
} from '@availsync/protocol';
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { SESSION_TTL_MS, sessionView } from '../../services/accounts.js';
import type { Principal } from '../../services/context.js';
import { workspacesOf } from '../../services/memberships.js';
import { NO_PROXY, requestAddress } from '../client-address.js';
import type { AppEnv } from '../env.js';
import { errors } from '../errors.js';
import { sessionCookieName } from '../middleware/auth.js';
import { idempotencyKey, page, type Router, send } from '../registry.js';
import { agentCreatedReply } from '../replies.js';

const json = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } }, required: true });
const ok = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const OrgParam = z.object({ org_id: z.string().min(1).max(64) });
const AgentParam = OrgParam.extend({ agent_id: z.string().min(1).max(64) });

/** A workspace route's :org_id must be the caller's own workspace; anything else reads as not found. */
function ownWorkspace(c: Context<AppEnv>, orgId: string): Principal & { kind: 'user' } {
  const p = c.get('principal');
  if (p.kind !== 'user' || p.org.id !== orgId) throw errors.notFound('Workspace');
  return p;
}

export function accountRoutes(r: Router, opts: { secureCookies: boolean }) {
  const { accounts, agents } = r.services;
  const trust = accounts.trustProxy ?? NO_PROXY;
  const clientIp = (c: Context<AppEnv>) => requestAddress(c, trust);
  const client = (c: Context<AppEnv>) => ({ userAgent: c.req.header('user-agent') });
  // Over https the cookie is `__Host-` prefixed: Secure, Path=/, no Domain, so no subdomain can plant one.
  const cookieName = sessionCookieName(opts.secureCookies);
  const startSession = (c: Context<AppEnv>, token: string) =>
    setCookie(c, cookieName, token, {
      httpOnly: true,
      sameSite: 'Lax',
      path: '/',
      secure: opts.secureCookies,
      maxAge: Math.floor(SESSION_TTL_MS / 1000),
    });
  const authTags = ['Workspace auth'];
  const agentTags = ['Agents'];

  r.add(
    'public',
    createRoute({
      method: 'post',
      path: '/v1/auth/signup',
      operationId: 'signup',
      tags: authTags,
      summary: 'Create a workspace and its owner, and sign in',
      request: { body: json(SignupRequest) },
      responses: { 201: ok(SessionResponse, 'Signed up and signed in'), 409: ok(z.object({ error: z.string() }), 'Email taken') },
    }),
    async (c) => {
      const { token, view } = await accounts.signup(c.req.valid('json'), clientIp(c), client(c));
      startSession(c, token);
      return c.json(view, 201);
    },
  );

  r.add(
    'public',
    createRoute({
      method: 'post',
      path: '/v1/auth/login',
      operationId: 'login',
      tags: authTags,
      summary: 'Sign in with email and password',
      request: { body: json(LoginRequest) },
      responses: { 200: ok(SessionResponse, 'Signed in') },
    }),
    async (c) => {
      const { token, view } = await accounts.login(c.req.valid('json'), clientIp(c), client(c));
      startSession(c, token);
      return c.json(view, 200);
    },
  );

  r.add(
    'session',
    createRoute({
      method: 'post',
      path: '/v1/auth/logout',
      operationId: 'logout',
      tags: authTags,
      summary: 'Sign out',
      responses: { 200: ok(z.object({ ok: z.literal(true) }), 'Signed out') },
    }),
    async (c) => {
      const p = c.get('principal');
      if (p.kind === 'user') await accounts.logout(p.sessionHash, p.org.id, p.userId);
      deleteCookie(c, cookieName, { path: '/', secure: opts.secureCookies });
      return c.json({ ok: true as const }, 200);
    },
  );

  r.add(
    'session',
    createRoute({
      method: 'get',
      path: '/v1/session',
      operationId: 'getSession',
      tags: authTags,
      summary: 'The signed-in user, workspace and CSRF token',
      responses: { 200: ok(SessionResponse, 'The session') },
    }),
    async (c) => {
      const p = c.get('principal');
      const token = c.get('sessionToken') ?? '';
      const session = p.kind === 'user' ? await accounts.resolveSession(token, p.org.id) : null;
      if (p.kind !== 'user' || !session?.membership) throw errors.unauthorized('Your session has expired. Sign in again.');
      const workspaces = await workspacesOf(r.services.deps.store.db, session.user.id);
      return c.json(sessionView(session.user, session.membership.org, p.role, workspaces, token), 200);
    },
  );

  // The dashboard's first question on load. GET /v1/session answers 401 when signed out (its documented
  // answer for API clients), and a browser logs every 401 as a failed resource: this one is always 200.
  r.add(
    'public',
    createRoute({
      method: 'get',
      path: '/v1/auth/status',
      operationId: 'getSessionStatus',
      tags: authTags,
      summary: 'Whether the request carries a live session (always 200; then GET /v1/session for the rest)',
      responses: { 200: ok(z.object({ signed_in: z.boolean() }), 'Signed in or not') },
    }),
    async (c) => {
      const token = getCookie(c, cookieName);
      const session = token ? await accounts.resolveSession(token, undefined) : null;
      return c.json({ signed_in: !!session?.membership }, 200);
    },
  );

  r.add(
    'agent',
    createRoute({
      method: 'get',
      path: '/v1/agent',
      operationId: 'getOwnAgent',
      tags: agentTags,
      summary: "The calling agent's profile and effective mode",
      responses: { 200: ok(AgentResponse, 'The agent') },
    }),
    async (c) => {
      const p = c.get('principal');
      if (p.kind !== 'agent') throw errors.forbidden('Agent key required');
      return c.json({ agent: agents.self(p) }, 200);
    },
  );

  r.add(
    'session',
    createRoute({
      method: 'get',
      path: '/v1/orgs/{org_id}/agents',
      operationId: 'listAgents',
      tags: agentTags,
      summary: 'List agents',
      request: {
        params: OrgParam,
        query: z.object({ limit: z.coerce.number().int().min(1).optional(), offset: z.coerce.number().int().min(0).optional() }),
      },
      responses: { 200: ok(AgentList, 'A page of agents') },
    }),
    async (c) => c.json(await agents.list(ownWorkspace(c, c.req.valid('param').org_id), page(c.req.valid('query'))), 200),
  );

  r.add(
    'session',
    createRoute({
      method: 'post',
      path: '/v1/orgs/{org_id}/agents',
      operationId: 'createAgent',
      tags: agentTags,
      summary: 'Create an agent; its API key is returned once',
      request: { params: OrgParam, body: json(AgentCreateRequest) },
      responses: { 201: ok(AgentWithKeyResponse, 'Created; store api_key now, it is never shown again') },
    }),
    async (c) => {
      const p = ownWorkspace(c, c.req.valid('param').org_id);
      const { idempotency_key, ...fields } = c.req.valid('json');
      return send(c, await agents.create(p, fields, idempotencyKey(c, idempotency_key), agentCreatedReply));
    },
  );

  r.add(
    'session',
    createRoute({
      method: 'get',
      path: '/v1/orgs/{org_id}/agents/{agent_id}',
      operationId: 'getAgent',
      tags: agentTags,
      summary: 'Get an agent',
      request: { params: AgentParam },
      responses: { 200: ok(AgentResponse, 'The agent') },
    }),
    async (c) => {
      const { org_id, agent_id } = c.req.valid('param');
      return c.json({ agent: await agents.get(ownWorkspace(c, org_id), agent_id) }, 200);
    },
  );

  r.add(
    'session',
    createRoute({
      method: 'patch',
      path: '/v1/orgs/{org_id}/agents/{agent_id}',
      operationId: 'updateAgent',
      tags: agentTags,
      summary: 'Change name, type, priority or mode',
      request: { params: AgentParam, body: json(AgentPatchRequest) },
      responses: { 200: ok(AgentResponse, 'The agent') },
    }),
    async (c) => {
      const { org_id, agent_id } = c.req.valid('param');
      return c.json({ agent: await agents.update(ownWorkspace(c, org_id), agent_id, c.req.valid('json')) }, 200);
    },
  );

  r.add(
    'session',
    createRoute({
      method: 'delete',
      path: '/v1/orgs/{org_id}/agents/{agent_id}',
      operationId: 'deleteAgent',
      tags: agentTags,
      summary: 'Delete an agent: its key stops working and its active claims are released',
      request: { params: AgentParam },
      responses: { 200: ok(z.object({ deleted: z.literal(true), agent: AgentResponse.shape.agent }), 'Deleted') },
    }),
    async (c) => {
      const { org_id, agent_id } = c.req.valid('param');
      return c.json(await agents.remove(ownWorkspace(c, org_id), agent_id), 200);
    },
  );

  r.add(
    'session',
    createRoute({
      method: 'post',
      path: '/v1/orgs/{org_id}/agents/{agent_id}/rotate-key',
      operationId: 'rotateAgentKey',
      tags: agentTags,
      summary: 'Issue a new key; the previous key stops working at once',
      request: { params: AgentParam },
      responses: { 200: ok(AgentWithKeyResponse, 'Rotated; store api_key now, it is never shown again') },
    }),
    async (c) => {
      const { org_id, agent_id } = c.req.valid('param');
      return c.json(await agents.rotateKey(ownWorkspace(c, org_id), agent_id), 200);
    },
  );
}
