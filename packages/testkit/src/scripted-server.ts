/**
 * A scripted HTTP server for the SDK transport's retry and timeout behaviour, and the claim object a real
 * server would send, for its answers.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { MIN } from './harness.js';

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
  const sockets = new Set<Socket>();
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
