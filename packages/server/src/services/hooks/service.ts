/**
 * The hook decision: one service call per hook event, made the same for every client
 * (clients.ts renders it in each client's own form) and for the command hook. It reuses the work service
 * (start, working set, extend, finish), so observe mode, plan limits, dependency rules and arbitration are
 * exactly REST's. The session's run is kept server-side (sessions.ts).
 */
import { createHash } from 'node:crypto';
import type { BlockingPath, HookClient, HookGuardResponse, HookScope } from '@availsync/protocol';
import { ANSWER_LIST_CAP, formatResource, parseWorkResource } from '@availsync/protocol';
import { iso } from '../../clock.js';
import { effectiveMode } from '../../domain/arbitration.js';
import { listed } from '../../domain/lists.js';
import { normalizePattern } from '../../domain/paths.js';
import { ApiError, errors } from '../../errors.js';
import { heldByOthersOn } from '../../storage/queries/working-sets.js';
import type { Principal, ServiceDeps } from '../context.js';
import type { IdempotentReply } from '../idempotency.js';
import type { StartOutcome, WorkService } from '../work/index.js';
import { findBlocking } from '../work/working-sets.js';
import { type HookSessionRow, HookSessions, type SessionRef, startKey } from './sessions.js';
import { at, changedBetween, filesHeldText, holderText, resourceHeldText } from './text.js';

type AgentPrincipal = Extract<Principal, { kind: 'agent' }>;

/** Where a hook call acts: from the route, its headers and the payload. */
export interface HookTarget {
  client: HookClient;
  sessionId: string;
  /** X-Availsync-Resource: the repository. null when the header is missing. */
  resource: string | null;
  scope: HookScope;
  /** Seconds the session's start waits in the queue before the edit is denied. */
  waitSeconds?: number;
}

export type Verdict = { decision: 'allow'; note?: string } | { decision: 'deny'; reason: string };

/** Renew the session's run when it has less than this left. */
const RENEW_MARGIN_MS = 10 * 60_000;
/** File claims of a hook session: as long as a working-set lease may be (capped at the run's expiry). */
const FILE_LEASE_SECONDS = 3600;
const CLIENT_NAMES: Record<HookClient, string> = { 'claude-code': 'Claude Code', codex: 'Codex', cursor: 'Cursor' };

type Run =
  | { kind: 'claim'; claimId: string; row: HookSessionRow }
  | { kind: 'observe'; note: string | undefined }
  | { kind: 'refused'; reason: string };

export class HookService {
  readonly sessions: HookSessions;

  constructor(
    private readonly deps: ServiceDeps,
    private readonly work: WorkService,
  ) {
    this.sessions = new HookSessions(deps.store);
  }

  private now() {
    return this.deps.store.readNow();
  }

  /** The session's row key, or a refusal when the repository resource is missing or invalid. */
  ref(p: AgentPrincipal, t: HookTarget): SessionRef | { refused: string } {
    if (!t.resource) {
      return {
        refused:
          'Availsync: the hook does not say which repository this is (no X-Availsync-Resource header, e.g. repo:owner/name). Fix the hook configuration, then retry.',
      };
    }
    const parsed = parseWorkResource(t.resource);
    if (!parsed.ok) return { refused: `Availsync: X-Availsync-Resource ${t.resource} is not valid: ${parsed.message}.` };
    const ws = formatResource(parsed.value);
    let resource = ws;
    if (t.scope === 'files') {
      const id = createHash('sha256').update(`${t.client}\u0000${t.sessionId}`).digest('hex').slice(0, 16);
      resource = `project:session/${p.agent.id}/${id}`;
    }
    return { org_id: p.org.id, agent_id: p.agent.id, client: t.client, session_id: t.sessionId, resource, ws_resource: ws, scope: t.scope };
  }

  /** The session's live run, started if it has none (one run however many calls arrive at once). */
  private async run(p: AgentPrincipal, s: SessionRef, what: string, waitSeconds = 0): Promise<Run> {
    const now = await this.now();
    const row = await this.sessions.open(s, now);
    if (row.claim_id && row.ended_at === null) return { kind: 'claim', claimId: row.claim_id, row };
    const observe = effectiveMode(p.agent, p.org) === 'observe';
    let reply: IdempotentReply<StartOutcome>;
    try {
      reply = await this.work.start(p, {
        resource: s.resource,
        reason: `${CLIENT_NAMES[s.client as HookClient] ?? s.client} session ${s.session_id}`,
        metadata: { client: s.client, session_id: s.session_id, hook_scope: s.scope, working_set_resource: s.ws_resource },
        // Observe mode holds no lease: each call gets the shadow decision afresh.
        ...(observe ? {} : { idempotency_key: startKey(s, row.generation) }),
        ...(waitSeconds > 0 ? { wait_seconds: waitSeconds } : {}),
      });
    } catch (err) {
      if (err instanceof ApiError) return { kind: 'refused', reason: `Availsync refused to start a run on ${s.resource}: ${err.message}.` };
      throw err;
    }
    // A replay is the first start's answer, as kept for POST /v1/work/run/start: the same outcome.
    const body = reply.body;
    if (body.mode === 'observe') {
      const b = body.shadow_decision.blocking_claim;
      return {
        kind: 'observe',
        note: body.would_have_blocked && b ? `observe mode: this would have been denied (${holderText(b)})` : undefined,
      };
    }
    if (body.action === 'skip_run') {
      await this.sessions.advance(s, row.generation, now);
      return { kind: 'refused', reason: resourceHeldText(s.resource, body.blocking_claim, body.retry_after, what) };
    }
    const claim = body.claim;
    await this.sessions.setClaim(s, row.generation, claim.id, Date.parse(claim.expires_at), now);
    return { kind: 'claim', claimId: claim.id, row: { ...row, claim_id: claim.id, claim_expires_at: Date.parse(claim.expires_at) } };
  }

  /**
   * Claim `paths` (repo-relative) in the session's run. `after`: the files were already changed (a shell
   * command, Cursor's afterFileEdit), so a refusal asks the model to revert rather than not to edit.
   */
  async claimFiles(p: AgentPrincipal, t: HookTarget, paths: string[], after = false): Promise<Verdict> {
    const s = this.ref(p, t);
    if ('refused' in s) return { decision: 'deny', reason: s.refused };
    if (paths.length === 0) return { decision: 'allow' };
    const what = after ? 'change files in it' : 'edit files in it';
    for (let attempt = 0; ; attempt++) {
      const run = await this.run(p, s, what, t.waitSeconds);
      if (run.kind === 'refused') return { decision: 'deny', reason: run.reason };
      if (run.kind === 'observe') return run.note ? { decision: 'allow', note: run.note } : { decision: 'allow' };
      await this.renewIfDue(p, s, run.row);
      const result = await this.work.updateWorkingSet(p, run.claimId, {
        paths: paths.slice(0, 500),
        op: 'add',
        mode: 'edit',
        resource: s.ws_resource,
        lease_seconds: FILE_LEASE_SECONDS,
      });
      if (result.action === 'not_active') {
        // The run ended (expired, preempted, finished elsewhere): start the session's next one, once.
        await this.sessions.advance(s, run.row.generation, await this.now());
        if (attempt === 0) continue;
        return { decision: 'deny', reason: `Availsync: the session's run on ${s.resource} ended while claiming files; retry.` };
      }
      if (result.action === 'updated') return { decision: 'allow' };
      return { decision: 'deny', reason: filesHeldText(result.blocking, await this.agentNames(p, result.blocking), after) };
    }
  }

  private async agentNames(p: AgentPrincipal, blocking: BlockingPath[]): Promise<Map<string, string>> {
    const ids = [...new Set(blocking.map((b) => b.agent_id))];
    if (ids.length === 0) return new Map();
    const rows = await this.deps.store.db
      .selectFrom('agents')
      .select(['id', 'name'])
      .where('org_id', '=', p.org.id)
      .where('id', 'in', ids)
      .execute();
    return new Map(rows.map((r) => [r.id, r.name]));
  }

  /** Extend the session's run (and its files' leases) when it is close to its end. */
  private async renewIfDue(p: AgentPrincipal, s: SessionRef, row: HookSessionRow): Promise<void> {
    if (!row.claim_id || row.claim_expires_at === null) return;
    const now = await this.now();
    if (row.claim_expires_at - now > RENEW_MARGIN_MS) return;
    const extended = await this.work.extend(p, row.claim_id, {});
    if (extended.action !== 'extended') {
      await this.sessions.advance(s, row.generation, now);
      return;
    }
    await this.sessions.setExpiry(s, row.claim_id, Date.parse(extended.claim.expires_at), now);
    const files = extended.claim.working_set.filter((f) => f.resource === s.ws_resource && f.mode === 'edit').map((f) => f.path);
    if (files.length > 0) {
      await this.work.updateWorkingSet(p, row.claim_id, {
        paths: files.slice(0, 500),
        op: 'add',
        mode: 'edit',
        resource: s.ws_resource,
        lease_seconds: FILE_LEASE_SECONDS,
      });
    }
  }

  /** PostToolUse: renew the session's run when it is close to its end. Never refuses. */
  async renew(p: AgentPrincipal, t: HookTarget): Promise<void> {
    const s = this.ref(p, t);
    if ('refused' in s) return;
    const row = await this.sessions.find(s);
    if (row?.claim_id && row.ended_at === null) await this.renewIfDue(p, s, row);
  }

  /** SessionEnd: finish the session's run so nobody waits for its lease to lapse. */
  async end(p: AgentPrincipal, t: HookTarget): Promise<void> {
    const s = this.ref(p, t);
    if ('refused' in s) return;
    const row = await this.sessions.find(s);
    if (!row) return;
    if (row.claim_id) {
      await this.work.finish(p, row.claim_id, { outcome: 'finished', reason: `${CLIENT_NAMES[t.client]} session ended` });
    }
    await this.sessions.end(s, row.generation, await this.now());
  }

  /** Remember the work tree's git status (before a shell command, at session start). */
  async recordGitStatus(p: AgentPrincipal, t: HookTarget, status: Record<string, string>): Promise<void> {
    const s = this.ref(p, t);
    if ('refused' in s) return;
    const now = await this.now();
    await this.sessions.open(s, now);
    await this.sessions.setGitStatus(s, status, now);
  }

  /**
   * After a shell command: the files whose git status changed since the last snapshot are the command's;
   * they join the session's working set. Refused (the model is asked to revert) where another run holds one.
   */
  async afterShell(p: AgentPrincipal, t: HookTarget, status: Record<string, string>): Promise<Verdict> {
    const s = this.ref(p, t);
    if ('refused' in s) return { decision: 'allow' };
    const now = await this.now();
    const row = await this.sessions.open(s, now);
    const before = row.git_status === null ? null : (JSON.parse(row.git_status) as Record<string, string>);
    await this.sessions.setGitStatus(s, status, now);
    const changed = changedBetween(before, status).filter((path) => normalizePattern(path).ok);
    if (changed.length === 0) {
      await this.renew(p, t);
      return { decision: 'allow' };
    }
    return this.claimFiles(p, t, changed, true);
  }

  /** SessionStart: what others are doing on the repository, for the model to read before its first edit. */
  async summary(p: AgentPrincipal, t: HookTarget): Promise<string> {
    const s = this.ref(p, t);
    if ('refused' in s) return s.refused;
    const parsed = parseWorkResource(s.ws_resource);
    if (!parsed.ok) return '';
    const ref = parsed.value;
    const now = await this.now();
    const db = this.deps.store.db;
    const runs = await db
      .selectFrom('claims')
      .leftJoin('agents', 'agents.id', 'claims.agent_id')
      .select(['claims.id', 'claims.agent_id', 'claims.reason', 'claims.expires_at', 'agents.name as agent_name'])
      .where('claims.org_id', '=', p.org.id)
      .where('claims.resource_type', '=', ref.resource_type)
      .where('claims.resource_key', '=', ref.resource_key)
      .where('claims.status', '=', 'active')
      .where('claims.expires_at', '>', now)
      .orderBy('claims.created_at')
      .limit(20)
      .execute();
    const files = await db
      .selectFrom('file_claims')
      .innerJoin('claims', 'claims.id', 'file_claims.claim_id')
      .leftJoin('agents', 'agents.id', 'claims.agent_id')
      .select([
        'file_claims.path',
        'file_claims.mode',
        'file_claims.expires_at',
        'claims.id as claim_id',
        'claims.agent_id',
        'agents.name as agent_name',
      ])
      .where('file_claims.org_id', '=', p.org.id)
      .where('file_claims.resource_type', '=', ref.resource_type)
      .where('file_claims.resource_key', '=', ref.resource_key)
      .where('file_claims.mode', 'in', ['edit', 'delete'])
      .where('file_claims.expires_at', '>', now)
      .where('claims.status', '=', 'active')
      .where('claims.expires_at', '>', now)
      .orderBy('file_claims.path')
      .limit(100)
      .execute();
    const who = (r: { agent_id: string; agent_name: string | null }) => (r.agent_name ? `${r.agent_name} (${r.agent_id})` : r.agent_id);
    const lines = [
      `Availsync coordinates edits on ${s.ws_resource} (scope ${s.scope}). Your edits are claimed as you make them; an edit of a file another run holds is denied, naming the holder.`,
    ];
    if (runs.length === 0 && files.length === 0) lines.push('Nobody else is working on it now.');
    if (runs.length > 0) {
      lines.push(`Active runs on ${s.ws_resource}:`);
      for (const r of runs) lines.push(`- ${who(r)}, run ${r.id}${r.reason ? ` "${r.reason}"` : ''}, until ${at(iso(r.expires_at))}`);
    }
    if (files.length > 0) {
      lines.push('Files held (do not edit them unless the holder is you):');
      for (const f of files) lines.push(`- ${f.path} (${f.mode}) by ${who(f)}, run ${f.claim_id}, until ${at(iso(f.expires_at))}`);
    }
    return lines.join('\n');
  }

  /** `POST /v1/hooks/guard`: this agent's open sessions on the repository, and which paths other runs hold. */
  async guard(p: Principal, input: { resource: string; paths: string[] }): Promise<HookGuardResponse> {
    if (p.kind !== 'agent') throw errors.forbidden('The guard is called with an agent API key');
    const parsed = parseWorkResource(input.resource);
    if (!parsed.ok) throw errors.invalid(parsed.message, { resource: parsed.message });
    const ws = formatResource(parsed.value);
    const bad: Record<string, string> = {};
    const paths: string[] = [];
    input.paths.forEach((raw, i) => {
      const n = normalizePattern(raw);
      if (n.ok) paths.includes(n.value) || paths.push(n.value);
      else bad[`paths.${i}`] = n.message;
    });
    if (Object.keys(bad).length > 0) throw errors.invalid('Some paths are not valid repo-relative paths', bad);
    const rows = await this.sessions.openOn(p.org.id, p.agent.id, ws);
    const sessions = [];
    for (const row of rows) {
      sessions.push({
        client: row.client,
        session_id: row.session_id,
        updated_at: iso(row.updated_at),
        claim: row.claim_id ? await this.work.get(p, row.claim_id) : null,
      });
    }
    const own = new Set(sessions.flatMap((x) => (x.claim ? [x.claim.id] : [])));
    const now = await this.now();
    const held = paths.length
      ? await heldByOthersOn(this.deps.store, this.deps.store.db, { id: '', org_id: p.org.id }, { ref: parsed.value, paths }).execute()
      : [];
    const live = held.filter((h) => h.expires_at > now && h.claim_expires_at > now && !own.has(h.claim_id));
    const found = await findBlocking(paths, live);
    return { sessions, ...listed('blocking', found.blocking, ANSWER_LIST_CAP, found.blockingCount) };
  }
}
