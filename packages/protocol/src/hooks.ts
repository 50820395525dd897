/**
 * Coding-agent hooks served by the server: `POST /v1/hooks/claude-code`, `/v1/hooks/codex`,
 * `/v1/hooks/cursor`. The body is the client's own hook input JSON (any event, passed through as the client
 * sends it), plus an optional `availsync` object the command hook (`availsync hook ...`) adds with what
 * only the local machine knows (the work tree's git status, for shell commands). The answer is the
 * client's own hook output JSON.
 */
import { z } from 'zod';
import { BlockingPath, Claim } from './schemas.js';

export const HOOK_CLIENTS = ['claude-code', 'codex', 'cursor'] as const;
export type HookClient = (typeof HOOK_CLIENTS)[number];

/** The request headers of the hook routes (lower case, as HTTP/2 and Hono see them). */
export const HOOK_HEADERS = {
  /** Where the session's files are claimed: the repository, e.g. `repo:owner/name`. */
  resource: 'x-availsync-resource',
  /** The project root, so absolute file paths can be made relative to it. */
  projectDir: 'x-availsync-project-dir',
  /** `repo` (default): the session's run is on the repository; `files`: on a resource of the session's own. */
  scope: 'x-availsync-scope',
  /** Seconds to wait in the queue before denying an edit of a held resource (default HOOK_WAIT_SECONDS). */
  wait: 'x-availsync-wait',
} as const;

/** The hook's default wait before it denies: a few seconds, well below the clients' hook timeouts (15 s+). */
export const HOOK_WAIT_SECONDS = 5;
/** At most this long: a hook that waits longer would be killed by its client's timeout. */
export const HOOK_WAIT_MAX_SECONDS = 10;

export const HookScope = z.enum(['repo', 'files']);
export type HookScope = z.infer<typeof HookScope>;

/** The work tree's state as `git status` sees it: path → status letters and content hash. */
export const GitStatusSnapshot = z.record(z.string().max(1024), z.string().max(200));

/** What the command hook adds to the client's payload. */
export const HookExtras = z
  .object({
    /** The work tree's git status now (PreToolUse / PostToolUse of a shell command, SessionStart). */
    git_status: GitStatusSnapshot.optional(),
  })
  .strict();

export const HookInput = z
  .object({
    hook_event_name: z.string().max(100).optional(),
    session_id: z.string().max(500).optional(),
    /** Cursor's session. */
    conversation_id: z.string().max(500).optional(),
    cwd: z.string().max(4096).optional(),
    tool_name: z.string().max(500).optional(),
    tool_input: z.unknown().optional(),
    /** Cursor */
    workspace_roots: z.array(z.string().max(4096)).max(50).optional(),
    file_path: z.string().max(4096).optional(),
    command: z.string().optional(),
    availsync: HookExtras.optional(),
  })
  .passthrough();
export type HookInput = z.infer<typeof HookInput>;

/** A client's hook output: its own shape (`{}` when there is nothing to say). */
export const HookOutput = z.record(z.string(), z.unknown());

/** `POST /v1/hooks/guard`: what the git guard asks before a commit or push. */
export const HookGuardRequest = z
  .object({
    /** The repository resource the paths belong to. */
    resource: z.string().min(3).max(260),
    /** Repo-relative paths being committed or pushed (checked against other runs' file claims). */
    paths: z.array(z.string().max(1024)).max(5000).default([]),
  })
  .strict();

export const HookGuardSession = z.object({
  client: z.string(),
  session_id: z.string(),
  updated_at: z.string(),
  /** The session's latest run (null in observe mode); its status tells whether the lease was lost. */
  claim: Claim.nullable(),
});

export const HookGuardResponse = z.object({
  /** This agent's hook sessions on the resource that have not ended, newest first. */
  sessions: z.array(HookGuardSession),
  /** Which of the paths other runs hold (edit or delete) under live leases: the first 100. */
  blocking: z.array(BlockingPath),
  blocking_count: z.number().int(),
  blocking_truncated: z.boolean(),
});
export type HookGuardResponse = z.infer<typeof HookGuardResponse>;
