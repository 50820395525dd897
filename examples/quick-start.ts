import { createAvailsyncClient } from '@availsync/node';

const availsync = createAvailsyncClient({ apiKey: process.env.AVAILSYNC_API_KEY!, agentId: process.env.AVAILSYNC_AGENT_ID! });

const result = await availsync.work.withClaim('repo:owner/repo', { reason: 'coding-agent run' }, async ({ claim }) => {
  await claim?.updateWorkingSet({ resource: 'repo:owner/repo', mode: 'edit', paths: ['src/app.ts'] });
  await doWork();
});
if (result.action === 'skip_run') console.log(result.reason);

async function doWork() {
  console.log('working on src/app.ts');
}
