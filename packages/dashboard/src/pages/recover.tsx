import { useEffect, useState } from 'react';
import { api } from '../api';
import { replaceRoute, useRoute } from '../session';
import { ErrorBox, useFormSubmit } from '../ui';
import { AuthFrame } from './auth';

export function ForgotPasswordPage() {
  const [sent, setSent] = useState(false);
  const { submit, busy, error } = useFormSubmit(async (f) => {
    await api('POST', '/v1/auth/password-reset', { email: f.get('email') });
    setSent(true);
  });
  return (
    <AuthFrame title="Reset your password">
      <ErrorBox error={error} />
      {sent ? (
        <div className="notice" role="status">
          If an account has this email, a link to choose a new password is on its way. It works once, for one hour.
        </div>
      ) : (
        <form onSubmit={submit} className="stack" aria-label="Reset your password">
          <label>
            Email
            <input name="email" type="email" autoComplete="username" required />
          </label>
          <button className="btn primary" type="submit" disabled={busy}>
            {busy ? 'Sending…' : 'Email me a link'}
          </button>
        </form>
      )}
      <p>
        <a href="#/signin">Back to sign in</a>
      </p>
    </AuthFrame>
  );
}

export function ResetPasswordPage() {
  const route = useRoute();
  // The token is read once, then dropped from the URL (and so from the history).
  const [token] = useState(() => route.query.get('token') ?? '');
  useEffect(() => {
    if (route.query.has('token')) replaceRoute('/reset-password');
  }, [route.query]);
  const [done, setDone] = useState(false);
  const { submit, busy, error } = useFormSubmit(async (f) => {
    await api('POST', '/v1/auth/password-reset/confirm', { token, new_password: f.get('new_password') });
    setDone(true);
  });
  return (
    <AuthFrame title="Choose a new password">
      <ErrorBox error={error} />
      {done ? (
        <div className="notice" role="status">
          Your password is changed and every session of your account was signed out. <a href="#/signin">Sign in</a> with the new one.
        </div>
      ) : !token ? (
        <ErrorBox error="This page needs the link from the password reset email." />
      ) : (
        <form onSubmit={submit} className="stack" aria-label="Choose a new password">
          <label>
            New password <small className="muted">(at least 10 characters)</small>
            <input name="new_password" type="password" autoComplete="new-password" required minLength={10} />
          </label>
          <button className="btn primary" type="submit" disabled={busy}>
            {busy ? 'Saving…' : 'Set password'}
          </button>
        </form>
      )}
    </AuthFrame>
  );
}
