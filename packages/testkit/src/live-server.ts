/**
 * A real Availsync server listening on 127.0.0.1:0 (a store of `stores.ts`, a manual clock), for the
 * suites that reach the server over HTTP as their users do: the SDK, the CLI, MCP and setup.
 */
import { createAvailsync, listen, ManualClock, silentLogger } from '@availsync/server';
import type { Session } from './harness.js';
import { makeStore, type StoreKind, testConfig } from './stores.js';

export interface TestAgent {
  id: string;
  key: string;
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
    return { cookie, csrf: res.body.csrf_token, orgId: res.body.workspace.id, userId: res.body.user.id, email };
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

export type LiveServer = Awaited<ReturnType<typeof startServer>>;
