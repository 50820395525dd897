// A CommonJS consumer of the built package: `require` resolves exports → dist/cjs.
const { AvailsyncError, createAvailsyncClient, VERSION } = require('@availsync/node');

async function main() {
  const availsync = createAvailsyncClient({
    apiKey: process.env.AVAILSYNC_API_KEY,
    agentId: process.env.AVAILSYNC_AGENT_ID,
    baseUrl: process.env.AVAILSYNC_API_URL,
  });
  const result = await availsync.work.withClaim('repo:consumer/cjs', { durationMinutes: 5 }, async ({ claim }) => claim.fencingToken);
  const err = await availsync.work.get('clm_missing').catch((e) => e);
  console.log(
    JSON.stringify({
      format: 'cjs',
      action: result.action,
      result: result.result,
      outcome: result.outcome,
      isAvailsyncError: err instanceof AvailsyncError,
      code: err.code,
      version: VERSION,
      resolved: require.resolve('@availsync/node'),
    }),
  );
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
