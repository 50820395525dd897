/**
 * The test harness moved to @availsync/testkit (packages/testkit), which every package's suites share.
 * This file only re-exports it, for suites still importing './harness.js' (security.test.ts and branches
 * written before the move); new suites import '@availsync/testkit'. Delete it once nothing imports it.
 */
export * from '@availsync/testkit';
