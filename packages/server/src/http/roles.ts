/**
 * The role a workspace session needs on each route that takes one, by operationId: checked by
 * the auth middleware before the request is validated or anything is read. One table, so a reviewer sees
 * every route's rule at once and the security suite tries each route with each role against its own copy.
 *
 * - viewer: reads (and read-only checks sent as POST: check, conflicts, test-connection), and the caller's
 *   own account (session, sign-out, password, sessions, leaving a workspace);
 * - member: releasing claims and managing holds;
 * - admin: agents and keys, rules, setup tests, acting as an agent (start, extend, working sets), members
 *   and invites (owners only for owners: the services decide those cases, they depend on the target).
 *
 * A route missing here (added later) needs admin for a change and viewer for a read, and the security
 * suite fails until it is listed.
 */
import type { Role } from '../domain/roles.js';

export const ROUTE_ROLES: Readonly<Record<string, Role>> = {
  // the caller's own session and account
  logout: 'viewer',
  getSession: 'viewer',
  changePassword: 'viewer',
  listAccountSessions: 'viewer',
  revokeAccountSession: 'viewer',
  // members and invites (removeMember: anyone may leave; removing others is checked by the service)
  listMembers: 'viewer',
  updateMember: 'admin',
  removeMember: 'viewer',
  listInvites: 'admin',
  createInvite: 'admin',
  revokeInvite: 'admin',
  // agents and setup
  listAgents: 'viewer',
  getAgent: 'viewer',
  createAgent: 'admin',
  updateAgent: 'admin',
  deleteAgent: 'admin',
  rotateAgentKey: 'admin',
  testAgentConnection: 'viewer',
  runAgentSetupTest: 'admin',
  // rules, plan, logs, value
  getRules: 'viewer',
  updateRules: 'admin',
  getBillingStatus: 'viewer',
  listActivity: 'viewer',
  listAudit: 'viewer',
  getValueHealth: 'viewer',
  // work: reads and previews for everyone, releases for members, acting as an agent for admins
  checkWork: 'viewer',
  getClaim: 'viewer',
  listClaims: 'viewer',
  listResources: 'viewer',
  finishRun: 'member',
  releaseClaim: 'member',
  startRun: 'admin',
  legacyClaim: 'admin',
  extendRun: 'admin',
  extendClaim: 'admin',
  updateWorkingSet: 'admin',
  // live events (GET /v1/events)
  streamEvents: 'viewer',
  // holds
  listHolds: 'viewer',
  getHold: 'viewer',
  getAvailability: 'viewer',
  checkConflicts: 'viewer',
  createHold: 'member',
  releaseHold: 'member',
  confirmHold: 'member',
  // webhooks (admins: their secrets sign what other systems trust)
  listWebhooks: 'admin',
  createWebhook: 'admin',
  updateWebhook: 'admin',
  deleteWebhook: 'admin',
  listWebhookDeliveries: 'admin',
  testWebhook: 'admin',
};

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

export function requiredRole(operationId: string, method: string): Role {
  return ROUTE_ROLES[operationId] ?? (SAFE.has(method.toUpperCase()) ? 'viewer' : 'admin');
}
