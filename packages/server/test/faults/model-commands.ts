/**
 * The model-based test's commands (model.test.ts): each runs one call against the real server and the
 * reference model, asserts the answer equals the model's prediction, then has the database checked.
 */
import assert from 'node:assert/strict';
import { MIN } from '@availsync/testkit';
import type { AsyncCommand } from 'fast-check';
import { patternsOverlap } from '../../src/domain/paths.js';
import { verifyDatabase } from './model-database.js';
import {
  AGENT_PRIORITIES,
  actualClaim,
  bump,
  claimById,
  dropFiles,
  effective,
  expectedClaim,
  iso,
  label,
  liveFilesOf,
  lockClaim,
  type MClaim,
  type MFile,
  type Mode,
  type Model,
  markExpired,
  modelFiles,
  type Op,
  type Outcome,
  observe,
  type Pick,
  type Real,
  readNow,
  realFiles,
  resolve,
  showPick,
  tick,
} from './model-reference.js';

export abstract class Cmd implements AsyncCommand<Model, Real> {
  /** What this execution resolved (the claim picked, the claim created or blocking), for the trace. */
  protected note = '';
  check(_m: Readonly<Model>): boolean {
    return true;
  }
  protected abstract apply(m: Model, r: Real): Promise<void>;
  protected abstract describe(): string;
  /**
   * Runs the command on both, then compares the database. A failure carries the trace of THIS execution
   * (with the claims each command resolved to): shrinking re-runs the same command objects, so anything
   * kept on them describes the last execution, not necessarily the failing one.
   */
  async run(m: Model, r: Real): Promise<void> {
    this.note = '';
    const line = () => (this.note ? `${this.describe()} /* ${this.note} */` : this.describe());
    try {
      await this.apply(m, r);
      await verifyDatabase(m, r, line());
      m.trace.push(line());
    } catch (err) {
      m.trace.push(`${line()}   <-- fails here`);
      if (err instanceof Error) err.message += `\n  trace of the failing run:\n    ${m.trace.join('\n    ')}`;
      throw err;
    }
  }
  toString(): string {
    return this.describe();
  }
}

abstract class ClaimCmd extends Cmd {
  constructor(readonly pick: Pick) {
    super();
  }
  override check(m: Readonly<Model>): boolean {
    return m.claims.length > 0;
  }
  protected target(m: Model): MClaim {
    const c = resolve(m, this.pick);
    this.note = label(c);
    return c;
  }
}

export class StartCmd extends Cmd {
  constructor(
    readonly agent: number,
    readonly res: number,
    readonly preempt: boolean,
    readonly minutes: number,
    readonly priority: number | undefined,
  ) {
    super();
  }
  protected describe() {
    const p = this.priority === undefined ? '' : `, priority ${this.priority}`;
    return `start(A${this.agent}/${AGENT_PRIORITIES[this.agent]}, res${this.res}, ${this.minutes} min${this.preempt ? ', preempt' : ''}${p})`;
  }
  protected async apply(m: Model, r: Real) {
    const resource = m.res[this.res] as string;
    const agent = r.agents[this.agent] as Real['agents'][number];
    const agentPriority = AGENT_PRIORITIES[this.agent] as number;
    const body: Record<string, unknown> = { resource, duration_minutes: this.minutes, preempt: this.preempt };
    if (this.priority !== undefined) body.priority = this.priority;
    const res = await r.t.request('POST', '/v1/work/run/start', { key: agent.key, body });
    const ctx = `${this.describe()}: ${JSON.stringify(res.body)}`;

    if (this.priority !== undefined && this.priority > agentPriority) {
      bump(r.stats, 'start.400');
      assert.equal(res.status, 400, ctx);
      assert.equal(res.body.error, 'invalid_request', ctx);
      return; // refused before any transaction: no clock tick, no state change
    }

    const now = tick(m);
    const scope = [resource, ...(m.related.get(resource) ?? [])];
    for (const c of m.claims) if (scope.includes(c.resource) && c.status === 'active' && c.expires <= now) markExpired(m, c);
    const live = m.claims.filter((c) => scope.includes(c.resource) && c.status === 'active');
    const priority = this.priority ?? agentPriority;
    const allLower = live.every((c) => c.priority < priority);

    if (live.length === 0 || (allLower && this.preempt)) {
      for (const v of live) {
        v.status = 'preempted';
        v.released = now;
        dropFiles(m, v.id);
      }
      const token = (m.tokens.get(resource) ?? 0) + 1;
      m.tokens.set(resource, token);
      assert.equal(res.status, 200, ctx);
      assert.equal(res.body.action, 'proceed', `expected proceed${live.length ? ' (preempting)' : ''}; ${ctx}`);
      assert.equal(res.body.mode, 'enforce', ctx);
      assert.equal(res.body.retry_after, null, ctx);
      const c: MClaim = {
        n: m.claims.length,
        id: String(res.body.claim?.id),
        agent: this.agent,
        resource,
        priority,
        token,
        started: now,
        expires: now + this.minutes * MIN,
        released: null,
        status: 'active',
        duration: this.minutes,
        renewals: 0,
        outcome: null,
      };
      m.claims.push(c);
      this.note = `→ ${label(c)}${live.length ? `, preempts ${live.map(label).join(', ')}` : ''}`;
      assert.deepEqual(actualClaim(res.body.claim), expectedClaim(m, r, c, now), ctx);
      assert.deepEqual([...((res.body.preempted_claims as string[] | undefined) ?? [])].sort(), live.map((v) => v.id).sort(), ctx);
      observe(m, r, c, 'active', 'start');
      for (const v of live) observe(m, r, v, 'preempted', 'start (preempted_claims)');
      bump(r.stats, live.length ? 'start.preempt' : 'start.proceed');
      if (live.length > 1) bump(r.stats, 'start.preempt.several');
      return;
    }

    // skip_run: the highest-priority, then oldest, live conflicting claim.
    const blocking = [...live].sort((a, b) => b.priority - a.priority || a.started - b.started || (a.id < b.id ? -1 : 1))[0] as MClaim;
    this.note = `blocked by ${label(blocking)}${live.length > 1 ? ` (of ${live.length})` : ''}`;
    if (live.length > 1) bump(r.stats, 'start.skip.several');
    assert.equal(res.status, 200, ctx);
    assert.equal(res.body.action, 'skip_run', `expected skip_run (blocked by ${label(blocking)}); ${ctx}`);
    assert.equal(res.body.mode, 'enforce', ctx);
    assert.equal(
      res.body.reason,
      blocking.agent === this.agent
        ? 'This agent already holds this resource with another active work claim: finish or extend that run'
        : allLower
          ? 'Another active work claim holds this resource; it has lower priority, so preempt: true would take over'
          : blocking.priority > priority
            ? 'Another active work claim has priority'
            : 'Another active work claim of equal priority holds this resource until it ends',
      ctx,
    );
    assert.equal(res.body.retry_after, iso(blocking.expires), ctx);
    assert.deepEqual(
      {
        id: res.body.blocking_claim?.id,
        agent_id: res.body.blocking_claim?.agent_id,
        resource: res.body.blocking_claim?.resource,
        priority: res.body.blocking_claim?.priority,
        expires_at: res.body.blocking_claim?.expires_at,
      },
      {
        id: blocking.id,
        agent_id: r.agents[blocking.agent]?.id,
        resource: blocking.resource,
        priority: blocking.priority,
        expires_at: iso(blocking.expires),
      },
      ctx,
    );
    assert.equal(res.body.claim, undefined, ctx);
    observe(m, r, blocking, 'active', 'start (blocking_claim)');
    bump(r.stats, allLower ? 'start.skip_preemptable' : 'start.skip');
  }
}

export class ExtendCmd extends ClaimCmd {
  constructor(
    pick: Pick,
    readonly minutes: number | undefined,
    readonly ws: WsSpec | undefined,
  ) {
    super(pick);
  }
  protected describe() {
    const minutes = this.minutes === undefined ? '' : `, ${this.minutes} min`;
    return `extend(${showPick(this.pick)}${minutes}${this.ws ? `, working_set: ${showWs(this.ws)}` : ''})`;
  }
  protected async apply(m: Model, r: Real) {
    const c = this.target(m);
    const body: Record<string, unknown> = { claim_id: c.id };
    if (this.minutes !== undefined) body.duration_minutes = this.minutes;
    if (this.ws) body.working_set = wsFields(m, c, this.ws);
    const res = await r.t.request('POST', '/v1/work/run/extend', { key: r.agents[c.agent]?.key, body });
    const ctx = `${this.describe()} of ${label(c)}: ${JSON.stringify(res.body)}`;
    const now = lockClaim(m, c);
    if (c.status !== 'active') {
      assert.equal(res.status, 409, `expected 409 claim_not_active (${c.status}); ${ctx}`);
      assert.equal(res.body.error, 'claim_not_active', ctx);
      assert.equal(res.body.status, c.status, ctx);
      observe(m, r, c, c.status, 'extend (409)');
      bump(r.stats, `extend.409.${c.status}`);
      return;
    }
    // The lease first (not additive), then the working set, whose leases are capped at the new expiry.
    c.expires = now + (this.minutes ?? c.duration) * MIN;
    c.renewals += 1;
    const ws = this.ws ? modelWorkingSet(m, c, this.ws, now) : undefined;
    assert.equal(res.status, 200, `expected extended; ${ctx}`);
    assert.equal(res.body.action, 'extended', ctx);
    assert.deepEqual(actualClaim(res.body.claim), expectedClaim(m, r, c, now), ctx);
    if (ws) {
      assertWsAnswer(res.body.working_set, ws, ctx);
      bump(r.stats, `extend.extended.ws.${ws.action}`);
    } else {
      assert.equal(res.body.working_set, undefined, ctx);
      bump(r.stats, 'extend.extended');
    }
    observe(m, r, c, 'active', 'extend (extended)');
  }
}

/** finish (POST /v1/work/run/finish with an outcome), or release (DELETE /v1/work/claims/:id, outcome null). */
export class FinishCmd extends ClaimCmd {
  constructor(
    pick: Pick,
    readonly outcome: Outcome | 'release' | undefined,
  ) {
    super(pick);
  }
  protected describe() {
    if (this.outcome === 'release') return `release(${showPick(this.pick)})`;
    return `finish(${showPick(this.pick)}${this.outcome === undefined ? '' : `, ${this.outcome}`})`;
  }
  protected async apply(m: Model, r: Real) {
    const c = this.target(m);
    const key = r.agents[c.agent]?.key;
    const release = this.outcome === 'release';
    const body: Record<string, unknown> = { claim_id: c.id };
    if (this.outcome !== undefined && this.outcome !== 'release') body.outcome = this.outcome;
    const res = release
      ? await r.t.request('DELETE', `/v1/work/claims/${c.id}`, { key })
      : await r.t.request('POST', '/v1/work/run/finish', { key, body });
    const ctx = `${this.describe()} of ${label(c)}: ${JSON.stringify(res.body)}`;
    const now = lockClaim(m, c);
    assert.equal(res.status, 200, ctx);
    if (c.status !== 'active') {
      assert.equal(res.body.action, release ? 'already_released' : 'already_finished', ctx);
      bump(r.stats, `finish.already.${c.status}`);
    } else {
      c.status = 'released';
      c.released = now;
      c.outcome = release ? null : ((this.outcome as Outcome | undefined) ?? 'finished');
      dropFiles(m, c.id);
      assert.equal(res.body.action, release ? 'released' : 'finished', ctx);
      bump(r.stats, release ? 'finish.released' : 'finish.finished');
    }
    assert.deepEqual(actualClaim(res.body.claim), expectedClaim(m, r, c, now), ctx);
    observe(m, r, c, c.status, `${release ? 'release' : 'finish'} (${res.body.action})`);
  }
}

/** A working-set update, as generated. `res` 0 = the claim's own resource (the field omitted). */
export interface WsSpec {
  op: Op | undefined;
  mode: Mode | undefined;
  paths: string[];
  res: number;
  lease: number | undefined;
}

function showWs(w: WsSpec): string {
  const parts = [w.op ?? '(set)', w.mode ?? '(edit)', JSON.stringify(w.paths), w.res === 0 ? 'own' : `ws${w.res}`];
  if (w.lease !== undefined) parts.push(`${w.lease}s`);
  return parts.join(', ');
}

function wsResourceOf(m: Model, c: MClaim, w: WsSpec): string {
  return w.res === 0 ? c.resource : (m.wsRes[w.res] as string);
}

function wsFields(m: Model, c: MClaim, w: WsSpec): Record<string, unknown> {
  const body: Record<string, unknown> = { paths: w.paths };
  if (w.op !== undefined) body.op = w.op;
  if (w.mode !== undefined) body.mode = w.mode;
  if (w.res !== 0) body.resource = wsResourceOf(m, c, w);
  if (w.lease !== undefined) body.lease_seconds = w.lease;
  return body;
}

interface BlockingView {
  path: string;
  claim_id: string;
  mode: string;
  held_path: string;
  expires_at: string;
}
const blockingKeys = (list: BlockingView[] | undefined) =>
  (list ?? []).map((b) => `${b.path} by ${b.claim_id} ${b.mode} ${b.held_path} until ${b.expires_at}`).sort();

/** The model of §4.4 for an active claim at `now`: mutates the model, returns the expected answer. */
function modelWorkingSet(m: Model, c: MClaim, w: WsSpec, now: number) {
  const op = w.op ?? 'set';
  const mode = w.mode ?? 'edit';
  const wsResource = wsResourceOf(m, c, w);
  const paths = [...new Set(w.paths)];
  const isMine = (f: MFile) => f.claimId === c.id && f.resource === wsResource && f.mode === mode;
  const blocking: BlockingView[] = [];
  const blocked = new Set<string>();
  let claimable = paths;
  if (op !== 'remove' && mode !== 'review') {
    // Others' live edit/delete file claims on this working-set resource, held by live claims.
    const others = m.files.filter((f) => {
      if (f.claimId === c.id || f.resource !== wsResource || f.mode === 'review' || f.expires <= now) return false;
      const holder = claimById(m, f.claimId);
      return holder.status === 'active' && holder.expires > now;
    });
    for (const path of paths) {
      for (const o of others) {
        if (patternsOverlap(path, o.path)) {
          blocked.add(path);
          blocking.push({ path, claim_id: o.claimId, mode: o.mode, held_path: o.path, expires_at: iso(o.expires) });
        }
      }
    }
    claimable = paths.filter((p) => !blocked.has(p));
  }
  const result = (status: number, action: string) => ({
    status,
    action,
    op,
    claimed_paths: claimable,
    blocked_paths: [...blocked].sort(),
    blocking: blockingKeys(blocking),
    working_set: modelFiles(liveFilesOf(m, c, now)),
  });
  // Nothing claimable: 409 blocked, nothing changes.
  if (claimable.length === 0) return result(409, 'blocked');

  const expires = Math.min(now + (w.lease ?? 600) * 1000, c.expires);
  if (op === 'remove') {
    m.files = m.files.filter((f) => !(isMine(f) && paths.includes(f.path)));
  } else {
    if (op === 'set') m.files = m.files.filter((f) => !(isMine(f) && !claimable.includes(f.path)));
    for (const path of claimable) {
      const existing = m.files.find((f) => isMine(f) && f.path === path);
      if (existing) existing.expires = expires;
      else m.files.push({ claimId: c.id, resource: wsResource, path, mode, expires });
    }
  }
  return result(200, blocking.length > 0 ? 'partial_proceed' : 'updated');
}

function assertWsAnswer(body: any, expected: ReturnType<typeof modelWorkingSet>, ctx: string): void {
  assert.equal(body?.action, expected.action, `expected working set ${expected.action}; ${ctx}`);
  if (expected.action !== 'updated') {
    assert.deepEqual([...(body.blocked_paths ?? [])].sort(), expected.blocked_paths, ctx);
    assert.deepEqual(blockingKeys(body.blocking), expected.blocking, ctx);
  }
  if (expected.action === 'partial_proceed') assert.deepEqual(body.claimed_paths, expected.claimed_paths, ctx);
  assert.deepEqual(realFiles(body.working_set), expected.working_set, ctx);
}

export class WorkingSetCmd extends ClaimCmd {
  constructor(
    pick: Pick,
    readonly ws: WsSpec,
  ) {
    super(pick);
  }
  protected describe() {
    return `workingSet(${showPick(this.pick)}, ${showWs(this.ws)})`;
  }
  protected async apply(m: Model, r: Real) {
    const c = this.target(m);
    const body = { claim_id: c.id, ...wsFields(m, c, this.ws) };
    const res = await r.t.request('POST', '/v1/work/run/working-set', { key: r.agents[c.agent]?.key, body });
    const ctx = `${this.describe()} of ${label(c)}: ${JSON.stringify(res.body)}`;
    const now = lockClaim(m, c);
    if (c.status !== 'active') {
      assert.equal(res.status, 409, `expected 409 claim_not_active (${c.status}); ${ctx}`);
      assert.equal(res.body.error, 'claim_not_active', ctx);
      assert.equal(res.body.status, c.status, ctx);
      observe(m, r, c, c.status, 'working-set (409)');
      bump(r.stats, `ws.409.${c.status}`);
      return;
    }
    observe(m, r, c, 'active', 'working-set');
    const expected = modelWorkingSet(m, c, this.ws, now);
    assert.equal(res.status, expected.status, `expected ${expected.status} ${expected.action}; ${ctx}`);
    assertWsAnswer(res.body, expected, ctx);
    bump(r.stats, expected.action === 'updated' ? `ws.updated.${expected.op}` : `ws.${expected.action}`);
  }
}

export class AdvanceCmd extends Cmd {
  constructor(readonly ms: number) {
    super();
  }
  protected describe() {
    const sign = this.ms < 0 ? '-' : '+';
    const abs = Math.abs(this.ms);
    return `clock(${sign}${abs % MIN === 0 ? `${abs / MIN} min` : `${abs} ms`})`;
  }
  protected async apply(m: Model, r: Real) {
    m.clock += this.ms;
    r.t.clock.advance(this.ms);
    assert.equal(r.t.clock.now(), m.clock);
    bump(r.stats, this.ms < 0 ? 'clock.back' : 'clock.forward');
    if (m.clock < m.hwm) bump(r.stats, 'clock.below_hwm');
  }
}

export class SweepCmd extends Cmd {
  protected describe() {
    return 'sweep()';
  }
  protected async apply(m: Model, r: Real) {
    const swept = await r.t.services.work.sweep();
    const now = tick(m);
    let expected = 0;
    for (const c of m.claims) {
      if (c.status === 'active' && c.expires <= now) {
        markExpired(m, c);
        expected += 1;
      }
    }
    m.files = m.files.filter((f) => f.expires > now);
    assert.equal(swept, expected, 'sweep() count');
    bump(r.stats, swept ? 'sweep.some' : 'sweep.none');
  }
}

export class ReadCmd extends ClaimCmd {
  constructor(
    pick: Pick,
    readonly reader: number,
  ) {
    super(pick);
  }
  protected describe() {
    return `get(${showPick(this.pick)} as A${this.reader})`;
  }
  protected async apply(m: Model, r: Real) {
    const c = this.target(m);
    const res = await r.t.request('GET', `/v1/work/claims/${c.id}`, { key: r.agents[this.reader]?.key });
    const ctx = `${this.describe()} of ${label(c)}: ${JSON.stringify(res.body)}`;
    const now = readNow(m);
    assert.equal(res.status, 200, ctx);
    assert.deepEqual(actualClaim(res.body.claim), expectedClaim(m, r, c, now), ctx);
    observe(m, r, c, res.body.claim.status, 'GET');
    bump(r.stats, `get.${res.body.claim.status}`);
    if (effective(c, m.hwm) === 'active' && effective(c, now) !== 'active') bump(r.stats, 'get.ended_ahead_of_decisions');
  }
}
