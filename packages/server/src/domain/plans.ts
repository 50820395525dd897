/**
 * Plans and their limits. Pure: callers pass counts and `now`; the service applies the answer under the
 * workspace lock.
 */
import { PLAN_LIMITS, type PlanLimitNameValue, type PlanLimits, type PlanValue, type UpgradeHint } from '@availsync/protocol';

export const PLANS = Object.keys(PLAN_LIMITS) as PlanValue[];

export function isPlan(value: string): value is PlanValue {
  return (PLANS as string[]).includes(value);
}

/** The limits of a plan. An unknown stored plan (never written by this code) gets the free plan's limits. */
export function limitsOf(plan: string): PlanLimits {
  return { ...(isPlan(plan) ? PLAN_LIMITS[plan] : PLAN_LIMITS.free) };
}

export function planOrFree(plan: string): PlanValue {
  return isPlan(plan) ? plan : 'free';
}

export function hasFiniteLimit(plan: string, names: readonly PlanLimitNameValue[]): boolean {
  const limits = limitsOf(plan);
  return names.some((n) => limits[n] !== null);
}

export type CapacityDecision =
  | { ok: true }
  | { ok: false; details: { limit: PlanLimitNameValue; current: number; max: number; plan: PlanValue } };

/** May one more be added, with `current` in use? */
export function checkCapacity(plan: string, limit: PlanLimitNameValue, current: number): CapacityDecision {
  const max = limitsOf(plan)[limit];
  if (max === null || current < max) return { ok: true };
  return { ok: false, details: { limit, current, max, plan: planOrFree(plan) } };
}

/** API calls are counted per calendar month, UTC. */
export function periodOf(now: number): { period: string; start: number; end: number } {
  const d = new Date(now);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  return { period: `${y}-${String(m + 1).padStart(2, '0')}`, start: Date.UTC(y, m, 1), end: Date.UTC(y, m + 1, 1) };
}

const NEXT_PLAN: Record<PlanValue, PlanValue | null> = { free: 'team', team: 'unlimited', unlimited: null };
const LABEL: Record<PlanLimitNameValue, string> = {
  agents: 'agents',
  active_claims: 'active work claims',
  protected_resources: 'protected resources',
  monthly_api_calls: 'API calls this month',
};

/** Share of a limit at which a hint is given. */
export const UPGRADE_HINT_AT = 0.8;

/** A hint for each limit at or above 80 % of its maximum, naming the next plan up. */
export function upgradeHints(plan: string, usage: Record<PlanLimitNameValue, number>): UpgradeHint[] {
  const current = planOrFree(plan);
  const next = NEXT_PLAN[current];
  if (next === null) return [];
  const limits = limitsOf(current);
  const hints: UpgradeHint[] = [];
  for (const limit of Object.keys(LABEL) as PlanLimitNameValue[]) {
    const max = limits[limit];
    const used = usage[limit];
    if (max === null || used < max * UPGRADE_HINT_AT) continue;
    const nextMax = PLAN_LIMITS[next][limit];
    const room = nextMax === null ? 'no limit' : `up to ${nextMax.toLocaleString('en-US')}`;
    const state = used >= max ? 'reached' : 'nearly reached';
    hints.push({
      limit,
      current: used,
      max,
      suggested_plan: next,
      message: `You have ${state} the ${current} plan's ${max.toLocaleString('en-US')} ${LABEL[limit]} (${used.toLocaleString('en-US')} in use). The ${next} plan allows ${room}.`,
    });
  }
  return hints;
}
