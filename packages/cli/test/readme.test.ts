/**
 * The README's and docs/cli.md's wrapper recipes, run as written against a real server: the cron line (its command, as cron's
 * sh would run it), the GitHub Actions step (its `run:` script, with the `${{ }}` expressions GitHub would
 * substitute, and the `npm install` line replaced by a local `availsync` on PATH), and the `codex exec`
 * wrapper (with a stand-in `codex` that records what it was given).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type LiveServer, ROOT, shimDir, startServer } from '@availsync/testkit';

function block(name: string, lang: string): string {
  const readme = ['README.md', 'docs/cli.md'].map((f) => readFileSync(join(ROOT, f), 'utf8')).join('\n');
  const m = new RegExp(`<!-- ${name}:start -->\\s*\`\`\`${lang}\\n([\\s\\S]*?)\`\`\`\\s*<!-- ${name}:end -->`).exec(readme);
  assert.ok(m?.[1], `README.md or docs/cli.md has the ${name} block`);
  return m[1];
}

function sh(script: string, env: NodeJS.ProcessEnv, cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', script], { env, cwd }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** An executable script that appends its arguments and claim env to `log` as one JSON line, then exits `code`. */
function recorder(path: string, log: string, code = 0) {
  writeFileSync(
    path,
    `#!${process.execPath}\nrequire('node:fs').appendFileSync(${JSON.stringify(log)}, JSON.stringify({ args: process.argv.slice(2), claim: process.env.AVAILSYNC_CLAIM_ID ?? null, token: process.env.AVAILSYNC_FENCING_TOKEN ?? null }) + '\\n');\nprocess.exit(${code});\n`,
  );
  chmodSync(path, 0o755);
}

const readLog = (log: string) =>
  readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

describe('README wrapper recipes (real server, real processes)', { concurrency: true }, () => {
  let t: LiveServer;
  before(async () => {
    t = await startServer('sqlite');
  });
  after(async () => {
    await t.close();
  });

  async function setup() {
    const ws = await t.workspace();
    const bin = shimDir();
    const env: NodeJS.ProcessEnv = {
      PATH: `${bin}:${process.env.PATH}`,
      HOME: bin,
      AVAILSYNC_API_KEY: ws.agent.key,
      AVAILSYNC_AGENT_ID: ws.agent.id,
      AVAILSYNC_API_URL: t.url,
    };
    const claims = async () => (await t.api('GET', '/v1/work/claims', { key: ws.agent.key })).body.data as any[];
    return { ws, bin, env, claims };
  }

  it('the cron line runs the job under a claim', async () => {
    const { bin, env, claims } = await setup();
    const lines = block('cron', 'crontab').trim().split('\n');
    const vars = lines.filter((l) => /^[A-Z_]+=/.test(l)).map((l) => l.split('=')[0]);
    assert.deepEqual(vars, ['AVAILSYNC_API_KEY', 'AVAILSYNC_AGENT_ID', 'AVAILSYNC_API_URL']);
    const entry = lines.find((l) => !/^[A-Z_]+=/.test(l));
    assert.ok(entry);
    const command = entry.split(' ').slice(5).join(' ');
    mkdirSync(join(bin, 'app'));
    const log = join(bin, 'cron.log');
    recorder(join(bin, 'app', 'nightly-maintenance.sh'), log);
    const r = await sh(command, env, bin);
    assert.equal(r.code, 0, r.stderr);
    const [seen] = readLog(log);
    assert.match(seen.claim, /^clm_/);
    const [claim] = await claims();
    assert.equal(claim.id, seen.claim);
    assert.equal(claim.reason, 'nightly maintenance');
    assert.equal(claim.duration_minutes, 45);
    assert.equal(claim.outcome, 'finished');
  });

  it('the GitHub Actions step runs the task once per run id and attempt', async () => {
    const { bin, env, claims } = await setup();
    const yaml = block('gha', 'yaml');
    const script = /run: \|\n((?: {4}.*\n?)+)/.exec(yaml)?.[1];
    assert.ok(script);
    const expressions: Record<string, string> = {
      'github.repository': 'owner/repo',
      'github.run_id': '4242',
      'github.run_attempt': '1',
      'github.workflow': 'nightly',
    };
    const lines = script
      .split('\n')
      .map((l) => l.replace(/^ {4}/, ''))
      .filter((l) => !l.startsWith('npm install --global @availsync/cli')); // the local shim stands in for the install
    const body = lines.join('\n').replace(/\$\{\{\s*([\w.]+)\s*\}\}/g, (_m, expr: string) => {
      assert.ok(expr in expressions, `unexpected expression ${expr}`);
      return expressions[expr] as string;
    });
    mkdirSync(join(bin, 'scripts'));
    const log = join(bin, 'task.log');
    recorder(join(bin, 'scripts', 'agent-task.sh'), log);
    const first = await sh(`set -e\n${body}`, env, bin);
    assert.equal(first.code, 0, first.stderr);
    const again = await sh(`set -e\n${body}`, env, bin);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /already ran/);
    assert.equal(readLog(log).length, 1, 'the task ran once');
    const list = await claims();
    assert.equal(list.length, 1);
    assert.equal(list[0].resource, 'repo:owner/repo');
    assert.equal(list[0].idempotency_key, 'github-4242-1');
    assert.equal(list[0].reason, 'GitHub Actions: nightly');
  });

  it('wrapping codex exec passes the arguments and the claim through, and reports Codex failing', async () => {
    const { bin, env, claims } = await setup();
    const command = block('codex', 'bash');
    const log = join(bin, 'codex.log');
    recorder(join(bin, 'codex'), log);
    const r = await sh(command, env, bin);
    assert.equal(r.code, 0, r.stderr);
    const [seen] = readLog(log);
    assert.deepEqual(seen.args, ['exec', 'fix the flaky tests in packages/api']);
    assert.match(seen.claim, /^clm_/);
    assert.equal(seen.token, '1');
    recorder(join(bin, 'codex'), log, 2);
    const failed = await sh(command, env, bin);
    assert.equal(failed.code, 2, 'the wrapper exits with Codex’s code');
    const list = await claims();
    assert.deepEqual(
      list.map((c) => c.outcome),
      ['error', 'finished'],
    );
    assert.equal(list[0].reason, 'codex: fix the flaky tests');
  });
});
