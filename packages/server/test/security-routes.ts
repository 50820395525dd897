/**
 * How the security suites (security.test.ts, security-roles.test.ts) call each route: path parameters
 * filled with real ids, a valid body, required query strings and headers, by operationId. Teach a new
 * route here and both suites call it successfully.
 */
import type { RouteInfo } from '../src/http/env.js';
import { type Session, type TestServer, uniqueEmail } from './harness.js';
import { addMember, createInvite, PASSWORD, signIn } from './teams-helpers.js';

export const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The ids a request is about. `agentId` is the calling key's own agent when a key is used. */
export interface Ids {
  orgId: string;
  agentId: string;
  claimId: string;
  holdId: string;
  /** The server's clock, for bodies with times in them. */
  now: number;
  /** A member, an invite and a session to act on (teams routes); made by `withTargets` where a route needs them. */
  userId?: string;
  inviteId?: string;
  sessionId?: string;
  /** A webhook of the workspace (webhook routes). */
  webhookId?: string;
}

/**
 * The suites' server configuration: webhooks may point at this machine (a URL nothing listens on, so a
 * "send test" fails at once), and PostgreSQL gets the secrets key it needs to create one.
 */
export const SECURITY_CONFIG = { webhookAllowPrivate: true, secretsKey: Buffer.alloc(32, 7).toString('base64') };
export const WEBHOOK_URL = 'http://127.0.0.1:9/security-probe';

/** A webhook in `session`'s workspace (an admin's or owner's). */
export async function createWebhook(t: Pick<TestServer, 'request'>, session: Session): Promise<string> {
  const res = await t.request('POST', `/v1/orgs/${session.orgId}/webhooks`, { session, body: { url: WEBHOOK_URL, events: ['*'] } });
  if (res.status !== 201) throw new Error(`webhook: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.webhook.id as string;
}

let seq = 0;
export const nextSeq = () => ++seq;
/** Path parameters, filled with real ids. */
export const PARAMS: Record<string, (ids: Ids) => string> = {
  org_id: (ids) => ids.orgId,
  agent_id: (ids) => ids.agentId,
  claim_id: (ids) => ids.claimId,
  hold_id: (ids) => ids.holdId,
  user_id: (ids) => ids.userId ?? 'usr_none',
  invite_id: (ids) => ids.inviteId ?? 'inv_none',
  session_id: (ids) => ids.sessionId ?? 'ses_none',
  webhook_id: (ids) => ids.webhookId ?? 'whk_none',
};
/** Path parameters naming an object that belongs to one workspace: another workspace's must read as unknown. */
export const OBJECT_PARAMS: Record<string, keyof Ids> = { claim_id: 'claimId', hold_id: 'holdId', webhook_id: 'webhookId' };
export const iso = (ms: number) => new Date(ms).toISOString();
export const HOUR = 3_600_000;
/** A valid body for each route that takes one (by operationId); routes not listed get `{}`. */
export const BODIES: Record<string, (ids: Ids) => Record<string, unknown>> = {
  createAgent: () => ({ name: 'probe' }),
  updateAgent: () => ({ name: 'probe-renamed' }),
  startRun: (ids) => ({ agent_id: ids.agentId, resource: `repo:probe/r${++seq}` }),
  checkWork: (ids) => ({ agent_id: ids.agentId, resource: `repo:probe/r${++seq}` }),
  legacyClaim: (ids) => ({ agent_id: ids.agentId, resource: `repo:probe/r${++seq}` }),
  extendRun: (ids) => ({ claim_id: ids.claimId }),
  finishRun: (ids) => ({ claim_id: ids.claimId }),
  updateWorkingSet: (ids) => ({ claim_id: ids.claimId, paths: ['src/probe.ts'] }),
  createHold: (ids) => ({
    agent_id: ids.agentId,
    resource: `release:probe-${++seq}`,
    start_at: iso(ids.now + HOUR),
    end_at: iso(ids.now + 2 * HOUR),
  }),
  checkConflicts: (ids) => ({ resource: 'release:prod', start_at: iso(ids.now + HOUR), end_at: iso(ids.now + 2 * HOUR) }),
  mcp: () => ({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
  updateMember: () => ({ role: 'member' }),
  createInvite: () => ({ email: uniqueEmail('invitee'), role: 'viewer' }),
  changePassword: () => ({ current_password: PASSWORD, new_password: PASSWORD }),
  createWebhook: () => ({ url: WEBHOOK_URL, events: ['*'] }),
  updateWebhook: () => ({ description: 'probe' }),
};
/** Headers a route needs besides credentials, by operationId. */
export const HEADERS: Record<string, Record<string, string>> = {
  mcp: { accept: 'application/json, text/event-stream' },
};
/** Required query strings, by operationId. */
export const QUERIES: Record<string, (ids: Ids) => string> = {
  getAvailability: () => 'resource=release:prod',
};

/** Placeholder ids, to see at definition time which fields a route's body has. */
export const SHAPE: Ids = { orgId: 'org_x', agentId: 'agt_x', claimId: 'clm_x', holdId: 'hld_x', now: 0 };

/** Whether an OpenAPI request body requires any field (so `{}` would not do). */
export function needsFields(requestBody: any): boolean {
  const schema = requestBody?.content?.['application/json']?.schema;
  return !schema || (Array.isArray(schema.required) && schema.required.length > 0) || !!schema.$ref;
}

export const paramsOf = (r: RouteInfo) => [...r.path.matchAll(/:(\w+)/g)].map((m) => m[1] as string);
export const hasParam = (r: RouteInfo, name: string) => paramsOf(r).includes(name);

export function fill(r: RouteInfo, ids: Ids): string {
  const path = r.path.replace(/:(\w+)/g, (_, name: string) => encodeURIComponent(PARAMS[name]?.(ids) ?? `unknown_${name}`));
  const query = QUERIES[r.operationId]?.(ids);
  return query ? `${path}?${query}` : path;
}

export function bodyFor(r: RouteInfo, ids: Ids): Record<string, unknown> | undefined {
  if (SAFE_METHODS.has(r.method) || r.method === 'DELETE') return undefined;
  return BODIES[r.operationId]?.(ids) ?? {};
}

/**
 * `ids` with the targets `r`'s path names made afresh in `session`'s workspace: a viewer to change or
 * remove, an invite to revoke, another session of `session`'s user to end.
 */
export async function withTargets(
  t: Pick<TestServer, 'request'>,
  r: RouteInfo,
  session: Session,
  ids: Ids,
  /** Who invites the target member and makes the invite (an admin or owner of the workspace). */
  inviter: Session = session,
): Promise<Ids> {
  const out = { ...ids };
  if (hasParam(r, 'user_id')) out.userId = (await addMember(t, inviter, 'viewer')).userId;
  if (hasParam(r, 'invite_id')) out.inviteId = (await createInvite(t, inviter, 'viewer')).id;
  if (hasParam(r, 'webhook_id')) out.webhookId = await createWebhook(t, inviter);
  if (hasParam(r, 'session_id')) {
    await signIn(t, session.email);
    const list = await t.request('GET', '/v1/auth/sessions', { session });
    const other = list.body.data.find((s: { current: boolean }) => !s.current);
    if (!other) throw new Error(`no other session: ${JSON.stringify(list.body)}`);
    out.sessionId = other.id;
  }
  return out;
}

/** A new agent of `session`'s workspace (an admin's or owner's) with an active claim, a working set and a hold. */
export async function freshObjects(t: TestServer, session: Session): Promise<Ids & { key: string }> {
  const seq = nextSeq();
  const agent = await t.createAgent(session, { name: `roles-agent-${seq}` });
  const now = t.clock.now();
  const started = await t.start(agent.key, { resource: `repo:roles/app-${seq}` });
  if (started.body.action !== 'proceed') throw new Error(JSON.stringify(started.body));
  const claimId = started.body.claim.id as string;
  await t.request('POST', '/v1/work/run/working-set', { key: agent.key, body: { claim_id: claimId, paths: ['src/a.ts'] } });
  const body = { resource: `release:roles-${seq}`, start_at: iso(now + HOUR), end_at: iso(now + 2 * HOUR) };
  const hold = await t.request('POST', '/v1/holds', { key: agent.key, body });
  if (hold.status !== 201) throw new Error(JSON.stringify(hold.body));
  return { orgId: session.orgId, agentId: agent.id, claimId, holdId: hold.body.hold.id, now, key: agent.key };
}

/**
 * Columns the server's background work changes on its own, whatever a request does: last-seen stamps
 * (a valid key refreshes them) and the webhook worker's lease, cursor and backoff (it delivers the events
 * other calls committed). A snapshot that must show "nothing changed" leaves them out.
 */
export const BACKGROUND_COLUMNS = new Set([
  'last_seen_at',
  'last_heartbeat_at',
  'lease_owner',
  'lease_until',
  'cursor',
  'attempts',
  'next_attempt_at',
  'failing_since',
]);

/** A row as a snapshot compares it: without BACKGROUND_COLUMNS. */
export function stableRow(row: Record<string, unknown>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(row).filter(([k]) => !BACKGROUND_COLUMNS.has(k))));
}
