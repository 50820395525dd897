/**
 * Value and health (GET /v1/value/health): what enforcement prevented, what observe mode would have
 * prevented, where conflicts cluster, and whether each agent is checking in.
 *
 * Counters cover a window (default 30 days) and come from the audit log:
 *   runs_skipped          `claim.skipped`          (enforce-mode starts answered skip_run, legacy 409s too)
 *   working_set_conflicts `working_set.conflict`   (working-set updates with paths held by another run)
 *   conflicts_prevented   runs_skipped + working_set_conflicts
 *   would_have_blocked    `claim.observed` with details.would_have_blocked = true
 * Agent health, from the last time the agent was seen (any request or MCP heartbeat):
 *   healthy    online (heartbeat in the last 2 minutes) or seen in the last 24 hours
 *   idle       last seen 24 hours to 7 days ago
 *   stale      last seen more than 7 days ago
 *   never_seen no request and no heartbeat yet
 */
import { AGENT_HEALTH_THRESHOLDS, type AgentHealthValue, ANSWER_LIST_CAP, type ValueHealthResponse } from '@availsync/protocol';
import { iso, isoOrNull } from '../clock.js';
import { MINUTE } from '../domain/lease.js';
import { listed } from '../domain/lists.js';
import { ONLINE_WINDOW_MS } from './agents.js';
import type { Principal, ServiceDeps } from './context.js';
import { countActiveClaims } from './plan-limits.js';

export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
const HOTSPOTS = 10;
/** Working-set conflicts read (newest first) to find path hotspots. */
const PATH_SAMPLE = 2_000;

export function agentHealth(lastSeen: number | null, online: boolean, now: number): AgentHealthValue {
  if (lastSeen === null) return 'never_seen';
  if (online || now - lastSeen <= AGENT_HEALTH_THRESHOLDS.healthy_within_hours * HOUR) return 'healthy';
  if (now - lastSeen <= AGENT_HEALTH_THRESHOLDS.idle_within_days * DAY) return 'idle';
  return 'stale';
}

export class ValueReportService {
  constructor(private readonly deps: ServiceDeps) {}

  async health(p: Principal, q: { days?: number | undefined }): Promise<ValueHealthResponse> {
    const db = this.deps.store.db;
    const orgId = p.org.id;
    const days = q.days ?? 30;
    const now = await this.deps.store.readNow();
    const from = now - days * DAY;
    const audit = db.selectFrom('audit_events').where('org_id', '=', orgId).where('created_at', '>=', from);

    const [byEvent, observed, activeClaims, started, usage, skippedBy, wsRows, agents] = await Promise.all([
      audit
        .select(['event', (eb) => eb.fn.countAll<number>().as('n')])
        .where('event', 'in', ['claim.skipped', 'working_set.conflict'])
        .groupBy('event')
        .execute(),
      // details is JSON text written by JSON.stringify (no spaces), the same on both stores.
      audit
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('event', '=', 'claim.observed')
        .where('details', 'like', '%"would_have_blocked":true%')
        .executeTakeFirstOrThrow(),
      countActiveClaims(db, orgId, now),
      db
        .selectFrom('claims')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('org_id', '=', orgId)
        .where('created_at', '>=', now - 7 * DAY)
        .executeTakeFirstOrThrow(),
      db
        .selectFrom('usage_reports')
        .select((eb) => [
          eb.fn.sum<number | string | null>('input_tokens').as('input'),
          eb.fn.sum<number | string | null>('output_tokens').as('output'),
          eb.fn.sum<number | string | null>('cost_usd').as('cost'),
        ])
        .where('org_id', '=', orgId)
        .where('created_at', '>=', from)
        .executeTakeFirstOrThrow(),
      audit
        .select(['resource', (eb) => eb.fn.countAll<number>().as('n')])
        .where('event', '=', 'claim.skipped')
        .where('resource', 'is not', null)
        .groupBy('resource')
        .orderBy('n', 'desc')
        .limit(HOTSPOTS)
        .execute(),
      audit
        .select(['resource', 'details'])
        .where('event', '=', 'working_set.conflict')
        .orderBy('created_at', 'desc')
        .limit(PATH_SAMPLE)
        .execute(),
      db
        .selectFrom('agents')
        .select(['id', 'name', 'last_seen_at', 'last_heartbeat_at'])
        .where('org_id', '=', orgId)
        .where('deleted_at', 'is', null)
        .orderBy('created_at')
        .orderBy('id')
        .execute(),
    ]);

    const count = (event: string) => Number(byEvent.find((r) => r.event === event)?.n ?? 0);
    const runsSkipped = count('claim.skipped');
    const wsConflicts = count('working_set.conflict');

    const hotspots: ValueHealthResponse['hotspots'] = skippedBy.map((r) => ({ resource: r.resource ?? '', conflicts: Number(r.n) }));
    const paths = new Map<string, { resource: string; path: string; conflicts: number }>();
    for (const row of wsRows) {
      const details = JSON.parse(row.details) as { blocked_paths?: unknown };
      const blocked = Array.isArray(details.blocked_paths) ? details.blocked_paths.filter((x): x is string => typeof x === 'string') : [];
      for (const path of blocked) {
        const k = `${row.resource}\u0000${path}`;
        const entry = paths.get(k) ?? { resource: row.resource ?? '', path, conflicts: 0 };
        entry.conflicts += 1;
        paths.set(k, entry);
      }
    }
    hotspots.push(...paths.values());
    hotspots.sort(
      (a, b) =>
        b.conflicts - a.conflicts ||
        (a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0) ||
        ((a.path ?? '') < (b.path ?? '') ? -1 : 1),
    );

    const clockNow = this.deps.clock.now();
    const num = (v: number | string | null | undefined) => (v == null ? 0 : Number(v));
    return {
      window: { from: iso(from), to: iso(now), days },
      conflicts_prevented: runsSkipped + wsConflicts,
      runs_skipped: runsSkipped,
      would_have_blocked: Number(observed.n),
      working_set_conflicts: wsConflicts,
      active_claims: activeClaims,
      claims_started_7d: Number(started.n),
      tokens_reported: num(usage.input) + num(usage.output),
      cost_reported_usd: Math.round(num(usage.cost) * 1e6) / 1e6,
      ...listed('hotspots', hotspots, HOTSPOTS),
      ...listed(
        'agents',
        agents.slice(0, ANSWER_LIST_CAP).map((a) => {
          const online = a.last_heartbeat_at != null && clockNow - a.last_heartbeat_at < ONLINE_WINDOW_MS;
          const seen = Math.max(a.last_seen_at ?? -1, a.last_heartbeat_at ?? -1);
          const lastSeen = seen < 0 ? null : seen;
          return { id: a.id, name: a.name, health: agentHealth(lastSeen, online, clockNow), last_seen_at: isoOrNull(lastSeen), online };
        }),
        ANSWER_LIST_CAP,
        agents.length,
      ),
    };
  }
}
