/**
 * Members of a workspace and their roles. Role changes and removals run with the workspace row
 * locked (PostgreSQL `FOR UPDATE`; SQLite's writes are serialised anyway), so two owners demoting each
 * other at once cannot leave a workspace with none: the second sees the first's change and is refused.
 */
import type { Member } from '@availsync/protocol';
import { iso, isoOrNull } from '../clock.js';
import { atLeast, mayGrant, mayManage, type Role } from '../domain/roles.js';
import { errors } from '../errors.js';
import type { Executor, Tx } from '../storage/store.js';
import { writeAudit } from './audit-write.js';
import type { Principal, ServiceDeps } from './context.js';
import { roleOf } from './memberships.js';

type UserPrincipal = Principal & { kind: 'user' };

interface MemberRow {
  user_id: string;
  email: string;
  role: string;
  created_at: number;
  last_login_at: number | null;
}

function toMember(r: MemberRow): Member {
  return {
    user_id: r.user_id,
    email: r.email,
    role: roleOf(r.role),
    joined_at: iso(r.created_at),
    last_login_at: isoOrNull(r.last_login_at),
  };
}

/** The outcome when a change would leave the workspace without an owner. */
export function lastOwner(what: 'demoted' | 'removed') {
  return errors.conflict(
    what === 'demoted'
      ? 'The last owner cannot be demoted: make another member an owner first.'
      : 'The last owner cannot leave or be removed: make another member an owner first.',
    { reason: 'last_owner' },
  );
}

/**
 * The caller's role as it is now, read with the workspace row locked: a role changed since the request was
 * authenticated (a concurrent demotion) is the one that counts for a change to members or invites.
 */
export async function lockedRole(trx: Tx, p: UserPrincipal): Promise<Role> {
  const row = await trx
    .selectFrom('memberships')
    .select('role')
    .where('org_id', '=', p.org.id)
    .where('user_id', '=', p.userId)
    .executeTakeFirst();
  if (!row) throw errors.notFound('Workspace');
  return roleOf(row.role);
}

export class MemberService {
  constructor(private readonly deps: ServiceDeps) {}

  private memberQuery(ex: Executor, orgId: string) {
    return ex
      .selectFrom('memberships')
      .innerJoin('users', 'users.id', 'memberships.user_id')
      .select(['memberships.user_id', 'users.email', 'memberships.role', 'memberships.created_at', 'users.last_login_at'])
      .where('memberships.org_id', '=', orgId);
  }

  async list(p: UserPrincipal, q: { limit: number; offset: number }) {
    const db = this.deps.store.db;
    const [rows, count] = await Promise.all([
      this.memberQuery(db, p.org.id)
        .orderBy('memberships.created_at')
        .orderBy('memberships.user_id')
        .limit(q.limit)
        .offset(q.offset)
        .execute(),
      db
        .selectFrom('memberships')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('org_id', '=', p.org.id)
        .executeTakeFirstOrThrow(),
    ]);
    const total = Number(count.n);
    return {
      data: rows.map(toMember),
      pagination: { limit: q.limit, offset: q.offset, total, has_more: q.offset + rows.length < total },
    };
  }

  private async target(trx: Tx, orgId: string, userId: string): Promise<MemberRow> {
    const row = await this.memberQuery(trx, orgId).where('memberships.user_id', '=', userId).executeTakeFirst();
    if (!row) throw errors.notFound('Member');
    return row;
  }

  private async ownerCount(trx: Tx, orgId: string): Promise<number> {
    const row = await trx
      .selectFrom('memberships')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('org_id', '=', orgId)
      .where('role', '=', 'owner')
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** PATCH …/members/:user_id {role}. Admins manage admins, members and viewers; only owners touch owners. */
  async changeRole(p: UserPrincipal, userId: string, role: Role): Promise<{ member: Member }> {
    const { store } = this.deps;
    return store.transaction(async (trx) => {
      await store.lockOrg(trx, p.org.id);
      const actor = await lockedRole(trx, p);
      const row = await this.target(trx, p.org.id, userId);
      const from = roleOf(row.role);
      if (!atLeast(actor, 'admin')) throw errors.forbidden(`Changing roles needs the admin role; you are ${actor}`);
      if (!mayManage(actor, from)) throw errors.forbidden(`Only an owner can change an owner's role; you are ${actor}`);
      if (!mayGrant(actor, role)) throw errors.forbidden(`Only an owner can make someone ${role}; you are ${actor}`);
      if (from === role) return { member: toMember(row) };
      if (from === 'owner' && (await this.ownerCount(trx, p.org.id)) <= 1) throw lastOwner('demoted');
      await trx.updateTable('memberships').set({ role }).where('org_id', '=', p.org.id).where('user_id', '=', userId).execute();
      const now = this.deps.clock.now();
      await writeAudit(trx, now, {
        org_id: p.org.id,
        actor: { type: 'user', id: p.userId },
        event: 'member.role_changed',
        details: { user_id: userId, email: row.email, from, to: role },
      });
      return { member: toMember({ ...row, role }) };
    });
  }

  /**
   * DELETE …/members/:user_id: removes the membership and ends that user's sessions in this workspace. Any
   * member may remove themselves (leave); removing someone else needs admin (owner for an owner).
   */
  async remove(p: UserPrincipal, userId: string): Promise<{ removed: true; member: Member; sessions_ended: number }> {
    const { store } = this.deps;
    return store.transaction(async (trx) => {
      await store.lockOrg(trx, p.org.id);
      const actor = await lockedRole(trx, p);
      const row = await this.target(trx, p.org.id, userId);
      const role = roleOf(row.role);
      const self = userId === p.userId;
      if (!self && !mayManage(actor, role)) {
        throw errors.forbidden(
          atLeast(actor, 'admin')
            ? `Only an owner can remove an owner; you are ${actor}`
            : `Removing members needs the admin role; you are ${actor}`,
        );
      }
      if (role === 'owner' && (await this.ownerCount(trx, p.org.id)) <= 1) throw lastOwner('removed');
      await trx.deleteFrom('memberships').where('org_id', '=', p.org.id).where('user_id', '=', userId).execute();
      const ended = await trx.deleteFrom('sessions').where('user_id', '=', userId).where('org_id', '=', p.org.id).executeTakeFirst();
      const now = this.deps.clock.now();
      const sessionsEnded = Number(ended.numDeletedRows);
      await writeAudit(trx, now, {
        org_id: p.org.id,
        actor: { type: 'user', id: p.userId },
        event: 'member.removed',
        details: { user_id: userId, email: row.email, role, left: self, sessions_ended: sessionsEnded },
      });
      return { removed: true as const, member: toMember(row), sessions_ended: sessionsEnded };
    });
  }
}
