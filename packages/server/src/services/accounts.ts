/** Workspace sign-up, sign-in and sessions. Passwords are argon2id; session tokens are stored hashed. */
import type { Selectable } from 'kysely';
import { iso } from '../clock.js';
import { ApiError, errors } from '../http/errors.js';
import { newId } from '../ids.js';
import { csrfTokenFor, generateSessionToken, sha256 } from '../security/keys.js';
import { hashPassword, verifyPassword } from '../security/passwords.js';
import type { UsersTable } from '../storage/schema.js';
import { writeAudit } from './audit.js';
import type { OrgRow, ServiceDeps } from './context.js';

export const SESSION_TTL_MS = 14 * 24 * 3600_000;
const LOGIN_WINDOW_MS = 15 * 60_000;
const LOGIN_MAX_PER_EMAIL = 10;
const LOGIN_MAX_PER_IP = 50;

export interface SessionView {
  user: { id: string; email: string; created_at: string };
  workspace: { id: string; name: string; plan: 'free' | 'team' | 'unlimited'; created_at: string };
  csrf_token: string;
}

export function sessionView(user: Pick<Selectable<UsersTable>, 'id' | 'email' | 'created_at'>, org: OrgRow, token: string): SessionView {
  return {
    user: { id: user.id, email: user.email, created_at: iso(user.created_at) },
    workspace: { id: org.id, name: org.name, plan: org.plan as SessionView['workspace']['plan'], created_at: iso(org.created_at) },
    csrf_token: csrfTokenFor(token),
  };
}

export class AccountService {
  constructor(private readonly deps: ServiceDeps) {}

  async signup(input: { email: string; password: string; workspace_name: string }) {
    const email = input.email.trim().toLowerCase();
    const passwordHash = await hashPassword(input.password);
    const { store } = this.deps;
    const now = this.deps.clock.now();
    const session = generateSessionToken();
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
        await trx
          .insertInto('sessions')
          .values({ token_hash: session.hash, user_id: user.id, org_id: org.id, created_at: now, expires_at: now + SESSION_TTL_MS })
          .execute();
        await writeAudit(trx, now, {
          org_id: org.id,
          actor: { type: 'user', id: user.id },
          event: 'workspace.created',
          details: { name: org.name, plan: org.plan },
        });
        return { token: session.token, view: sessionView(user, org, session.token) };
      });
    } catch (err) {
      if (store.isUniqueViolation(err)) throw new ApiError('conflict', 'An account with this email already exists. Sign in instead.');
      throw err;
    }
  }

  /**
   * Fixed-window counters in the database, so every node shares them. Returns seconds to wait, or 0.
   * One atomic upsert on both stores (PostgreSQL locks the row; SQLite has one writer): a lapsed window
   * restarts at 1, otherwise the count grows. No `SELECT ... FOR UPDATE`, which SQLite cannot parse.
   */
  private async hit(key: string, max: number, now: number): Promise<number> {
    const row = await this.deps.store.db
      .insertInto('rate_limits')
      .values({ key, window_start: now, count: 1 })
      .onConflict((oc) =>
        oc.column('key').doUpdateSet((eb) => {
          const lapsed = eb(eb('rate_limits.window_start', '+', LOGIN_WINDOW_MS), '<=', now);
          return {
            window_start: eb.case().when(lapsed).then(now).else(eb.ref('rate_limits.window_start')).end(),
            count: eb
              .case()
              .when(lapsed)
              .then(1)
              .else(eb('rate_limits.count', '+', 1))
              .end(),
          };
        }),
      )
      .returning(['window_start', 'count'])
      .executeTakeFirstOrThrow();
    if (row.count <= max) return 0;
    return Math.max(1, Math.ceil((Number(row.window_start) + LOGIN_WINDOW_MS - now) / 1000));
  }

  async login(input: { email: string; password: string }, ip: string) {
    const email = input.email.trim().toLowerCase();
    const { store } = this.deps;
    const now = this.deps.clock.now();
    const emailKey = `login:email:${sha256(email)}`;
    const waits = [await this.hit(emailKey, LOGIN_MAX_PER_EMAIL, now), await this.hit(`login:ip:${ip}`, LOGIN_MAX_PER_IP, now)];
    const wait = Math.max(...waits);
    if (wait > 0) {
      throw new ApiError('rate_limited', 'Too many sign-in attempts. Try again later.', undefined, undefined, {
        'Retry-After': String(wait),
      });
    }
    const user = await store.db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
    const ok = await verifyPassword(user?.password_hash ?? null, input.password);
    if (!user || !ok) throw errors.unauthorized('Email or password is incorrect');
    const org = await store.db.selectFrom('orgs').selectAll().where('id', '=', user.org_id).executeTakeFirstOrThrow();
    const session = generateSessionToken();
    await store.transaction(async (trx) => {
      await trx
        .insertInto('sessions')
        .values({ token_hash: session.hash, user_id: user.id, org_id: org.id, created_at: now, expires_at: now + SESSION_TTL_MS })
        .execute();
      await trx.updateTable('users').set({ last_login_at: now }).where('id', '=', user.id).execute();
      await trx.deleteFrom('rate_limits').where('key', '=', emailKey).execute();
      await trx.deleteFrom('sessions').where('user_id', '=', user.id).where('expires_at', '<=', now).execute();
      await writeAudit(trx, now, { org_id: org.id, actor: { type: 'user', id: user.id }, event: 'user.signed_in', details: { ip } });
    });
    return { token: session.token, view: sessionView(user, org, session.token) };
  }

  async logout(sessionHash: string, orgId: string, userId: string) {
    const now = this.deps.clock.now();
    await this.deps.store.transaction(async (trx) => {
      await trx.deleteFrom('sessions').where('token_hash', '=', sessionHash).execute();
      await writeAudit(trx, now, { org_id: orgId, actor: { type: 'user', id: userId }, event: 'user.signed_out' });
    });
  }

  /** The session behind a cookie token, or null. */
  async resolveSession(token: string) {
    const now = this.deps.clock.now();
    const row = await this.deps.store.db
      .selectFrom('sessions')
      .innerJoin('users', 'users.id', 'sessions.user_id')
      .innerJoin('orgs', 'orgs.id', 'sessions.org_id')
      .select([
        'sessions.token_hash',
        'sessions.expires_at as session_expires_at',
        'users.id as user_id',
        'users.email',
        'users.created_at as user_created_at',
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
    const org: OrgRow = {
      id: row.id,
      name: row.name,
      plan: row.plan,
      default_mode: row.default_mode,
      default_claim_minutes: row.default_claim_minutes,
      max_claim_minutes: row.max_claim_minutes,
      created_at: row.created_at,
    };
    return { org, user: { id: row.user_id, email: row.email, created_at: row.user_created_at }, sessionHash: row.token_hash };
  }
}
