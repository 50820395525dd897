import { createContext, type ReactNode, useCallback, useContext, useEffect, useRef, useState } from 'react';
import { api, onSessionExpired, setCsrfToken } from './api';
import { AgentsPage } from './pages/agents';
import { SignInPage, SignUpPage } from './pages/auth';
import { ClaimsPage } from './pages/claims';
import { HoldsPage } from './pages/holds';
import { ActivityPage, AuditPage } from './pages/logs';
import { OverviewPage } from './pages/overview';
import { PlanPage } from './pages/plan';
import { RulesPage } from './pages/rules';
import type { SessionView } from './types';

interface SessionCtx {
  session: SessionView;
  orgPath: string;
  signOut: () => Promise<void>;
}
const Ctx = createContext<SessionCtx | null>(null);
export function useSession(): SessionCtx {
  const s = useContext(Ctx);
  if (!s) throw new Error('useSession outside a signed-in page');
  return s;
}

/** A tiny hash router: #/agents, #/claims … (no server routes needed, deep links survive reloads). */
const readRoute = () => window.location.hash.replace(/^#/, '') || '/';
export function useRoute(): string {
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

const NAV: { path: string; label: string; page: () => ReactNode }[] = [
  { path: '/overview', label: 'Overview', page: () => <OverviewPage /> },
  { path: '/agents', label: 'Agents', page: () => <AgentsPage /> },
  { path: '/claims', label: 'Claims', page: () => <ClaimsPage /> },
  { path: '/holds', label: 'Holds', page: () => <HoldsPage /> },
  { path: '/activity', label: 'Activity', page: () => <ActivityPage /> },
  { path: '/audit', label: 'Audit', page: () => <AuditPage /> },
  { path: '/rules', label: 'Rules', page: () => <RulesPage /> },
  { path: '/plan', label: 'Plan', page: () => <PlanPage /> },
];

export function App() {
  const route = useRoute();
  const [session, setSession] = useState<SessionView | null | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const signedInRef = useRef(false);
  signedInRef.current = !!session;

  const signedIn = useCallback((s: SessionView) => {
    setCsrfToken(s.csrf_token);
    setNotice(undefined);
    setSession(s);
    const r = window.location.hash.replace(/^#/, '');
    if (!NAV.some((n) => n.path === r)) go('/overview');
  }, []);

  useEffect(() => {
    onSessionExpired((message) => {
      if (!signedInRef.current) return;
      signedInRef.current = false;
      setNotice(message);
      setSession(null);
      go('/signin');
    });
    api<SessionView>('GET', '/v1/session').then(
      (s) => {
        setCsrfToken(s.csrf_token);
        setSession(s);
      },
      () => setSession(null),
    );
  }, []);

  const signOut = useCallback(async () => {
    try {
      await api('POST', '/v1/auth/logout');
    } finally {
      setSession(null);
      setNotice('You are signed out.');
      go('/signin');
    }
  }, []);

  // A new page moves keyboard focus to its content, as a full page load would.
  useEffect(() => {
    if (session && route) document.getElementById('main')?.focus({ preventScroll: true });
  }, [route, session]);

  if (session === undefined) return <div className="boot">Loading…</div>;
  if (session === null) {
    return route === '/signup' ? <SignUpPage onSignedIn={signedIn} /> : <SignInPage onSignedIn={signedIn} notice={notice} />;
  }
  const current = NAV.find((n) => n.path === route) ?? NAV[0]!;
  return (
    <Ctx.Provider value={{ session, orgPath: `/v1/orgs/${session.workspace.id}`, signOut }}>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <div className="shell">
        <aside className="side">
          <div className="brand">
            Availsync<small>{session.workspace.name}</small>
          </div>
          <nav aria-label="Main">
            {NAV.map((n) => (
              <a key={n.path} href={`#${n.path}`} aria-current={n === current ? 'page' : undefined}>
                {n.label}
              </a>
            ))}
          </nav>
          <div className="who">
            <span title={session.user.email}>{session.user.email}</span>
            <button type="button" className="btn small ghost" onClick={() => void signOut()}>
              Sign out
            </button>
          </div>
        </aside>
        <main id="main" tabIndex={-1}>
          <h1>{current.label}</h1>
          {current.page()}
        </main>
      </div>
    </Ctx.Provider>
  );
}
