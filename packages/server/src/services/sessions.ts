/**
 * Session rows: opened at sign-up, sign-in and invite acceptance; listed and revoked from the account area.
 * The cookie carries a random token; the row keeps its SHA-256 and an opaque id (what the list shows).
 */
import { newId } from '../ids.js';
import { generateSessionToken } from '../security/keys.js';
import type { Executor } from '../storage/store.js';

/** What the sessions list shows of the client that signed in (bounded: these come from request headers). */
export interface SessionClient {
  userAgent?: string | undefined;
  address?: string | undefined;
}

export async function openSession(
  trx: Executor,
  row: { userId: string; orgId: string; now: number; ttlMs: number },
  client: SessionClient = {},
): Promise<{ token: string; hash: string; id: string }> {
  const session = generateSessionToken();
  const id = newId('session');
  await trx
    .insertInto('sessions')
    .values({
      token_hash: session.hash,
      id,
      user_id: row.userId,
      org_id: row.orgId,
      created_at: row.now,
      expires_at: row.now + row.ttlMs,
      user_agent: client.userAgent?.slice(0, 300) ?? null,
      address: client.address?.slice(0, 100) ?? null,
    })
    .execute();
  return { ...session, id };
}
