// A TypeScript ESM consumer (module nodenext): types resolve through exports → dist/esm/index.d.ts.
import { type AvailsyncClient, AvailsyncError, createAvailsyncClient, type StartResponse, type WithClaimResult } from '@availsync/node';

const availsync: AvailsyncClient = createAvailsyncClient({
  apiKey: process.env.AVAILSYNC_API_KEY!,
  agentId: process.env.AVAILSYNC_AGENT_ID!,
  baseUrl: process.env.AVAILSYNC_API_URL,
});

const result: WithClaimResult<number> = await availsync.work.withClaim(
  'repo:consumer/ts-esm',
  { durationMinutes: 5, autoExtendIntervalMs: 60_000 },
  async ({ claim, shadow, signal }) => {
    if (shadow.wouldHaveBlocked || signal.aborted) return -1;
    return claim?.fencingToken ?? 0;
  },
);
const started: StartResponse = await availsync.work.start({ resource: 'repo:consumer/ts-esm-2' });
let token = 0;
if (started.action === 'proceed' && started.claim) {
  token = started.claim.fencing_token;
  await availsync.work.finish(started.claim.id, { outcome: 'noop' });
}
const err = await availsync.work.get('clm_missing').catch((e: unknown) => e);
console.log(
  JSON.stringify({
    format: 'ts-esm',
    action: result.action,
    result: result.action === 'proceed' ? result.result : null,
    token,
    isAvailsyncError: err instanceof AvailsyncError,
    code: err instanceof AvailsyncError ? err.code : null,
  }),
);
