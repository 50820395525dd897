/**
 * The Availsync MCP server: ten tools on the official MCP SDK, built on @availsync/node.
 *
 * Every tool has an input and an output schema and a description written for a model (when to call it).
 * A result is one line of text a model can act on, plus `structuredContent` (the API's answer, snake_case).
 * API failures, a missing or wrong key and an unreachable server come back as `isError` results with the
 * reason, never as a crash. Logs go to stderr only: stdout is the MCP channel.
 */
import { type AvailsyncClient, AvailsyncError, createAvailsyncClient, type FetchLike, VERSION as SDK_VERSION } from '@availsync/node';
import { createToolServer, explainError, MCP_VERSION } from './tools.js';

export { explainError, MCP_VERSION } from './tools.js';
export const DEFAULT_API_URL = 'http://127.0.0.1:8787';
export const HEARTBEAT_INTERVAL_MS = 60_000;

export interface McpConfig {
  apiKey: string | undefined;
  agentId: string | undefined;
  apiUrl: string;
}

export function configFromEnv(env: NodeJS.ProcessEnv): McpConfig {
  return {
    apiKey: env.AVAILSYNC_API_KEY?.trim() || undefined,
    agentId: env.AVAILSYNC_AGENT_ID?.trim() || undefined,
    apiUrl: env.AVAILSYNC_API_URL?.trim() || DEFAULT_API_URL,
  };
}

/** Why the server cannot work at all (no key, a bad URL), or null. Shown at start-up and on every call. */
export function configProblem(config: McpConfig): string | null {
  if (!config.apiKey) {
    return (
      'Availsync is not configured: AVAILSYNC_API_KEY is not set for the availsync MCP server. Ask the user to add the agent ' +
      "API key (avs_live_...) and AVAILSYNC_AGENT_ID to this MCP server's environment (npx @availsync/setup does it), then restart the client."
    );
  }
  try {
    new URL(config.apiUrl);
  } catch {
    return `Availsync is not configured: AVAILSYNC_API_URL is not a URL (${config.apiUrl}).`;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
}

export const stderrLogger = (stream: { write(s: string): unknown } = process.stderr): Logger => ({
  info: (msg) => stream.write(`availsync-mcp: ${msg}\n`),
  warn: (msg) => stream.write(`availsync-mcp: WARNING: ${msg}\n`),
});

export interface CreateServerOptions {
  config: McpConfig;
  logger?: Logger;
  fetch?: FetchLike;
}

export function createMcpServer(opts: CreateServerOptions) {
  const { config } = opts;
  const logger = opts.logger ?? stderrLogger();
  const problem = configProblem(config);
  const client: AvailsyncClient | null = problem
    ? null
    : createAvailsyncClient({
        apiKey: config.apiKey as string,
        agentId: config.agentId,
        baseUrl: config.apiUrl,
        fetch: opts.fetch,
        timeoutMs: 15_000,
        maxRetries: 1,
        userAgent: `availsync-mcp/${MCP_VERSION} availsync-node/${SDK_VERSION} node/${process.version}`,
      });

  const server = createToolServer({
    client,
    problem,
    apiUrl: config.apiUrl,
    onFailure: (tool, text) => logger.warn(`${tool}: ${text}`),
  });

  /**
   * One warning per problem: start-up's key check and the first heartbeat run at once and, with a bad key,
   * fail for the same reason. Whichever is told second says nothing; a success forgets the problem.
   */
  let reported: string | null = null;
  const report = (err: unknown, prefix = '') => {
    // The same problem, whatever its request id: the error's kind and code (or its text when it has none).
    const key = err instanceof AvailsyncError ? `${err.kind} ${err.code} ${err.status ?? ''}` : String(err);
    const message = explainError(err, config.apiUrl);
    if (key !== reported) logger.warn(`${prefix}${message}`);
    reported = key;
    return message;
  };

  /** Check the key (GET /v1/agent) and log the outcome to stderr: what a user sees when the client starts. */
  async function verify(): Promise<{ ok: boolean; message: string }> {
    if (!client) {
      logger.warn(problem as string);
      return { ok: false, message: problem as string };
    }
    try {
      const { agent } = await client.agent.me();
      const message = `connected to ${config.apiUrl} as ${agent.name} (${agent.id}), ${agent.effective_mode} mode${
        agent.effective_mode === 'observe' ? ': decisions are recorded, nothing is enforced' : ''
      }`;
      reported = null;
      logger.info(message);
      return { ok: true, message };
    } catch (err) {
      return { ok: false, message: report(err) };
    }
  }

  /** One POST /v1/mcp/heartbeat; a failure is warned about once until a heartbeat succeeds again. */
  async function heartbeat(): Promise<boolean> {
    if (!client) return false;
    try {
      await client.mcp.heartbeat({ client: 'availsync-mcp', version: MCP_VERSION });
      reported = null;
      return true;
    } catch (err) {
      report(err, 'heartbeat failed: ');
      return false;
    }
  }

  /** A heartbeat now and every 60 s (an unref'd timer: it never keeps the process alive). */
  function startHeartbeat(intervalMs = HEARTBEAT_INTERVAL_MS) {
    if (!client) return () => {};
    void heartbeat();
    const timer = setInterval(() => void heartbeat(), intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  return { server, client, verify, heartbeat, startHeartbeat };
}
