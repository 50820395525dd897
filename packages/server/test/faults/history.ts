/**
 * A history of client operations (Jepsen style: invoke, then ok / fail / info) with a shared monotonic
 * clock, and the checker that reads it together with the database rows. `ok` means the server answered
 * and the answer is definite; `fail` a definite refusal (a 4xx); `info` an indefinite outcome (network
 * error, 5xx, a crash mid-request): the operation may or may not have happened.
 */

import type { Res } from '@availsync/testkit';
import { patternsOverlap } from '../../src/domain/paths.js';
import { type LeaseRow, leaseViolations } from '../procs.js';

export type Fn = 'start' | 'extend' | 'finish' | 'working-set' | 'get';

export interface Op {
  index: number;
  process: number;
  fn: Fn;
  type: 'invoke' | 'ok' | 'fail' | 'info';
  /** performance.now() of this event: one monotonic clock for every client in this test process. */
  time: number;
  resource?: string;
  claimId?: string;
  token?: number;
  action?: string;
  status?: number;
  claimStatus?: string;
  expiresAt?: number;
  serverTime?: number;
  idempotencyKey?: string;
  error?: string;
}

export class History {
  readonly ops: Op[] = [];

  private push(op: Omit<Op, 'index' | 'time'>): Op {
    const full = { ...op, index: this.ops.length, time: performance.now() };
    this.ops.push(full);
    return full;
  }

  /**
   * Record one call: the invoke, then its completion classified from the response (or the thrown error).
   * Returns the response, or undefined when the outcome is indefinite.
   */
  async run(
    process: number,
    fn: Fn,
    fields: { resource?: string; claimId?: string; idempotencyKey?: string },
    call: () => Promise<Res>,
  ): Promise<Res | undefined> {
    this.push({ process, fn, type: 'invoke', ...fields });
    let res: Res;
    try {
      res = await call();
    } catch (err) {
      this.push({ process, fn, type: 'info', ...fields, error: String(err) });
      return undefined;
    }
    const body = res.body ?? {};
    const claim = body.claim ?? undefined;
    const done: Omit<Op, 'index' | 'time'> = {
      process,
      fn,
      type: res.status >= 500 ? 'info' : res.status >= 400 && !(res.status === 409 && fn === 'working-set') ? 'fail' : 'ok',
      ...fields,
      status: res.status,
      action: body.action ?? body.error,
      ...(claim
        ? { claimId: claim.id, token: claim.fencing_token, claimStatus: claim.status, expiresAt: Date.parse(claim.expires_at) }
        : {}),
      ...(body.status && typeof body.status === 'string' ? { claimStatus: body.status } : {}),
      ...(claim?.started_at ? { serverTime: Date.parse(claim.started_at) } : {}),
    };
    this.push(done);
    return res;
  }

  completions(fn: Fn, action?: string): Op[] {
    return this.ops.filter((o) => o.fn === fn && o.type === 'ok' && (action === undefined || o.action === action));
  }

  invokeOf(op: Op): Op {
    for (let i = op.index - 1; i >= 0; i--) {
      const o = this.ops[i] as Op;
      if (o.process === op.process && o.type === 'invoke' && o.fn === op.fn) return o;
    }
    throw new Error(`no invoke for op ${op.index}`);
  }
}

export interface ClaimRow extends LeaseRow {
  agent_id: string;
  idempotency_key: string | null;
  renewal_count: number | string;
  outcome: string | null;
}

export interface FileRow {
  claim_id: string;
  resource_type: string;
  resource_key: string;
  path: string;
  mode: string;
  expires_at: number | string;
}

/**
 * Every invariant the fault suite checks, from the rows and the history. Returns violations as readable
 * lines (empty when everything holds).
 * - rows: no overlapping enforce leases per resource, fencing tokens unique and increasing (leaseViolations)
 * - durability: every acknowledged proceed / extended / finished is in the rows as acknowledged
 * - real-time order: a grant acknowledged before another grant on the same resource was invoked has the
 *   smaller fencing token
 * - idempotency: at most one claim per (agent, idempotency key)
 * - no revival: once an answer showed a claim ended, no later-invoked extend succeeds on it
 * - working sets: no two live edit/delete file claims of different claims overlap
 */
export function checkHistory(history: History, rows: ClaimRow[], files: FileRow[] = [], now = Number.POSITIVE_INFINITY): string[] {
  const out = leaseViolations(rows);
  const byId = new Map(rows.map((r) => [r.id, r]));

  for (const op of history.completions('start', 'proceed')) {
    if (!op.claimId) continue; // observe mode
    const row = byId.get(op.claimId);
    if (!row) out.push(`acknowledged proceed ${op.claimId} (op ${op.index}) is missing from the database`);
    else if (Number(row.fencing_token) !== op.token)
      out.push(`claim ${op.claimId}: acknowledged token ${op.token}, stored ${row.fencing_token}`);
  }
  for (const op of history.completions('extend', 'extended')) {
    const row = op.claimId ? byId.get(op.claimId) : undefined;
    if (!row) {
      out.push(`acknowledged extend of ${op.claimId} (op ${op.index}) has no row`);
      continue;
    }
    if (row.status === 'active' && Number(row.expires_at) < (op.expiresAt ?? 0)) {
      out.push(`claim ${row.id}: acknowledged expires_at ${op.expiresAt} but stored ${row.expires_at}`);
    }
    if (row.status !== 'active' && row.released_at != null && Number(row.released_at) < (op.serverTime ?? 0)) {
      out.push(`claim ${row.id}: released before an acknowledged extend`);
    }
  }
  for (const op of history.completions('finish', 'finished')) {
    const row = op.claimId ? byId.get(op.claimId) : undefined;
    if (row?.status !== 'released')
      out.push(`acknowledged finish of ${op.claimId} (op ${op.index}) but the row is ${row?.status ?? 'missing'}`);
  }

  // Real-time order of grants per resource.
  const grants = history.completions('start', 'proceed').filter((o) => o.claimId && o.resource);
  const perResource = new Map<string, Op[]>();
  for (const g of grants) perResource.set(g.resource as string, [...(perResource.get(g.resource as string) ?? []), g]);
  for (const [resource, list] of perResource) {
    for (const a of list) {
      for (const b of list) {
        if (a === b) continue;
        if (a.time < history.invokeOf(b).time && (a.token ?? 0) >= (b.token ?? 0)) {
          out.push(
            `${resource}: grant ${a.claimId} (token ${a.token}) was acknowledged before ${b.claimId} was requested, yet ${b.claimId} got token ${b.token}`,
          );
        }
      }
    }
  }

  // One claim per idempotency key (per agent).
  const keys = new Map<string, string[]>();
  for (const r of rows) {
    if (!r.idempotency_key) continue;
    const k = `${r.agent_id}\u0000${r.idempotency_key}`;
    keys.set(k, [...(keys.get(k) ?? []), r.id]);
  }
  for (const [k, ids] of keys)
    if (ids.length > 1) out.push(`idempotency key ${k.split('\u0000')[1]} created ${ids.length} claims: ${ids.join(', ')}`);

  // No revival: an extend invoked after an answer showed the claim ended must not succeed.
  const endedAt = new Map<string, number>();
  for (const op of history.ops) {
    if (op.type !== 'ok' && op.type !== 'fail') continue;
    if (!op.claimId) continue;
    const ended =
      op.action === 'claim_not_active' ||
      op.action === 'already_finished' ||
      (op.fn === 'finish' && op.action === 'finished') ||
      (op.claimStatus !== undefined && op.claimStatus !== 'active');
    if (ended && !endedAt.has(op.claimId)) endedAt.set(op.claimId, op.time);
  }
  for (const op of history.completions('extend', 'extended')) {
    const end = op.claimId ? endedAt.get(op.claimId) : undefined;
    if (end !== undefined && end < history.invokeOf(op).time)
      out.push(`claim ${op.claimId} was extended after it was seen ended (op ${op.index})`);
  }

  // Working sets.
  const live = new Set(rows.filter((r) => r.status === 'active' && Number(r.expires_at) > now).map((r) => r.id));
  const held = files.filter((f) => live.has(f.claim_id) && f.mode !== 'review' && Number(f.expires_at) > now);
  for (let i = 0; i < held.length; i++) {
    for (let j = i + 1; j < held.length; j++) {
      const [x, y] = [held[i], held[j]] as [FileRow, FileRow];
      if (x.claim_id === y.claim_id || x.resource_type !== y.resource_type || x.resource_key !== y.resource_key) continue;
      if (patternsOverlap(x.path, y.path)) out.push(`file claims overlap: ${x.path} (${x.claim_id}) and ${y.path} (${y.claim_id})`);
    }
  }
  return out;
}

/** A downstream system that accepts writes only with a fencing token at least as new as any it has seen. */
export class FencedStore {
  readonly highest = new Map<string, number>();
  readonly accepted: { resource: string; token: number; value: string }[] = [];
  write(resource: string, token: number, value: string): boolean {
    const seen = this.highest.get(resource) ?? 0;
    if (token < seen) return false;
    this.highest.set(resource, token);
    this.accepted.push({ resource, token, value });
    return true;
  }
}
