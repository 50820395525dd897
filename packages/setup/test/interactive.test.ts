/**
 * The interactive path: the real bin on a pseudo-terminal (util-linux `script`), answering the clack
 * prompts as a person would: the key (masked), then the detected clients (Enter accepts them).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type LiveServer, startServer } from '@availsync/testkit';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const BIN = join(ROOT, 'packages/setup/src/bin.ts');
const TSX = import.meta.resolve('tsx');
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

describe('availsync-setup on a terminal (clack prompts)', () => {
  let t: LiveServer;
  before(async () => {
    t = await startServer('sqlite');
  });
  after(async () => {
    await t.close();
  });

  it('asks for the key without echoing it, offers the detected clients, and configures them', async () => {
    const ws = await t.workspace({ name: 'terminal' });
    const home = mkdtempSync(join(tmpdir(), 'availsync-tty-home-'));
    mkdirSync(join(home, '.cursor'));
    // A pty started by `script` from a pipe has no size; clack wraps at the terminal width.
    const cmd = `stty cols 120 rows 40; exec ${[process.execPath, '--conditions=source', '--import', TSX, BIN].map(quote).join(' ')}`;
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], {
      cwd: home,
      env: { PATH: process.env.PATH, HOME: home, TERM: 'xterm', AVAILSYNC_API_URL: t.url, COLUMNS: '120', LINES: '40' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    const waiters: { re: RegExp; resolve: () => void }[] = [];
    const onData = (d: Buffer) => {
      out += String(d);
      for (const w of [...waiters]) {
        if (w.re.test(out)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const waitFor = (re: RegExp) =>
      Promise.race([
        new Promise<void>((resolve) => {
          if (re.test(out)) resolve();
          else waiters.push({ re, resolve });
        }),
        exited.then(() => {
          if (!re.test(out)) throw new Error(`exited before ${re}:\n${out}`);
        }),
      ]);

    await waitFor(/Agent API key/);
    child.stdin.write(`${ws.agent.key}\r`);
    await waitFor(/Connect which coding agents\?/);
    child.stdin.write('\r');
    assert.equal(await exited, 0, out);
    assert.match(out, /Key OK \(avs_live_\w{4}…\w{4}\): agent terminal/);
    assert.ok(!out.includes(ws.agent.key), 'the key is never echoed');
    const cursor = JSON.parse(readFileSync(join(home, '.cursor', 'mcp.json'), 'utf8'));
    assert.deepEqual(cursor.mcpServers.availsync, { url: `${t.url}/mcp`, headers: { Authorization: `Bearer ${ws.agent.key}` } });
  });
});
