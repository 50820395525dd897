import { createAvailsyncClient } from '@availsync/node';

const availsync = createAvailsyncClient({
  apiKey: process.env.AVAILSYNC_API_KEY,
  agentId: process.env.AVAILSYNC_AGENT_ID,
  baseUrl: process.env.AVAILSYNC_API_URL,
});

const started = await availsync.work.start({
  resource: 'repo:owner/repo',
  reason: 'long-running agent run',
  durationMinutes: 45,
  idempotencyKey: `agent-owner-repo-${Date.now()}`,
});

if (started.action === 'skip_run') {
  console.log(started.reason);
  process.exit(0);
}

if (started.shadow_mode && started.would_have_blocked) {
  console.warn('Observe-only: Availsync would have skipped this run.');
}

let outcome = 'finished';
try {
  if (started.claim) {
    // Extend before expiry while the long-running task is still active.
    await availsync.work.extend(started.claim.id, { durationMinutes: 45 });
  }
  await doWork();
} catch (error) {
  outcome = 'error';
  throw error;
} finally {
  if (started.claim) {
    await availsync.work.finish(started.claim.id, { outcome });
  }
}

// The long-running work: here it only reports the claim it runs under.
async function doWork() {
  console.log(`working under claim ${started.claim?.id ?? '(observe mode: none)'}`);
}
