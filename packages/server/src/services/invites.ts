/**
 * Invites: a link with a one-time token, shown once (and emailed when SMTP is configured),
 * valid for 7 days by the injected clock, revocable until used. Accepting joins a signed-in user whose
 * email it names, or an existing account that gives its password, or creates the user with the password
 * given; then it signs in. The token is stored only as SHA-256 and is in no log line, audit row or other
 * answer.
 */
import type { Invite, InviteStatusValue } from '@availsync/protocol';
import type { Selectable } from 'kysely';
import { iso, isoOrNull } from '../clock.js';
import { limitKeyOf } from '../domain/addresses.js';
import { mayGrant, type Role } from '../domain/roles.js';
import type { ThrottlePolicy } from '../domain/throttle.js';
import { ApiError, errors } from '../errors.js';
import { newId } from '../ids.js';
import { hashPassword, verifyPassword } from '../security/passwords.js';
import { generateToken, INVITE_TOKEN_PREFIX, tokenHash } from '../security/tokens.js';
import type { InvitesTable } from '../storage/schema.js';
import { SESSION_TTL_MS, sessionView } from './accounts.js';
import { writeAudit } from './audit-write.js';
import type { OrgRow, Principal, ServiceDeps } from './context.js';
import type { Mailer } from './mailer.js';
import { lockedRole } from './members.js';
import { roleOf, workspacesOf } from './memberships.js';
import { openSession, type SessionClient } from './sessions.js';
import { Throttle } from './throttle.js';

export const INVITE_TTL_MS = 7 * 24 * 3600_000;
/** Password tries on one invite (an existing account joining without a session): as sign-in, per invite. */
const ACCEPT_PASSWORD_POLICY: ThrottlePolicy = { windowMs: 15 * 60_000, free: 5, baseDelayMs: 30_000 };

type UserPrincipal = Principal & { kind: 'user' };
type InviteRow = Selectable<InvitesTable>;

export function inviteStatus(row: InviteRow, now: number): InviteStatusValue {
  if (row.accepted_at !== null) return 'accepted';
  if (row.revoked_at !== null) return 'revoked';
  return row.expires_at <= now ? 'expired' : 'pending';
}

function toInvite(row: InviteRow, now: number): Invite {
  return {
    id: row.id,
    org_id: row.org_id,
    email: row.email,
    role: roleOf(row.role),
    status: inviteStatus(row, now),
    invited_by: row.invited_by,
    created_at: iso(row.created_at),
    expires_at: iso(row.expires_at),
    accepted_at: isoOrNull(row.accepted_at),
    revoked_at: isoOrNull(row.revoked_at),
  };
}

/** A token that cannot be used, and why (the caller holds the token, so the reason reveals nothing new). */
function badToken(reason: 'unknown' | 'expired' | 'used' | 'revoked') {
  const message = {
    unknown: 'This invite link is not valid. Ask for a new invite.',
    expired: 'This invite has expired. Ask for a new invite.',
    used: 'This invite has already been used.',
    revoked: 'This invite was revoked. Ask for a new invite.',
  }[reason];
  return errors.invalid(message, { token: reason });
}

function checkUsable(row: InviteRow | undefined, now: number): InviteRow {
  if (!row) throw badToken('unknown');
  const status = inviteStatus(row, now);
  if (status === 'accepted') throw badToken('used');
  if (status === 'revoked') throw badToken('revoked');
  if (status === 'expired') throw badToken('expired');
  return row;
}

/** The pieces of a signed-in request accept needs: who, and which session the new one replaces. */
export interface AcceptContext {
  session?: { userId: string; email: string; sessionHash: string } | undefined;
  address: string;
  client: SessionClient;
}

export class InviteService {
  private readonly throttle: Throttle;

  constructor(
    private readonly deps: ServiceDeps,
    private readonly mailer: Mailer,
  ) {
    this.throttle = new Throttle(deps.store);
  }

  /** POST …/invites: `baseUrl` is where the dashboard is (the link's origin). */
  async create(p: UserPrincipal, input: { email: string; role: Role }, baseUrl: string) {
    const email = input.email.trim().toLowerCase();
    const refuse = (role: Role) =>
      errors.forbidden(
        input.role === 'owner' && role === 'admin'
          ? `Only an owner can invite an owner; you are ${role}`
          : `Inviting needs the admin role; you are ${role}`,
      );
    if (!mayGrant(p.role, input.role)) throw refuse(p.role);
    const { store } = this.deps;
    const token = generateToken(INVITE_TOKEN_PREFIX);
    const row = await store.transaction(async (trx) => {
      await store.lockOrg(trx, p.org.id);
      const actor = await lockedRole(trx, p);
      if (!mayGrant(actor, input.role)) throw refuse(actor);
      const now = this.deps.clock.now();
      const member = await trx
        .selectFrom('memberships')
        .innerJoin('users', 'users.id', 'memberships.user_id')
        .select('users.id')
        .where('memberships.org_id', '=', p.org.id)
        .where('users.email', '=', email)
        .executeTakeFirst();
      if (member)
        throw errors.conflict(`${email} is already a member of this workspace`, { email: 'already a member', reason: 'already_member' });
      const pending = await trx
        .selectFrom('invites')
        .select('id')
        .where('org_id', '=', p.org.id)
        .where('email', '=', email)
        .where('accepted_at', 'is', null)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', now)
        .executeTakeFirst();
      if (pending) {
        throw errors.conflict(`An invite for ${email} is pending: revoke it before sending a new one`, {
          email: 'an invite is pending',
          reason: 'invite_pending',
          invite_id: pending.id,
        });
      }
      const invite: InviteRow = {
        id: newId('invite'),
        org_id: p.org.id,
        email,
        role: input.role,
        token_hash: token.hash,
        invited_by: p.userId,
        created_at: now,
        expires_at: now + INVITE_TTL_MS,
        accepted_at: null,
        accepted_by: null,
        revoked_at: null,
      };
      await trx.insertInto('invites').values(invite).execute();
      await writeAudit(trx, now, {
        org_id: p.org.id,
        actor: { type: 'user', id: p.userId },
        event: 'member.invited',
        details: { invite_id: invite.id, email, role: input.role },
      });
      return invite;
    });
    // The token goes in the fragment: browsers never send it to a server, so no access log ever holds it.
    const inviteUrl = `${baseUrl.replace(/\/+$/, '')}/#/invite?token=${token.token}`;
    if (this.mailer.configured) {
      this.mailer.send({
        kind: 'invite',
        to: email,
        subject: `You are invited to ${p.org.name} on Availsync`,
        text:
          `You have been invited to join the workspace "${p.org.name}" on Availsync as ${input.role}.\n\n` +
          `Accept the invite here (the link works once, for 7 days):\n${inviteUrl}\n\n` +
          'If you did not expect this email, you can ignore it.\n',
      });
    }
    return { invite: toInvite(row, row.created_at), invite_url: inviteUrl, emailed: this.mailer.configured };
  }

  async list(p: UserPrincipal, q: { status?: InviteStatusValue | undefined; limit: number; offset: number }) {
    const db = this.deps.store.db;
    const now = this.deps.clock.now();
    let base = db.selectFrom('invites').where('org_id', '=', p.org.id);
    if (q.status === 'accepted') base = base.where('accepted_at', 'is not', null);
    if (q.status === 'revoked') base = base.where('accepted_at', 'is', null).where('revoked_at', 'is not', null);
    if (q.status === 'pending' || q.status === 'expired') {
      base = base
        .where('accepted_at', 'is', null)
        .where('revoked_at', 'is', null)
        .where('expires_at', q.status === 'pending' ? '>' : '<=', now);
    }
    const [rows, count] = await Promise.all([
      base.selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(q.limit).offset(q.offset).execute(),
      base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    const total = Number(count.n);
    return {
      data: rows.map((r) => toInvite(r, now)),
      pagination: { limit: q.limit, offset: q.offset, total, has_more: q.offset + rows.length < total },
    };
  }

  /** DELETE …/invites/:invite_id: a pending (or lapsed) invite stops working. */
  async revoke(p: UserPrincipal, inviteId: string): Promise<{ invite: Invite }> {
    const { store } = this.deps;
    return store.transaction(async (trx) => {
      await store.lockOrg(trx, p.org.id);
      const actor = await lockedRole(trx, p);
      const row = await trx.selectFrom('invites').selectAll().where('id', '=', inviteId).where('org_id', '=', p.org.id).executeTakeFirst();
      if (!row) throw errors.notFound('Invite');
      const now = this.deps.clock.now();
      if (!mayGrant(actor, roleOf(row.role))) throw errors.forbidden(`Only an owner can revoke an invite to be owner; you are ${actor}`);
      if (row.accepted_at !== null)
        throw errors.conflict('This invite was already accepted: remove the member instead', { reason: 'accepted' });
      if (row.revoked_at !== null) throw errors.conflict('This invite is already revoked', { reason: 'revoked' });
      await trx.updateTable('invites').set({ revoked_at: now }).where('id', '=', row.id).execute();
      await writeAudit(trx, now, {
        org_id: p.org.id,
        actor: { type: 'user', id: p.userId },
        event: 'member.invite_revoked',
        details: { invite_id: row.id, email: row.email, role: row.role },
      });
      return { invite: toInvite({ ...row, revoked_at: now }, now) };
    });
  }

  /** POST /v1/invites/accept. Returns the new session's token and the signed-in view of the workspace. */
  async accept(input: { token: string; password?: string | undefined }, ctx: AcceptContext) {
    const { store } = this.deps;
    const db = store.db;
    const hash = tokenHash(input.token);
    const invite = checkUsable(
      await db.selectFrom('invites').selectAll().where('token_hash', '=', hash).executeTakeFirst(),
      this.deps.clock.now(),
    );
    const existing = await db.selectFrom('users').selectAll().where('email', '=', invite.email).executeTakeFirst();

    // Who joins, decided (and any password work done) before the transaction: argon2 holds no locks.
    let newPasswordHash: string | undefined;
    if (ctx.session) {
      if (ctx.session.email !== invite.email) {
        throw errors.forbidden(`This invite is for ${invite.email}; you are signed in as ${ctx.session.email}. Sign out first.`);
      }
    } else if (existing) {
      if (input.password === undefined) {
        throw new ApiError('unauthorized', `${invite.email} already has an account: sign in first, or give its password`, {
          password: 'required: the password of the existing account',
        });
      }
      const bucket = `invite:pw:${invite.id}:${limitKeyOf(ctx.address)}`;
      const wait = await this.throttle.attempt(bucket, ACCEPT_PASSWORD_POLICY, this.deps.clock.now());
      if (wait > 0) {
        throw new ApiError('rate_limited', 'Too many password attempts. Try again later.', { retry_after_s: wait }, undefined, wait);
      }
      if (!(await verifyPassword(existing.password_hash, input.password))) throw errors.unauthorized('Email or password is incorrect');
      await this.throttle.reset(bucket);
    } else {
      if (input.password === undefined || input.password.length < 10) {
        throw errors.invalid('Choose a password of at least 10 characters to create your account', {
          password: 'required: at least 10 characters',
        });
      }
      newPasswordHash = await hashPassword(input.password);
    }

    try {
      return await store.transaction(async (trx) => {
        const now = this.deps.clock.now();
        // Again under the lock: two accepts of one token race here, and one of them finds it used.
        const locked = checkUsable(
          await store.forUpdate(trx.selectFrom('invites').selectAll().where('id', '=', invite.id)).executeTakeFirst(),
          now,
        );
        const org = (await trx.selectFrom('orgs').selectAll().where('id', '=', locked.org_id).executeTakeFirst()) as OrgRow | undefined;
        if (!org) throw badToken('unknown');
        let user = existing;
        if (!user) {
          if (newPasswordHash === undefined) throw badToken('unknown'); // the account went away meanwhile
          user = {
            id: newId('user'),
            org_id: org.id,
            email: locked.email,
            password_hash: newPasswordHash,
            created_at: now,
            last_login_at: now,
          };
          await trx.insertInto('users').values(user).execute();
        }
        const already = await trx
          .selectFrom('memberships')
          .select('role')
          .where('org_id', '=', org.id)
          .where('user_id', '=', user.id)
          .executeTakeFirst();
        if (already) throw errors.conflict(`${user.email} is already a member of this workspace`, { reason: 'already_member' });
        const role = roleOf(locked.role);
        await trx.insertInto('memberships').values({ org_id: org.id, user_id: user.id, role, created_at: now }).execute();
        await trx.updateTable('invites').set({ accepted_at: now, accepted_by: user.id }).where('id', '=', locked.id).execute();
        // A signed-in user's old cookie is replaced by the new one: its session goes with it.
        if (ctx.session) await trx.deleteFrom('sessions').where('token_hash', '=', ctx.session.sessionHash).execute();
        const session = await openSession(
          trx,
          { userId: user.id, orgId: org.id, now, ttlMs: SESSION_TTL_MS },
          { address: ctx.address, ...ctx.client },
        );
        await trx.updateTable('users').set({ last_login_at: now }).where('id', '=', user.id).execute();
        await writeAudit(trx, now, {
          org_id: org.id,
          actor: { type: 'user', id: user.id },
          event: 'member.joined',
          details: { user_id: user.id, email: user.email, role, invite_id: locked.id, new_account: existing === undefined },
        });
        const workspaces = await workspacesOf(trx, user.id);
        return { token: session.token, view: sessionView(user, org, role, workspaces, session.token) };
      });
    } catch (err) {
      if (store.isUniqueViolation(err)) throw errors.conflict('An account with this email was created meanwhile: sign in and accept again');
      throw err;
    }
  }
}
