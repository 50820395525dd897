/**
 * The Node HTTP server around the app, with the socket limits: headers within 20 s, a whole
 * request within 60 s, a request body idle for 30 s closed, and at most so many open connections per
 * client address (IPv6: per /64); past that a new connection is closed at once. Errors from Node's HTTP
 * parser (a bad request line, headers too large, a request that timed out) answer with the JSON error
 * envelope when the socket still allows an answer.
 *
 * Timeouts are Node's own `headersTimeout` and `requestTimeout`, checked every
 * `connectionsCheckingInterval` (set from them: Node's 30 s default would let a 20 s limit run to 50 s);
 * the idle-body timeout is the socket's inactivity timer, armed only while a request body is arriving.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { serve } from '@hono/node-server';
import type { HttpLimits } from '../config.js';
import { limitKeyOf } from '../domain/addresses.js';
import { newId } from '../ids.js';
import { rawResponseHeaders } from './middleware/headers.js';

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 20_000,
  requestTimeoutMs: 60_000,
  bodyIdleTimeoutMs: 30_000,
  maxConnectionsPerAddress: 256,
};

export interface ServeOptions {
  limits?: Partial<HttpLimits> | undefined;
  /** Over https (AVAILSYNC_PUBLIC_URL): parser-error answers carry HSTS too. */
  https?: boolean;
}

type Fetch = (req: Request, env: unknown) => Response | Promise<Response>;

/** Serve `fetch` on `port`/`host` with the limits; resolves once listening. */
export async function serveHttp(fetch: Fetch, port: number, host: string, opts: ServeOptions = {}): Promise<Server> {
  const limits = { ...DEFAULT_HTTP_LIMITS, ...opts.limits };
  const headersTimeout = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  const server = serve({
    fetch,
    port,
    hostname: host,
    serverOptions: {
      headersTimeout,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(headersTimeout / 4))),
    },
  }) as Server;
  limitConnections(server, limits.maxConnectionsPerAddress);
  closeIdleBodies(server, limits.bodyIdleTimeoutMs);
  server.on('clientError', (err, socket) => answerParserError(err, socket as Socket, opts.https ?? false));
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  return server;
}

function limitConnections(server: Server, max: number) {
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const key = limitKeyOf(socket.remoteAddress ?? 'unknown');
    const n = (open.get(key) ?? 0) + 1;
    if (n > max) {
      socket.destroy();
      return;
    }
    open.set(key, n);
    socket.once('close', () => {
      const left = (open.get(key) ?? 1) - 1;
      if (left <= 0) open.delete(key);
      else open.set(key, left);
    });
  });
}

function closeIdleBodies(server: Server, idleMs: number) {
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const length = req.headers['content-length'];
    const hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
    if (!hasBody || req.complete) return;
    const socket = req.socket;
    const onIdle = () => socket.destroy();
    socket.setTimeout(idleMs);
    socket.once('timeout', onIdle);
    let armed = true;
    // The body has arrived: stop the timer, unless the answer is already out (then Node has re-armed the
    // socket's timer for keep-alive, which must stay).
    req.once('end', () => {
      if (!armed) return;
      armed = false;
      socket.removeListener('timeout', onIdle);
      if (!socket.destroyed && !res.writableFinished) socket.setTimeout(0);
    });
    // Answered before the body was read: Node's keep-alive timer has replaced ours; only our listener goes.
    const drop = () => {
      armed = false;
      socket.removeListener('timeout', onIdle);
    };
    res.once('finish', drop);
    res.once('close', drop);
  });
}

const PARSER_ERRORS: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request headers are too large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'The request did not arrive in time'],
};

/** Node's own clientError answer, as the JSON envelope: only when nothing of an answer was sent yet. */
function answerParserError(err: Error & { code?: string }, socket: Socket, https: boolean) {
  const current = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || current?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, message] = PARSER_ERRORS[err.code ?? ''] ?? [400, 'Malformed HTTP request'];
  const requestId = newId('request');
  const body = JSON.stringify({
    error: 'invalid_request',
    message,
    request_id: requestId,
    details: { http: err.code ?? 'parse_error' },
  });
  const reason = status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
  socket.end(
    [
      `HTTP/1.1 ${status} ${reason}`,
      'Content-Type: application/json; charset=UTF-8',
      `Content-Length: ${Buffer.byteLength(body)}`,
      `X-Request-Id: ${requestId}`,
      ...rawResponseHeaders({ https }),
      'Connection: close',
      '',
      body,
    ].join('\r\n'),
    () => socket.destroy(),
  );
}
