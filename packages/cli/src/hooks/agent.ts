/**
 * `availsync hook claude|codex|cursor`: the command form of the hooks the server serves. It reads
 * the client's hook JSON on stdin, adds what only this machine knows (the project dir and the repository's
 * resource from git, and for shell commands the work tree's git status), POSTs it to the matching
 * `/v1/hooks/*` route and prints the server's JSON: the server decides, both forms render.
 *
 * An unreachable server (or a missing key) is never silent: `--on-unavailable fail` (the default) refuses an
 * edit in the client's own form and says why on stderr; `run` lets it through with a loud warning.
 */
import { CLI_VERSION, ConfigError, loadConfig } from '../config.js';
import type { Io, Ui } from '../ui.js';
import { gitStatus, repoInfo } from './git.js';

export type OnUnavailable = 'fail' | 'run';
type HookClient = 'claude-code' | 'codex' | 'cursor';

/** The hook routes' headers (@availsync/protocol HOOK_HEADERS, not a dependency of the CLI). */
export const HOOK_HEADERS = {
  resource: 'X-Availsync-Resource',
  projectDir: 'X-Availsync-Project-Dir',
  scope: 'X-Availsync-Scope',
  wait: 'X-Availsync-Wait',
} as const;
export type HookScopeOption = 'repo' | 'files';

export interface AgentHookOptions {
  resource?: string | undefined;
  scope: HookScopeOption;
  onUnavailable: OnUnavailable;
}

/** How long a hook waits for the server: an agent waits on every edit. */
const HOOK_TIMEOUT_MS = 10_000;

interface Payload {
  hook_event_name?: string;
  tool_name?: string;
  cwd?: string;
  workspace_roots?: string[];
  availsync?: { git_status?: Record<string, string> };
  [k: string]: unknown;
}

interface ClientForm {
  route: string;
  name: string;
  /** Whether this event waits on a decision, so an unreachable server must refuse it (fail closed). */
  decides(p: Payload): 'edit' | 'shell-after' | null;
  /** Whether to add the work tree's git status (shell commands, session start). */
  wantsStatus(p: Payload): boolean;
  /** How to refuse when the server cannot answer. `exit` 2 blocks in Claude Code and Codex (stderr to the model). */
  refuse(p: Payload, reason: string): { stdout?: unknown; exit: number };
}

const SHELL = new Set(['Bash', 'Shell', 'shell', 'local_shell', 'exec_command']);
const CLAUDE_EDITS = new Set(['Edit', 'Write', 'MultiEdit', 'NotebookEdit', 'apply_patch']);
const CURSOR_EDITS = new Set(['Write', 'Edit', 'StrReplace', 'MultiEdit', 'Delete', 'TabWrite', 'EditNotebook']);

const claudeLike = (route: string, name: string): ClientForm => ({
  route,
  name,
  decides: (p) =>
    p.hook_event_name === 'PreToolUse' && CLAUDE_EDITS.has(p.tool_name ?? '')
      ? 'edit'
      : p.hook_event_name === 'PostToolUse' && SHELL.has(p.tool_name ?? '')
        ? 'shell-after'
        : null,
  wantsStatus: (p) =>
    p.hook_event_name === 'SessionStart' || (SHELL.has(p.tool_name ?? '') && /^(Pre|Post)ToolUse$/.test(p.hook_event_name ?? '')),
  // Exit 2: the tool call is blocked and stderr goes to the model (stdout is ignored), in every version.
  refuse: () => ({ exit: 2 }),
});

export const CLIENT_FORMS: Record<'claude' | 'codex' | 'cursor', ClientForm & { client: HookClient }> = {
  claude: { client: 'claude-code', ...claudeLike('/v1/hooks/claude-code', 'Claude Code') },
  codex: { client: 'codex', ...claudeLike('/v1/hooks/codex', 'Codex') },
  cursor: {
    client: 'cursor',
    route: '/v1/hooks/cursor',
    name: 'Cursor',
    decides: (p) =>
      p.hook_event_name === 'preToolUse' && CURSOR_EDITS.has(p.tool_name ?? '')
        ? 'edit'
        : p.hook_event_name === 'afterShellExecution'
          ? 'shell-after'
          : null,
    wantsStatus: (p) => ['beforeShellExecution', 'afterShellExecution', 'sessionStart'].includes(p.hook_event_name ?? ''),
    refuse: (p, reason) =>
      p.hook_event_name === 'preToolUse'
        ? { stdout: { permission: 'deny', decision: 'deny', reason, user_message: reason, agent_message: reason }, exit: 0 }
        : { stdout: {}, exit: 0 },
  },
};

export async function readStdin(io: Io): Promise<string> {
  const stdin = io.stdin;
  if (!stdin) return '';
  let text = '';
  stdin.setEncoding('utf8');
  for await (const chunk of stdin) text += chunk;
  return text;
}

export async function agentHook(which: keyof typeof CLIENT_FORMS, opts: AgentHookOptions, ui: Ui, io: Io): Promise<number> {
  const form = CLIENT_FORMS[which];
  let payload: Payload = {};
  /** `refused`: the server answered and refused (a bad key): fail closed whatever --on-unavailable says. */
  const unavailable = (reason: string, refused = false): number => {
    if ((opts.onUnavailable === 'run' && !refused) || !form.decides(payload)) {
      ui.warn(
        `${reason}. ${form.decides(payload) ? 'The edit goes ahead WITHOUT a claim (--on-unavailable run): other agents are not kept out of these files.' : 'Nothing was checked for this event.'}`,
      );
      io.stdout.write('{}\n');
      return 0;
    }
    const what =
      form.decides(payload) === 'edit'
        ? 'this edit'
        : 'the files this command changed (they could not be claimed: check them before going on)';
    const text = `Availsync blocked ${what}: ${reason}. No claim could be taken (--on-unavailable fail). Tell the user.`;
    io.stderr.write(`${text}\n`);
    const out = form.refuse(payload, text);
    if (out.stdout !== undefined) io.stdout.write(`${JSON.stringify(out.stdout)}\n`);
    return out.exit;
  };

  try {
    const parsed = JSON.parse(await readStdin(io)) as unknown;
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    payload = parsed as Payload;
  } catch {
    payload = {
      hook_event_name: 'PreToolUse',
      tool_name: 'Edit',
      ...(which === 'cursor' ? { hook_event_name: 'preToolUse', tool_name: 'Write' } : {}),
    };
    return unavailable(`the hook input on stdin is not ${form.name} hook JSON (is this command set as a ${form.name} hook?)`);
  }
  const cwd = (typeof payload.cwd === 'string' && payload.cwd) || payload.workspace_roots?.[0] || process.cwd();
  const info = repoInfo(cwd);
  const resource = opts.resource || io.env.AVAILSYNC_RESOURCE?.trim() || info?.repoResource;
  if (!resource) {
    if (!form.decides(payload)) return unavailable(`${cwd} is not in a git repository`);
    return unavailable(
      `cannot tell which resource ${cwd} is: it is not in a git repository. Set AVAILSYNC_RESOURCE (e.g. repo:owner/name) or pass --resource`,
    );
  }
  if (info && form.wantsStatus(payload)) {
    const status = gitStatus(info.root);
    if (status) payload = { ...payload, availsync: { git_status: status } };
  }
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(io.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return unavailable(err.message);
  }
  let res: Response;
  try {
    res = await fetch(new URL(form.route, config.apiUrl), {
      method: 'POST',
      headers: {
        authorization: `Bearer ${config.apiKey}`,
        'content-type': 'application/json',
        'user-agent': `availsync-cli/${CLI_VERSION} node/${process.version}`,
        [HOOK_HEADERS.resource]: resource,
        [HOOK_HEADERS.projectDir]: info?.root ?? cwd,
        [HOOK_HEADERS.scope]: opts.scope,
        // The queue wait before a deny (the server's default when unset: Claude Code 5 s).
        ...(io.env.AVAILSYNC_HOOK_WAIT ? { [HOOK_HEADERS.wait]: io.env.AVAILSYNC_HOOK_WAIT } : {}),
      },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(HOOK_TIMEOUT_MS),
    });
  } catch (err) {
    const why =
      err instanceof Error && err.name === 'TimeoutError'
        ? `no answer in ${HOOK_TIMEOUT_MS / 1000} s`
        : String((err as Error).cause ?? err);
    return unavailable(`the Availsync server cannot be reached at ${config.apiUrl} (${why})`);
  }
  const text = await res.text();
  let body: Record<string, unknown> | null = null;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // Not JSON: answered below as an unavailable server.
  }
  if (res.status >= 500 || !body)
    return unavailable(`the Availsync server answered ${res.status}${body?.message ? ` (${String(body.message)})` : ''}`);
  if (res.status !== 200) {
    const hint =
      res.status === 401
        ? ' Check AVAILSYNC_API_KEY: the server does not know this key (rotated or mistyped).'
        : res.status === 403
          ? ' The key is valid but may not do this.'
          : '';
    const message = String(body.message).replace(/\.$/, '');
    return unavailable(`Availsync refused the hook call (${res.status} ${String(body.error)}): ${message}.${hint}`, true);
  }
  io.stdout.write(`${JSON.stringify(body)}\n`);
  return 0;
}
