/**
 * Authentication for the three kinds of route. An agent key never works as a dashboard login, a session
 * cookie never works as an agent key, and every state-changing cookie call carries the CSRF token.
 */

import type { MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { atLeast, type Role } from '../../domain/roles.js';
import { constantTimeEqual, csrfTokenFor, looksLikeApiKey, sha256 } from '../../security/keys.js';
import type { Services } from '../../services/index.js';
import type { AppEnv, AuthMode } from '../env.js';
import { ApiError, errors } from '../errors.js';

export const SESSION_COOKIE = 'availsync_session';
/** Over https: only a cookie the browser guarantees was set Secure, on `/`, by this very host. */
export const SECURE_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;

export function sessionCookieName(secure: boolean): string {
  return secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE;
}
/**
 * The workspace a session request acts in, for routes whose path names none (the dashboard sends the one
 * its URL names). A path's :org_id wins; with neither, the workspace the session signed in to.
 */
export const WORKSPACE_HEADER = 'x-availsync-workspace';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * `keyCache`: the route's service confirms the principal inside its own transaction (services/principals.ts), so
 * an agent key this node has seen before costs no read here.
 */
export function authenticate(
  mode: Exclude<AuthMode, 'public'>,
  services: Services,
  opts: { keyCache?: boolean; secureCookies?: boolean; role?: Role } = {},
): MiddlewareHandler<AppEnv> {
  const cookieName = sessionCookieName(opts.secureCookies ?? false);
  return async (c, next) => {
    const header = c.req.header('authorization');
    if (header !== undefined) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
      const key = match?.[1];
      if (!key || !looksLikeApiKey(key)) throw errors.unauthorized('Malformed API key: send Authorization: Bearer avs_live_...');
      const hash = sha256(key);
      const cached = opts.keyCache && mode !== 'session' ? services.keys.cached(hash) : undefined;
      const found = cached ?? (await services.keys.resolve(hash));
      const stored = found?.agent.key_hash;
      if (!found || !stored || !constantTimeEqual(stored, hash)) {
        throw errors.unauthorized('Unknown or rotated API key');
      }
      if (mode === 'session') {
        throw errors.forbidden('Agent API keys cannot call workspace routes; sign in to the dashboard instead');
      }
      c.set('principal', cached ?? { kind: 'agent', org: found.org, agent: found.agent });
      services.agents.touch(found.agent);
      await next();
      // Failed before the service confirmed the cached key (an invalid body, say): a key that is gone is
      // answered 401, as if it had been read first.
      if (cached && c.error && !services.keys.confirmed(c.error) && !(await services.keys.resolve(hash))) {
        throw errors.unauthorized('Unknown or rotated API key');
      }
      return;
    }

    const token = getCookie(c, cookieName);
    if (token === undefined) {
      throw errors.unauthorized(
        mode === 'session'
          ? 'Sign in first: this route needs a workspace session'
          : 'Send an agent API key: Authorization: Bearer avs_live_...',
      );
    }
    if (mode === 'agent') {
      throw errors.unauthorized('This route needs an agent API key (Authorization: Bearer ...); a dashboard session is not an agent key');
    }
    // An id no workspace can have (too long, a NUL: the database would refuse it) names none here; in the
    // path, the route's validation then answers 400 for it, as for any bad path parameter.
    const plausible = (v: string) => v.length <= 64 && !v.includes('\u0000');
    const fromPath = c.req.param('org_id');
    const fromHeader = c.req.header(WORKSPACE_HEADER) || undefined;
    if (fromPath === undefined && fromHeader !== undefined && !plausible(fromHeader)) {
      throw errors.invalid('X-Availsync-Workspace must be a workspace id', { 'x-availsync-workspace': 'at most 64 characters, no NUL' });
    }
    const named = fromPath === undefined ? fromHeader : plausible(fromPath) && fromPath !== '' ? fromPath : undefined;
    const session = await services.accounts.resolveSession(token, named);
    if (!session) throw new ApiError('unauthorized', 'Your session has expired. Sign in again.');
    if (!SAFE_METHODS.has(c.req.method)) {
      const sent = c.req.header('x-csrf-token') ?? '';
      if (!constantTimeEqual(sent, csrfTokenFor(token))) {
        throw errors.forbidden('Missing or invalid X-CSRF-Token header (get it from GET /v1/session)');
      }
    }
    const { membership } = session;
    if (!membership) {
      // Not a member of the workspace named: exactly as if it did not exist. None named: the session's own
      // workspace dropped them (its sessions there were ended too).
      if (named) throw errors.notFound('Workspace');
      throw new ApiError('unauthorized', 'Your session has expired. Sign in again.');
    }
    const needed = opts.role ?? 'admin';
    if (!atLeast(membership.role, needed)) {
      throw errors.forbidden(`This needs the ${needed} role in this workspace or higher; you are ${membership.role}`);
    }
    c.set('principal', {
      kind: 'user',
      org: membership.org,
      userId: session.user.id,
      sessionHash: session.sessionHash,
      role: membership.role,
    });
    c.set('sessionToken', token);
    return next();
  };
}
