/**
 * Response headers every answer carries: `X-Content-Type-Options: nosniff` everywhere,
 * `Cache-Control: no-store` on the API and /mcp (answers hold keys, CSRF tokens and live state, errors
 * included), and over https `Strict-Transport-Security`. Set before the handler runs, like X-Request-Id, so
 * error and not-found answers built later carry them too; and again on a Response a handler built itself
 * (the MCP transport's), which the context's headers do not reach.
 */
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../env.js';

export const HSTS = 'max-age=31536000; includeSubDomains';

export function responseHeaders(opts: { https: boolean }): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const headers: [string, string][] = [['X-Content-Type-Options', 'nosniff']];
    const path = c.req.path;
    if (path === '/v1' || path.startsWith('/v1/') || path === '/mcp') headers.push(['Cache-Control', 'no-store']);
    if (opts.https) headers.push(['Strict-Transport-Security', HSTS]);
    for (const [name, value] of headers) c.header(name, value);
    await next();
    for (const [name, value] of headers) if (!c.res.headers.has(name)) c.res.headers.set(name, value);
  };
}

/** The same headers as raw header lines, for answers written straight to a socket (parser errors). */
export function rawResponseHeaders(opts: { https: boolean }): string[] {
  return ['X-Content-Type-Options: nosniff', 'Cache-Control: no-store', ...(opts.https ? [`Strict-Transport-Security: ${HSTS}`] : [])];
}
