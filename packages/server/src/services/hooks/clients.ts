/**
 * Each client's hook events, mapped onto the one decision (service.ts) and rendered in the client's own
 * output form. Payload and output shapes, from the clients' hooks documentation:
 * - Claude Code (hooks reference, 2026): PreToolUse `hookSpecificOutput.permissionDecision` allow|deny with
 *   `permissionDecisionReason`; PostToolUse `{decision:"block", reason}`; SessionStart
 *   `hookSpecificOutput.additionalContext`; `{}` says nothing.
 * - Codex (developers.openai.com/codex/hooks, May 2026): the same JSON wire format as Claude Code; file edits
 *   arrive as `apply_patch` (its patch text in `tool_input.command`), shell commands as `Bash`.
 * - Cursor (cursor.com/docs/agent/hooks, Cursor 1.7 to 2.x): camelCase events with `conversation_id` and
 *   `workspace_roots`; before-events answer `{permission: "allow"|"deny", user_message, agent_message}`;
 *   after-events are fire-and-forget.
 */
import { HOOK_WAIT_SECONDS, type HookClient, type HookInput } from '@availsync/protocol';
import type { Principal } from '../context.js';
import type { HookService, HookTarget, Verdict } from './service.js';
import { patchPaths, toRepoPath } from './text.js';

type AgentPrincipal = Extract<Principal, { kind: 'agent' }>;
export type HookOutputBody = Record<string, unknown>;

export interface HookRequest {
  client: HookClient;
  input: HookInput;
  resource: string | null;
  projectDir: string | null;
  scope: 'repo' | 'files';
  /** X-Availsync-Wait: seconds to wait in the queue before denying. */
  waitSeconds?: number;
}

const EDIT_TOOLS = new Set(['Edit', 'Write', 'MultiEdit', 'NotebookEdit']);
const SHELL_TOOLS = new Set(['Bash', 'Shell', 'shell', 'local_shell', 'exec_command']);
/** Cursor 2.x preToolUse names of its file-writing tools. */
const CURSOR_EDIT_TOOLS = new Set(['Write', 'Edit', 'StrReplace', 'MultiEdit', 'Delete', 'TabWrite', 'EditNotebook']);

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function toolInput(input: HookInput): Record<string, unknown> {
  const t = input.tool_input;
  if (t && typeof t === 'object' && !Array.isArray(t)) return t as Record<string, unknown>;
  if (typeof t === 'string') {
    try {
      const parsed = JSON.parse(t) as unknown;
      if (parsed && typeof parsed === 'object') return parsed as Record<string, unknown>;
    } catch {
      // Not JSON: the tool's input is a bare string (a patch, a command).
      return { command: t };
    }
  }
  return {};
}

/** The files a tool is about to write, as repo paths; outside-the-project files are left out (not guarded). */
function repoPaths(files: string[], r: HookRequest, cwd: string | null): { paths: string[]; error?: string } {
  const paths: string[] = [];
  for (const f of files) {
    const p = toRepoPath(f, r.projectDir, cwd);
    if (p.ok) paths.includes(p.path) || paths.push(p.path);
    else if (!p.outside) return { paths, error: `Availsync: ${p.message}` };
  }
  return { paths };
}

export class HookClients {
  constructor(private readonly hooks: HookService) {}

  target(r: HookRequest): HookTarget {
    const sessionId = str(r.input.session_id) ?? str(r.input.conversation_id) ?? 'default';
    return {
      client: r.client,
      sessionId,
      resource: r.resource,
      scope: r.scope,
      waitSeconds: r.waitSeconds ?? (r.client === 'claude-code' ? HOOK_WAIT_SECONDS : 0),
    };
  }

  async handle(p: AgentPrincipal, r: HookRequest): Promise<HookOutputBody> {
    if (r.client === 'cursor') return this.cursor(p, r);
    return this.claudeLike(p, r);
  }

  private async claim(p: AgentPrincipal, r: HookRequest, files: string[], cwd: string | null, after = false): Promise<Verdict> {
    const { paths, error } = repoPaths(files, r, cwd);
    if (error) return { decision: 'deny', reason: error };
    return this.hooks.claimFiles(p, this.target(r), paths, after);
  }

  /** Claude Code and Codex: one wire format. */
  private async claudeLike(p: AgentPrincipal, r: HookRequest): Promise<HookOutputBody> {
    const input = r.input;
    const t = this.target(r);
    const event = input.hook_event_name ?? '';
    const tool = input.tool_name ?? '';
    const ti = toolInput(input);
    const cwd = str(input.cwd) ?? null;
    const status = input.availsync?.git_status;
    switch (event) {
      case 'PreToolUse': {
        if (SHELL_TOOLS.has(tool)) {
          if (status) await this.hooks.recordGitStatus(p, t, status);
          return {};
        }
        let files: string[] = [];
        if (EDIT_TOOLS.has(tool)) files = [str(ti.file_path) ?? str(ti.notebook_path)].filter((f): f is string => !!f);
        else if (tool === 'apply_patch') files = patchPaths(str(ti.command) ?? str(ti.patch) ?? str(ti.input) ?? '');
        else return {};
        return preToolUse(await this.claim(p, r, files, cwd));
      }
      case 'PostToolUse': {
        if (SHELL_TOOLS.has(tool) && status) {
          const v = await this.hooks.afterShell(p, t, status);
          return v.decision === 'deny' ? { decision: 'block', reason: v.reason } : {};
        }
        await this.hooks.renew(p, t);
        return {};
      }
      case 'SessionStart': {
        if (status) await this.hooks.recordGitStatus(p, t, status);
        return { hookSpecificOutput: { hookEventName: 'SessionStart', additionalContext: await this.hooks.summary(p, t) } };
      }
      case 'SessionEnd':
        await this.hooks.end(p, t);
        return {};
      default:
        return {};
    }
  }

  private async cursor(p: AgentPrincipal, r: HookRequest): Promise<HookOutputBody> {
    const input = r.input;
    const t = this.target(r);
    const roots = input.workspace_roots ?? [];
    const rr: HookRequest = { ...r, projectDir: r.projectDir ?? roots[0] ?? null };
    const cwd = str(input.cwd) ?? roots[0] ?? null;
    const status = input.availsync?.git_status;
    const ti = toolInput(input);
    switch (input.hook_event_name ?? '') {
      case 'beforeShellExecution':
        if (status) await this.hooks.recordGitStatus(p, t, status);
        return cursorPermission({ decision: 'allow' });
      case 'afterShellExecution':
        // Fire-and-forget in Cursor: the files are claimed (a conflict is audited), nothing can be blocked.
        if (status) await this.hooks.afterShell(p, t, status);
        else await this.hooks.renew(p, t);
        return {};
      case 'afterFileEdit': {
        const file = str(input.file_path);
        if (file) await this.claim(p, rr, [file], cwd, true);
        return {};
      }
      case 'preToolUse': {
        const tool = input.tool_name ?? '';
        const file = str(ti.file_path) ?? str(ti.path) ?? str(ti.target_file);
        if (!CURSOR_EDIT_TOOLS.has(tool) || !file) return cursorPermission({ decision: 'allow' });
        return cursorPermission(await this.claim(p, rr, [file], cwd));
      }
      case 'beforeReadFile':
      case 'beforeMCPExecution':
        return cursorPermission({ decision: 'allow' });
      case 'postToolUse':
      case 'stop':
        await this.hooks.renew(p, t);
        return {};
      case 'sessionEnd':
        await this.hooks.end(p, t);
        return {};
      default:
        return {};
    }
  }
}

/** Claude Code's (and Codex's) PreToolUse answer. */
export function preToolUse(v: Verdict): HookOutputBody {
  return {
    hookSpecificOutput: {
      hookEventName: 'PreToolUse',
      permissionDecision: v.decision,
      permissionDecisionReason: v.decision === 'deny' ? v.reason : (v.note ?? 'Availsync: claimed for this session'),
    },
  };
}

/**
 * Cursor's answer to a before-event: `permission` with a message for the user and one for the agent.
 * Cursor 2.x's preToolUse reads `decision`/`reason` in some builds: both are sent, unknown keys are ignored.
 */
export function cursorPermission(v: Verdict): HookOutputBody {
  if (v.decision === 'allow') return { permission: 'allow', decision: 'allow', ...(v.note ? { agent_message: v.note } : {}) };
  return { permission: 'deny', decision: 'deny', reason: v.reason, user_message: v.reason, agent_message: v.reason };
}
