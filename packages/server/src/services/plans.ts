/**
 * Plan limits (SPEC §6): agents, active claims, protected resources, monthly API calls.
 *
 * Limits hold under concurrency: a check runs inside the transaction that adds the row, after the
 * workspace row is locked (`store.lockOrg`: `SELECT … FOR UPDATE` on PostgreSQL, the single writer on
 * SQLite), so two requests racing for the last slot are decided one after the other and the second sees
 * the first's committed row. The lock is taken only when the plan has a finite limit, so unlimited
 * workspaces pay nothing. Resource locks are always taken before it, never after, so it cannot deadlock
 * with a start. Monthly API calls are counted by the activity recorder (see activity.ts).
 */
import type { BillingStatusResponse, PlanLimitNameValue, PlanValue, ResourceRef } from '@availsync/protocol';
import { iso } from '../clock.js';
import { checkCapacity, hasFiniteLimit, isPlan, limitsOf, PLANS, periodOf, planOrFree, upgradeHints } from '../domain/plans.js';
import { ApiError } from '../errors.js';
import { ACTIVE, type Executor, type Store, type Tx } from '../storage/store.js';
import type { ActivityRecorder } from './activity.js';
import { writeAudit } from './audit.js';
import type { OrgRow, Principal, ServiceDeps } from './context.js';

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

export class PlanService {
  constructor(
    private readonly deps: ServiceDeps,
    private readonly recorder: ActivityRecorder,
  ) {}

  /** GET /v1/billing/status */
  async status(p: Principal): Promise<BillingStatusResponse> {
    const db = this.deps.store.db;
    const org = (await db.selectFrom('orgs').selectAll().where('id', '=', p.org.id).executeTakeFirst()) ?? p.org;
    const now = await this.deps.store.readNow();
    const period = periodOf(this.deps.clock.now());
    const [agents, activeClaims, protectedCount, calls] = await Promise.all([
      countAgents(db, org.id),
      countActiveClaims(db, org.id, now),
      countProtectedResources(db, org.id),
      this.recorder.monthlyCalls(org.id),
    ]);
    const usage = { agents, active_claims: activeClaims, protected_resources: protectedCount, monthly_api_calls: calls };
    return {
      plan: planOrFree(org.plan),
      limits: limitsOf(org.plan),
      usage: { ...usage, period: period.period, period_start: iso(period.start), period_end: iso(period.end) },
      upgrade_hints: upgradeHints(org.plan, usage),
    };
  }
}

export class PlanChangeError extends Error {}

/**
 * The operator command `availsync-server plan set <org_id|email> <plan>`: change a workspace's plan,
 * audited as `plan.changed` with the system as actor. Throws PlanChangeError with a message for the
 * operator on an unknown plan or workspace.
 */
export async function setPlan(
  store: Store,
  now: number,
  target: string,
  plan: string,
): Promise<{ org_id: string; name: string; from: string; to: PlanValue; changed: boolean }> {
  if (!isPlan(plan)) throw new PlanChangeError(`unknown plan "${plan}": choose one of ${PLANS.join(', ')}`);
  const wanted = target.trim();
  return store.transaction(async (trx) => {
    let orgId: string | undefined;
    if (wanted.includes('@')) {
      const user = await trx.selectFrom('users').select('org_id').where('email', '=', wanted.toLowerCase()).executeTakeFirst();
      orgId = user?.org_id;
    } else {
      orgId = wanted;
    }
    const org = orgId ? await store.lockOrg(trx, orgId) : undefined;
    if (!org) throw new PlanChangeError(`no workspace matches "${wanted}" (give a workspace id org_… or a user's email)`);
    if (org.plan === plan) return { org_id: org.id, name: org.name, from: org.plan, to: plan, changed: false };
    await trx.updateTable('orgs').set({ plan }).where('id', '=', org.id).execute();
    await writeAudit(trx, now, {
      org_id: org.id,
      actor: { type: 'system', id: null },
      event: 'plan.changed',
      details: { from: org.plan, to: plan, via: 'availsync-server plan set' },
    });
    return { org_id: org.id, name: org.name, from: org.plan, to: plan, changed: true };
  });
}
