/**
 * Account security: POST /v1/auth/password, GET /v1/auth/sessions, DELETE
 * /v1/auth/sessions/:session_id (session), and the password reset pair (public).
 */
import {
  AccountSessionList,
  AccountSessionListQuery,
  OkResponse,
  PasswordChangedResponse,
  PasswordChangeRequest,
  PasswordResetConfirmRequest,
  PasswordResetRequest,
  SessionRevokedResponse,
} from '@availsync/protocol';
import { createRoute, z } from '@hono/zod-openapi';
import { NO_PROXY, requestAddress } from '../client-address.js';
import { page, type Router } from '../registry.js';
import { clearSessionCookie } from '../session-cookie.js';
import { json, ok, sessionUser } from './own-workspace.js';

export function accountSecurityRoutes(r: Router, opts: { secureCookies: boolean }) {
  const { accountSecurity } = r.services;
  const { config } = r.services.deps;
  const trust = config.trustProxy ?? NO_PROXY;
  const tags = ['Workspace auth'];

  r.add(
    'session',
    createRoute({
      method: 'post',
      path: '/v1/auth/password',
      operationId: 'changePassword',
      tags,
      summary: "Change the signed-in user's password; their other sessions end",
      request: { body: json(PasswordChangeRequest) },
      responses: { 200: ok(PasswordChangedResponse, 'Changed; this session stays signed in') },
    }),
    async (c) => c.json(await accountSecurity.changePassword(sessionUser(c), c.req.valid('json')), 200),
  );

  r.add(
    'session',
    createRoute({
      method: 'get',
      path: '/v1/auth/sessions',
      operationId: 'listAccountSessions',
      tags,
      summary: "The signed-in user's live sessions (in every workspace), newest first; the current one is marked",
      request: { query: AccountSessionListQuery },
      responses: { 200: ok(AccountSessionList, 'A page of sessions') },
    }),
    async (c) => c.json(await accountSecurity.listSessions(sessionUser(c), page(c.req.valid('query'))), 200),
  );

  r.add(
    'session',
    createRoute({
      method: 'delete',
      path: '/v1/auth/sessions/{session_id}',
      operationId: 'revokeAccountSession',
      tags,
      summary: 'End one of your sessions (the current one signs you out)',
      request: { params: z.object({ session_id: z.string().min(1).max(64) }) },
      responses: { 200: ok(SessionRevokedResponse, 'Ended') },
    }),
    async (c) => {
      const result = await accountSecurity.revokeSession(sessionUser(c), c.req.valid('param').session_id);
      if (result.current) clearSessionCookie(c, opts.secureCookies);
      return c.json(result, 200);
    },
  );

  r.add(
    'public',
    createRoute({
      method: 'post',
      path: '/v1/auth/password-reset',
      operationId: 'requestPasswordReset',
      tags,
      summary: 'Email a password reset link (the same answer whether or not the email has an account)',
      description:
        'Sent when AVAILSYNC_SMTP_URL and AVAILSYNC_PUBLIC_URL are set (the link points at the public URL, never at the Host ' +
        'the request named). The link works once, for one hour. 429 past 20 requests an hour from one address.',
      request: { body: json(PasswordResetRequest) },
      responses: { 200: ok(OkResponse, 'Received') },
    }),
    async (c) => c.json(await accountSecurity.requestReset(c.req.valid('json'), requestAddress(c, trust), config.publicUrl), 200),
  );

  r.add(
    'public',
    createRoute({
      method: 'post',
      path: '/v1/auth/password-reset/confirm',
      operationId: 'confirmPasswordReset',
      tags,
      summary: "Set a new password with a reset link's token; every session of the account ends",
      request: { body: json(PasswordResetConfirmRequest) },
      responses: { 200: ok(OkResponse, 'Changed: sign in with the new password') },
    }),
    async (c) => c.json(await accountSecurity.confirmReset(c.req.valid('json')), 200),
  );
}
