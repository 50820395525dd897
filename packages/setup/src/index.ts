export { unifiedDiff } from './diff.js';
export {
  type CodexEntry,
  ConfigFileError,
  type McpEntry,
  renderCodexSection,
  setCodexServer,
  setJsonMember,
} from './edit.js';
export {
  bearer,
  CLAUDE_HOOK_COMMAND,
  CLIENTS,
  type ClientName,
  claudeCommand,
  claudeHookCommand,
  claudeHttpCommand,
  claudeHttpHooks,
  codexHooks,
  codexRemoteEntry,
  cursorHooks,
  type HookTarget,
  KEY_ENV,
  type Launchers,
  MCP_PACKAGE,
  maskKey,
  mcpEntry,
  mcpUrl,
  PUBLISHED,
  remoteEntry,
  type Scope,
  TRANSPORTS,
  type Transport,
} from './entries.js';
export { cloneLaunchers, configPath, detectClients } from './files.js';
export { ignorePattern, repoFromRemote, repoResource, type SecretPlace, secretPlace } from './git.js';
export {
  addClaudeHook,
  CLAUDE_HOOK_MATCHER,
  CLAUDE_HOOK_ROUTE,
  type CursorHookSpec,
  type HookClient,
  type HookGroupSpec,
  type HookValue,
  isAvailsyncClaudeHookEntry,
  isAvailsyncHook,
  setClaudeEnv,
  setCursorHooks,
  setHookGroups,
  withLauncher,
} from './hooks.js';
export { main } from './main.js';
export { DEFAULT_API_URL, failurePolicy, maskKeys, SETUP_VERSION, type SetupIo, type SetupOptions, setup } from './setup.js';
