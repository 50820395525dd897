// scripts/guarded-agent-run.mjs
import { createAvailsyncClient } from '@availsync/node';

const availsync = createAvailsyncClient({
  apiKey: process.env.AVAILSYNC_API_KEY,
  agentId: process.env.AVAILSYNC_AGENT_ID,
  baseUrl: process.env.AVAILSYNC_API_URL,
});

const result = await availsync.work.withClaim(
  'repo:owner/repo',
  {
    reason: 'GitHub Actions coding automation',
    idempotencyKey: `github-${process.env.GITHUB_RUN_ID}`,
    durationMinutes: 45,
    autoExtendIntervalMs: (45 - 5) * 60_000,
    autoExtendDurationMinutes: 45,
  },
  async ({ shadow }) => {
    if (shadow.wouldHaveBlocked) {
      console.warn('Observe-only: Availsync would have skipped this run.');
    }
    // Run the coding agent command here.
  },
);

if (result.action === 'skip_run') process.exit(0);
