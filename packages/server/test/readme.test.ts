/**
 * The README's first-run walk-through, run as written (bash + curl) against a real HTTP server on the
 * embedded store, so the documentation stays true.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { systemClock } from '../src/clock.js';
import { silentLogger } from '../src/logger.js';
import { createAvailsync, listen } from '../src/server.js';
import { createSqliteStore } from '../src/storage/store.js';
import { testConfig } from './harness.js';

const run = promisify(execFile);

function walkthrough(): string {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const block = /<!-- walkthrough:start -->\s*```bash\n([\s\S]*?)```\s*<!-- walkthrough:end -->/.exec(readme);
  assert.ok(block?.[1], 'README has the walkthrough block');
  return block[1];
}

describe('README walk-through (sqlite, real HTTP)', () => {
  let dir: string;
  let http: Awaited<ReturnType<typeof listen>>;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'availsync-readme-'));
    const store = createSqliteStore({ dataDir: dir, clock: systemClock });
    const instance = await createAvailsync({ config: testConfig, store, logger: silentLogger, sweeper: false });
    http = await listen(instance, 0, '127.0.0.1');
  });
  after(async () => {
    await http.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs start → skip → working set → extend → finish as documented', async () => {
    const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', walkthrough()], { env: { ...process.env, API: http.url } });
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const [agent, start, skip, ws, extend, finish, again, next] = lines;
    assert.equal(agent.agent.name, 'codex-nightly');
    assert.equal(agent.agent.effective_mode, 'enforce');
    assert.equal(start.action, 'proceed');
    assert.equal(start.retry_after, null);
    assert.equal(start.claim.resource, 'repo:owner/repo');
    assert.equal(skip.action, 'skip_run');
    assert.equal(skip.reason, 'Another active work claim has priority');
    assert.equal(skip.blocking_claim.id, start.claim.id);
    assert.equal(skip.retry_after, start.claim.expires_at);
    assert.equal(ws.action, 'updated');
    assert.equal(ws.working_set.length, 2);
    assert.equal(extend.action, 'extended');
    assert.equal(extend.claim.renewal_count, 1);
    assert.equal(finish.action, 'finished');
    assert.equal(again.action, 'already_finished');
    assert.equal(next.action, 'proceed');
    assert.ok(next.claim.fencing_token > start.claim.fencing_token);
  });
});
