/** The hook sessions table (migration 006), declared by interface merging into `DB`. Times are epoch ms. */
export interface HookSessionsTable {
  org_id: string;
  agent_id: string;
  session_key: string;
  client: string;
  session_id: string;
  /** The session's run resource (the repository, or the session's own project in `files` scope). */
  resource: string;
  /** Where its files are claimed: the repository. */
  ws_resource: string;
  generation: number;
  claim_id: string | null;
  claim_expires_at: number | null;
  /** JSON: path → git status letters and content hash, as the command hook last saw the work tree. */
  git_status: string | null;
  ended_at: number | null;
  created_at: number;
  updated_at: number;
}

declare module './schema.js' {
  interface DB {
    hook_sessions: HookSessionsTable;
  }
}
