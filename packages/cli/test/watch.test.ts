/**
 * `availsync watch` against a real server: one line per event for people, JSON lines with --json, a
 * resource filter, an unknown type refused (exit 2), and Ctrl-C (SIGINT) ending it cleanly with exit 0.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cli, cliEnv, type LiveServer, startCli, startServer } from '@availsync/testkit';

describe('availsync watch', () => {
  let s: LiveServer;
  let env: NodeJS.ProcessEnv;
  let key: string;
  before(async () => {
    s = await startServer('sqlite');
    const w = await s.workspace({ name: 'watcher' });
    key = w.agent.key;
    env = cliEnv({ AVAILSYNC_API_KEY: key, AVAILSYNC_API_URL: s.url, NO_COLOR: '1' });
  });
  after(() => s.close());

  it('prints one line per event, filters by resource, and ends cleanly on Ctrl-C', async () => {
    const human = startCli(['watch', 'repo:acme/watched'], env);
    const json = startCli(['watch', '--json', '--types', 'claim.started'], env);
    await human.waitFor(/watching repo:acme\/watched/, 'stderr');
    await json.waitFor(/watching the workspace/, 'stderr');
    await s.api('POST', '/v1/work/run/start', { key, body: { resource: 'repo:acme/other' } });
    await json.waitFor(/"type":"claim\.started"/);
    const started = await s.api('POST', '/v1/work/run/start', { key, body: { resource: 'repo:acme/watched' } });
    await s.api('POST', '/v1/work/run/finish', { key, body: { claim_id: started.body.claim.id } });
    await human.waitFor(/claim\.finished/);
    await json.waitFor(/repo:acme\/watched/);
    human.child.kill('SIGINT');
    json.child.kill('SIGINT');
    const [h, j] = await Promise.all([human.done, json.done]);
    assert.equal(h.code, 0, h.stderr);
    assert.equal(j.code, 0, j.stderr);
    const lines = h.stdout.trim().split('\n');
    assert.equal(lines.length, 2, h.stdout);
    assert.match(lines[0] ?? '', /claim\.started\s+repo:acme\/watched\s+by watcher\s+clm_/);
    assert.match(lines[1] ?? '', /claim\.finished\s+repo:acme\/watched/);
    assert.doesNotMatch(h.stdout, /\u001b\[/, 'NO_COLOR: no colours');
    const events = j.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      events.map((e) => [e.type, e.data.resource]),
      [
        ['claim.started', 'repo:acme/other'],
        ['claim.started', 'repo:acme/watched'],
      ],
    );
  });

  it('an unknown event type is a usage error (exit 2)', async () => {
    const res = await cli(['watch', '--types', 'claim.exploded'], env);
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, /claim\.exploded/);
  });
});
