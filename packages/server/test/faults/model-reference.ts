/**
 * The model-based test's reference model (model.test.ts): claims, file claims, fencing counters and the
 * embedded store's clock as pure data, the model's own rules of the work core, and the views of a claim the
 * server's answers are compared with. No I/O: the server appears only as the type of a run's handle (Real).
 */
import assert from 'node:assert/strict';
import type { TestServer } from '@availsync/testkit';

/**
 * Whether a read (GET, which uses `store.readNow()`) raises the embedded store's clock high-water mark.
 * The server today does not: `readNow()` returns max(clock, hwm) without raising hwm, so a later decision
 * can run at an earlier time than a read the client already saw (see the second property). The main
 * property mirrors the server as it is; flip this once reads raise the mark.
 */
const READS_RAISE_HWM = true;

export const AGENT_PRIORITIES = [100, 200, 300] as const;
export const PATHS = ['src/', 'src/*.ts', 'src/a.ts', 'src/b.md', 'docs/**', 'docs/a.md', 'README.md'] as const;
export const OUTCOMES = ['finished', 'error', 'noop', 'cancelled'] as const;

type Status = 'active' | 'released' | 'expired' | 'preempted';
export type Mode = 'edit' | 'delete' | 'review';
export type Op = 'set' | 'add' | 'remove';
export type Outcome = (typeof OUTCOMES)[number];

// ---------------------------------------------------------------------------------------------------
// The reference model (pure: no I/O, no server code)

export interface MClaim {
  n: number; // creation order in this run, for messages
  id: string; // the server's id (opaque, learned from the proceed answer)
  agent: number;
  resource: string;
  priority: number;
  token: number;
  started: number;
  expires: number;
  released: number | null;
  status: Status; // the stored status: an active claim past `expires` is still 'active' until marked
  duration: number;
  renewals: number;
  outcome: Outcome | null;
}

export interface MFile {
  claimId: string;
  resource: string;
  path: string;
  mode: Mode;
  expires: number;
}

export interface Model {
  run: number;
  /** Claim resources of this run ('repo:acme/app-rN', 'project:alpha-rN', 'project:beta-rN'). */
  res: string[];
  /** Working-set resources: index 0 = the claim's own, then a shared repo, then one of the claim resources. */
  wsRes: string[];
  /**
   * The workspace dependency rule of this run, as related resources in both directions: in half
   * the runs res0 depends on res1 and res2 (which stay unrelated to each other), so a start on res0 may
   * meet two live conflicting claims (preempt all or none; block by the highest priority, then oldest).
   */
  related: Map<string, string[]>;
  /** The manual clock. */
  clock: number;
  /** The store's in-memory high-water mark: the decision clock never goes below it. */
  hwm: number;
  /** The mark as last persisted (every write transaction persists it). */
  persisted: number;
  claims: MClaim[];
  tokens: Map<string, number>;
  files: MFile[];
  /** Claims some answer reported as ended (id → status and which answer), for the client-view property. */
  observedEnded: Map<string, { status: string; where: string }>;
  /** The commands run so far, with what they resolved to (for failure messages). */
  trace: string[];
  /** Database view: statuses of ended rows (for the no-revival invariant). */
  dbEnded: Map<string, { status: string; released_at: number | null }>;
}

export interface Real {
  t: TestServer;
  orgId: string;
  agents: { id: string; key: string }[];
  /** Check the client-view no-revival property. */
  strict: boolean;
  stats: Stats;
}

export type Stats = Record<string, number>;
export const bump = (s: Stats, k: string) => {
  s[k] = (s[k] ?? 0) + 1;
};

/** A write transaction reads the clock: max(manual clock, high-water mark), and raises the mark. */
export function tick(m: Model): number {
  m.hwm = Math.max(m.clock, m.hwm);
  m.persisted = m.hwm;
  return m.hwm;
}

/** A read outside a write transaction (GET). */
export function readNow(m: Model): number {
  const now = Math.max(m.clock, m.hwm);
  if (READS_RAISE_HWM) m.hwm = now;
  return now;
}

export function effective(c: MClaim, now: number): Status {
  return c.status === 'active' && c.expires <= now ? 'expired' : c.status;
}

export function dropFiles(m: Model, claimId: string): void {
  m.files = m.files.filter((f) => f.claimId !== claimId);
}

/** Lazy expiry: status 'expired', released_at = expires_at, working set released. */
export function markExpired(m: Model, c: MClaim): void {
  c.status = 'expired';
  c.released = c.expires;
  dropFiles(m, c.id);
}

/** extend / finish / working-set: lock the claim's resource, read the clock, expire the claim if lapsed. */
export function lockClaim(m: Model, c: MClaim): number {
  const now = tick(m);
  if (c.status === 'active' && c.expires <= now) markExpired(m, c);
  return now;
}

export function claimById(m: Model, id: string): MClaim {
  const c = m.claims.find((x) => x.id === id);
  if (!c) throw new Error(`model: unknown claim ${id}`);
  return c;
}

/**
 * A claim chosen by a command: the i-th newest (wrapping) of the claims live at the last decision (if any, and
 * asked), else of all claims.
 */
export interface Pick {
  live: boolean;
  i: number;
}
export function resolve(m: Readonly<Model>, pick: Pick): MClaim {
  const now = m.hwm;
  const live = m.claims.filter((c) => c.status === 'active' && c.expires > now);
  const from = pick.live && live.length > 0 ? live : m.claims;
  const c = from[from.length - 1 - (pick.i % from.length)];
  if (!c) throw new Error('no claim to pick');
  return c;
}
export const showPick = (p: Pick) => `${p.live ? 'live' : 'any'}#${p.i}`;

export const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

// ---------------------------------------------------------------------------------------------------
// Comparing answers with the model

interface FileView {
  claim_id: string;
  resource: string;
  mode: string;
  path: string;
  expires_at: string;
}

export const fileKey = (f: FileView) => `${f.resource} ${f.mode} ${f.path} until ${f.expires_at} (${f.claim_id})`;
export const modelFiles = (files: MFile[]) =>
  files.map((f) => fileKey({ claim_id: f.claimId, resource: f.resource, mode: f.mode, path: f.path, expires_at: iso(f.expires) })).sort();
export const realFiles = (files: FileView[] | undefined) => (files ?? []).map(fileKey).sort();

export function liveFilesOf(m: Model, c: MClaim, now: number): MFile[] {
  return m.files.filter((f) => f.claimId === c.id && f.expires > now);
}

export function expectedClaim(m: Model, r: Real, c: MClaim, now: number) {
  const status = effective(c, now);
  return {
    id: c.id,
    agent_id: r.agents[c.agent]?.id,
    resource: c.resource,
    status,
    mode: 'enforce',
    priority: c.priority,
    fencing_token: c.token,
    duration_minutes: c.duration,
    started_at: iso(c.started),
    expires_at: iso(c.expires),
    released_at: isoOrNull(c.released),
    outcome: c.outcome,
    renewal_count: c.renewals,
    working_set: status === 'active' ? modelFiles(liveFilesOf(m, c, now)) : [],
  };
}

export function actualClaim(a: any) {
  return {
    id: a?.id,
    agent_id: a?.agent_id,
    resource: a?.resource,
    status: a?.status,
    mode: a?.mode,
    priority: a?.priority,
    fencing_token: a?.fencing_token,
    duration_minutes: a?.duration_minutes,
    started_at: a?.started_at,
    expires_at: a?.expires_at,
    released_at: a?.released_at,
    outcome: a?.outcome,
    renewal_count: a?.renewal_count,
    working_set: realFiles(a?.working_set),
  };
}

export function label(c: MClaim): string {
  return `c${c.n} (A${c.agent} ${c.resource.replace(/-r\d+$/, '')} token ${c.token})`;
}

/**
 * The client-view property: once any answer reported a claim ended, no later answer may report it active,
 * nor ended otherwise (an ended status is final).
 */
export function observe(m: Model, r: Real, c: MClaim, status: string, where: string): void {
  const before = m.observedEnded.get(c.id);
  if (before === undefined) {
    if (status !== 'active') m.observedEnded.set(c.id, { status, where });
    return;
  }
  if (!r.strict || status === before.status) return;
  if (status === 'active') {
    assert.fail(`claim ${label(c)} was revived: ${before.where} reported it ${before.status}, and now ${where} reports it active`);
  }
  assert.fail(`claim ${label(c)} ended twice: ${before.where} reported it ${before.status}, and now ${where} reports it ${status}`);
}
