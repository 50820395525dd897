/**
 * Workspace roles, decided purely. Each role can do what the ones below it can:
 * - viewer: read everything;
 * - member: also release claims and manage holds;
 * - admin: also agents, keys, rules, webhooks, and members and invites below owner;
 * - owner: everything, including owners (granting, demoting, removing) and the plan.
 */
import type { RoleValue } from '@availsync/protocol';

export type Role = RoleValue;
export const ROLES: readonly Role[] = ['owner', 'admin', 'member', 'viewer'];

const RANK: Record<Role, number> = { viewer: 0, member: 1, admin: 2, owner: 3 };

export function isRole(value: string): value is Role {
  return Object.hasOwn(RANK, value);
}

/** `role` may do what `needed` may. */
export function atLeast(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed];
}

/** Whether `actor` may give someone the role `granted` (invites, role changes): owners only for owner. */
export function mayGrant(actor: Role, granted: Role): boolean {
  if (!atLeast(actor, 'admin')) return false;
  return granted !== 'owner' || actor === 'owner';
}

/** Whether `actor` may change or remove a member whose role is `target`: owners only for owners. */
export function mayManage(actor: Role, target: Role): boolean {
  if (!atLeast(actor, 'admin')) return false;
  return target !== 'owner' || actor === 'owner';
}
