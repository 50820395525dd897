export {
  type CreateServerOptions,
  configFromEnv,
  configProblem,
  createMcpServer,
  DEFAULT_API_URL,
  explainError,
  HEARTBEAT_INTERVAL_MS,
  type Logger,
  MCP_VERSION,
  type McpConfig,
  stderrLogger,
} from './server.js';
