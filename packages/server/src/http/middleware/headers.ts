/**
 * Response headers every answer carries (SPEC §14): `X-Content-Type-Options: nosniff` everywhere,
 * `Cache-Control: no-store` on the API (answers hold keys, CSRF tokens and live state, errors included),
 * and over https `Strict-Transport-Security`. Set before the handler runs, like X-Request-Id, so error
 * and not-found answers built later carry them too.
 */
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../env.js';

export const HSTS = 'max-age=31536000; includeSubDomains';

export function responseHeaders(opts: { https: boolean }): MiddlewareHandler<AppEnv> {
  return (c, next) => {
    c.header('X-Content-Type-Options', 'nosniff');
    if (c.req.path === '/v1' || c.req.path.startsWith('/v1/')) c.header('Cache-Control', 'no-store');
    if (opts.https) c.header('Strict-Transport-Security', HSTS);
    return next();
  };
}

/** The same headers as raw header lines, for answers written straight to a socket (parser errors). */
export function rawResponseHeaders(opts: { https: boolean }): string[] {
  return ['X-Content-Type-Options: nosniff', 'Cache-Control: no-store', ...(opts.https ? [`Strict-Transport-Security: ${HSTS}`] : [])];
}
