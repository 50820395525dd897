/** Run the `availsync` CLI from source as a real process (tsx, `source` condition), and collect its output. */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root folder. */
export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
export const BIN = join(ROOT, 'packages/cli/src/bin.ts');
const TSX = import.meta.resolve('tsx');
export const NODE_ARGS = ['--conditions=source', '--import', TSX];

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The environment a CLI run sees: only what the test gives it (plus PATH). */
export function cliEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  // The test servers run on a ManualClock: a hook's queue wait would only end when a test advances it.
  return { PATH: process.env.PATH, HOME: process.env.HOME, AVAILSYNC_HOOK_WAIT: '0', ...extra };
}

export function startCli(args: string[], env: NodeJS.ProcessEnv, cwd = ROOT) {
  const child = spawn(process.execPath, [...NODE_ARGS, BIN, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const listeners: (() => void)[] = [];
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    for (const l of listeners) l();
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    for (const l of listeners) l();
  });
  const done = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return {
    child: child as ChildProcess,
    done,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    /** Resolves once stdout or stderr matches (checked on each chunk, no polling). */
    waitFor(pattern: RegExp, stream: 'stdout' | 'stderr' = 'stdout'): Promise<RegExpExecArray> {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(stream === 'stdout' ? stdout : stderr);
          if (m) {
            listeners.splice(listeners.indexOf(check), 1);
            resolve(m);
          }
        };
        listeners.push(check);
        check();
        void done.then(() => {
          const m = pattern.exec(stream === 'stdout' ? stdout : stderr);
          if (m) resolve(m);
          else reject(new Error(`CLI exited before ${pattern} appeared.\nstdout: ${stdout}\nstderr: ${stderr}`));
        });
      });
    },
  };
}

export function cli(args: string[], env: NodeJS.ProcessEnv, cwd = ROOT): Promise<CliResult> {
  return startCli(args, env, cwd).done;
}

/** A temp dir with an `availsync` shim on PATH, as an installed CLI would be. */
export function shimDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'availsync-cli-'));
  const shim = join(dir, 'availsync');
  writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" ${NODE_ARGS.map((a) => `"${a}"`).join(' ')} "${BIN}" "$@"\n`);
  chmodSync(shim, 0o755);
  return dir;
}

/** `node -e <script>` as a command for `availsync run ... -- <command>`. */
export const nodeCmd = (script: string) => [process.execPath, '-e', script];
