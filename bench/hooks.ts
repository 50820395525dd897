/**
 * The Claude Code hook decision: over HTTP (`POST /v1/hooks/claude-code`, as an http hook sends it) and as
 * the command hook Claude Code runs (`availsync hook claude`, a new process per call: node start-up, git
 * look-ups, one HTTP call). Each client is its own agent and session in `files` scope, claiming a rotating
 * set of files of one repository: the working-set path after the session's run has started.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunResult, runClosedLoop } from './loadgen.js';
import { setup, startNode, tempDataDir } from './servers.js';

const root = new URL('..', import.meta.url).pathname;
const BIN = join(root, 'packages/cli/dist/bin.js');

function repo(): string {
  const dir = mkdtempSync(join(tmpdir(), 'availsync-bench-hooks-'));
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, stdio: 'ignore' });
  git('init', '-q', '-b', 'main');
  git('remote', 'add', 'origin', 'git@github.com:bench/hooks.git');
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src', 'a.ts'), '');
  return dir;
}

const payload = (dir: string, client: number, n: number) =>
  JSON.stringify({
    session_id: `bench-${client}`,
    cwd: dir,
    hook_event_name: 'PreToolUse',
    tool_name: 'Edit',
    // Each client its own files: the decision, not a conflict, is measured.
    tool_input: { file_path: join(dir, `src/c${client}/f${n % 40}.ts`), old_string: 'a', new_string: 'b' },
  });

const allowed = (text: string) => text.includes('"permissionDecision":"allow"');

function commandHook(key: string, url: string, dir: string, input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'hook', 'claude', '--scope', 'files'], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, AVAILSYNC_API_KEY: key, AVAILSYNC_API_URL: url },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.on('error', reject);
    child.on('close', () => resolve(out));
    child.stdin.end(input);
  });
}

export async function hookBench(seconds: number, warmup: number): Promise<{ name: string; clients: number; result: RunResult }[]> {
  const data = tempDataDir();
  const node = await startNode({ AVAILSYNC_DATA_DIR: data.dir });
  const dir = repo();
  const out: { name: string; clients: number; result: RunResult }[] = [];
  try {
    for (const clients of [1, 8]) {
      const keys = await setup(node.url, clients);
      let n = 0;
      const http = await runClosedLoop(
        clients,
        seconds,
        async (i, timed) => {
          const text = await timed(async () => {
            const res = await fetch(`${node.url}/v1/hooks/claude-code`, {
              method: 'POST',
              headers: {
                authorization: `Bearer ${keys[i]}`,
                'content-type': 'application/json',
                'x-availsync-resource': 'repo:bench/hooks',
                'x-availsync-project-dir': dir,
                'x-availsync-scope': 'files',
              },
              body: payload(dir, i, n++),
            });
            return res.text();
          });
          return allowed(text) ? 'ok' : 'error';
        },
        warmup,
      );
      out.push({ name: 'sqlite claude-code hook over HTTP', clients, result: http });
      const command = await runClosedLoop(
        clients,
        seconds,
        async (i, timed) =>
          allowed(await timed(() => commandHook(keys[i] as string, node.url, dir, payload(dir, i, n++)))) ? 'ok' : 'error',
        Math.min(warmup, 1),
      );
      out.push({ name: 'sqlite claude-code command hook (a process per call)', clients, result: command });
    }
  } finally {
    await node.stop();
    data.drop();
  }
  return out;
}
