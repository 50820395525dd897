/**
 * The dashboard: the SPA's build output served at `/` (files, then index.html for any other page path).
 * /v1/* and /health never reach it. Hashed assets are cached for a year; index.html is revalidated on every
 * load so a new build is picked up at once.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context, Next } from 'hono';
import type { AppEnv } from './env.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/** The SPA loads only its own files and talks only to its own origin. */
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

const PAGE_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'same-origin',
};

/** True when `dir` holds a dashboard build (an index.html). */
export function hasDashboard(dir: string | undefined): dir is string {
  return !!dir && existsSync(join(dir, 'index.html'));
}

export function serveDashboard(app: OpenAPIHono<AppEnv>, dir: string) {
  const root = normalize(dir + sep);
  const file = (path: string) => {
    const full = normalize(join(root, path));
    if (!full.startsWith(root)) return undefined;
    try {
      return statSync(full).isFile() ? full : undefined;
    } catch {
      return undefined;
    }
  };
  const handler = async (c: Context<AppEnv>, next: Next) => {
    const path = c.req.path;
    if (path === '/health' || path === '/v1' || path.startsWith('/v1/')) return next();
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      return next();
    }
    const found = decoded.includes('\u0000') ? undefined : file(decoded);
    // An unknown path with a file extension is a missing asset, not a page.
    if (!found && extname(decoded) !== '') return next();
    const target = found ?? join(root, 'index.html');
    const isAsset = found !== undefined && decoded.startsWith('/assets/');
    const body = new Uint8Array(await readFile(target));
    return c.body(body, 200, {
      ...PAGE_HEADERS,
      ...(extname(target) === '.html' ? { 'Content-Security-Policy': CSP } : {}),
      'Content-Type': TYPES[extname(target)] ?? 'application/octet-stream',
      'Cache-Control': isAsset ? 'public, max-age=31536000, immutable' : 'no-cache',
    });
  };
  app.get('*', handler);
}
