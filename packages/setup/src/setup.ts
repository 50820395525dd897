/**
 * `npx @availsync/setup`: verify the agent key (GET /v1/agent), detect Claude Code, Codex, Cursor and
 * Windsurf, merge an `availsync` MCP server entry into each one's own config (backed up, written
 * atomically, other entries untouched), print the native `claude mcp add` command, and optionally install
 * the Claude Code enforcement hook. Interactive with @clack/prompts on a terminal; fully scriptable with
 * flags; plain lines when stdout is not a TTY. `main(argv, io)` returns the exit code (in-process tests).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AvailsyncError, createAvailsyncClient, type FetchLike } from '@availsync/node';
import * as p from '@clack/prompts';
import { unifiedDiff } from './diff.js';
import { ConfigFileError, setCodexServer, setJsonMember } from './edit.js';
import {
  bearer,
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
  MCP_PACKAGE,
  maskKey,
  mcpEntry,
  PUBLISHED,
  remoteEntry,
  type Scope,
  type Transport,
} from './entries.js';
import { cloneLaunchers, configPath, detectClients, writeAtomic } from './files.js';
import { excludeBackups, repoResource, secretPlace } from './git.js';
import { addClaudeHook, isAvailsyncClaudeHookEntry, isAvailsyncHook, setClaudeEnv, setCursorHooks, setHookGroups } from './hooks.js';

export const SETUP_VERSION = '0.1.0';
export const DEFAULT_API_URL = 'http://127.0.0.1:8787';

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
  /**
   * Whether the edit hooks block when the server cannot be asked (Claude Code's `onFailure: "block"`,
   * Cursor's `failClosed`). Default: the agent's mode at setup time (enforce: true, observe: false).
   */
  failClosed?: boolean;
  /** Print Claude Code's command with the key itself instead of `$AVAILSYNC_API_KEY`. */
  showKey?: boolean;
}

/** Every agent key in a text (`avs_live_…`), masked: a dry run's diff may show an earlier key too. */
export function maskKeys(text: string, apiKey: string): string {
  return text
    .replace(/avs_live_[A-Za-z0-9_-]+/g, (k) => maskKey(k))
    .split(apiKey)
    .join(maskKey(apiKey));
}

export class Cancelled extends Error {}

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
  //: ignored, or added here to .git/info/exclude; one git tracks names $AVAILSYNC_API_KEY instead.
  let failed = false;
  /**
   * The key, where `file` may hold it; null where git tracks it (or cannot say), after a warning that
   * `instead` says what is written in its place.
   */
  const keyIn = (label: string, file: string, instead = `it names \${env:${KEY_ENV}} instead of the key`): string | null => {
    const place = secretPlace(file, opts.dryRun);
    if (!place.held) {
      out.warn(`${label}: ${file} ${place.reason}, so ${instead}: set ${KEY_ENV} in the environment the client starts from.`);
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
        const diff = maskKeys(unifiedDiff(text ?? '', next, text === null ? '/dev/null' : file, file), apiKey);
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
  /** What reads the key from the environment the client starts from (Codex's remote entry, the command hooks, ...). */
  const readers: string[] = [];
  for (const c of clients) {
    if (c === 'claude') continue;
    const file = configPath(c, io.home, io.cwd, opts.project === true);
    if (c === 'codex') {
      if (transport === 'http') {
        readers.push('Codex');
        apply('Codex', file, (t) => setCodexServer(t, file, codexRemoteEntry(url)));
      } else {
        // Codex interpolates nothing in config.toml: where the file must not hold the key, the server inherits it.
        const { AVAILSYNC_API_KEY: _key, ...rest } = env;
        const held = keyIn('Codex', file, 'the MCP server inherits the key from the environment instead');
        if (!held) readers.push('Codex');
        const entry = mcpEntry(held ? env : rest, launchers);
        apply('Codex', file, (t) => setCodexServer(t, file, entry));
      }
      continue;
    }
    const label = c === 'cursor' ? 'Cursor' : 'Windsurf';
    // A project's .cursor/mcp.json is the project's: Cursor interpolates ${env:…}, so it never needs the key.
    const key = c === 'cursor' && opts.project ? null : keyIn(label, file);
    if (key === null) readers.push(label);
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
    enforce: opts.failClosed ?? mode === 'enforce',
  };
  /** Said wherever a hook file with a failure policy is written: it is fixed at setup time. */
  let policyWritten = false;
  const machinePaths = (file: string) => {
    if (opts.local) {
      out.warn(
        `the hook in ${file} now starts this clone by this machine's paths: if that file is committed, teammates need their own setup.`,
      );
    }
  };
  if (clients.includes('claude')) {
    // The key stays out of the output unless asked for: the shell puts it in from $AVAILSYNC_API_KEY.
    const shown = opts.showKey ? apiKey : null;
    const cmd =
      transport === 'http'
        ? claudeHttpCommand(url, shown ?? undefined)
        : claudeCommand({ ...env, AVAILSYNC_API_KEY: shown ?? `$${KEY_ENV}` }, launchers);
    const exported =
      io.env[KEY_ENV] === apiKey ? `# ${KEY_ENV} is set to the key in this shell` : `export ${KEY_ENV}=<the key, ${maskKey(apiKey)}>`;
    const lines = shown ? [cmd] : [exported, cmd];
    const replace = 'To replace an earlier availsync server, first: claude mcp remove --scope user availsync';
    if (tty) p.note(`${lines.join('\n')}\n\n${replace}`, 'Claude Code: run this once');
    else
      out.line(
        `Claude Code: run this once${shown ? '' : ' (--show-key prints it with the key itself)'}:\n  ${lines.join('\n  ')}\n  (${replace})`,
      );
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
        policyWritten = true;
      } else {
        apply('Claude Code hook', settings, (t) => addClaudeHook(t, settings, claudeHookCommand(launchers)));
        machinePaths(settings);
      }
      const held = keyIn(
        'Claude Code hook environment',
        local,
        'setup writes nothing to it (the hooks read AVAILSYNC_API_KEY, AVAILSYNC_API_URL and AVAILSYNC_AGENT_ID from the environment)',
      );
      if (held !== null) apply('Claude Code hook environment (not committed)', local, (t) => setClaudeEnv(t, local, env));
      else readers.push('Claude Code hooks');
    }
  }
  if (opts.codexHook) {
    readers.push('Codex hooks');
    const file = join(io.cwd, '.codex', 'hooks.json');
    const ours = (h: unknown) => typeof h === 'object' && h !== null && isAvailsyncHook((h as { command?: unknown }).command, 'codex');
    apply('Codex hooks', file, (t) => setHookGroups(t, file, codexHooks(launchers, target, opts.resource), ours));
    machinePaths(file);
  }
  if (opts.cursorHook) {
    readers.push('Cursor hooks');
    const file = join(io.cwd, '.cursor', 'hooks.json');
    apply('Cursor hooks', file, (t) => setCursorHooks(t, file, cursorHooks(launchers, target, opts.resource)));
    policyWritten = true;
    machinePaths(file);
  }
  if (policyWritten) out.line(failurePolicy(target.enforce, opts.failClosed !== undefined, mode));
  if (readers.length > 0) {
    const set = io.env[KEY_ENV] === apiKey && io.env.AVAILSYNC_API_URL === url;
    const who = [...new Set(readers)];
    out.line(
      `${who.length > 1 ? `${who.slice(0, -1).join(', ')} and ${who[who.length - 1]}` : who[0]} read the key from the environment: ${
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

/** The edit hooks' failure policy, fixed in the files at setup time: what it is, why, and when to run setup again. */
export function failurePolicy(failClosed: boolean, overridden: boolean, mode: string): string {
  const what = failClosed
    ? 'the edit hooks fail closed: when the server cannot be reached, edits are blocked'
    : 'the edit hooks fail open: when the server cannot be reached, edits go ahead';
  const why = overridden
    ? `(${failClosed ? '--fail-closed' : '--fail-open'}; the agent is in ${mode} mode)`
    : `(the agent is in ${mode} mode now; --fail-${failClosed ? 'open' : 'closed'} overrides it)`;
  return `Failure policy: ${what} ${why}. It follows the mode at setup time and is written into the hook files: run setup again after switching the agent or its workspace between observe and enforce.`;
}
