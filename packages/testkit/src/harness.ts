/**
 * The in-process harness: a real server app over a store of `stores.ts`, called through `app.request`
 * (no socket), driven by a manual clock. What the server's own suites use.
 */
import { randomBytes } from 'node:crypto';
import { type Config, createAvailsync, type Logger, ManualClock, type Store, silentLogger } from '@availsync/server';
import { makeStore, type StoreKind, testConfig } from './stores.js';

export const MIN = 60_000;

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
  // A stream (GET /v1/events) never ends by itself: its status and headers are the answer.
  if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
    await res.body?.cancel();
    return { status: res.status, body: '' as T, headers: res.headers };
  }
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: body as T, headers: res.headers };
}
