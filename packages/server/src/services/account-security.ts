/**
 * Account security: changing the password (ends the user's other sessions), the sessions list
 * and revoking one, and reset by emailed link. A reset request answers alike whether or not the email has
 * an account, and costs the same (one argon2 verification either way; the email goes out after the
 * answer). Reset tokens are stored as SHA-256, live an hour by the injected clock, work once, and a reset
 * ends every session of the user. No password or token reaches a log line or an audit row.
 */
import type { AccountSession } from '@availsync/protocol';
import { iso } from '../clock.js';
import { limitKeyOf } from '../domain/addresses.js';
import type { ThrottlePolicy } from '../domain/throttle.js';
import { ApiError, errors } from '../errors.js';
import { sha256 } from '../security/keys.js';
import { hashPassword, verifyPassword } from '../security/passwords.js';
import { generateToken, RESET_TOKEN_PREFIX, tokenHash } from '../security/tokens.js';
import type { Tx } from '../storage/store.js';
import { LOGIN_PER_ADDRESS_EMAIL } from './accounts.js';
import { writeAudit } from './audit-write.js';
import type { Principal, ServiceDeps } from './context.js';
import type { Mailer } from './mailer.js';
import { Throttle } from './throttle.js';

export const RESET_TTL_MS = 3600_000;
/** Reset requests per client address (answered 429 past it: says nothing about any email). */
export const RESET_PER_ADDRESS: ThrottlePolicy = { windowMs: 3600_000, free: 20 };
/** Reset emails per account and hour: past it the answer is the same, and no email goes out. */
export const RESET_EMAILS_PER_ACCOUNT: ThrottlePolicy = { windowMs: 3600_000, free: 3 };

type UserPrincipal = Principal & { kind: 'user' };

/** One audit row in each workspace the user belongs to: each team's log shows its member's account events. */
async function auditForUser(trx: Tx, userId: string, now: number, event: string, details: Record<string, unknown>) {
  const orgs = await trx.selectFrom('memberships').select('org_id').where('user_id', '=', userId).limit(100).execute();
  await writeAudit(
    trx,
    now,
    orgs.map((o) => ({ org_id: o.org_id, actor: { type: 'user' as const, id: userId }, event, details })),
  );
}

function badResetToken(reason: 'unknown' | 'expired' | 'used') {
  const message = {
    unknown: 'This password reset link is not valid. Ask for a new one.',
    expired: 'This password reset link has expired. Ask for a new one.',
    used: 'This password reset link has already been used. Ask for a new one.',
  }[reason];
  return errors.invalid(message, { token: reason });
}

export class AccountSecurityService {
  private readonly throttle: Throttle;

  constructor(
    private readonly deps: ServiceDeps,
    private readonly mailer: Mailer,
  ) {
    this.throttle = new Throttle(deps.store);
  }

  /** POST /v1/auth/password. A wrong current password is a 400 on that field (not a 401: the session is fine). */
  async changePassword(p: UserPrincipal, input: { current_password: string; new_password: string }) {
    const { store } = this.deps;
    const bucket = `password:user:${p.userId}`;
    const wait = await this.throttle.attempt(bucket, LOGIN_PER_ADDRESS_EMAIL, this.deps.clock.now());
    if (wait > 0)
      throw new ApiError('rate_limited', 'Too many password attempts. Try again later.', { retry_after_s: wait }, undefined, wait);
    const user = await store.db.selectFrom('users').select(['id', 'password_hash']).where('id', '=', p.userId).executeTakeFirstOrThrow();
    if (!(await verifyPassword(user.password_hash, input.current_password))) {
      throw errors.invalid('The current password is incorrect', { current_password: 'incorrect' });
    }
    await this.throttle.reset(bucket);
    const hash = await hashPassword(input.new_password);
    return store.transaction(async (trx) => {
      const now = this.deps.clock.now();
      await trx.updateTable('users').set({ password_hash: hash }).where('id', '=', p.userId).execute();
      const ended = await trx
        .deleteFrom('sessions')
        .where('user_id', '=', p.userId)
        .where('token_hash', '!=', p.sessionHash)
        .executeTakeFirst();
      // A reset link asked for before the change must not undo it.
      await trx.updateTable('password_resets').set({ used_at: now }).where('user_id', '=', p.userId).where('used_at', 'is', null).execute();
      const sessionsEnded = Number(ended.numDeletedRows);
      await auditForUser(trx, p.userId, now, 'user.password_changed', { user_id: p.userId, via: 'change', sessions_ended: sessionsEnded });
      return { ok: true as const, sessions_ended: sessionsEnded };
    });
  }

  /** GET /v1/auth/sessions: the user's live sessions in every workspace, newest first. */
  async listSessions(p: UserPrincipal, q: { limit: number; offset: number }) {
    const db = this.deps.store.db;
    const now = this.deps.clock.now();
    const base = db.selectFrom('sessions').where('user_id', '=', p.userId).where('expires_at', '>', now);
    const [rows, count] = await Promise.all([
      base
        .select(['id', 'token_hash', 'org_id', 'created_at', 'expires_at', 'user_agent', 'address'])
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(q.limit)
        .offset(q.offset)
        .execute(),
      base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    const total = Number(count.n);
    const data: AccountSession[] = rows.map((r) => ({
      id: r.id,
      current: r.token_hash === p.sessionHash,
      workspace_id: r.org_id,
      created_at: iso(r.created_at),
      expires_at: iso(r.expires_at),
      user_agent: r.user_agent,
      address: r.address,
    }));
    return { data, pagination: { limit: q.limit, offset: q.offset, total, has_more: q.offset + rows.length < total } };
  }

  /** DELETE /v1/auth/sessions/:session_id: one of the user's own sessions (the current one signs out). */
  async revokeSession(p: UserPrincipal, sessionId: string): Promise<{ revoked: true; current: boolean }> {
    const { store } = this.deps;
    return store.transaction(async (trx) => {
      const row = await trx
        .selectFrom('sessions')
        .select(['token_hash'])
        .where('id', '=', sessionId)
        .where('user_id', '=', p.userId)
        .executeTakeFirst();
      if (!row) throw errors.notFound('Session');
      await trx.deleteFrom('sessions').where('token_hash', '=', row.token_hash).execute();
      const now = this.deps.clock.now();
      await writeAudit(trx, now, {
        org_id: p.org.id,
        actor: { type: 'user', id: p.userId },
        event: 'user.session_revoked',
        details: { session_id: sessionId },
      });
      return { revoked: true as const, current: row.token_hash === p.sessionHash };
    });
  }

  /**
   * POST /v1/auth/password-reset. `baseUrl`: AVAILSYNC_PUBLIC_URL, never the request's Host (anyone may
   * call this, and a forged Host would send the victim a link to someone else's site); without it no
   * email goes out (logged).
   */
  async requestReset(input: { email: string }, address: string, baseUrl: string | undefined): Promise<{ ok: true }> {
    const email = input.email.trim().toLowerCase();
    const now = this.deps.clock.now();
    const wait = await this.throttle.attempt(`reset:addr:${limitKeyOf(address)}`, RESET_PER_ADDRESS, now);
    if (wait > 0) {
      throw new ApiError(
        'rate_limited',
        'Too many password reset requests from this address. Try again later.',
        { retry_after_s: wait },
        undefined,
        wait,
      );
    }
    const user = await this.deps.store.db.selectFrom('users').select(['id', 'email']).where('email', '=', email).executeTakeFirst();
    // The same work for every email: one argon2 verification against a dummy hash.
    await verifyPassword(null, email);
    if (!user) return { ok: true };
    if (!this.mailer.configured || baseUrl === undefined) {
      this.deps.logger.warn('password reset requested but no email can be sent', {
        user_id: user.id,
        reason: this.mailer.configured ? 'AVAILSYNC_PUBLIC_URL is not set' : 'AVAILSYNC_SMTP_URL is not set',
      });
      return { ok: true };
    }
    if ((await this.throttle.attempt(`reset:user:${sha256(user.id)}`, RESET_EMAILS_PER_ACCOUNT, now)) > 0) {
      this.deps.logger.info('password reset email skipped: too many this hour', { user_id: user.id });
      return { ok: true };
    }
    const token = generateToken(RESET_TOKEN_PREFIX);
    await this.deps.store.transaction(async (trx) => {
      await trx
        .insertInto('password_resets')
        .values({ token_hash: token.hash, user_id: user.id, created_at: now, expires_at: now + RESET_TTL_MS, used_at: null })
        .execute();
      await auditForUser(trx, user.id, now, 'user.password_reset_requested', { user_id: user.id, address });
    });
    const link = `${baseUrl.replace(/\/+$/, '')}/#/reset-password?token=${token.token}`;
    this.mailer.send({
      kind: 'password_reset',
      to: user.email,
      subject: 'Reset your Availsync password',
      text:
        'Someone (hopefully you) asked to reset the password of your Availsync account.\n\n' +
        `Choose a new password here (the link works once, for one hour):\n${link}\n\n` +
        'If you did not ask for this, ignore this email: your password stays as it is.\n',
    });
    return { ok: true };
  }

  /** POST /v1/auth/password-reset/confirm: sets the password, uses up the user's reset links, ends every session. */
  async confirmReset(input: { token: string; new_password: string }): Promise<{ ok: true }> {
    const { store } = this.deps;
    const hash = tokenHash(input.token);
    const check = (row: { expires_at: number; used_at: number | null } | undefined, now: number) => {
      if (!row) throw badResetToken('unknown');
      if (row.used_at !== null) throw badResetToken('used');
      if (row.expires_at <= now) throw badResetToken('expired');
    };
    const first = await store.db.selectFrom('password_resets').selectAll().where('token_hash', '=', hash).executeTakeFirst();
    check(first, this.deps.clock.now());
    const passwordHash = await hashPassword(input.new_password);
    return store.transaction(async (trx) => {
      const now = this.deps.clock.now();
      // Again under the lock: of two confirms with one token, one finds it used.
      const row = await store.forUpdate(trx.selectFrom('password_resets').selectAll().where('token_hash', '=', hash)).executeTakeFirst();
      check(row, now);
      const userId = (row as NonNullable<typeof row>).user_id;
      await trx.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', userId).execute();
      await trx.updateTable('password_resets').set({ used_at: now }).where('user_id', '=', userId).where('used_at', 'is', null).execute();
      const ended = await trx.deleteFrom('sessions').where('user_id', '=', userId).executeTakeFirst();
      await auditForUser(trx, userId, now, 'user.password_changed', {
        user_id: userId,
        via: 'reset',
        sessions_ended: Number(ended.numDeletedRows),
      });
      return { ok: true as const };
    });
  }
}
