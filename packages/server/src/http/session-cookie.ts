/** The session cookie, set and cleared the one way (routes/accounts.ts does the same for sign-up and sign-in). */
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { SESSION_TTL_MS } from '../services/accounts.js';
import type { AppEnv } from './env.js';
import { sessionCookieName } from './middleware/auth.js';

export function setSessionCookie(c: Context<AppEnv>, token: string, secure: boolean): void {
  setCookie(c, sessionCookieName(secure), token, {
    httpOnly: true,
    sameSite: 'Lax',
    path: '/',
    secure,
    maxAge: Math.floor(SESSION_TTL_MS / 1000),
  });
}

export function clearSessionCookie(c: Context<AppEnv>, secure: boolean): void {
  deleteCookie(c, sessionCookieName(secure), { path: '/', secure });
}

export function readSessionCookie(c: Context<AppEnv>, secure: boolean): string | undefined {
  return getCookie(c, sessionCookieName(secure));
}
