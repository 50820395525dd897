/**
 * What the workspace-auth and agent suites (auth.test.ts, agents.test.ts) share: the sign-up password, how
 * a key is hashed, the key format, the session cookie's attributes and the audit rows of one event.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { TestServer } from '@availsync/testkit';

export const PASSWORD = 'correct horse battery';
export const sha256hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
export const KEY_FORMAT = /^avs_live_[0-9A-Za-z]{40,}$/;

/** The session cookie's attributes, from a Set-Cookie header. */
export function parseCookie(setCookie: string | null) {
  assert.ok(setCookie, 'a Set-Cookie header');
  const [pair = '', ...attrs] = setCookie.split(';').map((s) => s.trim());
  const [name, ...value] = pair.split('=');
  const flags = new Map(attrs.map((a) => [a.split('=')[0]?.toLowerCase() ?? '', a.split('=').slice(1).join('=')]));
  return { name, value: value.join('='), flags };
}

/** The audit rows of `event` in a workspace. */
export const auditRows = (t: TestServer, orgId: string, event: string) =>
  t.store.db.selectFrom('audit_events').selectAll().where('org_id', '=', orgId).where('event', '=', event).execute();
