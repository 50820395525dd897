import { useState } from 'react';
import { api } from '../api';
import type { SessionView } from '../types';
import { ErrorBox, useFormSubmit } from '../ui';

export function AuthFrame({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <div className="auth">
      <div className="auth-card">
        <div className="brand">Availsync</div>
        <p className="muted">The coordination layer your agents check before they act.</p>
        <h1>{title}</h1>
        {children}
      </div>
    </div>
  );
}

export function SignInPage({ onSignedIn, notice }: { onSignedIn: (s: SessionView) => void; notice: string | undefined }) {
  const { submit, busy, error } = useFormSubmit(async (f) => {
    onSignedIn(await api<SessionView>('POST', '/v1/auth/login', { email: f.get('email'), password: f.get('password') }));
  });
  return (
    <AuthFrame title="Sign in">
      {notice ? (
        <div className="notice" role="status">
          {notice}
        </div>
      ) : null}
      <ErrorBox error={error} />
      <form onSubmit={submit} className="stack">
        <label>
          Email
          <input name="email" type="email" autoComplete="username" required />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" required />
        </label>
        <button className="btn primary" type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <p>
        New here? <a href="#/signup">Create a workspace</a> · <a href="#/forgot-password">Forgot your password?</a>
      </p>
    </AuthFrame>
  );
}

export function SignUpPage({ onSignedIn }: { onSignedIn: (s: SessionView) => void }) {
  const { submit, busy, error } = useFormSubmit(async (f) => {
    onSignedIn(
      await api<SessionView>('POST', '/v1/auth/signup', {
        workspace_name: f.get('workspace_name'),
        email: f.get('email'),
        password: f.get('password'),
      }),
    );
  });
  return (
    <AuthFrame title="Create your workspace">
      <ErrorBox error={error} />
      <form onSubmit={submit} className="stack">
        <label>
          Workspace name
          <input name="workspace_name" required maxLength={100} />
        </label>
        <label>
          Email
          <input name="email" type="email" autoComplete="username" required />
        </label>
        <label>
          Password <small className="muted">(at least 10 characters)</small>
          <input name="password" type="password" autoComplete="new-password" required minLength={10} />
        </label>
        <button className="btn primary" type="submit" disabled={busy}>
          {busy ? 'Creating…' : 'Create workspace'}
        </button>
      </form>
      <p>
        Already have one? <a href="#/signin">Sign in</a>
      </p>
    </AuthFrame>
  );
}
