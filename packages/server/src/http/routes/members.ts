/**
 * Members and invites: GET|PATCH|DELETE /v1/orgs/:org_id/members[/:user_id],
 * GET|POST /v1/orgs/:org_id/invites, DELETE …/invites/:invite_id, and POST /v1/invites/accept (public: a
 * new user has no session yet; a signed-in one is recognised by the cookie and must send the CSRF token).
 * Who may do what is in http/roles.ts and, where it depends on the target, in the services.
 */
import {
  InviteAcceptRequest,
  InviteCreatedResponse,
  InviteCreateRequest,
  InviteList,
  InviteListQuery,
  InviteResponse,
  MemberList,
  MemberListQuery,
  MemberPatchRequest,
  MemberRemovedResponse,
  MemberResponse,
  SessionResponse,
} from '@availsync/protocol';
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { constantTimeEqual, csrfTokenFor } from '../../security/keys.js';
import { NO_PROXY, requestAddress } from '../client-address.js';
import type { AppEnv } from '../env.js';
import { errors } from '../errors.js';
import { page, type Router } from '../registry.js';
import { readSessionCookie, setSessionCookie } from '../session-cookie.js';
import { json, OrgParam, ok, ownWorkspace } from './own-workspace.js';

const MemberParam = OrgParam.extend({ user_id: z.string().min(1).max(64) });
const InviteParam = OrgParam.extend({ invite_id: z.string().min(1).max(64) });

/** Where links point: AVAILSYNC_PUBLIC_URL, else the origin the (signed-in, CSRF-checked) caller used. */
export function linkBase(c: Context<AppEnv>, publicUrl: string | undefined): string {
  return publicUrl ?? new URL(c.req.url).origin;
}

export function memberRoutes(r: Router, opts: { secureCookies: boolean }) {
  const { members, invites, accounts } = r.services;
  const { config } = r.services.deps;
  const trust = config.trustProxy ?? NO_PROXY;
  const tags = ['Members and invites'];

  r.add(
    'session',
    createRoute({
      method: 'get',
      path: '/v1/orgs/{org_id}/members',
      operationId: 'listMembers',
      tags,
      summary: 'List the members of the workspace and their roles',
      request: { params: OrgParam, query: MemberListQuery },
      responses: { 200: ok(MemberList, 'A page of members, oldest first') },
    }),
    async (c) => c.json(await members.list(ownWorkspace(c, c.req.valid('param').org_id), page(c.req.valid('query'))), 200),
  );

  r.add(
    'session',
    createRoute({
      method: 'patch',
      path: '/v1/orgs/{org_id}/members/{user_id}',
      operationId: 'updateMember',
      tags,
      summary: "Change a member's role",
      description: 'Admins change admins, members and viewers; only owners grant or change owner. The last owner cannot be demoted (409).',
      request: { params: MemberParam, body: json(MemberPatchRequest) },
      responses: { 200: ok(MemberResponse, 'The member with the new role'), 409: ok(z.object({ error: z.string() }), 'The last owner') },
    }),
    async (c) => {
      const { org_id, user_id } = c.req.valid('param');
      return c.json(await members.changeRole(ownWorkspace(c, org_id), user_id, c.req.valid('json').role), 200);
    },
  );

  r.add(
    'session',
    createRoute({
      method: 'delete',
      path: '/v1/orgs/{org_id}/members/{user_id}',
      operationId: 'removeMember',
      tags,
      summary: 'Remove a member (or leave, with your own user id); their sessions in this workspace end',
      description: 'Anyone may leave; removing someone else needs admin (owner for an owner). The last owner cannot leave (409).',
      request: { params: MemberParam },
      responses: { 200: ok(MemberRemovedResponse, 'Removed'), 409: ok(z.object({ error: z.string() }), 'The last owner') },
    }),
    async (c) => {
      const { org_id, user_id } = c.req.valid('param');
      return c.json(await members.remove(ownWorkspace(c, org_id), user_id), 200);
    },
  );

  r.add(
    'session',
    createRoute({
      method: 'get',
      path: '/v1/orgs/{org_id}/invites',
      operationId: 'listInvites',
      tags,
      summary: 'List invites, newest first (filter by status)',
      request: { params: OrgParam, query: InviteListQuery },
      responses: { 200: ok(InviteList, 'A page of invites (never their tokens)') },
    }),
    async (c) => {
      const q = c.req.valid('query');
      return c.json(await invites.list(ownWorkspace(c, c.req.valid('param').org_id), { ...page(q), status: q.status }), 200);
    },
  );

  r.add(
    'session',
    createRoute({
      method: 'post',
      path: '/v1/orgs/{org_id}/invites',
      operationId: 'createInvite',
      tags,
      summary: 'Invite someone by email; the link (with its one-time token) is in this answer only',
      description:
        'Valid 7 days, until accepted or revoked. Admins invite admins, members and viewers; only owners invite owners. ' +
        'Emailed too when AVAILSYNC_SMTP_URL is set. 409 when the email is already a member or has a pending invite.',
      request: { params: OrgParam, body: json(InviteCreateRequest) },
      responses: { 201: ok(InviteCreatedResponse, 'Created: give invite_url to the person, it is never shown again') },
    }),
    async (c) => {
      const p = ownWorkspace(c, c.req.valid('param').org_id);
      return c.json(await invites.create(p, c.req.valid('json'), linkBase(c, config.publicUrl)), 201);
    },
  );

  r.add(
    'session',
    createRoute({
      method: 'delete',
      path: '/v1/orgs/{org_id}/invites/{invite_id}',
      operationId: 'revokeInvite',
      tags,
      summary: 'Revoke an invite: its link stops working',
      request: { params: InviteParam },
      responses: { 200: ok(InviteResponse, 'Revoked'), 409: ok(z.object({ error: z.string() }), 'Already accepted or revoked') },
    }),
    async (c) => {
      const { org_id, invite_id } = c.req.valid('param');
      return c.json(await invites.revoke(ownWorkspace(c, org_id), invite_id), 200);
    },
  );

  r.add(
    'public',
    createRoute({
      method: 'post',
      path: '/v1/invites/accept',
      operationId: 'acceptInvite',
      tags,
      summary: 'Accept an invite and sign in',
      description:
        "Signed in (the session cookie and X-CSRF-Token): joins as that user, whose email must be the invite's. Not signed in: " +
        "`password` creates the account (at least 10 characters) or, if the email has one, must be that account's password.",
      request: { body: json(InviteAcceptRequest) },
      responses: { 200: ok(SessionResponse, 'Joined and signed in to the workspace') },
    }),
    async (c) => {
      const cookie = readSessionCookie(c, opts.secureCookies);
      const found = cookie === undefined ? null : await accounts.resolveSession(cookie);
      let session: { userId: string; email: string; sessionHash: string } | undefined;
      if (cookie !== undefined && found) {
        // A live session acts only with its CSRF token, as on every state-changing cookie call.
        if (!constantTimeEqual(c.req.header('x-csrf-token') ?? '', csrfTokenFor(cookie))) {
          throw errors.forbidden('Missing or invalid X-CSRF-Token header (get it from GET /v1/session)');
        }
        session = { userId: found.user.id, email: found.user.email, sessionHash: found.sessionHash };
      }
      const { token, view } = await invites.accept(c.req.valid('json'), {
        session,
        address: requestAddress(c, trust),
        client: { userAgent: c.req.header('user-agent') },
      });
      setSessionCookie(c, token, opts.secureCookies);
      return c.json(view, 200);
    },
  );
}
