export { handleStreamableHttp, type RemoteRequestOptions } from './remote.js';
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
export {
  createToolServer,
  type RegisterToolsOptions,
  registerTools,
  runTool,
  SERVER_INSTRUCTIONS,
  TOOLS,
  type ToolAnswer,
  type ToolContext,
  type ToolDefinition,
} from './tools.js';
