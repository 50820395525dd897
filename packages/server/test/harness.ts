/**
 * The test harness: a real server app over a real SQLite file or the real PostgreSQL server, driven by a
 * manual clock. `for (const store of STORES) describe(store, ...)` runs a suite on every store.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompiledQuery, sql } from 'kysely';
import pg from 'pg';
import { ManualClock } from '../src/clock.js';
import type { Config } from '../src/config.js';
import { type Logger, silentLogger } from '../src/logger.js';
import { createAvailsync } from '../src/server.js';
import { createPostgresStore, createSqliteStore, type Executor, type Store, type Tx } from '../src/storage/store.js';

export type StoreKind = 'sqlite' | 'postgres';
export const PG_URL = process.env.AVAILSYNC_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const PG_ENABLED = process.env.AVAILSYNC_TEST_SKIP_PG !== '1';
export const STORES: StoreKind[] = PG_ENABLED ? ['sqlite', 'postgres'] : ['sqlite'];

export const testConfig: Config = {
  port: 0,
  host: '127.0.0.1',
  dataDir: ':memory:',
  databaseUrl: undefined,
  defaultPlan: 'unlimited',
  publicUrl: undefined,
  secureCookies: false,
  logLevel: 'silent',
  sweepIntervalMs: 60_000,
  sqliteSynchronous: 'NORMAL',
  pgPoolSize: 10,
  pgIdleTxTimeoutMs: 10_000,
  pgPreparedStatements: true,
  // In-process requests share one address ('unknown'): suites sign up far more than a person would.
  signupsPerHour: 1_000_000,
};

export interface Res<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface Call {
  body?: unknown;
  rawBody?: string;
  key?: string;
  session?: Session;
  headers?: Record<string, string>;
}

export interface Session {
  cookie: string;
  csrf: string;
  orgId: string;
  userId: string;
  email: string;
}

let counter = 0;
export function uniqueEmail(tag = 'user'): string {
  counter += 1;
  return `${tag}-${counter}-${randomBytes(4).toString('hex')}@example.com`;
}

/** A throwaway store: a SQLite file in a temp dir, or a fresh PostgreSQL schema. */
export function makeStore(kind: StoreKind, clock: ManualClock, where?: { dir?: string; schema?: string }) {
  if (kind === 'sqlite') {
    const dir = where?.dir ?? mkdtempSync(join(tmpdir(), 'availsync-test-'));
    const store = createSqliteStore({ dataDir: dir, clock });
    return { store, dir, schema: undefined, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const schema = where?.schema ?? `t_${randomBytes(6).toString('hex')}`;
  const store = createPostgresStore({ url: PG_URL, clock, schema, poolSize: 20 });
  return {
    store,
    dir: undefined,
    schema,
    drop: async () => {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
    },
  };
}

export async function createTestServer(
  kind: StoreKind,
  opts: { clock?: ManualClock; store?: Store; config?: Partial<Config>; logger?: Logger } = {},
) {
  const clock = opts.clock ?? new ManualClock(Date.now());
  const made = opts.store ? undefined : makeStore(kind, clock);
  const store = opts.store ?? (made as NonNullable<typeof made>).store;
  let instance: Awaited<ReturnType<typeof createAvailsync>>;
  try {
    instance = await createAvailsync({
      config: { ...testConfig, ...opts.config },
      store,
      clock,
      logger: opts.logger ?? silentLogger,
      sweeper: false,
    });
  } catch (err) {
    await store.close().catch(() => {});
    await made?.drop();
    throw err;
  }
  const { app } = instance;

  async function request<T = any>(method: string, path: string, call: Call = {}): Promise<Res<T>> {
    return readResponse<T>(await app.request(path, requestInit(method, call)));
  }

  const { signup, createAgent } = accountHelpers(request);

  /** A workspace with one agent: the common starting point. */
  async function workspace(agentFields: Record<string, unknown> = {}) {
    const session = await signup();
    const agent = await createAgent(session, agentFields);
    return { session, agent, key: agent.key };
  }

  return {
    kind,
    clock,
    store,
    app,
    routes: instance.routes,
    services: instance.services,
    request,
    signup,
    createAgent,
    workspace,
    /** Start a run as `key` (shorthand). */
    start: (key: string, body: Record<string, unknown> = {}) =>
      request('POST', '/v1/work/run/start', { key, body: { resource: 'repo:acme/app', ...body } }),
    async close() {
      await instance.close();
      await made?.drop();
    },
  };
}

export type TestServer = Awaited<ReturnType<typeof createTestServer>>;

type RequestFn = <T = any>(method: string, path: string, call?: Call) => Promise<Res<T>>;

/** Sign up and create agents through the API, over whatever transport `request` uses. */
export function accountHelpers(request: RequestFn, tag = 'user') {
  async function signup(email = uniqueEmail(tag), password = 'correct horse battery', workspace = 'Acme'): Promise<Session> {
    const res = await request('POST', '/v1/auth/signup', { body: { email, password, workspace_name: workspace } });
    if (res.status !== 201) throw new Error(`signup failed: ${res.status} ${JSON.stringify(res.body)}`);
    const cookie = /availsync_session=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1];
    if (!cookie) throw new Error('no session cookie');
    return { cookie, csrf: res.body.csrf_token, orgId: res.body.workspace.id, userId: res.body.user.id, email };
  }

  async function createAgent(session: Session, fields: Record<string, unknown> = {}) {
    const res = await request('POST', `/v1/orgs/${session.orgId}/agents`, { session, body: { name: 'agent', ...fields } });
    if (res.status !== 201) throw new Error(`create agent failed: ${res.status} ${JSON.stringify(res.body)}`);
    return { id: res.body.agent.id as string, key: res.body.api_key as string, agent: res.body.agent };
  }

  return { signup, createAgent };
}

/** The fetch options of a test call: credentials, CSRF token, JSON body. */
export function requestInit(method: string, call: Call): RequestInit {
  const headers: Record<string, string> = { ...call.headers };
  if (call.body !== undefined || call.rawBody !== undefined) headers['content-type'] ??= 'application/json';
  if (call.key) headers.authorization = `Bearer ${call.key}`;
  if (call.session) {
    headers.cookie = `availsync_session=${call.session.cookie}`;
    headers['x-csrf-token'] ??= call.session.csrf;
  }
  return { method, headers, body: call.rawBody ?? (call.body === undefined ? undefined : JSON.stringify(call.body)) };
}

/** A response with its body parsed as JSON when it is JSON. */
export async function readResponse<T = any>(res: Response): Promise<Res<T>> {
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: body as T, headers: res.headers };
}

export const MIN = 60_000;

/**
 * The plan a store would run `query` with, as text. PostgreSQL: the generic plan of a prepared statement
 * (which the server's statements are), with sequential scans ruled out, so what is left is what the
 * query's text allows whatever values it is given. A test asserts the indexes it names.
 */
export async function planOf(store: Store, query: CompiledQuery): Promise<string> {
  if (store.kind === 'sqlite') {
    const { rows } = await store.db.executeQuery(CompiledQuery.raw(`explain query plan ${query.sql}`, [...query.parameters]));
    return rows.map((r) => (r as { detail: string }).detail).join('\n');
  }
  return store.db.transaction().execute(async (trx) => {
    await sql`set local enable_seqscan = off`.execute(trx);
    await sql`set local plan_cache_mode = force_generic_plan`.execute(trx);
    await sql.raw(`prepare plan_of as ${query.sql}`).execute(trx);
    const literal = (v: unknown) => (Array.isArray(v) ? sql`array[${sql.join(v.map((x) => sql.lit(x)))}]` : sql.lit(v));
    const args = query.parameters.length > 0 ? sql`(${sql.join(query.parameters.map(literal))})` : sql``;
    const { rows } = await sql<{ 'QUERY PLAN': string }>`explain execute plan_of${args}`.execute(trx);
    await sql`deallocate plan_of`.execute(trx);
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  });
}

/** A promise and the functions that settle it: one side of a race held open until the test lets it go. */
export function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Resolves once a backend of this PostgreSQL database waits on a lock (one running a statement `LIKE
 * query`, if given): the other side of a race test is now blocked. Polled through `db`, whose own
 * snapshot must be fresh (not inside the transaction holding the lock); fails after `limit` polls.
 */
export async function untilWaitingOnLock(db: Executor, what: string, opts: { query?: string; limit?: number } = {}) {
  const { query, limit = 5000 } = opts;
  for (let polls = 0; ; polls++) {
    assert.ok(polls < limit, `${what} never waited on a lock`);
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from pg_stat_activity
      where wait_event_type = 'Lock' and datname = current_database() ${query === undefined ? sql`` : sql`and query ilike ${query}`}`.execute(
      db,
    );
    if ((rows[0]?.n ?? 0) > 0) return;
  }
}

/** `fn` in `n` transactions of `store` held open until all `n` have started, so each on its own connection. */
export async function onConnectionsAtOnce<T>(store: Store, n: number, fn: (trx: Tx) => Promise<T>): Promise<T[]> {
  let arrived = 0;
  const together = deferred();
  return Promise.all(
    Array.from({ length: n }, () =>
      store.transaction(async (trx) => {
        if (++arrived === n) together.resolve();
        await together.promise;
        return fn(trx);
      }),
    ),
  );
}
