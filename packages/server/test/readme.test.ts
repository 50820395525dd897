/**
 * The README's first-run walk-through, run as written (bash + curl) against a real HTTP server on the
 * embedded store, so the documentation stays true.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { readmeBlock, runBash, useReadmeServer } from './readme-server.js';

const _run = promisify(execFile);

describe('README walk-through (sqlite, real HTTP)', () => {
  const server = useReadmeServer('readme');

  it('runs start → skip → working set → extend → finish as documented', async () => {
    const stdout = await runBash(readmeBlock('walkthrough'), server.url);
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
    assert.equal(skip.reason, 'Another active work claim of equal priority holds this resource until it ends');
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
