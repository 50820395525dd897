import { type FormEvent, useState } from 'react';
import { api, describeError, qs } from '../api';
import { atLeast, go, useSession, workspacePath } from '../session';
import type { Invite, InviteCreatedResponse, Member, Page, Role } from '../types';
import { Badge, Card, CopyButton, Empty, ErrorBox, fmtTime, useLoad } from '../ui';

const ROLES: Role[] = ['owner', 'admin', 'member', 'viewer'];
const ROLE_HELP: Record<Role, string> = {
  owner: 'everything',
  admin: 'agents, keys, rules, members',
  member: 'releases claims, holds',
  viewer: 'read only',
};

/** The roles `mine` may give (admins: all but owner). */
function grantable(mine: Role): Role[] {
  if (mine === 'owner') return ROLES;
  if (mine === 'admin') return ROLES.filter((r) => r !== 'owner');
  return [];
}

/** The invite link, shown once: the API never shows its token again. */
function LinkPanel({ created, onDone }: { created: InviteCreatedResponse; onDone: () => void }) {
  return (
    <section className="keypanel link-once" aria-label="Invite link">
      <strong>
        Invite link for {created.invite.email} ({created.invite.role})
      </strong>
      <p className="warn-text">
        Copy this link now: it is shown only once. It works once, until {fmtTime(created.invite.expires_at)}.
        {created.emailed ? ' It was also emailed.' : ' No email was sent (the server has no SMTP configured): send it yourself.'}
      </p>
      <div className="keyrow">
        <code data-testid="invite-url">{created.invite_url}</code>
        <CopyButton text={created.invite_url} label="Copy link" />
      </div>
      <button type="button" className="btn small" onClick={onDone}>
        Done
      </button>
    </section>
  );
}

function MemberRow({ m, onChanged }: { m: Member; onChanged: (left: boolean) => void }) {
  const { session, orgPath } = useSession();
  const mine = session.workspace.role;
  const self = m.user_id === session.user.id;
  const manage = atLeast(mine, 'admin') && (m.role !== 'owner' || mine === 'owner');
  const [error, setError] = useState<string>();
  const [confirm, setConfirm] = useState(false);
  const act = async (fn: () => Promise<unknown>, left = false) => {
    setError(undefined);
    try {
      await fn();
      onChanged(left);
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <tr data-member={m.email}>
      <td>
        <b>{m.email}</b>
        {self ? <span className="muted"> (you)</span> : null}
        <ErrorBox error={error} />
      </td>
      <td>
        {manage ? (
          <select
            aria-label={`Role of ${m.email}`}
            value={m.role}
            onChange={(e) => void act(() => api('PATCH', `${orgPath}/members/${m.user_id}`, { role: e.target.value }))}
          >
            {grantable(mine).map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        ) : (
          <Badge tone={m.role === 'owner' ? 'ok' : 'muted'}>{m.role}</Badge>
        )}
      </td>
      <td>{fmtTime(m.joined_at)}</td>
      <td>{m.last_login_at ? fmtTime(m.last_login_at) : '—'}</td>
      <td>
        {manage || self ? (
          confirm ? (
            <span className="confirm">
              <button
                type="button"
                className="btn danger small"
                onClick={() => void act(() => api('DELETE', `${orgPath}/members/${m.user_id}`), self)}
              >
                {self ? 'Yes, leave' : 'Yes, remove'}
              </button>
              <button type="button" className="btn small" onClick={() => setConfirm(false)}>
                Cancel
              </button>
            </span>
          ) : (
            <button type="button" className="btn small" onClick={() => setConfirm(true)}>
              {self ? 'Leave' : 'Remove'}
            </button>
          )
        ) : null}
      </td>
    </tr>
  );
}

export function MembersPage() {
  const { orgPath, session, can, refresh } = useSession();
  const admin = can('admin');
  const members = useLoad(() => api<Page<Member>>('GET', `${orgPath}/members?limit=100`), [orgPath]);
  const invites = useLoad(
    async () => (admin ? api<Page<Invite>>('GET', `${orgPath}/invites${qs({ status: 'pending', limit: 100 })}`) : undefined),
    [orgPath, admin],
  );
  const [created, setCreated] = useState<InviteCreatedResponse>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const invite = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    setBusy(true);
    setError(undefined);
    try {
      setCreated(await api<InviteCreatedResponse>('POST', `${orgPath}/invites`, { email: f.get('email'), role: f.get('role') }));
      form.reset();
      await invites.reload();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  const revoke = async (id: string) => {
    setError(undefined);
    try {
      await api('DELETE', `${orgPath}/invites/${id}`);
      await invites.reload();
    } catch (err) {
      setError(describeError(err));
    }
  };
  const changed = async (left: boolean) => {
    if (left) {
      // Gone from this workspace: on to another one, or signed out if it was the last.
      const others = session.workspaces.filter((w) => w.id !== session.workspace.id);
      if (others[0]) go(workspacePath(others[0].id, '/overview'));
      await refresh().catch(() => undefined);
      return;
    }
    await Promise.all([members.reload(), refresh()]);
  };

  return (
    <>
      {admin ? (
        <Card title="Invite someone">
          <ErrorBox error={error} />
          <form className="row wrap" onSubmit={invite} aria-label="Invite someone">
            <label>
              Email
              <input name="email" type="email" required maxLength={254} placeholder="colleague@example.com" />
            </label>
            <label>
              Role
              <select name="role" defaultValue="member">
                {grantable(session.workspace.role).map((r) => (
                  <option key={r} value={r}>
                    {r} — {ROLE_HELP[r]}
                  </option>
                ))}
              </select>
            </label>
            <button className="btn primary" type="submit" disabled={busy}>
              {busy ? 'Inviting…' : 'Create invite'}
            </button>
          </form>
        </Card>
      ) : (
        <p className="muted">
          You are a {session.workspace.role} here ({ROLE_HELP[session.workspace.role]}). An admin or owner invites people and changes roles.
        </p>
      )}
      {created ? <LinkPanel created={created} onDone={() => setCreated(undefined)} /> : null}
      <Card title="Members">
        <ErrorBox error={members.error} />
        {!members.data ? (
          <div className="placeholder">Loading…</div>
        ) : (
          <table className="members" data-testid="members">
            <thead>
              <tr>
                <th>Email</th>
                <th>Role</th>
                <th>Joined</th>
                <th>Last sign-in</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {members.data.data.map((m) => (
                <MemberRow key={m.user_id} m={m} onChanged={(left) => void changed(left)} />
              ))}
            </tbody>
          </table>
        )}
      </Card>
      {admin ? (
        <Card title="Pending invites">
          <ErrorBox error={invites.error} />
          {!invites.data ? (
            <div className="placeholder">Loading…</div>
          ) : invites.data.data.length === 0 ? (
            <Empty title="No pending invites">An invite stays here until it is accepted, revoked or expires (7 days).</Empty>
          ) : (
            <table data-testid="invites">
              <thead>
                <tr>
                  <th>Email</th>
                  <th>Role</th>
                  <th>Expires</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {invites.data.data.map((i) => (
                  <tr key={i.id}>
                    <td>{i.email}</td>
                    <td>{i.role}</td>
                    <td>{fmtTime(i.expires_at)}</td>
                    <td>
                      <button type="button" className="btn small" onClick={() => void revoke(i.id)}>
                        Revoke
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Card>
      ) : null}
    </>
  );
}
