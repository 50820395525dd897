/** Reads of who belongs to which workspace, shared by sign-in, the session view and the members routes. */
import { iso } from '../clock.js';
import { isRole, type Role } from '../domain/roles.js';
import type { Executor } from '../storage/store.js';

/** GET /v1/session lists at most this many workspaces (every list is capped). */
export const MAX_LISTED_WORKSPACES = 100;

export interface WorkspaceMembershipView {
  id: string;
  name: string;
  plan: 'free' | 'team' | 'unlimited';
  created_at: string;
  role: Role;
}

export function roleOf(value: string): Role {
  // Rows are written by this code only; anything else is a bug, read as the least privilege.
  return isRole(value) ? value : 'viewer';
}

/** The workspaces `userId` belongs to, oldest membership first. */
export async function workspacesOf(db: Executor, userId: string): Promise<WorkspaceMembershipView[]> {
  const rows = await db
    .selectFrom('memberships')
    .innerJoin('orgs', 'orgs.id', 'memberships.org_id')
    .select(['orgs.id', 'orgs.name', 'orgs.plan', 'orgs.created_at', 'memberships.role', 'memberships.created_at as joined_at'])
    .where('memberships.user_id', '=', userId)
    .orderBy('memberships.created_at')
    .orderBy('orgs.id')
    .limit(MAX_LISTED_WORKSPACES)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    plan: r.plan as WorkspaceMembershipView['plan'],
    created_at: iso(r.created_at),
    role: roleOf(r.role),
  }));
}

/**
 * The workspace a sign-in opens: the user's first one (users.org_id) while they are still in it, else their
 * oldest membership. Undefined when they belong to none (removed everywhere).
 */
export async function defaultWorkspaceOf(db: Executor, user: { id: string; org_id: string }): Promise<string | undefined> {
  const rows = await db
    .selectFrom('memberships')
    .select('org_id')
    .where('user_id', '=', user.id)
    .orderBy('created_at')
    .orderBy('org_id')
    .limit(MAX_LISTED_WORKSPACES)
    .execute();
  return rows.find((r) => r.org_id === user.org_id)?.org_id ?? rows[0]?.org_id;
}
