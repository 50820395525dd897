/**
 * check, list, finish, hold create|release|list and availability, run in-process through `main()` against
 * a real server: human output by default, --json for scripts, exit codes; colours only on a TTY (NO_COLOR
 * wins), a spinner only on an interactive stderr.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { type LiveServer, scriptedServer, startServer } from '@availsync/testkit';
import { main, parseTime, type Stream, waitDuration } from '../src/index.js';

/** A stream that records what is written (a real Writable: the spinner listens on it). */
class Capture extends Writable implements Stream {
  text = '';
  columns = 80;
  constructor(readonly isTTY = false) {
    super({ decodeStrings: false });
  }
  override _write(chunk: string | Buffer, _enc: BufferEncoding, done: () => void) {
    this.text += String(chunk);
    done();
  }
}

const ESC = '\u001b[';

describe('availsync check|list|finish|hold|availability (in-process, real server)', () => {
  let t: LiveServer;
  before(async () => {
    t = await startServer('sqlite');
  });
  after(async () => {
    await t.close();
  });

  async function setup(fields: Record<string, unknown> = {}) {
    const ws = await t.workspace(fields);
    const env = { AVAILSYNC_API_KEY: ws.agent.key, AVAILSYNC_AGENT_ID: ws.agent.id, AVAILSYNC_API_URL: t.url };
    const run = async (args: string[], opts: { tty?: boolean; env?: Record<string, string> } = {}) => {
      const stdout = new Capture(opts.tty);
      const stderr = new Capture(opts.tty);
      const code = await main(args, { stdout, stderr, env: { ...env, ...opts.env } });
      return { code, stdout: stdout.text, stderr: stderr.text };
    };
    return { ws, env, run };
  }

  it('check: available → exit 0; held → exit 3 with who holds it and until when; --json', async () => {
    const { ws, run } = await setup({ name: 'codex-nightly' });
    const free = await run(['check', 'repo:owner/repo']);
    assert.equal(free.code, 0);
    assert.equal(free.stdout, 'available  repo:owner/repo\n');
    const held = await t.api('POST', '/v1/work/run/start', {
      key: ws.agent.key,
      body: { resource: 'repo:owner/repo', reason: 'refactor' },
    });
    const other = await ws.other();
    const stdout = new Capture();
    const stderr = new Capture();
    const code = await main(['check', 'repo:owner/repo'], {
      stdout,
      stderr,
      env: { AVAILSYNC_API_KEY: other.key, AVAILSYNC_API_URL: t.url },
    });
    assert.equal(code, 3);
    assert.match(
      stdout.text,
      /^held {2}repo:owner\/repo: Another active work claim of equal priority holds this resource until it ends\. Held by codex-nightly \(agt_\w+\), claim clm_\w+ "refactor", until /,
    );
    const json = await main(['check', 'repo:owner/repo', '--json'], {
      stdout: new Capture(),
      stderr,
      env: { AVAILSYNC_API_KEY: other.key, AVAILSYNC_API_URL: t.url },
    });
    assert.equal(json, 3);
    const out = new Capture();
    await main(['check', 'repo:owner/repo', '--json'], {
      stdout: out,
      stderr,
      env: { AVAILSYNC_API_KEY: other.key, AVAILSYNC_API_URL: t.url },
    });
    const parsed = JSON.parse(out.text);
    assert.equal(parsed.available, false);
    assert.equal(parsed.blocking_claim.id, held.body.claim.id);
  });

  it('list: a table by default, the API page with --json; finish: finished then already finished', async () => {
    const { ws, run } = await setup();
    const a = await t.api('POST', '/v1/work/run/start', { key: ws.agent.key, body: { resource: 'repo:owner/a', reason: 'first' } });
    await t.api('POST', '/v1/work/run/start', { key: ws.agent.key, body: { resource: 'project:b' } });
    const human = await run(['list']);
    assert.equal(human.code, 0);
    const lines = human.stdout.trim().split('\n');
    assert.match(lines[0] ?? '', /^CLAIM\s+RESOURCE\s+STATUS\s+EXPIRES\s+FILES\s+REASON$/);
    assert.equal(lines.length, 4);
    assert.match(
      human.stdout,
      new RegExp(`${a.body.claim.id}\\s+repo:owner/a\\s+active\\s+\\d{4}-\\d\\d-\\d\\d .* UTC \\(in 30 min\\)\\s+0\\s+first`),
    );
    assert.match(lines[3] ?? '', /^1-2 of 2$/);
    const json = await run(['list', '--json', '--status', 'active', '--limit', '1']);
    const page = JSON.parse(json.stdout);
    assert.equal(page.data.length, 1);
    assert.deepEqual(page.pagination, { limit: 1, offset: 0, total: 2, has_more: true });

    const fin = await run(['finish', a.body.claim.id, '--outcome', 'noop', '--reason', 'nothing to do']);
    assert.equal(fin.code, 0);
    assert.equal(fin.stdout, `finished  ${a.body.claim.id} on repo:owner/a (noop)\n`);
    const again = await run(['finish', a.body.claim.id, '--json']);
    assert.equal(JSON.parse(again.stdout).action, 'already_finished');
    const missing = await run(['finish', 'clm_missing']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /availsync: error: Claim not found \(POST \/v1\/work\/run\/finish → 404 not_found, req_\w+\)/);
    const bad = await run(['list', '--status', 'nope']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Allowed choices are active, released, expired, preempted/);
  });

  it('hold create → conflict (exit 3, next free slot) → list → availability → release', async () => {
    const { run } = await setup();
    const start = new Date(t.clock.now() + 2 * 86_400_000);
    start.setUTCHours(10, 0, 0, 0);
    const iso = (h: number) => new Date(start.getTime() + h * 3_600_000).toISOString();
    const created = await run(['hold', 'create', 'release:prod', '--start', iso(0), '--duration', '60', '--reason', 'release', '--json']);
    assert.equal(created.code, 0, created.stderr);
    const hold = JSON.parse(created.stdout).hold;
    assert.equal(hold.end_at, iso(1));

    const clash = await run(['hold', 'create', 'release:prod', '--start', iso(0.5), '--end', iso(1.5)]);
    assert.equal(clash.code, 3);
    assert.match(clash.stdout, new RegExp(`^conflict {2}release:prod is already held:\\n {2}${hold.id} `));
    assert.match(clash.stdout, /next free slot: /);

    const listed = await run(['hold', 'list', '--resource', 'release:prod']);
    assert.match(listed.stdout, new RegExp(`${hold.id}\\s+release:prod\\s+active`));
    const avail = await run(['availability', 'release:prod', '--from', iso(0), '--to', iso(4), '--duration', '60']);
    assert.equal(avail.code, 0);
    assert.match(avail.stdout, new RegExp(`busy {2}.* → .* {2}${hold.id}`));
    assert.match(avail.stdout, /first free 60 min: .*12:00 UTC|first free 60 min: .*11:00 UTC/);
    const availJson = JSON.parse((await run(['availability', 'release:prod', '--from', iso(0), '--to', iso(4), '--json'])).stdout);
    assert.equal(availJson.busy[0].hold_id, hold.id);

    const released = await run(['hold', 'release', hold.id]);
    assert.equal(released.stdout, `released  ${hold.id} on release:prod\n`);
    const again = await run(['hold', 'release', hold.id]);
    assert.equal(again.stdout, `already released  ${hold.id} on release:prod\n`);
    const noEnd = await run(['hold', 'create', 'release:prod', '--start', '+1h']);
    assert.equal(noEnd.code, 2);
  });

  it('colours only on a TTY, never with NO_COLOR; plain lines when piped', async () => {
    const { run } = await setup();
    const piped = await run(['check', 'repo:owner/colour']);
    assert.ok(!piped.stdout.includes(ESC));
    const tty = await run(['check', 'repo:owner/colour'], { tty: true });
    assert.ok(tty.stdout.includes(`${ESC}32mavailable${ESC}39m`));
    const noColor = await run(['check', 'repo:owner/colour'], { tty: true, env: { NO_COLOR: '1' } });
    assert.ok(!noColor.stdout.includes(ESC));
  });

  it('a spinner on an interactive stderr while waiting on the network; none when piped, in CI, or with --json', async () => {
    const { run } = await setup();
    // A slow server, so the spinner draws a frame before the answer arrives.
    const slow = await scriptedServer((_req, res) => {
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ available: true, action: 'proceed', mode: 'enforce', reason: null, blocking_claim: null, retry_after: null }),
        );
      }, 300);
    });
    try {
      const tty = await run(['check', 'repo:owner/spin'], { tty: true, env: { AVAILSYNC_API_URL: slow.url } });
      assert.match(tty.stderr, /Checking repo:owner\/spin/);
      assert.equal(tty.stdout.replace(/\u001b\[\d+m/g, ''), 'available  repo:owner/spin\n');
    } finally {
      await slow.close();
    }
    const json = await run(['check', 'repo:owner/spin', '--json'], { tty: true });
    assert.equal(json.stderr, '');
    const ci = await run(['check', 'repo:owner/spin'], { tty: true, env: { CI: 'true' } });
    assert.equal(ci.stderr, '');
    const piped = await run(['check', 'repo:owner/spin']);
    assert.equal(piped.stderr, '');
  });

  it('--help lists the commands and the configuration; a usage error exits 2', async () => {
    const help = new Capture();
    assert.equal(await main(['--help'], { stdout: help, stderr: new Capture(), env: {} }), 0);
    for (const word of ['run', 'check', 'list', 'finish', 'hold', 'availability', 'AVAILSYNC_API_KEY', 'AVAILSYNC_API_URL']) {
      assert.ok(help.text.includes(word), word);
    }
    const err = new Capture();
    assert.equal(await main(['run'], { stdout: new Capture(), stderr: err, env: {} }), 2);
    assert.match(err.text, /missing required argument 'resource'/);
  });

  it('parseTime accepts RFC 3339 and +30m / +2h / +1d', () => {
    const now = Date.parse('2026-05-22T10:00:00.000Z');
    assert.equal(parseTime('+30m', now), '2026-05-22T10:30:00.000Z');
    assert.equal(parseTime('+2h', now), '2026-05-22T12:00:00.000Z');
    assert.equal(parseTime('+1d', now), '2026-05-23T10:00:00.000Z');
    assert.equal(parseTime('2026-06-01T10:00:00Z'), '2026-06-01T10:00:00.000Z');
    assert.throws(() => parseTime('tomorrow'));
  });

  it('run --wait takes 10m, 90s, 0 or plain seconds, at most 15 minutes', () => {
    assert.equal(waitDuration('10m'), 600);
    assert.equal(waitDuration('90s'), 90);
    assert.equal(waitDuration('0'), 0);
    assert.equal(waitDuration('45'), 45);
    assert.equal(waitDuration('15m'), 900);
    for (const bad of ['16m', '1h', '-1', '1.5', 'soon']) assert.throws(() => waitDuration(bad), bad);
  });
});
