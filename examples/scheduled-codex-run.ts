import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createAvailsyncClient } from '@availsync/node';

// The Codex CLI, or (when CODEX_BIN is unset) a harmless stand-in, so this example runs anywhere.
const codex = process.env.CODEX_BIN ?? process.execPath;
const codexArgs = process.env.CODEX_BIN
  ? ['exec', 'run the scheduled maintenance task']
  : ['-e', "console.log('codex stand-in: set CODEX_BIN=codex to run the real Codex CLI')"];

const availsync = createAvailsyncClient({
  apiKey: process.env.AVAILSYNC_API_KEY!,
  agentId: process.env.AVAILSYNC_AGENT_ID!,
  baseUrl: process.env.AVAILSYNC_API_URL,
});

const result = await availsync.work.withClaim(
  'repo:owner/repo',
  {
    reason: 'scheduled Codex automation',
    durationMinutes: 45,
    idempotencyKey: `codex-owner-repo-${new Date().toISOString().slice(0, 13)}`,
  },
  async ({ shadow }) => {
    if (shadow.wouldHaveBlocked) {
      console.warn('Observe-only: Availsync would have skipped this Codex run.');
    }
    const child = spawn(codex, codexArgs, { stdio: 'inherit' });
    const [code] = await once(child, 'exit');
    if (code !== 0) throw new Error(`codex exited with ${code}`);
  },
);

if (result.action === 'skip_run') process.exit(0);
