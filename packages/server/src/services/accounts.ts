/** Workspace sign-up, sign-in and sessions. Passwords are argon2id; session tokens are stored hashed. */
import type { Selectable } from 'kysely';
import { iso } from '../clock.js';
import { limitKeyOf } from '../domain/addresses.js';
import type { Role } from '../domain/roles.js';
import type { ThrottlePolicy } from '../domain/throttle.js';
import { ApiError, errors } from '../errors.js';
import { newId } from '../ids.js';
import { csrfTokenFor, sha256 } from '../security/keys.js';
import { hashPassword, verifyPassword } from '../security/passwords.js';
import type { UsersTable } from '../storage/schema.js';
import { writeAudit } from './audit-write.js';
import type { OrgRow, ServiceDeps } from './context.js';
import { defaultWorkspaceOf, roleOf, type WorkspaceMembershipView, workspacesOf } from './memberships.js';
import { openSession, type SessionClient } from './sessions.js';
import { Throttle } from './throttle.js';

export const SESSION_TTL_MS = 14 * 24 * 3600_000;
export const DEFAULT_SIGNUPS_PER_HOUR = 20;
/**
 * Sign-in slow-downs. Per (address, email): five tries at once, then 30 s, 60 s, 2 min, ...
 * after the window opened. Per address, whatever the emails (password spraying): fifty, then 10 s, 20 s,
 * .... A success clears the (address, email) bucket and is not counted against the address. There is no
 * per-email bucket: the right password from an address that has not failed is never refused.
 */
export const LOGIN_PER_ADDRESS_EMAIL: ThrottlePolicy = { windowMs: 15 * 60_000, free: 5, baseDelayMs: 30_000 };
export const LOGIN_PER_ADDRESS: ThrottlePolicy = { windowMs: 15 * 60_000, free: 50, baseDelayMs: 10_000 };

function rateLimited(message: string, retryAfterS: number) {
  return new ApiError('rate_limited', message, { retry_after_s: retryAfterS }, undefined, retryAfterS);
}

export interface SessionView {
  user: { id: string; email: string; created_at: string };
  workspace: WorkspaceMembershipView;
  workspaces: WorkspaceMembershipView[];
  csrf_token: string;
}

/** The signed-in answer: the user, the workspace the session acts in (with their role), all of theirs. */
export function sessionView(
  user: Pick<Selectable<UsersTable>, 'id' | 'email' | 'created_at'>,
  org: OrgRow,
  role: Role,
  workspaces: WorkspaceMembershipView[],
  token: string,
): SessionView {
  const plan = org.plan as WorkspaceMembershipView['plan'];
  return {
    user: { id: user.id, email: user.email, created_at: iso(user.created_at) },
    workspace: { id: org.id, name: org.name, plan, created_at: iso(org.created_at), role },
    workspaces,
    csrf_token: csrfTokenFor(token),
  };
}

export class AccountService {
  readonly throttle: Throttle;

  constructor(private readonly deps: ServiceDeps) {
    this.throttle = new Throttle(deps.store);
  }

  /** Which proxies' X-Forwarded-For names the client whose address is limited (AVAILSYNC_TRUST_PROXY). */
  get trustProxy(): ServiceDeps['config']['trustProxy'] {
    return this.deps.config.trustProxy;
  }

  /** Sign-ups per client address: a plain limit per hour (AVAILSYNC_SIGNUPS_PER_HOUR). */
  get signupPolicy(): ThrottlePolicy {
    return { windowMs: 3_600_000, free: this.deps.config.signupsPerHour ?? DEFAULT_SIGNUPS_PER_HOUR };
  }

  async signup(input: { email: string; password: string; workspace_name: string }, address = 'unknown', client: SessionClient = {}) {
    const email = input.email.trim().toLowerCase();
    const { store } = this.deps;
    const now = this.deps.clock.now();
    const wait = await this.throttle.attempt(`signup:addr:${limitKeyOf(address)}`, this.signupPolicy, now);
    if (wait > 0) throw rateLimited('Too many sign-ups from this address. Try again later.', wait);
    // The cheap check first: a taken email costs no password hash (the unique index still decides races).
    const taken = await store.db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirst();
    if (taken) throw new ApiError('conflict', 'An account with this email already exists. Sign in instead.');
    const passwordHash = await hashPassword(input.password);
    try {
      return await store.transaction(async (trx) => {
        const org: OrgRow = {
          id: newId('org'),
          name: input.workspace_name,
          plan: this.deps.config.defaultPlan,
          default_mode: 'enforce',
          default_claim_minutes: 30,
          max_claim_minutes: 720,
          created_at: now,
        };
        const user = { id: newId('user'), org_id: org.id, email, password_hash: passwordHash, created_at: now, last_login_at: now };
        await trx.insertInto('orgs').values(org).execute();
        await trx.insertInto('users').values(user).execute();
        await trx.insertInto('memberships').values({ org_id: org.id, user_id: user.id, role: 'owner', created_at: now }).execute();
        const session = await openSession(trx, { userId: user.id, orgId: org.id, now, ttlMs: SESSION_TTL_MS }, { address, ...client });
        await writeAudit(trx, now, {
          org_id: org.id,
          actor: { type: 'user', id: user.id },
          event: 'workspace.created',
          details: { name: org.name, plan: org.plan },
        });
        const view = sessionView(user, org, 'owner', [], session.token);
        return { token: session.token, view: { ...view, workspaces: [view.workspace] } };
      });
    } catch (err) {
      if (store.isUniqueViolation(err)) throw new ApiError('conflict', 'An account with this email already exists. Sign in instead.');
      throw err;
    }
  }

  /**
   * Sign in. The address (as `clientAddress` found it) is limited with its /64 for IPv6. A throttled
   * attempt is refused before any password work; a failed one is audited as `auth.failed` and a throttled
   * one as `auth.throttled` (once per bucket and window), both in the workspace of the email's user. An
   * email with no user has no workspace to audit in: it goes to the log instead. Never the password.
   */
  async login(input: { email: string; password: string }, address = 'unknown', client: SessionClient = {}) {
    const email = input.email.trim().toLowerCase();
    const { store } = this.deps;
    const now = this.deps.clock.now();
    const group = limitKeyOf(address);
    const addressKey = `login:addr:${group}`;
    const pairKey = `login:pair:${sha256(`${group}\u0000${email}`)}`;

    const byAddress = await this.throttle.attempt(addressKey, LOGIN_PER_ADDRESS, now);
    const byPair = byAddress > 0 ? 0 : await this.throttle.attempt(pairKey, LOGIN_PER_ADDRESS_EMAIL, now);
    if (byAddress > 0 || byPair > 0) {
      // Refused for the pair: not an attempt the address made either.
      if (byPair > 0) await this.throttle.undo(addressKey);
      const limit = byAddress > 0 ? 'address' : 'address_email';
      const wait = Math.max(byAddress, byPair);
      await this.auditThrottled(email, address, limit, byAddress > 0 ? addressKey : pairKey, wait, now);
      throw rateLimited('Too many sign-in attempts from this address. Try again after Retry-After seconds.', wait);
    }

    const user = await store.db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
    const ok = await verifyPassword(user?.password_hash ?? null, input.password);
    if (!user || !ok) {
      await this.auditFailed(user, email, address, now);
      throw errors.unauthorized('Email or password is incorrect');
    }
    const orgId = await defaultWorkspaceOf(store.db, user);
    if (orgId === undefined) {
      throw errors.forbidden('This account is no longer a member of any workspace. Ask a workspace admin for a new invite.');
    }
    const org = await store.db.selectFrom('orgs').selectAll().where('id', '=', orgId).executeTakeFirstOrThrow();
    const session = await store.transaction(async (trx) => {
      const opened = await openSession(trx, { userId: user.id, orgId: org.id, now, ttlMs: SESSION_TTL_MS }, { address, ...client });
      await trx.updateTable('users').set({ last_login_at: now }).where('id', '=', user.id).execute();
      await trx.deleteFrom('sessions').where('user_id', '=', user.id).where('expires_at', '<=', now).execute();
      await writeAudit(trx, now, {
        org_id: org.id,
        actor: { type: 'user', id: user.id },
        event: 'user.signed_in',
        details: { ip: address },
      });
      return opened;
    });
    // A success is not held against the address, and clears this address's failures for the email.
    await this.throttle.reset(pairKey);
    await this.throttle.undo(addressKey);
    const workspaces = await workspacesOf(store.db, user.id);
    const role = workspaces.find((w) => w.id === org.id)?.role ?? 'viewer';
    return { token: session.token, view: sessionView(user, org, role, workspaces, session.token) };
  }

  private async auditFailed(user: { id: string; org_id: string } | undefined, email: string, address: string, now: number) {
    if (!user) {
      this.deps.logger.info('auth.failed', { email, address, reason: 'unknown_email' });
      return;
    }
    await writeAudit(this.deps.store.db, now, {
      org_id: user.org_id,
      actor: { type: 'system', id: null },
      event: 'auth.failed',
      details: { user_id: user.id, email, address, reason: 'wrong_password' },
    });
  }

  private async auditThrottled(email: string, address: string, limit: string, bucket: string, retryAfterS: number, now: number) {
    const windowStart = await this.throttle.windowOf(bucket);
    if (windowStart === undefined || !(await this.throttle.firstTime(`${bucket}:${sha256(email)}`, windowStart))) return;
    const user = await this.deps.store.db.selectFrom('users').select(['id', 'org_id']).where('email', '=', email).executeTakeFirst();
    const details = { email, address, limit, retry_after_s: retryAfterS };
    if (!user) {
      this.deps.logger.info('auth.throttled', details);
      return;
    }
    await writeAudit(this.deps.store.db, now, {
      org_id: user.org_id,
      actor: { type: 'system', id: null },
      event: 'auth.throttled',
      details: { user_id: user.id, ...details },
    });
  }

  async logout(sessionHash: string, orgId: string, userId: string) {
    const now = this.deps.clock.now();
    await this.deps.store.transaction(async (trx) => {
      await trx.deleteFrom('sessions').where('token_hash', '=', sessionHash).execute();
      await writeAudit(trx, now, { org_id: orgId, actor: { type: 'user', id: userId }, event: 'user.signed_out' });
    });
  }

  /**
   * The session behind a cookie token (null: none, or expired), and the user's membership of `orgId` (the
   * workspace a request names; the session's own when it names none), undefined if they are not a member.
   */
  async resolveSession(token: string, orgId?: string) {
    const now = this.deps.clock.now();
    const row = await this.deps.store.db
      .selectFrom('sessions')
      .innerJoin('users', 'users.id', 'sessions.user_id')
      .leftJoin('memberships as m', (j) =>
        orgId === undefined
          ? j.onRef('m.user_id', '=', 'sessions.user_id').onRef('m.org_id', '=', 'sessions.org_id')
          : j.onRef('m.user_id', '=', 'sessions.user_id').on('m.org_id', '=', orgId),
      )
      .leftJoin('orgs', 'orgs.id', 'm.org_id')
      .select([
        'sessions.token_hash',
        'sessions.id as session_id',
        'sessions.expires_at as session_expires_at',
        'users.id as user_id',
        'users.email',
        'users.created_at as user_created_at',
        'm.role',
        'orgs.id',
        'orgs.name',
        'orgs.plan',
        'orgs.default_mode',
        'orgs.default_claim_minutes',
        'orgs.max_claim_minutes',
        'orgs.created_at',
      ])
      .where('sessions.token_hash', '=', sha256(token))
      .executeTakeFirst();
    if (!row || row.session_expires_at <= now) return null;
    const user = { id: row.user_id, email: row.email, created_at: row.user_created_at };
    const base = { user, sessionHash: row.token_hash, sessionId: row.session_id };
    if (row.id === null || row.role === null) return { ...base, membership: undefined };
    const org: OrgRow = {
      id: row.id,
      name: row.name as string,
      plan: row.plan as string,
      default_mode: row.default_mode as string,
      default_claim_minutes: row.default_claim_minutes as number,
      max_claim_minutes: row.max_claim_minutes as number,
      created_at: row.created_at as number,
    };
    return { ...base, membership: { org, role: roleOf(row.role) } };
  }
}
