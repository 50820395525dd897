#!/usr/bin/env node
/**
 * availsync-mcp: the Availsync MCP server on stdio. Configured by AVAILSYNC_API_KEY, AVAILSYNC_AGENT_ID and
 * AVAILSYNC_API_URL. A missing or wrong key, or an unreachable server, is logged at start-up and returned
 * by every tool call; the server keeps running so the client can show the message.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { configFromEnv, createMcpServer, stderrLogger } from './server.js';

const logger = stderrLogger();
const { server, verify, startHeartbeat } = createMcpServer({ config: configFromEnv(process.env), logger });

try {
  await server.connect(new StdioServerTransport());
} catch (err) {
  logger.warn(`cannot start on stdio: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
// The key check first, then the heartbeats: a bad key is reported once, by the check.
await verify();
startHeartbeat();
