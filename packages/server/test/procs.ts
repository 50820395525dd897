/**
 * Real server processes for the concurrency and durability suites: `availsync-server` run from source
 * (tsx) as a child process, a fresh PostgreSQL database per suite, and a tiny fetch client.
 *
 * Every child is tracked: `killAllServerProcesses()` (call it from `after`) and the process 'exit' /
 * signal guards below SIGKILL whatever is still running, so a failing test never leaks a server.
 * Spawning costs ~1 s each (tsx compiles on the fly): keep their number small.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { accountHelpers, type Call, PG_URL, type Res, readResponse, requestInit } from '@availsync/testkit';
import pg from 'pg';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const SERVER_MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

// ---------------------------------------------------------------------------------------------------
// child process bookkeeping

const live = new Set<ChildProcess>();

function killAllNow(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  live.clear();
}

process.on('exit', killAllNow);
// A test file interrupted by a signal still runs its 'exit' handlers (ours and the suites' temp-dir cleanup).
const SIGNAL_EXIT = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const;
for (const sig of Object.keys(SIGNAL_EXIT) as (keyof typeof SIGNAL_EXIT)[]) {
  process.once(sig, () => process.exit(SIGNAL_EXIT[sig]));
}

/** SIGKILL every server process this file started that is still running (for `after` hooks). */
export async function killAllServerProcesses(): Promise<void> {
  const waits = [...live].map((c) => exitOf(c));
  killAllNow();
  await Promise.all(waits);
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

function exitOf(child: ChildProcess): Promise<Exit> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** A TCP port nobody listens on right now (there is a small race until the child binds it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface SpawnOptions {
  /** Extra environment (wins over the defaults below). */
  env?: Record<string, string | undefined>;
  /** AVAILSYNC_DATA_DIR (the SQLite store). */
  dataDir?: string;
  /** DATABASE_URL (PostgreSQL). Unset means the embedded store. */
  databaseUrl?: string;
}

function serverEnv(opts: SpawnOptions, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Nothing of the test runner's own context or configuration leaks into the server.
  delete env.NODE_TEST_CONTEXT;
  delete env.DATABASE_URL;
  delete env.AVAILSYNC_DATA_DIR;
  delete env.PORT;
  Object.assign(env, {
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    AVAILSYNC_DEFAULT_PLAN: 'unlimited',
    ...(opts.dataDir ? { AVAILSYNC_DATA_DIR: opts.dataDir } : {}),
    ...(opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl } : {}),
    ...extra,
  });
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

function spawnServer(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', SERVER_MAIN, ...args], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let stdout = '';
  let stderr = '';
  const cap = (s: string, chunk: Buffer) => (s + chunk.toString('utf8')).slice(-64 * 1024);
  child.stdout?.on('data', (c: Buffer) => {
    stdout = cap(stdout, c);
  });
  child.stderr?.on('data', (c: Buffer) => {
    stderr = cap(stderr, c);
  });
  const exited = exitOf(child).then((e) => {
    live.delete(child);
    return e;
  });
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

export interface ServerProcess {
  url: string;
  port: number;
  pid: number;
  child: ChildProcess;
  /** Resolves when the process has exited. */
  exited: Promise<Exit>;
  /** What the process wrote to stderr so far (the last 64 KiB). */
  stderr(): string;
  /** What the process wrote to stdout so far (the last 64 KiB). */
  stdout(): string;
  /** Send a signal (e.g. 'SIGKILL' for a crash); resolves when the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<Exit>;
  /** SIGTERM (drain and exit cleanly) and wait for the exit; SIGKILL if it has not exited after 10 s. */
  stop(): Promise<Exit>;
}

/**
 * Start `availsync-server` and wait until `GET /health` answers 200. Fails with the child's stderr if it
 * exits first or does not become healthy in `timeoutMs`.
 */
export async function startServerProcess(opts: SpawnOptions & { timeoutMs?: number } = {}): Promise<ServerProcess> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const proc = spawnServer([], serverEnv(opts, { PORT: String(port) }));
    const url = `http://127.0.0.1:${port}`;
    const started = Date.now();
    let exit: Exit | undefined;
    void proc.exited.then((e) => {
      exit = e;
    });
    let healthy = false;
    while (!exit && Date.now() - started < timeoutMs) {
      try {
        const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.status === 200) {
          healthy = true;
          break;
        }
      } catch {
        /* not listening yet */
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (healthy && !exit) {
      const pid = proc.child.pid as number;
      const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
        if (!exit) proc.child.kill(signal);
        return proc.exited;
      };
      const stop = async () => {
        if (!exit) proc.child.kill('SIGTERM');
        // A drain that hangs must not hang the suite: SIGKILL after 10 s (the exit then shows the signal).
        const timer = setTimeout(() => proc.child.kill('SIGKILL'), 10_000);
        const e = await proc.exited;
        clearTimeout(timer);
        return e;
      };
      return { url, port, pid, child: proc.child, exited: proc.exited, stderr: proc.stderr, stdout: proc.stdout, kill, stop };
    }
    if (!exit) {
      proc.child.kill('SIGKILL');
      await proc.exited;
      throw new Error(`availsync-server did not become healthy in ${timeoutMs} ms; stderr:\n${proc.stderr()}`);
    }
    // Someone took the port between freePort() and the child's listen: try another one.
    if (/EADDRINUSE/.test(proc.stderr()) && attempt < 3) continue;
    throw new Error(`availsync-server exited (code ${exit.code}, signal ${exit.signal}) before it was healthy; stderr:\n${proc.stderr()}`);
  }
}

/**
 * Run the server CLI to completion (`['migrate']`, or `[]` to serve when a refusal is expected).
 * Kills it after `timeoutMs` and reports `timedOut` rather than hanging the suite.
 */
export async function runServerCli(
  args: string[],
  opts: SpawnOptions & { timeoutMs?: number } = {},
): Promise<Exit & { stdout: string; stderr: string; timedOut: boolean }> {
  const proc = spawnServer(args, serverEnv(opts, { PORT: String(await freePort()) }));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.child.kill('SIGKILL');
  }, opts.timeoutMs ?? 30_000);
  const exit = await proc.exited;
  clearTimeout(timer);
  return { ...exit, stdout: proc.stdout(), stderr: proc.stderr(), timedOut };
}

// ---------------------------------------------------------------------------------------------------
// PostgreSQL: one fresh database per suite

export interface TestDatabase {
  name: string;
  url: string;
  /** A pool on the database for reading rows directly. Closed by drop(). */
  pool: pg.Pool;
  drop(): Promise<void>;
}

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** `CREATE DATABASE avs_t_<random>` on the test server; `drop()` removes it `WITH (FORCE)`. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `avs_t_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const u = new URL(PG_URL);
  u.pathname = `/${name}`;
  const url = u.toString();
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => {
    /* a backend terminated by DROP ... WITH (FORCE) */
  });
  let dropped = false;
  return {
    name,
    url,
    pool,
    async drop() {
      if (dropped) return;
      dropped = true;
      await pool.end().catch(() => {});
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// a tiny fetch client

export interface StartOptions {
  idempotencyKey?: string;
}

export function apiClient(baseUrl: string) {
  async function request<T = any>(method: string, path: string, call: Call = {}): Promise<Res<T>> {
    return readResponse<T>(await fetch(`${baseUrl}${path}`, requestInit(method, call)));
  }

  const { signup, createAgent } = accountHelpers(request, 'proc');

  return {
    url: baseUrl,
    request,
    signup,
    createAgent,
    start: (key: string, body: Record<string, unknown> = {}, o: StartOptions = {}) =>
      request('POST', '/v1/work/run/start', {
        key,
        body: { resource: 'repo:acme/app', ...body },
        ...(o.idempotencyKey ? { headers: { 'idempotency-key': o.idempotencyKey } } : {}),
      }),
    extend: (key: string, claimId: string, body: Record<string, unknown> = {}) =>
      request('POST', '/v1/work/run/extend', { key, body: { claim_id: claimId, ...body } }),
    finish: (key: string, claimId: string, body: Record<string, unknown> = {}) =>
      request('POST', '/v1/work/run/finish', { key, body: { claim_id: claimId, ...body } }),
    getClaim: (key: string, claimId: string) => request('GET', `/v1/work/claims/${claimId}`, { key }),
  };
}

export type ApiClient = ReturnType<typeof apiClient>;

// ---------------------------------------------------------------------------------------------------
// invariants checked on database rows (§9: 1 mutual exclusion, 2 fencing)

/** The columns of a `claims` row the invariants need; numbers may arrive as strings from a raw driver. */
export interface LeaseRow {
  id: string;
  resource_type: string;
  resource_key: string;
  status: string;
  mode: string;
  fencing_token: number | string;
  started_at: number | string;
  expires_at: number | string;
  released_at: number | string | null;
}

/**
 * Every violation of invariants 1 and 2 among `rows` (enforce claims, grouped per resource):
 * - two lease intervals [started_at, min(expires_at, released_at ?? ∞)) overlap;
 * - a fencing token repeats, or a claim that started strictly later has a token that is not larger;
 * - more than one claim is `active`.
 * Returns human-readable lines (empty when all hold) so a failure shows every offending pair.
 */
export function leaseViolations(rows: LeaseRow[]): string[] {
  const out: string[] = [];
  const byResource = new Map<string, { id: string; status: string; token: number; start: number; end: number }[]>();
  for (const r of rows) {
    if (r.mode !== 'enforce') continue;
    const res = `${r.resource_type}:${r.resource_key}`;
    const end = Math.min(Number(r.expires_at), r.released_at == null ? Number.POSITIVE_INFINITY : Number(r.released_at));
    const list = byResource.get(res) ?? [];
    list.push({ id: r.id, status: r.status, token: Number(r.fencing_token), start: Number(r.started_at), end });
    byResource.set(res, list);
  }
  for (const [res, list] of byResource) {
    const tokens = new Set<number>();
    for (const c of list) {
      if (tokens.has(c.token)) out.push(`${res}: fencing token ${c.token} used twice`);
      tokens.add(c.token);
    }
    const active = list.filter((c) => c.status === 'active');
    if (active.length > 1) out.push(`${res}: ${active.length} active claims (${active.map((c) => c.id).join(', ')})`);
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const [x, y] = [list[i], list[j]] as [(typeof list)[number], (typeof list)[number]];
        if (Math.max(x.start, y.start) < Math.min(x.end, y.end)) {
          out.push(
            `${res}: leases overlap: ${x.id} [${x.start}, ${x.end}) token ${x.token} and ${y.id} [${y.start}, ${y.end}) token ${y.token}`,
          );
        }
        const [early, late] = x.start <= y.start ? [x, y] : [y, x];
        if (early.start < late.start && early.token >= late.token) {
          out.push(`${res}: ${late.id} started after ${early.id} but has fencing token ${late.token} <= ${early.token}`);
        }
      }
    }
  }
  return out;
}

/** A small seeded PRNG (mulberry32), so a failing randomized run can be replayed with its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
