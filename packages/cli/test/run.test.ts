/**
 * `availsync run` as a real process against a real server: exit codes, skip exit codes, the claim's env,
 * signal forwarding (SIGTERM to the wrapper → the command gets it → claim finished `cancelled`), observe
 * mode, --on-unavailable both ways, and a lease lost while the command runs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cli, cliEnv, type LiveServer, MIN, nodeCmd, scriptedServer, startCli, startServer } from '@availsync/testkit';

/** A command that prints its claim env as JSON, then exits with `code`. */
const printEnv = (code = 0) =>
  nodeCmd(
    `console.log(JSON.stringify({ claim: process.env.AVAILSYNC_CLAIM_ID ?? null, token: process.env.AVAILSYNC_FENCING_TOKEN ?? null, unguarded: process.env.AVAILSYNC_UNGUARDED ?? null })); process.exit(${code})`,
  );

/** A command that prints its claim id and pid, then runs until a signal (SIGUSR2: exit 0). */
const longRunning = nodeCmd(
  `console.log('ready ' + process.env.AVAILSYNC_CLAIM_ID + ' ' + process.pid); setInterval(() => {}, 1000); process.on('SIGUSR2', () => process.exit(0));`,
);

describe('availsync run (real server, real processes)', { concurrency: true }, () => {
  let t: LiveServer;
  before(async () => {
    t = await startServer('sqlite');
  });
  after(async () => {
    await t.close();
  });

  async function agentEnv(fields: Record<string, unknown> = {}) {
    const ws = await t.workspace(fields);
    return {
      ws,
      env: cliEnv({ AVAILSYNC_API_KEY: ws.agent.key, AVAILSYNC_AGENT_ID: ws.agent.id, AVAILSYNC_API_URL: t.url }),
    };
  }

  it('runs the command under a claim: claim id and fencing token in its env, finished, exit 0', async () => {
    const { ws, env } = await agentEnv();
    const r = await cli(['run', 'repo:owner/repo', '--duration', '45', '--reason', 'nightly', '--', ...printEnv(0)], env);
    assert.equal(r.code, 0, r.stderr);
    const seen = JSON.parse(r.stdout.trim());
    assert.match(seen.claim, /^clm_/);
    assert.equal(seen.token, '1');
    assert.match(r.stderr, /claimed repo:owner\/repo \(claim clm_\w+, fencing token 1/);
    const claim = (await t.api('GET', `/v1/work/claims/${seen.claim}`, { key: ws.agent.key })).body.claim;
    assert.equal(claim.status, 'released');
    assert.equal(claim.outcome, 'finished');
    assert.equal(claim.reason, 'nightly');
    assert.equal(claim.duration_minutes, 45);
  });

  it("exits with the command's own code and finishes the claim as error", async () => {
    const { ws, env } = await agentEnv();
    const r = await cli(['run', 'repo:owner/repo', '--json', '--', ...printEnv(7)], env);
    assert.equal(r.code, 7);
    const [childLine, summaryLine] = r.stdout.trim().split('\n');
    const seen = JSON.parse(childLine ?? '');
    const summary = JSON.parse(summaryLine ?? '');
    assert.equal(summary.action, 'proceed');
    assert.equal(summary.outcome, 'error');
    assert.equal(summary.exit_code, 7);
    assert.equal(summary.claim_id, seen.claim);
    const claim = (await t.api('GET', `/v1/work/claims/${seen.claim}`, { key: ws.agent.key })).body.claim;
    assert.equal(claim.outcome, 'error');
  });

  it('skip_run: says who holds the resource and until when, does not run the command, exits 0 or --skip-exit-code', async () => {
    const { ws, env } = await agentEnv({ name: 'codex-nightly' });
    const holder = await t.api('POST', '/v1/work/run/start', {
      key: ws.agent.key,
      body: { resource: 'repo:owner/busy', reason: 'refactor' },
    });
    const other = await ws.other({ name: 'cron' });
    const otherEnv = { ...env, AVAILSYNC_API_KEY: other.key, AVAILSYNC_AGENT_ID: other.id };
    const r = await cli(['run', 'repo:owner/busy', '--', ...printEnv(0)], otherEnv);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, '', 'the command did not run');
    assert.match(r.stderr, /skipped repo:owner\/busy: Another active work claim of equal priority holds this resource until it ends/);
    assert.match(
      r.stderr,
      new RegExp(
        `codex-nightly \\(${ws.agent.id}\\), claim ${holder.body.claim.id} "refactor", until \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC`,
      ),
    );
    const custom = await cli(['run', 'repo:owner/busy', '--skip-exit-code', '75', '--json', '--', ...printEnv(0)], otherEnv);
    assert.equal(custom.code, 75);
    const summary = JSON.parse(custom.stdout.trim());
    assert.equal(summary.action, 'skip_run');
    assert.equal(summary.ran, false);
    assert.equal(summary.blocking_claim.agent_name, 'codex-nightly');
    assert.equal(summary.retry_after, holder.body.claim.expires_at);
  });

  it('the same --idempotency-key is one run: a second invocation is skipped', async () => {
    const { env } = await agentEnv();
    const first = await cli(['run', 'repo:owner/idem', '--idempotency-key', 'hourly-2026-05-22T10', '--', ...printEnv(0)], env);
    assert.equal(first.code, 0, first.stderr);
    const second = await cli(['run', 'repo:owner/idem', '--idempotency-key', 'hourly-2026-05-22T10', '--', ...printEnv(0)], env);
    assert.equal(second.code, 0);
    assert.equal(second.stdout, '');
    assert.match(second.stderr, /already ran/);
  });

  it('SIGTERM to the wrapper is forwarded: the command dies of it, the claim is finished as cancelled, exit 143', async () => {
    const { ws, env } = await agentEnv();
    const run = startCli(['run', 'repo:owner/signal', '--', ...longRunning], env);
    const [, claimId] = await run.waitFor(/ready (clm_\w+)/);
    run.child.kill('SIGTERM');
    const r = await run.done;
    assert.equal(r.code, 143, r.stderr);
    const claim = (await t.api('GET', `/v1/work/claims/${claimId}`, { key: ws.agent.key })).body.claim;
    assert.equal(claim.status, 'released');
    assert.equal(claim.outcome, 'cancelled');
  });

  it('SIGINT is forwarded too (exit 130)', async () => {
    const { env } = await agentEnv();
    const run = startCli(['run', 'repo:owner/sigint', '--', ...longRunning], env);
    await run.waitFor(/ready clm_/);
    run.child.kill('SIGINT');
    assert.equal((await run.done).code, 130);
  });

  it('observe mode: runs the command without a lease and prints the shadow decision', async () => {
    const { ws } = await agentEnv({ name: 'holder' });
    await t.api('POST', '/v1/work/run/start', { key: ws.agent.key, body: { resource: 'repo:owner/obs' } });
    const observer = await ws.other({ name: 'observer', mode: 'observe' });
    const env = cliEnv({ AVAILSYNC_API_KEY: observer.key, AVAILSYNC_API_URL: t.url });
    const r = await cli(['run', 'repo:owner/obs', '--json', '--', ...printEnv(0)], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /observe mode: Availsync would have skipped this run \(Another active work claim of equal priority holds this resource until it ends; held by holder/,
    );
    const [childLine, summaryLine] = r.stdout.trim().split('\n');
    assert.deepEqual(JSON.parse(childLine ?? ''), { claim: null, token: null, unguarded: null });
    const summary = JSON.parse(summaryLine ?? '');
    assert.equal(summary.mode, 'observe');
    assert.equal(summary.would_have_blocked, true);
    assert.equal(summary.shadow_decision.action, 'skip_run');
    assert.equal(summary.claim_id, null);
  });

  it('--on-unavailable fail (default): an unreachable server exits 69 with the reason, and the command does not run', async () => {
    const gone = await scriptedServer(() => {});
    await gone.close();
    const env = cliEnv({ AVAILSYNC_API_KEY: `avs_live_${'x'.repeat(43)}`, AVAILSYNC_API_URL: gone.url });
    const r = await cli(['run', 'repo:owner/repo', '--', ...printEnv(0)], env);
    assert.equal(r.code, 69);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /cannot reach Availsync \(Could not reach Availsync at http:\/\/127\.0\.0\.1:\d+.*\)\. The command was NOT run/);
    assert.ok(!r.stderr.includes('x'.repeat(43)), 'the key is never printed');
  });

  it('--on-unavailable run: runs the command unguarded with a loud warning, and exits with its code', async () => {
    const down = await scriptedServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'service_unavailable', message: 'The database is unavailable; retry shortly', request_id: 'req_x' }));
    });
    try {
      const env = cliEnv({ AVAILSYNC_API_KEY: `avs_live_${'x'.repeat(43)}`, AVAILSYNC_API_URL: down.url });
      const r = await cli(['run', 'repo:owner/repo', '--on-unavailable', 'run', '--', ...printEnv(4)], env);
      assert.equal(r.code, 4);
      assert.deepEqual(JSON.parse(r.stdout.trim()), { claim: null, token: null, unguarded: '1' });
      assert.match(r.stderr, /WARNING: cannot reach Availsync \(The database is unavailable.*Running the command WITHOUT a claim/);
    } finally {
      await down.close();
    }
  });

  it('an API refusal (bad key) is not "unavailable": exit 1 with the reason, even with --on-unavailable run', async () => {
    const env = cliEnv({ AVAILSYNC_API_KEY: `avs_live_${'y'.repeat(43)}`, AVAILSYNC_API_URL: t.url });
    const r = await cli(['run', 'repo:owner/repo', '--on-unavailable', 'run', '--', ...printEnv(0)], env);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /Unknown or rotated API key.*The command was NOT run\. Check AVAILSYNC_API_KEY/);
  });

  it('missing configuration names what is missing (exit 2)', async () => {
    const r = await cli(['run', 'repo:owner/repo', '--', ...printEnv(0)], cliEnv({}));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /AVAILSYNC_API_KEY is not set/);
    assert.equal(r.stdout, '');
  });

  it('a command that cannot be started: exit 127, claim finished as error', async () => {
    const { ws, env } = await agentEnv();
    const r = await cli(['run', 'repo:owner/nocmd', '--json', '--', 'definitely-not-a-command-xyz'], env);
    assert.equal(r.code, 127);
    assert.match(r.stderr, /could not start definitely-not-a-command-xyz: spawn definitely-not-a-command-xyz ENOENT/);
    const summary = JSON.parse(r.stdout.trim());
    const claim = (await t.api('GET', `/v1/work/claims/${summary.claim_id}`, { key: ws.agent.key })).body.claim;
    assert.equal(claim.outcome, 'error');
  });

  it('lease lost while the command runs (preempted): a loud warning, the command keeps running by default', async () => {
    const { ws, env } = await agentEnv({ priority: 100 });
    const high = await ws.other({ name: 'hotfix', priority: 900 });
    const run = startCli(['run', 'repo:owner/lost', '--extend-every', '0.02', '--', ...longRunning], env);
    const [, , pid] = await run.waitFor(/ready (clm_\w+) (\d+)/);
    const pre = await t.api('POST', '/v1/work/run/start', { key: high.key, body: { resource: 'repo:owner/lost', preempt: true } });
    assert.equal(pre.body.action, 'proceed');
    await run.waitFor(
      /WARNING: The lease on repo:owner\/lost \(claim clm_\w+\) was lost: the claim is preempted\. The command is still running/,
      'stderr',
    );
    process.kill(Number(pid), 'SIGUSR2'); // the command finishes its work on its own
    const r = await run.done;
    assert.equal(r.code, 0, 'the command was not stopped: exit with its own code');
  });

  it('lease lost (expired on the server clock) with --stop-on-lease-loss: the command gets SIGTERM', async () => {
    const { ws, env } = await agentEnv();
    const run = startCli(
      ['run', 'repo:owner/expire', '--duration', '5', '--extend-every', '0.02', '--stop-on-lease-loss', '--json', '--', ...longRunning],
      env,
    );
    const [, claimId] = await run.waitFor(/ready (clm_\w+)/);
    t.clock.advance(6 * MIN);
    const r = await run.done;
    assert.equal(r.code, 143, r.stderr);
    assert.match(
      r.stderr,
      /WARNING: The lease on repo:owner\/expire .* was lost: the claim is expired\. Stopping the command \(SIGTERM, --stop-on-lease-loss\)/,
    );
    const summary = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
    assert.match(summary.lease_lost, /expired/);
    const claim = (await t.api('GET', `/v1/work/claims/${claimId}`, { key: ws.agent.key })).body.claim;
    assert.equal(claim.status, 'expired');
  });
  it('released by someone else under --stop-on-lease-loss: says so, not "finished as error"', async () => {
    const { ws, env } = await agentEnv();
    const run = startCli(['run', 'repo:owner/released', '--extend-every', '0.02', '--stop-on-lease-loss', '--', ...longRunning], env);
    const [, claimId] = await run.waitFor(/ready (clm_\w+)/);
    // Another process with the key (or an admin in the dashboard) releases the claim.
    await t.api('DELETE', `/v1/work/claims/${claimId}`, { key: ws.agent.key });
    const r = await run.done;
    assert.equal(r.code, 143, r.stderr);
    assert.match(r.stderr, new RegExp(`claim ${claimId} was released by someone else .* before the command ended; exit 143`));
    assert.doesNotMatch(r.stderr, /finished claim .* as error/);
  });
});
