/**
 * Teams in tests: invite someone into a workspace and accept (a new user, signed in), sign in again as a
 * user, and read a session from a Set-Cookie header. Over whatever `request` the test server has.
 */
import type { Res, Session, TestServer } from './harness.js';
import { uniqueEmail } from './harness.js';

export const PASSWORD = 'correct horse battery';
export type RoleName = 'owner' | 'admin' | 'member' | 'viewer';

type Requester = Pick<TestServer, 'request'>;

export function cookieOf(res: Res): string | undefined {
  return /availsync_session=([^;]*)/.exec(res.headers.get('set-cookie') ?? '')?.[1] || undefined;
}

/** The session a signed-in answer (signup, login, accept) carries. */
export function sessionOf(res: Res, email: string): Session {
  const cookie = cookieOf(res);
  if (res.status >= 300 || !cookie) throw new Error(`not signed in: ${res.status} ${JSON.stringify(res.body)}`);
  return { cookie, csrf: res.body.csrf_token, orgId: res.body.workspace.id, userId: res.body.user.id, email };
}

/** The one-time token of an invite link (`…/#/invite?token=…`). */
export function inviteToken(url: string): string {
  const token = /[?&]token=([^&]+)/.exec(url)?.[1];
  if (!token) throw new Error(`no token in ${url}`);
  return decodeURIComponent(token);
}

export async function createInvite(t: Requester, by: Session, role: RoleName, email = uniqueEmail(role)) {
  const res = await t.request('POST', `/v1/orgs/${by.orgId}/invites`, { session: by, body: { email, role } });
  if (res.status !== 201) throw new Error(`invite failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.invite.id as string, email, token: inviteToken(res.body.invite_url), res };
}

/** A new user who joined `by`'s workspace with `role`, signed in there. */
export async function addMember(t: Requester, by: Session, role: RoleName, email = uniqueEmail(role)): Promise<Session> {
  const invite = await createInvite(t, by, role, email);
  const res = await t.request('POST', '/v1/invites/accept', { body: { token: invite.token, password: PASSWORD } });
  return sessionOf(res, email);
}

export async function signIn(t: Requester, email: string, password = PASSWORD): Promise<Session> {
  return sessionOf(await t.request('POST', '/v1/auth/login', { body: { email, password } }), email);
}
