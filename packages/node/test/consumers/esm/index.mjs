// An ESM consumer of the built package: `import` resolves exports → dist/esm.
import { AvailsyncError, createAvailsyncClient, VERSION } from '@availsync/node';

const availsync = createAvailsyncClient({
  apiKey: process.env.AVAILSYNC_API_KEY,
  agentId: process.env.AVAILSYNC_AGENT_ID,
  baseUrl: process.env.AVAILSYNC_API_URL,
});
const result = await availsync.work.withClaim('repo:consumer/esm', { durationMinutes: 5 }, async ({ claim }) => claim.fencingToken);
const err = await availsync.work.get('clm_missing').catch((e) => e);
console.log(
  JSON.stringify({
    format: 'esm',
    action: result.action,
    result: result.result,
    outcome: result.outcome,
    isAvailsyncError: err instanceof AvailsyncError,
    code: err.code,
    version: VERSION,
  }),
);
