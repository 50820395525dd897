// A TypeScript CommonJS consumer (module commonjs, classic node resolution): types from the `types` field → dist/cjs.
import { AvailsyncError, type Claim, createAvailsyncClient } from '@availsync/node';

async function main() {
  const availsync = createAvailsyncClient({
    apiKey: process.env.AVAILSYNC_API_KEY as string,
    agentId: process.env.AVAILSYNC_AGENT_ID,
    baseUrl: process.env.AVAILSYNC_API_URL,
  });
  const result = await availsync.work.withClaim('repo:consumer/ts-cjs', {}, async ({ claim }) => claim?.current as Claim);
  const err = await availsync.work.get('clm_missing').catch((e: unknown) => e);
  console.log(
    JSON.stringify({
      format: 'ts-cjs',
      action: result.action,
      result: result.action === 'proceed' ? result.result.status : null,
      isAvailsyncError: err instanceof AvailsyncError,
      code: err instanceof AvailsyncError ? err.code : null,
    }),
  );
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
