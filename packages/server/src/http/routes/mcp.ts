/**
 * Remote MCP at /mcp: the MCP Streamable HTTP transport, stateless, serving @availsync/mcp's
 * tool table.
 *
 * - Auth: `Authorization: Bearer <agent key>`, checked as on every agent route. A missing or wrong key is a
 *   401 with `WWW-Authenticate: Bearer` and the v1 error envelope, before any MCP is spoken.
 * - Every tool call goes through the real REST routes: the tools get an @availsync/node client whose
 *   `fetch` dispatches in-process into this app with the caller's key, so observe mode, plan limits, errors,
 *   activity recording and idempotency are exactly REST's.
 * - Each request counts as the agent's MCP presence (what POST /v1/mcp/heartbeat records), written at
 *   most every PRESENCE_EVERY_MS per agent on this node (services/presence.ts).
 * - POST carries the JSON-RPC messages. GET (a server-to-client SSE stream) and DELETE (ending a session)
 *   are 405, as the transport allows: a stateless server has no session and never speaks first.
 * - The body limit is the API's; a body that is not JSON is a 400 invalid_request envelope.
 */
import { handleStreamableHttp } from '@availsync/mcp';
import { createAvailsyncClient, type FetchLike } from '@availsync/node';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from '../../logger.js';
import type { Services } from '../../services/index.js';
import { VERSION } from '../../version.js';
import type { AppEnv, RouteInfo } from '../env.js';
import { ApiError, HttpError } from '../errors.js';
import { authenticate } from '../middleware/auth.js';

export const MCP_PATH = '/mcp';

export interface McpRouteOptions {
  services: Services;
  logger: Logger;
  /** The route table: /mcp is listed for the shared security suite. */
  routes: RouteInfo[];
  maxBodyBytes: number;
}

const challenge = { 'WWW-Authenticate': 'Bearer' };

function withChallenge(err: unknown): unknown {
  if (!(err instanceof ApiError) || err.code !== 'unauthorized') return err;
  return new HttpError(err, challenge);
}

export function mcpRoutes(app: OpenAPIHono<AppEnv>, opts: McpRouteOptions): void {
  const { services, logger, maxBodyBytes } = opts;
  const auth = authenticate('agent', services);
  const limit = bodyLimit({
    maxSize: maxBodyBytes,
    onError: () => {
      throw new ApiError('payload_too_large', `Request bodies are limited to ${maxBodyBytes} bytes`);
    },
  });

  app.all(
    MCP_PATH,
    async (c, next) => {
      try {
        await auth(c, async () => {});
      } catch (err) {
        throw withChallenge(err);
      }
      await services.presence.markPresent(c.get('principal'));
      return next();
    },
    limit,
    async (c) => {
      if (c.req.method !== 'POST') {
        return c.json(
          { jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed: this server speaks MCP over POST only' }, id: null },
          405,
          {
            Allow: 'POST',
          },
        );
      }

      const text = await c.req.text();
      let parsedBody: unknown;
      try {
        parsedBody = JSON.parse(text);
      } catch {
        throw new ApiError('invalid_request', 'Malformed JSON in request body', { body: 'not valid JSON' });
      }

      const key = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '')?.[1] ?? '';
      const env = c.env;
      const inProcess: FetchLike = async (url, init) => app.fetch(new Request(url, init), env);
      const origin = new URL(c.req.url).origin;
      // No client-side timeout (timeoutMs 0): the call runs in this process, so aborting it cannot stop the
      // route it dispatched to. A timed-out start_run could still commit its claim after the tool had told
      // the model "No claim was taken". The inner call ends when its route does; the MCP client's own request
      // timeout bounds the whole exchange.
      const client = createAvailsyncClient({
        apiKey: key,
        baseUrl: origin,
        fetch: inProcess,
        timeoutMs: 0,
        maxRetries: 0,
        userAgent: `availsync-server/${VERSION} mcp`,
      });
      const requestId = c.get('requestId');
      const res = await handleStreamableHttp(c.req.raw, {
        client,
        apiUrl: origin,
        parsedBody,
        onFailure: (tool, message) => logger.debug('mcp tool failed', { request_id: requestId, tool, message }),
      });
      // The transport's own Response: give it the headers every answer of this app carries.
      const headers = new Headers(res.headers);
      headers.set('X-Request-Id', requestId);
      return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
    },
  );

  opts.routes.push({ method: 'POST', path: MCP_PATH, auth: 'agent', operationId: 'mcp' });
}
