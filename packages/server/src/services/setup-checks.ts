/**
 * Setup checks of an agent, for the dashboard's connect flow (the MCP heartbeat is presence.ts).
 *
 * - test-connection: read-only readiness of one agent (exists, key issued, seen recently, effective mode,
 *   plan capacity). Changes nothing.
 * - setup-test: runs start → working-set → extend → finish on `project:availsync-setup-test` as the agent,
 *   through WorkService with an agent principal built here (the raw key is never needed or known), and
 *   records each step as `setup_test` activity. The claim is always finished, even when a step fails.
 */
import {
  type ConnectionCheck,
  SETUP_TEST_RESOURCE,
  type SetupTestResponse,
  type SetupTestStep,
  type TestConnectionResponse,
} from '@availsync/protocol';
import { effectiveMode } from '../domain/arbitration.js';
import { limitsOf } from '../domain/plans.js';
import { ApiError } from '../errors.js';
import type { ActivityRecorder } from './activity.js';
import { findLiveAgent } from './agents.js';
import { writeAudit } from './audit-write.js';
import type { AgentRow, Presenter, Principal, Reply, ServiceDeps } from './context.js';
import { countActiveClaims } from './plan-limits.js';
import { agentHealth } from './value-report.js';
import type { ExtendOutcome, FinishOutcome, WorkingSetOutcome, WorkService } from './work/index.js';

const SEEN_RECENTLY_MS = 24 * 3600_000;

/**
 * How the routes answer the steps the setup test runs (http/replies.ts): the test reports each step's
 * status and body as the REST call would have answered it. The start answers through WorkService's own.
 */
export interface SetupReplies {
  workingSet: Presenter<WorkingSetOutcome>;
  extend: Presenter<ExtendOutcome>;
  finish: Presenter<FinishOutcome>;
  /** An error as its route would answer it (without a request id: the step is not a request of its own). */
  error: (err: ApiError) => Reply;
}

function ago(ms: number): string {
  const min = Math.round(ms / 60_000);
  if (min < 1) return 'less than a minute ago';
  if (min < 120) return `${min} minute${min === 1 ? '' : 's'} ago`;
  const h = Math.round(min / 60);
  if (h < 48) return `${h} hours ago`;
  return `${Math.round(h / 24)} days ago`;
}

export class SetupCheckService {
  constructor(
    private readonly deps: ServiceDeps,
    private readonly work: WorkService,
    private readonly recorder: ActivityRecorder,
    private readonly replies: SetupReplies,
  ) {}

  private async findAgent(p: Principal, agentId: string): Promise<AgentRow> {
    return findLiveAgent(this.deps.store.db, p.org.id, agentId);
  }

  /** POST /v1/orgs/:org_id/agents/:agent_id/test-connection — read-only. */
  async testConnection(p: Principal, agentId: string): Promise<TestConnectionResponse> {
    const agent = await this.findAgent(p, agentId);
    const db = this.deps.store.db;
    const org = (await db.selectFrom('orgs').selectAll().where('id', '=', p.org.id).executeTakeFirst()) ?? p.org;
    const now = this.deps.clock.now();
    const checks: ConnectionCheck[] = [{ name: 'agent', ok: true, message: `Agent "${agent.name}" (${agent.id}) exists` }];

    checks.push(
      agent.key_hash
        ? { name: 'api_key', ok: true, message: `An API key is issued (${agent.key_prefix}…); it was shown once, at create or rotation` }
        : { name: 'api_key', ok: false, message: 'No API key is issued: rotate the key to issue one' },
    );

    const seen = Math.max(agent.last_seen_at ?? -1, agent.last_heartbeat_at ?? -1);
    const health = agentHealth(seen < 0 ? null : seen, false, now);
    checks.push(
      seen < 0
        ? {
            name: 'seen_recently',
            ok: false,
            message:
              'Never seen: configure the client with AVAILSYNC_API_KEY and AVAILSYNC_AGENT_ID, then make any request (GET /v1/agent)',
          }
        : now - seen <= SEEN_RECENTLY_MS
          ? { name: 'seen_recently', ok: true, message: `Last request ${ago(now - seen)}` }
          : { name: 'seen_recently', ok: false, message: `Last request ${ago(now - seen)} (${health}): check the client's configuration` },
    );

    const mode = effectiveMode(agent, org);
    checks.push({
      name: 'effective_mode',
      ok: true,
      message:
        mode === 'enforce'
          ? 'enforce: conflicting runs are answered skip_run'
          : 'observe: runs always proceed without a lease; Availsync records what it would have blocked',
    });

    const limits = limitsOf(org.plan);
    const [active, calls] = await Promise.all([
      countActiveClaims(db, org.id, await this.deps.store.readNow()),
      this.recorder.monthlyCalls(org.id),
    ]);
    const full: string[] = [];
    if (limits.active_claims !== null && active >= limits.active_claims) full.push(`all ${limits.active_claims} active claims are in use`);
    if (limits.monthly_api_calls !== null && calls >= limits.monthly_api_calls) {
      full.push(`the ${limits.monthly_api_calls} API calls of this month are used`);
    }
    checks.push(
      full.length === 0
        ? { name: 'plan_capacity', ok: true, message: `The ${org.plan} plan has room for new runs` }
        : { name: 'plan_capacity', ok: false, message: `The ${org.plan} plan is at its limit: ${full.join('; ')}` },
    );
    return { ready: checks.every((c) => c.ok), agent_id: agent.id, checks };
  }

  /** POST /v1/orgs/:org_id/agents/:agent_id/setup-test */
  async setupTest(p: Principal & { kind: 'user' }, agentId: string, requestId: string): Promise<SetupTestResponse> {
    const agent = await this.findAgent(p, agentId);
    const org = (await this.deps.store.db.selectFrom('orgs').selectAll().where('id', '=', p.org.id).executeTakeFirst()) ?? p.org;
    const as: Principal = { kind: 'agent', org, agent };
    const steps: SetupTestStep[] = [];

    const run = async (name: SetupTestStep['name'], route: string, call: () => Promise<Reply>, wanted: string[]) => {
      const t0 = performance.now();
      let reply: Reply;
      try {
        reply = await call();
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        reply = this.replies.error(err);
      }
      const body = reply.body as { action?: unknown; error?: unknown; message?: unknown; claim?: { resource?: string } | null };
      const action = typeof body.action === 'string' ? body.action : null;
      const ok = reply.status < 300 && action !== null && wanted.includes(action);
      this.recorder.record({
        org_id: org.id,
        agent_id: agent.id,
        type: 'setup_test',
        method: 'POST',
        route,
        status_code: reply.status,
        action,
        resource: SETUP_TEST_RESOURCE,
        latency_ms: performance.now() - t0,
        request_id: requestId,
        counted: false,
      });
      const message = ok
        ? `${name}: ${action}`
        : typeof body.message === 'string'
          ? `${name} failed: ${body.message}`
          : `${name} answered ${action ?? reply.status}`;
      steps.push({ name, ok, status_code: reply.status, action, message, result: reply.body });
      return { ok, body: reply.body as Record<string, unknown> };
    };
    const notRun = (name: SetupTestStep['name'], why: string, ok: boolean) =>
      steps.push({ name, ok, status_code: null, action: null, message: `${name} not run: ${why}`, result: null });

    const start = await run(
      'start',
      '/v1/work/run/start',
      () =>
        this.work.start(as, {
          resource: SETUP_TEST_RESOURCE,
          duration_minutes: 5,
          reason: 'Availsync setup test',
          metadata: { setup_test: true },
        }),
      ['proceed'],
    );
    const claim = start.body.claim as { id: string } | null | undefined;
    let claimId: string | null = null;
    if (!start.ok || !claim) {
      const observe = start.ok && start.body.mode === 'observe';
      const why = observe ? 'observe mode creates no lease, so there is nothing to update, extend or finish' : 'start did not proceed';
      for (const name of ['working_set', 'extend', 'finish'] as const) notRun(name, why, observe);
    } else {
      claimId = claim.id;
      const id = claim.id;
      await run(
        'working_set',
        '/v1/work/run/working-set',
        async () => this.replies.workingSet(await this.work.updateWorkingSet(as, id, { paths: ['README.md'], mode: 'edit' })),
        ['updated'],
      );
      await run('extend', '/v1/work/run/extend', async () => this.replies.extend(await this.work.extend(as, id, { duration_minutes: 5 })), [
        'extended',
      ]);
      await run(
        'finish',
        '/v1/work/run/finish',
        async () => this.replies.finish(await this.work.finish(as, id, { outcome: 'finished', reason: 'setup test' })),
        ['finished'],
      );
    }

    const ok = steps.every((s) => s.ok);
    // The store's clock, as the claim events of the steps use: the summary sorts after them.
    await writeAudit(this.deps.store.db, await this.deps.store.readNow(), {
      org_id: org.id,
      actor: { type: 'user', id: p.userId },
      event: 'agent.setup_test',
      resource: SETUP_TEST_RESOURCE,
      claim_id: claimId,
      details: {
        agent_id: agent.id,
        ok,
        steps: steps.map((s) => ({ name: s.name, ok: s.ok, status_code: s.status_code, action: s.action })),
      },
    });
    return { ok, agent_id: agent.id, resource: SETUP_TEST_RESOURCE, claim_id: claimId, steps };
  }
}
