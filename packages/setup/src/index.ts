export { unifiedDiff } from './diff.js';
export {
  addClaudeHook,
  CLAUDE_HOOK_MATCHER,
  ConfigFileError,
  type McpEntry,
  renderCodexSection,
  setClaudeEnv,
  setCodexServer,
  setJsonMember,
} from './edit.js';
export {
  CLAUDE_HOOK_COMMAND,
  CLIENTS,
  type ClientName,
  claudeCommand,
  configPath,
  DEFAULT_API_URL,
  detectClients,
  MCP_PACKAGE,
  main,
  maskKey,
  mcpEntry,
  SETUP_VERSION,
  type SetupIo,
  type SetupOptions,
  setup,
} from './setup.js';
