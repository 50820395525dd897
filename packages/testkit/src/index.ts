/**
 * @availsync/testkit: the harness and helpers every package's tests share. Private, never built or
 * published: its package.json exports these sources under the `source` condition, which scripts/test.mjs
 * and the test tsconfigs use.
 *
 * - stores: the stores a suite runs on (STORES, makeStore, testConfig).
 * - harness: the server app in process (createTestServer), for the server's own suites.
 * - live-server: a real server on a port (startServer), for the SDK, CLI, MCP and setup suites.
 * - scripted-server: a scripted HTTP server for the SDK transport.
 * - cli: the `availsync` CLI run from source as a real process.
 * - postgres, async: race and query-plan helpers.
 */
export { aborted, deferred } from './async.js';
export { BIN, type CliResult, cli, cliEnv, NODE_ARGS, nodeCmd, ROOT, shimDir, startCli } from './cli.js';
export {
  accountHelpers,
  type Call,
  createTestServer,
  MIN,
  type Res,
  readResponse,
  requestInit,
  type Session,
  type TestServer,
  uniqueEmail,
} from './harness.js';
export { type LiveServer, startServer, type TestAgent } from './live-server.js';
export { type Executor, onConnectionsAtOnce, planOf, type Tx, untilWaitingOnLock } from './postgres.js';
export { fakeClaim, json, type Recorded, type Script, scriptedServer } from './scripted-server.js';
export { planCommand } from './server-internals.js';
export { makeStore, PG_ENABLED, PG_URL, STORES, type StoreKind, testConfig } from './stores.js';
