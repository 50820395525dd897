import { type FormEvent, useEffect, useState } from 'react';
import { api, describeError } from '../api';
import { replaceRoute, useRoute } from '../session';
import type { SessionView } from '../types';
import { ErrorBox } from '../ui';
import { AuthFrame } from './auth';

/**
 * Accepting an invite link (`#/invite?token=…`). Signed in: join as yourself. Signed out: the password
 * creates the account, or is the existing account's password. The token is dropped from the URL once read.
 */
export function InvitePage({ session, onSignedIn }: { session: SessionView | null; onSignedIn: (s: SessionView) => void }) {
  const route = useRoute();
  const [token] = useState(() => route.query.get('token') ?? '');
  useEffect(() => {
    if (route.query.has('token')) replaceRoute('/invite');
  }, [route.query]);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const accept = async (password: string | undefined) => {
    setBusy(true);
    setError(undefined);
    try {
      onSignedIn(await api<SessionView>('POST', '/v1/invites/accept', { token, ...(password === undefined ? {} : { password }) }));
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    void accept(String(new FormData(e.currentTarget).get('password')));
  };
  return (
    <AuthFrame title="Join a workspace">
      <ErrorBox error={error} />
      {!token ? (
        <ErrorBox error="This page needs the link from your invite." />
      ) : session ? (
        <div className="stack">
          <p>
            You are signed in as <b>{session.user.email}</b>. The invite must be for this email.
          </p>
          <button className="btn primary" type="button" disabled={busy} onClick={() => void accept(undefined)}>
            {busy ? 'Joining…' : 'Accept the invite'}
          </button>
        </div>
      ) : (
        <form onSubmit={submit} className="stack" aria-label="Accept the invite">
          <label>
            Password <small className="muted">(new here: choose one of at least 10 characters; have an account: its password)</small>
            <input name="password" type="password" autoComplete="new-password" required />
          </label>
          <button className="btn primary" type="submit" disabled={busy}>
            {busy ? 'Joining…' : 'Accept the invite'}
          </button>
        </form>
      )}
      <p>
        <a href="#/signin">Sign in instead</a>
      </p>
    </AuthFrame>
  );
}
