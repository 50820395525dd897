/**
 * A workspace's plan: GET /v1/billing/status (its limits, what is in use, upgrade hints) and the operator's
 * `plan set`. The limits themselves, and the check before a row is added, are in plan-limits.ts.
 */
import type { BillingStatusResponse, PlanValue } from '@availsync/protocol';
import { iso } from '../clock.js';
import { isPlan, limitsOf, PLANS, periodOf, planOrFree, upgradeHints } from '../domain/plans.js';
import type { Store } from '../storage/store.js';
import type { ActivityRecorder } from './activity.js';
import { writeAudit } from './audit-write.js';
import type { Principal, ServiceDeps } from './context.js';
import { countActiveClaims, countAgents, countProtectedResources } from './plan-limits.js';

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
