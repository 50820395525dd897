import { type FormEvent, useState } from 'react';
import { api, describeError } from '../api';
import { useSession } from '../session';
import type { AccountSession, Page } from '../types';
import { Badge, Card, ErrorBox, fmtTime, useLoad } from '../ui';

/** A short description of a browser from its user agent (the full string is in the title). */
function client(ua: string | null): string {
  if (!ua) return 'unknown client';
  const browser = /(Edg|Firefox|Chrome|Chromium|Safari|curl|node)\/[\d.]+/.exec(ua)?.[0] ?? ua.slice(0, 40);
  const os = /(Windows|Mac OS X|Android|iPhone|Linux)/.exec(ua)?.[0];
  return os ? `${browser} on ${os}` : browser;
}

function PasswordForm({ onChanged }: { onChanged: () => void }) {
  const [error, setError] = useState<string>();
  const [done, setDone] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    if (f.get('new_password') !== f.get('repeat')) {
      setError('The two new passwords differ.');
      return;
    }
    setBusy(true);
    setError(undefined);
    setDone(undefined);
    try {
      const r = await api<{ sessions_ended: number }>('POST', '/v1/auth/password', {
        current_password: f.get('current_password'),
        new_password: f.get('new_password'),
      });
      form.reset();
      setDone(
        `Password changed. ${r.sessions_ended === 0 ? 'You had no other sessions.' : `${r.sessions_ended} other session${r.sessions_ended === 1 ? '' : 's'} signed out.`}`,
      );
      onChanged();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card title="Change password">
      <ErrorBox error={error} />
      {done ? (
        <div className="notice" role="status">
          {done}
        </div>
      ) : null}
      <form className="row wrap" onSubmit={submit} aria-label="Change password">
        <label>
          Current password
          <input name="current_password" type="password" autoComplete="current-password" required />
        </label>
        <label>
          New password <small className="muted">(at least 10 characters)</small>
          <input name="new_password" type="password" autoComplete="new-password" required minLength={10} />
        </label>
        <label>
          New password again
          <input name="repeat" type="password" autoComplete="new-password" required minLength={10} />
        </label>
        <button className="btn primary" type="submit" disabled={busy}>
          {busy ? 'Changing…' : 'Change password'}
        </button>
      </form>
      <p className="muted small">Changing it signs out every other session of your account, in every workspace.</p>
    </Card>
  );
}

export function AccountPage() {
  const { session, signOut } = useSession();
  const sessions = useLoad(() => api<Page<AccountSession>>('GET', '/v1/auth/sessions?limit=100'), []);
  const [error, setError] = useState<string>();
  const names = new Map(session.workspaces.map((w) => [w.id, w.name]));
  const revoke = async (s: AccountSession) => {
    setError(undefined);
    try {
      await api('DELETE', `/v1/auth/sessions/${s.id}`);
      if (s.current) await signOut();
      else await sessions.reload();
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <>
      <Card title="You">
        <p>
          Signed in as <b>{session.user.email}</b>, {session.workspace.role} of {session.workspace.name}.
        </p>
      </Card>
      <PasswordForm onChanged={() => void sessions.reload()} />
      <Card title="Sessions">
        <ErrorBox error={error ?? sessions.error} />
        {!sessions.data ? (
          <div className="placeholder">Loading…</div>
        ) : (
          <table className="sessions" data-testid="sessions">
            <thead>
              <tr>
                <th>Client</th>
                <th>Address</th>
                <th>Workspace</th>
                <th>Signed in</th>
                <th>Expires</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {sessions.data.data.map((s) => (
                <tr key={s.id} data-session={s.current ? 'current' : 'other'}>
                  <td title={s.user_agent ?? ''}>
                    {client(s.user_agent)} {s.current ? <Badge tone="ok">this session</Badge> : null}
                  </td>
                  <td className="mono">{s.address ?? '—'}</td>
                  <td>{names.get(s.workspace_id) ?? s.workspace_id}</td>
                  <td>{fmtTime(s.created_at)}</td>
                  <td>{fmtTime(s.expires_at)}</td>
                  <td>
                    <button type="button" className="btn small" onClick={() => void revoke(s)}>
                      {s.current ? 'Sign out' : 'Revoke'}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </>
  );
}
