/**
 * The tool table over MCP's Streamable HTTP transport, for a server that mounts it (the API
 * server's /mcp). Stateless: every HTTP request gets its own McpServer and transport, so any node of a
 * cluster can answer any request and nothing outlives the request. Answers are plain JSON (no SSE stream):
 * a tool call is one request and one answer.
 *
 * The caller authenticates the request and hands in an @availsync/node client acting as that agent; every
 * tool call goes through it.
 */
import type { AvailsyncClient } from '@availsync/node';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { createToolServer } from './tools.js';

export interface RemoteRequestOptions {
  client: AvailsyncClient;
  /** The server's public URL, for messages. */
  apiUrl: string;
  /** The request's body, already read and parsed as JSON by the caller. */
  parsedBody: unknown;
  onFailure?: (tool: string, text: string) => void;
}

/** Answer one Streamable HTTP POST (a JSON-RPC message or batch) with the tool table. */
export async function handleStreamableHttp(request: Request, opts: RemoteRequestOptions): Promise<Response> {
  const server = createToolServer({ client: opts.client, apiUrl: opts.apiUrl, onFailure: opts.onFailure });
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  try {
    await server.connect(transport);
    return await transport.handleRequest(request, { parsedBody: opts.parsedBody });
  } finally {
    await server.close();
  }
}
