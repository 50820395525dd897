/**
 * Operator commands of `availsync-server` that act on the database directly (no HTTP, no session):
 *   availsync-server plan set <org_id|email> <plan>
 * Kept apart from main.ts so tests run them in-process against a test store.
 */
import { PLANS } from './domain/plans.js';
import { PlanChangeError, setPlan } from './services/plans.js';
import type { Store } from './storage/store.js';

export const PLAN_USAGE = `Usage: availsync-server plan set <org_id|email> <plan>     plan: ${PLANS.join(' | ')}`;

export interface CommandIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** Returns the exit code: 0 done, 1 no such workspace, 2 bad usage or unknown plan. */
export async function planCommand(args: string[], store: Store, now: number, io: CommandIo): Promise<number> {
  const [sub, target, plan, ...extra] = args;
  if (sub !== 'set' || !target || !plan || extra.length > 0) {
    io.err(PLAN_USAGE);
    return 2;
  }
  try {
    const r = await setPlan(store, now, target, plan);
    io.out(
      r.changed
        ? `workspace ${r.org_id} (${r.name}): plan ${r.from} → ${r.to} (audited as plan.changed)`
        : `workspace ${r.org_id} (${r.name}) is already on the ${r.to} plan; nothing changed`,
    );
    return 0;
  } catch (err) {
    if (!(err instanceof PlanChangeError)) throw err;
    io.err(err.message);
    return err.message.startsWith('unknown plan') ? 2 : 1;
  }
}
