import { type ReactNode, useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, api, onSessionExpired, setCsrfToken, setWorkspace } from './api';
import { LiveIndicator } from './live';
import { AccountPage } from './pages/account';
import { AgentsPage } from './pages/agents';
import { SignInPage, SignUpPage } from './pages/auth';
import { ClaimsPage } from './pages/claims';
import { HoldsPage } from './pages/holds';
import { InvitePage } from './pages/invite';
import { ActivityPage, AuditPage } from './pages/logs';
import { MembersPage } from './pages/members';
import { OverviewPage } from './pages/overview';
import { PlanPage } from './pages/plan';
import { ForgotPasswordPage, ResetPasswordPage } from './pages/recover';
import { RulesPage } from './pages/rules';
import { WebhooksPage } from './pages/webhooks';
import { atLeast, go, parseRoute, replaceRoute, SessionContext, useRoute, workspacePath } from './session';
import type { SessionView } from './types';

const NAV: { path: string; label: string; page: () => ReactNode }[] = [
  { path: '/overview', label: 'Overview', page: () => <OverviewPage /> },
  { path: '/agents', label: 'Agents', page: () => <AgentsPage /> },
  { path: '/claims', label: 'Claims', page: () => <ClaimsPage /> },
  { path: '/holds', label: 'Holds', page: () => <HoldsPage /> },
  { path: '/activity', label: 'Activity', page: () => <ActivityPage /> },
  { path: '/audit', label: 'Audit', page: () => <AuditPage /> },
  { path: '/rules', label: 'Rules', page: () => <RulesPage /> },
  { path: '/members', label: 'Members', page: () => <MembersPage /> },
  { path: '/webhooks', label: 'Webhooks', page: () => <WebhooksPage /> },
  { path: '/plan', label: 'Plan', page: () => <PlanPage /> },
  { path: '/account', label: 'Account', page: () => <AccountPage /> },
];
/** Pages outside any workspace: shown signed in or not. */
const OPEN_PAGES = new Set(['/invite', '/reset-password']);

export function App() {
  const route = useRoute();
  const [session, setSession] = useState<SessionView | null | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const signedInRef = useRef(false);
  signedInRef.current = !!session;

  const apply = useCallback((s: SessionView) => {
    setCsrfToken(s.csrf_token);
    setWorkspace(s.workspace.id);
    setSession(s);
  }, []);

  /** The session as seen from `orgId` (the URL's workspace); one the user is not in falls back to their default. */
  const load = useCallback(
    async (orgId: string | undefined): Promise<SessionView> => {
      setWorkspace(orgId);
      try {
        const s = await api<SessionView>('GET', '/v1/session');
        apply(s);
        return s;
      } catch (err) {
        if (orgId && err instanceof ApiError && err.status === 404) return load(undefined);
        throw err;
      }
    },
    [apply],
  );

  const signedIn = useCallback(
    (s: SessionView) => {
      apply(s);
      setNotice(undefined);
      const { workspace, page } = parseRoute(window.location.hash);
      const known = NAV.some((n) => n.path === page);
      if (workspace && workspace !== s.workspace.id)
        void load(workspace).then((v) => go(workspacePath(v.workspace.id, known ? page : '/overview')));
      else go(workspacePath(s.workspace.id, known ? page : '/overview'));
    },
    [apply, load],
  );

  // The first load (once: the URL may name a workspace, read from the hash as it is now).
  const initialWorkspace = useRef(route.workspace);
  useEffect(() => {
    onSessionExpired((message) => {
      if (!signedInRef.current) return;
      signedInRef.current = false;
      setNotice(message);
      setSession(null);
      go('/signin');
    });
    // Asked first whether there is a session at all: signed out, GET /v1/session would answer 401, which
    // the browser logs as a failed resource on every visit to the sign-in page.
    api<{ signed_in: boolean }>('GET', '/v1/auth/status')
      .then(async (s) => (s.signed_in ? void (await load(initialWorkspace.current)) : setSession(null)))
      .catch(() => setSession(null));
  }, [load]);

  // The URL names another workspace (the switcher, a pasted link): the session as seen from it.
  useEffect(() => {
    if (session && route.workspace && route.workspace !== session.workspace.id) void load(route.workspace).catch(() => setSession(null));
  }, [route.workspace, session, load]);

  // Signed in on a page outside any workspace (an older `#/agents` link, `#/signin`): into the current one.
  useEffect(() => {
    if (!session || route.workspace || OPEN_PAGES.has(route.page)) return;
    const known = NAV.some((n) => n.path === route.page);
    replaceRoute(workspacePath(session.workspace.id, known ? route.page : '/overview'));
  }, [route, session]);

  const signOut = useCallback(async () => {
    try {
      await api('POST', '/v1/auth/logout');
    } finally {
      setWorkspace(undefined);
      setSession(null);
      setNotice('You are signed out.');
      go('/signin');
    }
  }, []);
  const refresh = useCallback(async () => {
    await load(session?.workspace.id);
  }, [load, session?.workspace.id]);

  // A new page moves keyboard focus to its content, as a full page load would.
  useEffect(() => {
    if (session && route.page) document.getElementById('main')?.focus({ preventScroll: true });
  }, [route.page, session]);

  if (session === undefined) return <div className="boot">Loading…</div>;
  if (route.page === '/invite') return <InvitePage session={session} onSignedIn={signedIn} />;
  if (route.page === '/reset-password') return <ResetPasswordPage />;
  if (session === null) {
    if (route.page === '/signup') return <SignUpPage onSignedIn={signedIn} />;
    if (route.page === '/forgot-password') return <ForgotPasswordPage />;
    return <SignInPage onSignedIn={signedIn} notice={notice} />;
  }
  const current = NAV.find((n) => n.path === route.page) ?? NAV[0]!;
  const here = session.workspace;
  return (
    <SessionContext.Provider value={{ session, orgPath: `/v1/orgs/${here.id}`, can: (role) => atLeast(here.role, role), signOut, refresh }}>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <div className="shell">
        <aside className="side">
          <div className="brand">
            Availsync<small>{here.name}</small>
          </div>
          <label className="switcher">
            <span className="sr-only">Workspace</span>
            <select
              aria-label="Workspace"
              value={here.id}
              onChange={(e) => go(workspacePath(e.target.value, current.path))}
              disabled={session.workspaces.length < 2}
            >
              {session.workspaces.map((w) => (
                <option key={w.id} value={w.id}>
                  {w.name} ({w.role})
                </option>
              ))}
            </select>
          </label>
          <nav aria-label="Main">
            {NAV.map((n) => (
              <a key={n.path} href={`#${workspacePath(here.id, n.path)}`} aria-current={n === current ? 'page' : undefined}>
                {n.label}
              </a>
            ))}
          </nav>
          <div className="who">
            <LiveIndicator />
            <span title={session.user.email}>
              {session.user.email} <small className="role-badge">{here.role}</small>
            </span>
            <button type="button" className="btn small ghost" onClick={() => void signOut()}>
              Sign out
            </button>
          </div>
        </aside>
        <main id="main" tabIndex={-1} key={here.id}>
          <h1>{current.label}</h1>
          {current.page()}
        </main>
      </div>
    </SessionContext.Provider>
  );
}
