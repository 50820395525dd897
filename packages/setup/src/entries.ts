/**
 * What setup writes into each client's config: the MCP server entries (remote and stdio), the commands it
 * prints for Claude Code, and the hooks (Claude Code's http hooks, Codex's and Cursor's command hooks).
 * Pure functions of the server URL, the launchers and the hook target.
 */
import type { CodexEntry, McpEntry } from './edit.js';
import { CLAUDE_HOOK_MATCHER, CLAUDE_HOOK_ROUTE, type CursorHookSpec, type HookGroupSpec } from './hooks.js';

export const MCP_PACKAGE = '@availsync/mcp';

export const CLIENTS = ['claude', 'codex', 'cursor', 'windsurf'] as const;
export type ClientName = (typeof CLIENTS)[number];

/** How the configured clients start Availsync's own programs. */
export interface Launchers {
  /** The MCP server (stdio). */
  mcp: { command: string; args: string[] };
  /** The CLI, as the start of a shell command (Claude Code's hooks are shell commands). */
  cli: string;
}

/** The published packages, fetched by npx from the npm registry. */
export const PUBLISHED: Launchers = { mcp: { command: 'npx', args: ['-y', MCP_PACKAGE] }, cli: 'npx -y @availsync/cli' };
export const CLAUDE_HOOK_COMMAND = claudeHookCommand(PUBLISHED);

/** `avs_live_abcd…wxyz`: enough to recognise a key, never enough to use it. */
export function maskKey(key: string): string {
  return key.length <= 16 ? 'avs_…' : `${key.slice(0, 13)}…${key.slice(-4)}`;
}

/**
 * A word for the shell that runs it: POSIX sh single quotes; on Windows, where Claude Code runs hooks
 * through cmd.exe, double quotes (a Windows path cannot contain one).
 */
export const shellQuote = (s: string, platform: NodeJS.Platform = process.platform) => {
  if (/^[A-Za-z0-9_./:@=+-]+$/.test(s)) return s;
  return platform === 'win32' ? `"${s}"` : `'${s.replace(/'/g, `'\\''`)}'`;
};

/** The native Claude Code command (user scope). */
export function claudeCommand(env: Record<string, string>, launchers: Launchers = PUBLISHED): string {
  // A value that is `$NAME` stays a reference the shell fills in (double quotes), never a quoted literal.
  const vars = Object.entries(env).map(([k, v]) => `-e ${k}=${v === `$${k}` ? `"${v}"` : shellQuote(v)}`);
  const { command, args } = launchers.mcp;
  return ['claude mcp add --scope user availsync', ...vars, '--', ...[command, ...args].map((w) => shellQuote(w))].join(' ');
}

export function mcpEntry(env: Record<string, string>, launchers: Launchers = PUBLISHED): McpEntry {
  return { command: launchers.mcp.command, args: [...launchers.mcp.args], env };
}

/** The Claude Code hook's command. */
export function claudeHookCommand(launchers: Launchers = PUBLISHED): string {
  return `${launchers.cli} hook claude`;
}

/** How the clients reach Availsync: the server's own endpoints (the default), or programs they start (stdio). */
export const TRANSPORTS = ['http', 'stdio'] as const;
export type Transport = (typeof TRANSPORTS)[number];
export type Scope = 'repo' | 'files';

/** The environment variable every file meant to be committed names instead of the key. */
export const KEY_ENV = 'AVAILSYNC_API_KEY';

const base = (url: string) => url.replace(/\/+$/, '');
/** The server's remote MCP endpoint (Streamable HTTP). */
export const mcpUrl = (url: string) => `${base(url)}/mcp`;

/**
 * Claude Code's own command for the remote MCP server (user scope: ~/.claude.json, never a project file).
 * Without `key`, the header names `$AVAILSYNC_API_KEY` and the shell fills it in: the key is not printed.
 */
export function claudeHttpCommand(url: string, key?: string): string {
  return `claude mcp add --transport http availsync ${shellQuote(mcpUrl(url))} --header "Authorization: Bearer ${key ?? `$${KEY_ENV}`}" --scope user`;
}

/**
 * The `Authorization` value Cursor or Windsurf sends: the key itself, or, in a file git tracks, a reference
 * both clients interpolate from the environment (`${env:AVAILSYNC_API_KEY}`).
 */
export const bearer = (key: string | null) => (key ? `Bearer ${key}` : `Bearer \${env:${KEY_ENV}}`);

/** Cursor (`url` + `headers`) and Windsurf (`serverUrl` + `headers`) entries for the remote MCP server. */
export function remoteEntry(client: 'cursor' | 'windsurf', url: string, authorization: string): Record<string, unknown> {
  const headers = { Authorization: authorization };
  return client === 'cursor' ? { url: mcpUrl(url), headers } : { serverUrl: mcpUrl(url), headers };
}

/** Codex's remote form: Streamable HTTP `url`, the bearer token read from KEY_ENV (Codex takes no inline token). */
export function codexRemoteEntry(url: string): CodexEntry {
  return { url: mcpUrl(url), bearer_token_env_var: KEY_ENV };
}

export interface HookTarget {
  /** `repo:owner/name`: where the session's files are claimed (null: the header is left out, the server decides). */
  resource: string | null;
  scope: Scope;
  /** Enforce mode: the edit hook fails closed wherever the client allows it. */
  enforce: boolean;
}

/**
 * Claude Code's hooks served by the server (`type: "http"`), for a project's committed
 * .claude/settings.json: the key is `$AVAILSYNC_API_KEY` (interpolated because allowedEnvVars lists it),
 * the project dir `$CLAUDE_PROJECT_DIR`. In enforce mode the PreToolUse hook has `onFailure: "block"`:
 * an unreachable server, a timeout or a non-2xx answer blocks the edit instead of letting it through.
 */
export function claudeHttpHooks(url: string, t: HookTarget): HookGroupSpec[] {
  const hook = (failClosed: boolean) => ({
    type: 'http',
    url: `${base(url)}${CLAUDE_HOOK_ROUTE}`,
    headers: {
      Authorization: `Bearer $${KEY_ENV}`,
      ...(t.resource ? { 'X-Availsync-Resource': t.resource } : {}),
      'X-Availsync-Project-Dir': '$CLAUDE_PROJECT_DIR',
      'X-Availsync-Scope': t.scope,
    },
    allowedEnvVars: [KEY_ENV, 'CLAUDE_PROJECT_DIR'],
    timeout: 15,
    ...(failClosed ? { onFailure: 'block' } : {}),
  });
  return [
    { event: 'SessionStart', hook: hook(false) },
    { event: 'PreToolUse', matcher: CLAUDE_HOOK_MATCHER, hook: hook(t.enforce) },
    { event: 'PostToolUse', matcher: CLAUDE_HOOK_MATCHER, hook: hook(false) },
    { event: 'SessionEnd', hook: hook(false) },
  ];
}

const hookFlags = (t: HookTarget, explicitResource: string | undefined) =>
  `${explicitResource ? ` --resource ${shellQuote(explicitResource)}` : ''}${t.scope === 'files' ? ' --scope files' : ''}`;

/**
 * Codex's hooks (`.codex/hooks.json`, Claude Code's shape): `availsync hook codex` before an apply_patch (or
 * an Edit/Write) claims the file, after one (or a Bash command) records what changed. The CLI reads
 * AVAILSYNC_API_KEY/AVAILSYNC_API_URL from Codex's environment; unreachable, it blocks in enforce mode
 * (`--on-unavailable fail`).
 */
export function codexHooks(launchers: Launchers, t: HookTarget, explicitResource?: string): HookGroupSpec[] {
  const hook = { type: 'command', command: `${launchers.cli} hook codex${hookFlags(t, explicitResource)}`, timeout: 30 };
  return [
    { event: 'SessionStart', hook },
    { event: 'PreToolUse', matcher: 'apply_patch|Edit|Write', hook },
    { event: 'PostToolUse', matcher: 'apply_patch|Edit|Write|Bash', hook },
  ];
}

/** Cursor's hooks (`.cursor/hooks.json`, version 1): the edit hook has `failClosed` in enforce mode. */
export function cursorHooks(launchers: Launchers, t: HookTarget, explicitResource?: string): CursorHookSpec[] {
  const command = `${launchers.cli} hook cursor${hookFlags(t, explicitResource)}`;
  return [
    {
      event: 'preToolUse',
      hook: { command, matcher: 'Write|Edit|StrReplace|Delete', timeout: 30, ...(t.enforce ? { failClosed: true } : {}) },
    },
    { event: 'afterFileEdit', hook: { command, timeout: 30 } },
    { event: 'sessionEnd', hook: { command, timeout: 30 } },
  ];
}
