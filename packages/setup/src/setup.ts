/**
 * `npx @availsync/setup`: verify the agent key (GET /v1/agent), detect Claude Code, Codex, Cursor and
 * Windsurf, merge an `availsync` MCP server entry into each one's own config (backed up, written
 * atomically, other entries untouched), print the native `claude mcp add` command, and optionally install
 * the Claude Code enforcement hook. Interactive with @clack/prompts on a terminal; fully scriptable with
 * flags; plain lines when stdout is not a TTY. `main(argv, io)` returns the exit code (in-process tests).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join, resolve, sep } from 'node:path';
import { AvailsyncError, createAvailsyncClient, type FetchLike } from '@availsync/node';
import * as p from '@clack/prompts';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { unifiedDiff } from './diff.js';
import {
  addClaudeHook,
  CLAUDE_HOOK_MATCHER,
  CLAUDE_HOOK_ROUTE,
  type CodexEntry,
  ConfigFileError,
  type CursorHookSpec,
  type HookGroupSpec,
  isAvailsyncClaudeHookEntry,
  isAvailsyncClientHook,
  type McpEntry,
  setClaudeEnv,
  setCodexServer,
  setCursorHooks,
  setHookGroups,
  setJsonMember,
} from './edit.js';
import { excludeBackups, repoResource, secretPlace } from './git.js';

export const SETUP_VERSION = '0.1.0';
export const DEFAULT_API_URL = 'http://127.0.0.1:8787';
export const MCP_PACKAGE = '@availsync/mcp';

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

/**
 * When setup runs from a clone of the repository (`selfDir` is its own `dist`, beside the other packages and
 * not inside a node_modules), the clone's built MCP server and CLI, started by absolute path with the Node
 * that runs setup: they work without the npm registry, for as long as the clone stays where it is. Null
 * elsewhere (npx, a global install). `built` says whether both programs have been built yet.
 */
export function cloneLaunchers(
  selfDir: string,
  node = process.execPath,
  platform: NodeJS.Platform = process.platform,
): { launchers: Launchers; root: string; built: boolean } | null {
  const root = resolve(selfDir, '..', '..', '..');
  if (resolve(selfDir).split(sep).includes('node_modules')) return null;
  const pkg = (name: string) => join(root, 'packages', name, 'package.json');
  const named = (name: string) => {
    try {
      return (JSON.parse(readFileSync(pkg(name), 'utf8')) as { name?: unknown }).name === `@availsync/${name}`;
    } catch {
      return false;
    }
  };
  if (!named('setup') || !named('mcp') || !named('cli')) return null;
  const mcpBin = join(root, 'packages', 'mcp', 'dist', 'bin.js');
  const cliBin = join(root, 'packages', 'cli', 'dist', 'bin.js');
  return {
    root,
    built: existsSync(mcpBin) && existsSync(cliBin),
    launchers: { mcp: { command: node, args: [mcpBin] }, cli: [node, cliBin].map((w) => shellQuote(w, platform)).join(' ') },
  };
}

export const CLIENTS = ['claude', 'codex', 'cursor', 'windsurf'] as const;
export type ClientName = (typeof CLIENTS)[number];

export interface SetupIo {
  stdout: { write(s: string): unknown; isTTY?: boolean | undefined };
  stderr: { write(s: string): unknown };
  stdin?: { isTTY?: boolean | undefined } | undefined;
  env: NodeJS.ProcessEnv;
  /** Home directory (tests pass a temporary one). */
  home: string;
  cwd: string;
  fetch?: FetchLike | undefined;
  /** Timestamp for backup names (tests pin it). */
  now?: () => Date;
  /** The directory setup runs from (bin.ts passes its own), to tell a clone of the repository (cloneLaunchers). */
  selfDir?: string | undefined;
}

export interface SetupOptions {
  apiKey?: string;
  agentId?: string;
  url?: string;
  clients?: ClientName[];
  project?: boolean;
  yes?: boolean;
  dryRun?: boolean;
  claudeHook?: boolean;
  /** Configure the clients to start this clone's built programs instead of the published packages. */
  local?: boolean;
  /** `http` (default; `stdio` with --local): the server's /mcp and hook routes, or programs the clients start. */
  transport?: Transport;
  /** Write the project's .codex/hooks.json (`availsync hook codex`). */
  codexHook?: boolean;
  /** Write the project's .cursor/hooks.json (`availsync hook cursor`). */
  cursorHook?: boolean;
  /** The resource the hooks claim on (default: `repo:owner/name` from the project's `origin`). */
  resource?: string;
  scope?: Scope;
}

/** `avs_live_abcd…wxyz`: enough to recognise a key, never enough to use it. */
export function maskKey(key: string): string {
  return key.length <= 16 ? 'avs_…' : `${key.slice(0, 13)}…${key.slice(-4)}`;
}

/**
 * A word for the shell that runs it: POSIX sh single quotes; on Windows, where Claude Code runs hooks
 * through cmd.exe, double quotes (a Windows path cannot contain one).
 */
const shellQuote = (s: string, platform: NodeJS.Platform = process.platform) => {
  if (/^[A-Za-z0-9_./:@=+-]+$/.test(s)) return s;
  return platform === 'win32' ? `"${s}"` : `'${s.replace(/'/g, `'\\''`)}'`;
};

/** The native Claude Code command (user scope). */
export function claudeCommand(env: Record<string, string>, launchers: Launchers = PUBLISHED): string {
  const vars = Object.entries(env).map(([k, v]) => `-e ${k}=${shellQuote(v)}`);
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

/** Claude Code's own command for the remote MCP server (user scope: ~/.claude.json, never a project file). */
export function claudeHttpCommand(url: string, key: string): string {
  return `claude mcp add --transport http availsync ${shellQuote(mcpUrl(url))} --header "Authorization: Bearer ${key}" --scope user`;
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
 * Claude Code's hooks served by the server (`type: "http"`, SPEC §10.2), for a project's committed
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

export function configPath(client: Exclude<ClientName, 'claude'>, home: string, cwd: string, project: boolean): string {
  if (client === 'codex') return join(home, '.codex', 'config.toml');
  if (client === 'cursor') return project ? join(cwd, '.cursor', 'mcp.json') : join(home, '.cursor', 'mcp.json');
  return join(home, '.codeium', 'windsurf', 'mcp_config.json');
}

function onPath(cmd: string, env: NodeJS.ProcessEnv): boolean {
  return (env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, cmd)));
}

/** Clients whose config directory exists in HOME (Claude Code: ~/.claude or `claude` on PATH). */
export function detectClients(home: string, env: NodeJS.ProcessEnv): ClientName[] {
  const found: ClientName[] = [];
  if (existsSync(join(home, '.claude')) || onPath('claude', env)) found.push('claude');
  if (existsSync(join(home, '.codex'))) found.push('codex');
  if (existsSync(join(home, '.cursor'))) found.push('cursor');
  if (existsSync(join(home, '.codeium', 'windsurf'))) found.push('windsurf');
  return found;
}

function stamp(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** Back up (when the file exists), then write through a temp file and a rename. Returns the backup path. */
export function writeAtomic(file: string, text: string, now: Date): string | null {
  mkdirSync(dirname(file), { recursive: true });
  let backup: string | null = null;
  let mode = 0o600;
  if (existsSync(file)) {
    mode = statSync(file).mode & 0o777;
    backup = `${file}.bak-${stamp(now)}`;
    copyFileSync(file, backup);
  }
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
  return backup;
}

function parseClients(value: string): ClientName[] {
  const list = value
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  for (const c of list) {
    if (!(CLIENTS as readonly string[]).includes(c)) throw new InvalidArgumentError(`unknown client "${c}" (use ${CLIENTS.join(',')})`);
  }
  return [...new Set(list)] as ClientName[];
}

function parseTransport(value: string): Transport {
  if (!(TRANSPORTS as readonly string[]).includes(value)) throw new InvalidArgumentError(`use ${TRANSPORTS.join(' or ')}`);
  return value as Transport;
}

function parseScope(value: string): Scope {
  if (value !== 'repo' && value !== 'files') throw new InvalidArgumentError('use repo or files');
  return value;
}

class Cancelled extends Error {}

function check<T>(value: T): Exclude<T, symbol> {
  if (p.isCancel(value)) throw new Cancelled();
  return value as Exclude<T, symbol>;
}

export async function setup(opts: SetupOptions, io: SetupIo): Promise<number> {
  const tty = io.stdout.isTTY === true;
  const interactive = tty && io.stdin?.isTTY === true && !opts.yes;
  const out = {
    line: (s: string) => (tty ? p.log.message(s) : io.stdout.write(`${s}\n`)),
    ok: (s: string) => (tty ? p.log.success(s) : io.stdout.write(`${s}\n`)),
    warn: (s: string) => (tty ? p.log.warn(s) : io.stderr.write(`availsync-setup: warning: ${s}\n`)),
    error: (s: string) => (tty ? p.log.error(s) : io.stderr.write(`availsync-setup: error: ${s}\n`)),
  };
  const now = io.now?.() ?? new Date();
  if (tty) p.intro('Availsync setup');

  let apiKey = opts.apiKey?.trim() || io.env.AVAILSYNC_API_KEY?.trim() || '';
  let url = opts.url?.trim() || io.env.AVAILSYNC_API_URL?.trim() || '';
  if (interactive && !apiKey) {
    apiKey = check(
      await p.password({
        message: 'Agent API key (avs_live_…, shown when the agent was created)',
        validate: (v) => (v?.startsWith('avs_') ? undefined : 'starts with avs_'),
      }),
    ).trim();
  }
  if (interactive && !url) {
    url = check(await p.text({ message: 'Availsync server URL', placeholder: DEFAULT_API_URL, defaultValue: DEFAULT_API_URL })).trim();
  }
  url ||= DEFAULT_API_URL;
  if (!apiKey) {
    out.error('no API key: pass --api-key avs_live_… (or set AVAILSYNC_API_KEY). Run without --yes on a terminal to be asked.');
    return 2;
  }

  // Which programs the clients will start: the published packages, or (--local) this clone's build.
  const transport: Transport = opts.transport ?? (opts.local ? 'stdio' : 'http');
  const clone = io.selfDir ? cloneLaunchers(io.selfDir) : null;
  let launchers = PUBLISHED;
  if (opts.local) {
    if (!clone) {
      out.error(
        '--local needs setup to run from a clone of the Availsync repository: build the clone (npm install && npm run build), then run node <clone>/packages/setup/dist/bin.js --local … in your project.',
      );
      return 2;
    }
    if (!clone.built) {
      out.error(`--local: the clone at ${clone.root} is not built yet. Run npm run build there first.`);
      return 2;
    }
    launchers = clone.launchers;
  } else if (clone && (transport === 'stdio' || opts.codexHook || opts.cursorHook)) {
    out.warn(
      `setup runs from a clone (${clone.root}), but the configs will start the published packages (npx -y ${MCP_PACKAGE}) from the npm registry. Pass --local to start this clone's build instead.`,
    );
  }

  // 1. Verify the key before writing anything.
  let agentId: string;
  let mode: string;
  try {
    const client = createAvailsyncClient({ apiKey, baseUrl: url, fetch: io.fetch, maxRetries: 1, timeoutMs: 15_000 });
    const spin = tty ? p.spinner() : null;
    spin?.start(`Checking the key with ${url}`);
    const { agent } = await client.agent.me().then(
      (res) => {
        spin?.stop(`Checked the key with ${url}`);
        return res;
      },
      (err: unknown) => {
        spin?.error(`The key check with ${url} failed`);
        throw err;
      },
    );
    if (opts.agentId && opts.agentId !== agent.id) {
      out.error(`the key belongs to agent ${agent.id} (${agent.name}), not ${opts.agentId}. Use that agent's key, or drop --agent-id.`);
      return 1;
    }
    agentId = agent.id;
    mode = agent.effective_mode;
    out.ok(`Key OK (${maskKey(apiKey)}): agent ${agent.name} (${agent.id}), ${agent.effective_mode} mode, at ${url}`);
  } catch (err) {
    if (err instanceof AvailsyncError) {
      if (err.kind === 'auth')
        out.error(`the server at ${url} rejected the key ${maskKey(apiKey)} (${err.code}). Check it, or rotate it in the dashboard.`);
      else if (err.kind === 'network' || err.kind === 'timeout') out.error(`cannot reach ${url} (${err.message}). Check --url.`);
      else out.error(`${err.message}`);
      return 1;
    }
    throw err;
  }
  const env = { AVAILSYNC_API_KEY: apiKey, AVAILSYNC_AGENT_ID: agentId, AVAILSYNC_API_URL: url };

  // 2. Which clients.
  const detected = detectClients(io.home, io.env);
  let clients = opts.clients;
  if (!clients && interactive) {
    clients = check(
      await p.multiselect<ClientName>({
        message: 'Connect which coding agents?',
        options: CLIENTS.map((c) => ({ value: c, label: c, hint: detected.includes(c) ? 'detected' : 'not detected' })),
        initialValues: detected,
        required: false,
      }),
    );
  }
  clients ??= detected;
  if (clients.length === 0) {
    out.warn(
      'no coding agents detected (~/.claude, ~/.codex, ~/.cursor, ~/.codeium/windsurf). Pass --clients codex,cursor,windsurf,claude.',
    );
  }

  // 3. Merge the entry into each config. A file that would hold the key must be one git never commits
  // (SPEC §10.4): ignored, or added here to .git/info/exclude; one git tracks names $AVAILSYNC_API_KEY instead.
  let failed = false;
  const keyIn = (label: string, file: string): string | null => {
    const place = secretPlace(file, opts.dryRun);
    if (!place.held) {
      out.warn(
        `${label}: ${file} is tracked by git (${place.tracked}), so it names \${env:${KEY_ENV}} instead of the key: set ${KEY_ENV} in the environment the client starts from.`,
      );
      return null;
    }
    if (place.excluded) {
      out.line(
        `${opts.dryRun ? 'would add' : 'added'} ${place.excluded.pattern} to ${place.excluded.file}: ${file} holds the key, so git never commits it`,
      );
    }
    return apiKey;
  };
  const apply = (label: string, file: string, edit: (text: string | null) => string) => {
    let text: string | null = null;
    try {
      text = existsSync(file) ? readFileSync(file, 'utf8') : null;
      const next = edit(text);
      if (next === text) {
        out.line(`already configured: ${label} (${file})`);
        return;
      }
      if (opts.dryRun) {
        const diff = unifiedDiff(text ?? '', next, text === null ? '/dev/null' : file, file)
          .split(apiKey)
          .join(maskKey(apiKey));
        out.line(`would ${text === null ? 'create' : 'update'}: ${label} (${file})\n${diff.replace(/\n$/, '')}`);
        return;
      }
      const backup = writeAtomic(file, next, now);
      if (backup) excludeBackups(file);
      out.ok(`configured: ${label} (${file})${backup ? `, backup ${backup}` : ''}`);
    } catch (err) {
      if (!(err instanceof ConfigFileError)) throw err;
      failed = true;
      out.error(err.message);
    }
  };
  /** The environment the command hooks and Codex's remote entry read the key from. */
  let needsEnv = false;
  for (const c of clients) {
    if (c === 'claude') continue;
    const file = configPath(c, io.home, io.cwd, opts.project === true);
    if (c === 'codex') {
      if (transport === 'http') {
        needsEnv = true;
        apply('Codex', file, (t) => setCodexServer(t, file, codexRemoteEntry(url)));
      } else {
        // Codex interpolates nothing in config.toml: where the file must not hold the key, the server inherits it.
        const { AVAILSYNC_API_KEY: _key, ...rest } = env;
        const entry = mcpEntry(keyIn('Codex', file) ? env : rest, launchers);
        apply('Codex', file, (t) => setCodexServer(t, file, entry));
      }
      continue;
    }
    const label = c === 'cursor' ? 'Cursor' : 'Windsurf';
    const key = keyIn(label, file);
    const entry =
      transport === 'http'
        ? remoteEntry(c, url, bearer(key))
        : mcpEntry({ ...env, AVAILSYNC_API_KEY: key ?? `\${env:${KEY_ENV}}` }, launchers);
    apply(label, file, (t) => setJsonMember(t, file, 'mcpServers', 'availsync', entry));
  }

  // 4. Claude Code: its own command (it keeps its config itself), and the optional enforcement hooks.
  const target: HookTarget = {
    resource: opts.resource?.trim() || repoResource(io.cwd),
    scope: opts.scope ?? 'repo',
    enforce: mode === 'enforce',
  };
  const machinePaths = (file: string) => {
    if (opts.local) {
      out.warn(
        `the hook in ${file} now starts this clone by this machine's paths: if that file is committed, teammates need their own setup.`,
      );
    }
  };
  if (clients.includes('claude')) {
    const cmd = transport === 'http' ? claudeHttpCommand(url, apiKey) : claudeCommand(env, launchers);
    const replace = 'To replace an earlier availsync server, first: claude mcp remove --scope user availsync';
    if (tty) p.note(`${cmd}\n\n${replace}`, 'Claude Code: run this once');
    else out.line(`Claude Code: run this once:\n  ${cmd}\n  (${replace})`);
    let hook = opts.claudeHook;
    if (hook === undefined && interactive) {
      hook = check(
        await p.confirm({
          message: `Also enforce claims in this project with a Claude Code hook (.claude/settings.json in ${io.cwd})?`,
          initialValue: false,
        }),
      );
    }
    if (hook) {
      const settings = join(io.cwd, '.claude', 'settings.json');
      const local = join(io.cwd, '.claude', 'settings.local.json');
      if (transport === 'http') {
        // The command hooks find the repository themselves, at each call; the http hook is told it here.
        if (!target.resource) {
          out.warn(
            `${io.cwd} has no git remote "origin", so the Claude Code hooks cannot name the repository they claim on: pass --resource repo:owner/name (or set origin, then run setup again).`,
          );
        }
        apply('Claude Code hooks', settings, (t) => setHookGroups(t, settings, claudeHttpHooks(url, target), isAvailsyncClaudeHookEntry));
      } else {
        const isHttp = (h: unknown) => isAvailsyncClaudeHookEntry(h) && (h as { type?: unknown }).type === 'http';
        apply('Claude Code hook', settings, (t) =>
          addClaudeHook(setHookGroups(t, settings, [], isHttp), settings, claudeHookCommand(launchers)),
        );
        machinePaths(settings);
      }
      if (keyIn('Claude Code hook environment', local) !== null) {
        apply('Claude Code hook environment (not committed)', local, (t) => setClaudeEnv(t, local, env));
      }
    }
  }
  if (opts.codexHook) {
    needsEnv = true;
    const file = join(io.cwd, '.codex', 'hooks.json');
    const ours = (h: unknown) =>
      typeof h === 'object' && h !== null && isAvailsyncClientHook((h as { command?: unknown }).command, 'codex');
    apply('Codex hooks', file, (t) => setHookGroups(t, file, codexHooks(launchers, target, opts.resource), ours));
    machinePaths(file);
  }
  if (opts.cursorHook) {
    needsEnv = true;
    const file = join(io.cwd, '.cursor', 'hooks.json');
    apply('Cursor hooks', file, (t) => setCursorHooks(t, file, cursorHooks(launchers, target, opts.resource)));
    machinePaths(file);
  }
  if (needsEnv) {
    const set = io.env[KEY_ENV] === apiKey && io.env.AVAILSYNC_API_URL === url;
    out.line(
      `Codex${opts.cursorHook ? ' and Cursor hooks' : ''} read the key from the environment: ${
        set
          ? 'AVAILSYNC_API_KEY and AVAILSYNC_API_URL are set in this shell; keep them set where the client starts'
          : `export ${KEY_ENV}=<the key, ${maskKey(apiKey)}> AVAILSYNC_API_URL=${url} AVAILSYNC_AGENT_ID=${agentId} in the shell profile the client starts from`
      } (never in a committed file).`,
    );
  }
  if (opts.dryRun) out.line('dry run: nothing was written.');
  if (tty) p.outro(failed ? 'Some configs were not changed (see above).' : 'Done. Restart your coding agents to load Availsync.');
  else if (!failed && !opts.dryRun) out.line('done: restart your coding agents to load Availsync.');
  return failed ? 1 : 0;
}

export async function main(argv: string[], io: SetupIo): Promise<number> {
  let code = 0;
  const program = new Command('availsync-setup')
    .description('Connect Claude Code, Codex, Cursor and Windsurf to Availsync (MCP), after checking the agent key.')
    .version(SETUP_VERSION)
    .option('--api-key <key>', 'the agent API key (default: AVAILSYNC_API_KEY)')
    .option('--agent-id <id>', "the agent's id (checked against the key; default: the key's agent)")
    .option('--url <url>', `the Availsync server (default: AVAILSYNC_API_URL, else ${DEFAULT_API_URL})`)
    .option('--clients <list>', `comma-separated: ${CLIENTS.join(',')} (default: the detected ones)`, parseClients)
    .option('--project', "Cursor: write the project's .cursor/mcp.json instead of ~/.cursor/mcp.json", false)
    .option('--claude-hook', 'install the Claude Code enforcement hook in ./.claude/settings.json')
    .option('-y, --yes', 'do not ask anything', false)
    .option('--dry-run', 'show the changes as a diff and write nothing', false)
    .option('--local', "start this clone's built MCP server and CLI (by absolute path) instead of the published packages", false)
    .option(
      '--transport <http|stdio>',
      "http: the server's /mcp and hook routes (default); stdio: start the MCP server and CLI (default with --local)",
      parseTransport,
    )
    .option('--codex-hook', "install Codex's hooks in ./.codex/hooks.json (availsync hook codex)")
    .option('--cursor-hook', "install Cursor's hooks in ./.cursor/hooks.json (availsync hook cursor)")
    .option('--resource <resource>', "the resource the hooks claim on (default: repo:owner/name from the project's origin)")
    .option('--scope <repo|files>', 'hooks: one session per repository (repo, default) or conflicts per file (files)', parseScope)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .action(async (o) => {
      code = await setup(
        {
          apiKey: o.apiKey,
          agentId: o.agentId,
          url: o.url,
          clients: o.clients,
          project: o.project,
          yes: o.yes,
          dryRun: o.dryRun,
          claudeHook: o.claudeHook,
          local: o.local,
          transport: o.transport,
          codexHook: o.codexHook,
          cursorHook: o.cursorHook,
          resource: o.resource,
          scope: o.scope,
        },
        io,
      );
    });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof Cancelled) {
      p.cancel('Cancelled: nothing more was written.');
      return 130;
    }
    throw err;
  }
  return code;
}
