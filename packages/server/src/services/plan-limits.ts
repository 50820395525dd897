/**
 * Plan limits: agents, active claims, protected resources, monthly API calls — the counts, the
 * 402 plan_limit_reached error, and the check a transaction makes before it adds a row.
 *
 * Limits hold under concurrency: a check runs inside the transaction that adds the row, after the
 * workspace row is locked (`store.lockOrg`: `SELECT … FOR UPDATE` on PostgreSQL, the single writer on
 * SQLite), so two requests racing for the last slot are decided one after the other and the second sees
 * the first's committed row. The lock is taken only when the plan has a finite limit, so unlimited
 * workspaces pay nothing. Resource locks are always taken before it, never after, so it cannot deadlock
 * with a start. Monthly API calls are counted by the activity recorder (see activity.ts).
 */
import type { PlanLimitNameValue, PlanValue, ResourceRef } from '@availsync/protocol';
import { checkCapacity, hasFiniteLimit, limitsOf } from '../domain/plans.js';
import { ApiError } from '../errors.js';
import { ACTIVE, type Executor, type Tx } from '../storage/store.js';
import type { OrgRow, ServiceDeps } from './context.js';

export function planLimitError(details: { limit: PlanLimitNameValue; current: number; max: number; plan: PlanValue }): ApiError {
  const what: Record<PlanLimitNameValue, string> = {
    agents: 'agents',
    active_claims: 'active work claims',
    protected_resources: 'protected resources',
    monthly_api_calls: 'API calls this month',
  };
  if (details.limit === 'monthly_api_calls') {
    // Finishing runs does not help here, and is still possible: say what is.
    return new ApiError(
      'plan_limit_reached',
      `Monthly API calls used up: the ${details.plan} plan allows ${details.max} API calls a month and ${details.current} were made. ` +
        'Finish, release and heartbeats still work; other calls resume next month or when your operator changes the plan ' +
        '(GET /v1/billing/status).',
      details,
    );
  }
  return new ApiError(
    'plan_limit_reached',
    `The ${details.plan} plan allows ${details.max} ${what[details.limit]}; ${details.current} are in use. ` +
      'Finish runs, remove agents, or ask your operator to change the plan (GET /v1/billing/status).',
    details,
  );
}

/** Active enforce claims: status active and not yet past expires_at. */
export async function countActiveClaims(ex: Executor, orgId: string, now: number): Promise<number> {
  const row = await ex
    .selectFrom('claims')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('org_id', '=', orgId)
    .where('status', '=', ACTIVE)
    .where('expires_at', '>', now)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function countAgents(ex: Executor, orgId: string): Promise<number> {
  const row = await ex
    .selectFrom('agents')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('org_id', '=', orgId)
    .where('deleted_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Protected resources: each (type, key) ever claimed or held. A claim sets `resources.last_claimed_at`;
 * a hold locks (and so creates) the resource row, and its row in `holds` marks it.
 */
function protectedResources(ex: Executor, orgId: string) {
  return ex
    .selectFrom('resources')
    .where('resources.org_id', '=', orgId)
    .where((eb) =>
      eb.or([
        eb('resources.last_claimed_at', 'is not', null),
        eb.exists(
          eb
            .selectFrom('holds')
            .select('holds.id')
            .whereRef('holds.org_id', '=', 'resources.org_id')
            .whereRef('holds.resource_type', '=', 'resources.resource_type')
            .whereRef('holds.resource_key', '=', 'resources.resource_key'),
        ),
      ]),
    );
}

export async function countProtectedResources(ex: Executor, orgId: string): Promise<number> {
  const row = await protectedResources(ex, orgId)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

async function isProtected(ex: Executor, orgId: string, ref: ResourceRef): Promise<boolean> {
  const row = await protectedResources(ex, orgId)
    .select('resources.resource_key')
    .where('resources.resource_type', '=', ref.resource_type)
    .where('resources.resource_key', '=', ref.resource_key)
    .executeTakeFirst();
  return row !== undefined;
}

export interface CapacityNeed {
  /** One more agent. */
  agents?: boolean;
  /** One more active claim (at `now`, the decision clock). */
  activeClaims?: { now: number };
  /** A claim or hold on this resource: counts as a new protected resource unless it already is one. */
  resource?: ResourceRef;
}

/**
 * Throw 402 plan_limit_reached if adding what `need` describes would exceed the workspace's plan. Call it
 * inside the transaction that adds the row, after any resource locks: it locks the workspace row when the
 * plan has a finite limit for what is asked, and decides on the plan stored in that row.
 */
export async function ensurePlanCapacity(deps: Pick<ServiceDeps, 'store'>, trx: Tx, org: OrgRow, need: CapacityNeed): Promise<void> {
  const names: PlanLimitNameValue[] = [];
  if (need.agents) names.push('agents');
  if (need.activeClaims) names.push('active_claims');
  if (need.resource) names.push('protected_resources');
  if (!hasFiniteLimit(org.plan, names)) return;
  const locked = await deps.store.lockOrg(trx, org.id);
  const plan = locked?.plan ?? org.plan;
  const limits = limitsOf(plan);

  const checks: [PlanLimitNameValue, () => Promise<number | null>][] = [
    ['agents', async () => (need.agents ? countAgents(trx, org.id) : null)],
    ['active_claims', async () => (need.activeClaims ? countActiveClaims(trx, org.id, need.activeClaims.now) : null)],
    [
      'protected_resources',
      async () => (need.resource && !(await isProtected(trx, org.id, need.resource)) ? countProtectedResources(trx, org.id) : null),
    ],
  ];
  for (const [name, count] of checks) {
    if (limits[name] === null) continue;
    const current = await count();
    if (current === null) continue;
    const decision = checkCapacity(plan, name, current);
    if (!decision.ok) throw planLimitError(decision.details);
  }
}
