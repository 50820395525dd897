/**
 * The SDK page's examples, as runnable files under examples/, each run as a real process (importing
 * `@availsync/node` by name) against a real server, and their outcome checked on the server. The README's
 * SDK section embeds examples/basic-guarded-run.ts; that it is the same file is checked here too.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type LiveServer, startServer } from '@availsync/testkit';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const TSX = import.meta.resolve('tsx');

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function runExample(file: string, env: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=source', '--import', TSX, join(ROOT, 'examples', file)],
      { cwd: ROOT, env: { PATH: process.env.PATH, ...env } },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('examples/ (the SDK page, run as written against a real server)', { concurrency: true }, () => {
  let t: LiveServer;
  before(async () => {
    t = await startServer('sqlite');
  });
  after(async () => {
    await t.close();
  });

  async function agent(fields: Record<string, unknown> = {}) {
    const ws = await t.workspace(fields);
    const env = { AVAILSYNC_API_KEY: ws.agent.key, AVAILSYNC_AGENT_ID: ws.agent.id, AVAILSYNC_API_URL: t.url };
    const claims = async () => (await t.api('GET', '/v1/work/claims', { key: ws.agent.key })).body.data as any[];
    return { ws, env, claims };
  }

  it('docs/sdk.md embeds examples/basic-guarded-run.ts and the README examples/quick-start.ts verbatim', () => {
    for (const [doc, name, file] of [
      ['docs/sdk.md', 'sdk-example', 'basic-guarded-run.ts'],
      ['README.md', 'sdk-quick', 'quick-start.ts'],
    ] as const) {
      const text = readFileSync(join(ROOT, doc), 'utf8');
      const block = new RegExp(`<!-- ${name}:start -->\\s*\`\`\`ts\\n([\\s\\S]*?)\`\`\`\\s*<!-- ${name}:end -->`).exec(text);
      assert.ok(block?.[1], `${doc} has the ${name} block`);
      assert.equal(block[1], readFileSync(join(ROOT, 'examples', file), 'utf8'));
    }
  });

  it('quick start (README): proceeds, declares its working set, works, finishes', async () => {
    const { env, claims } = await agent();
    const r = await runExample('quick-start.ts', env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /working on src\/app\.ts/);
    const [claim] = await claims();
    assert.equal(claim.resource, 'repo:owner/repo');
    assert.equal(claim.status, 'released');
    assert.equal(claim.outcome, 'finished');
  });

  it('basic guarded run: proceeds, declares its working set, works, finishes', async () => {
    const { env, claims } = await agent();
    const r = await runExample('basic-guarded-run.ts', env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /working on frontend\/components\/Hero\.tsx/);
    const [claim] = await claims();
    assert.equal(claim.resource, 'repo:owner/repo');
    assert.equal(claim.reason, 'coding-agent run');
    assert.equal(claim.duration_minutes, 45);
    assert.equal(claim.status, 'released');
    assert.equal(claim.outcome, 'finished');
    assert.equal(claim.renewal_count, 0, 'the work took less than the 40-minute auto-extend interval');
  });

  it('basic guarded run: skip_run prints the reason and does no work; observe mode warns and works', async () => {
    const { ws, env } = await agent({ name: 'holder' });
    await t.api('POST', '/v1/work/run/start', { key: ws.agent.key, body: { resource: 'repo:owner/repo' } });
    const other = await ws.other();
    const skipped = await runExample('basic-guarded-run.ts', { ...env, AVAILSYNC_API_KEY: other.key, AVAILSYNC_AGENT_ID: other.id });
    assert.equal(skipped.code, 0, skipped.stderr);
    assert.equal(skipped.stdout, 'Another active work claim of equal priority holds this resource until it ends\n');

    const observer = await ws.other({ name: 'observer', mode: 'observe' });
    const observed = await runExample('basic-guarded-run.ts', { ...env, AVAILSYNC_API_KEY: observer.key, AVAILSYNC_AGENT_ID: observer.id });
    assert.equal(observed.code, 0, observed.stderr);
    assert.match(observed.stderr, /Observe-only: Availsync would have skipped this run\./);
    assert.match(observed.stdout, /working on/);
  });

  it('scheduled Codex run: runs the stand-in once per hour key; a second run in the same hour is skipped', async () => {
    const { env, claims } = await agent();
    const first = await runExample('scheduled-codex-run.ts', env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /codex stand-in/);
    const second = await runExample('scheduled-codex-run.ts', env);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout, '', 'the same idempotency key: Codex is not run again');
    const list = await claims();
    assert.equal(list.length, 1);
    assert.match(list[0].idempotency_key, /^codex-owner-repo-\d{4}-\d\d-\d\dT\d\d$/);
    assert.equal(list[0].outcome, 'finished');
  });

  it('scheduled Codex run: a failing Codex (CODEX_BIN) finishes the claim as error and exits non-zero', async () => {
    const { env, claims } = await agent();
    const dir = mkdtempSync(join(tmpdir(), 'availsync-codex-'));
    const fake = join(dir, 'codex');
    writeFileSync(fake, `#!/bin/sh\necho "fake codex $1: $2 (claim \${AVAILSYNC_CLAIM_ID:-none})"\nexit 3\n`);
    chmodSync(fake, 0o755);
    const r = await runExample('scheduled-codex-run.ts', { ...env, CODEX_BIN: fake });
    assert.notEqual(r.code, 0);
    assert.match(r.stdout, /fake codex exec: run the scheduled maintenance task/);
    assert.match(r.stderr, /codex exited with 3/);
    const [claim] = await claims();
    assert.equal(claim.outcome, 'error');
  });

  it('GitHub Actions script: one run per GITHUB_RUN_ID; a re-run of the same id skips cleanly', async () => {
    const { env, claims } = await agent();
    const first = await runExample('github-actions/guarded-agent-run.mjs', { ...env, GITHUB_RUN_ID: '9001' });
    assert.equal(first.code, 0, first.stderr);
    const again = await runExample('github-actions/guarded-agent-run.mjs', { ...env, GITHUB_RUN_ID: '9001' });
    assert.equal(again.code, 0, again.stderr);
    const list = await claims();
    assert.equal(list.length, 1);
    assert.equal(list[0].idempotency_key, 'github-9001');
    assert.equal(list[0].reason, 'GitHub Actions coding automation');
    assert.equal(list[0].outcome, 'finished');
    const step = readFileSync(join(ROOT, 'examples/github-actions/workflow-step.yml'), 'utf8');
    assert.match(step, /node \.\/scripts\/guarded-agent-run\.mjs/);
  });

  it('manual start/extend/finish flow: extends once and finishes; skip_run prints the reason', async () => {
    const { ws, env, claims } = await agent({ name: 'manual' });
    const r = await runExample('manual-long-running-flow.mjs', env);
    assert.equal(r.code, 0, r.stderr);
    const [claim] = await claims();
    assert.match(r.stdout, new RegExp(`working under claim ${claim.id}`));
    assert.equal(claim.renewal_count, 1);
    assert.equal(claim.outcome, 'finished');
    assert.match(claim.idempotency_key, /^agent-owner-repo-\d+$/);

    await t.api('POST', '/v1/work/run/start', { key: ws.agent.key, body: { resource: 'repo:owner/repo' } });
    const other = await ws.other();
    const skipped = await runExample('manual-long-running-flow.mjs', {
      ...env,
      AVAILSYNC_API_KEY: other.key,
      AVAILSYNC_AGENT_ID: other.id,
    });
    assert.equal(skipped.code, 0, skipped.stderr);
    assert.equal(skipped.stdout, 'Another active work claim of equal priority holds this resource until it ends\n');
  });
});
