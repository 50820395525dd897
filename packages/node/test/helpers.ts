/**
 * Test helpers shared by the SDK and CLI suites: a real Availsync server over HTTP on port 0 (the server
 * harness's store on SQLite or PostgreSQL, driven by a ManualClock), and a scripted HTTP server for the
 * transport's retry/timeout behaviour.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAvailsync, listen, ManualClock, silentLogger } from '@availsync/server';
import { makeStore, type StoreKind, testConfig } from '../../server/test/harness.js';

export { deferred, PG_ENABLED, STORES, type StoreKind } from '../../server/test/harness.js';

export const MIN = 60_000;

export interface TestAgent {
  id: string;
  key: string;
}

export interface Session {
  cookie: string;
  csrf: string;
  orgId: string;
}

/** A real server on 127.0.0.1:0, with helpers to create workspaces and agents over its HTTP API. */
export async function startServer(kind: StoreKind = 'sqlite', config: Partial<typeof testConfig> = {}) {
  const clock = new ManualClock(Date.now());
  const made = makeStore(kind, clock);
  const instance = await createAvailsync({
    config: { ...testConfig, ...config },
    store: made.store,
    clock,
    logger: silentLogger,
    sweeper: false,
  });
  const server = await listen(instance, 0, '127.0.0.1');
  let n = 0;

  async function api(method: string, path: string, opts: { body?: unknown; key?: string; session?: Session } = {}) {
    const headers: Record<string, string> = {};
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    if (opts.key) headers.authorization = `Bearer ${opts.key}`;
    if (opts.session) {
      headers.cookie = `availsync_session=${opts.session.cookie}`;
      headers['x-csrf-token'] = opts.session.csrf;
    }
    const res = await fetch(server.url + path, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as any };
  }

  async function signup(): Promise<Session> {
    n += 1;
    const email = `sdk-${n}-${Math.random().toString(36).slice(2, 8)}@example.com`;
    const res = await api('POST', '/v1/auth/signup', { body: { email, password: 'correct horse battery', workspace_name: 'Acme' } });
    if (res.status !== 201) throw new Error(`signup failed: ${res.status} ${JSON.stringify(res.body)}`);
    const cookie = /availsync_session=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1];
    if (!cookie) throw new Error('no session cookie');
    return { cookie, csrf: res.body.csrf_token, orgId: res.body.workspace.id };
  }

  async function createAgent(session: Session, fields: Record<string, unknown> = {}): Promise<TestAgent> {
    const res = await api('POST', `/v1/orgs/${session.orgId}/agents`, { session, body: { name: 'agent', ...fields } });
    if (res.status !== 201) throw new Error(`create agent failed: ${res.status} ${JSON.stringify(res.body)}`);
    return { id: res.body.agent.id, key: res.body.api_key };
  }

  /** A fresh workspace with one agent (and a second agent on demand). */
  async function workspace(fields: Record<string, unknown> = {}) {
    const session = await signup();
    const agent = await createAgent(session, fields);
    return { session, agent, other: (f: Record<string, unknown> = {}) => createAgent(session, { name: 'other', ...f }) };
  }

  return {
    kind,
    clock,
    url: server.url,
    api,
    signup,
    createAgent,
    workspace,
    /** Write the queued activity rows now (they are otherwise written in batches). */
    flushActivity: () => instance.services.activity.recorder.flush(),
    async close() {
      await server.stop();
      await made.drop();
    },
  };
}

export type TestServer = Awaited<ReturnType<typeof startServer>>;

export interface Recorded {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export type Script = (req: Recorded, res: http.ServerResponse, index: number) => void;

/**
 * A scripted HTTP server: each request is recorded and answered by `script` (by arrival index), so a test
 * can answer 503, 429 with Retry-After, never answer (timeouts), or drop the connection.
 */
export async function scriptedServer(script: Script) {
  const requests: Recorded[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      const rec = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      requests.push(rec);
      script(rec, res, requests.length - 1);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export function json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': 'req_scripted', ...headers });
  res.end(JSON.stringify(body));
}

/** A claim object as the server shapes it, for scripted answers. */
export function fakeClaim(over: Record<string, unknown> = {}) {
  const now = Date.now();
  return {
    id: 'clm_scripted',
    agent_id: 'agt_scripted',
    resource: 'repo:owner/repo',
    resource_type: 'repo',
    resource_key: 'owner/repo',
    status: 'active',
    mode: 'enforce',
    reason: null,
    priority: 100,
    metadata: {},
    fencing_token: 1,
    idempotency_key: null,
    duration_minutes: 30,
    created_at: new Date(now).toISOString(),
    started_at: new Date(now).toISOString(),
    expires_at: new Date(now + 30 * MIN).toISOString(),
    released_at: null,
    outcome: null,
    renewal_count: 0,
    working_set: [],
    ...over,
  };
}

/** Wait for an AbortSignal to abort. */
export function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
  });
}
