/**
 * The signed-in session and the hash router, in a module of their own so pages import them without
 * importing the app that imports the pages.
 *
 * Routes: `#/w/<org_id>/<page>` inside a workspace (the URL names it, so a link or a reload lands in the
 * same one), and `#/signin`, `#/signup`, `#/invite?token=…`, `#/forgot-password`, `#/reset-password?token=…`
 * outside. A bare `#/<page>` (an older link) opens that page in the current workspace.
 */
import { createContext, useContext, useEffect, useState } from 'react';
import type { Role, SessionView } from './types';

export interface SessionCtx {
  session: SessionView;
  /** `/v1/orgs/<the workspace in the URL>` */
  orgPath: string;
  /** The signed-in user's role here is `role` or above it. */
  can: (role: Role) => boolean;
  signOut: () => Promise<void>;
  /** Read GET /v1/session again (after joining a workspace, leaving one, a role change). */
  refresh: () => Promise<void>;
}

export const SessionContext = createContext<SessionCtx | null>(null);

export function useSession(): SessionCtx {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside a signed-in page');
  return s;
}

const RANK: Record<Role, number> = { viewer: 0, member: 1, admin: 2, owner: 3 };
export function atLeast(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed];
}

export interface Route {
  /** The workspace the URL names, if any. */
  workspace: string | undefined;
  /** `/agents`, `/signin`, … */
  page: string;
  query: URLSearchParams;
}

export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#/, '') || '/';
  const [path = '/', search = ''] = raw.split('?');
  const query = new URLSearchParams(search);
  const inWorkspace = /^\/w\/([^/]+)(\/.*)?$/.exec(path);
  if (inWorkspace) return { workspace: decodeURIComponent(inWorkspace[1] ?? ''), page: inWorkspace[2] || '/', query };
  return { workspace: undefined, page: path, query };
}

const readRoute = () => parseRoute(window.location.hash);

export function useRoute(): Route {
  const [route, setRoute] = useState(readRoute);
  useEffect(() => {
    const on = () => setRoute(readRoute());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

export function go(path: string) {
  window.location.hash = path;
}

/** Replace the URL without a history entry (used to drop a one-time token from it once read). */
export function replaceRoute(path: string) {
  window.history.replaceState(null, '', `${window.location.pathname}${window.location.search}#${path}`);
  window.dispatchEvent(new HashChangeEvent('hashchange'));
}

export function workspacePath(orgId: string, page: string): string {
  return `/w/${encodeURIComponent(orgId)}${page}`;
}
