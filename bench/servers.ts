/** Start and stop real availsync-server processes for the benchmark (built dist + the probe preload). */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

const root = new URL('..', import.meta.url).pathname;
export const PG_ADMIN_URL = process.env.AVAILSYNC_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** This checkout's build, or BENCH_SERVER_MAIN: another build (an earlier commit's) under the same load. */
function defaultMain(): string {
  return process.env.BENCH_SERVER_MAIN ?? join(root, 'packages/server/dist/main.js');
}

export interface Node {
  url: string;
  child: ChildProcess;
  stats(): Promise<{ eventLoopP99Ms: number; eventLoopMaxMs: number; rssMb: number; peakRssMb: number }>;
  resetStats(): void;
  stop(): Promise<void>;
}

/** `main`: another build's server (an earlier commit's `packages/server/dist/main.js`), for comparisons. */
export async function startNode(env: Record<string, string>, main = defaultMain()): Promise<Node> {
  const port = await freePort();
  // BENCH_NODE_ARGS passes flags to the server processes, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, '--import', join(root, 'bench/probe.mjs'), main], {
    cwd: root,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', AVAILSYNC_DEFAULT_PLAN: 'unlimited', ...env },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`server exited: ${stderr}`);
    try {
      const res = await fetch(`${url}/health`);
      if (res.ok) break;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    child,
    stats: () =>
      new Promise((resolve) => {
        child.once('message', (m) => resolve(m as never));
        child.send('stats');
      }),
    resetStats: () => child.send('reset'),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export function tempDataDir(): { dir: string; drop: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'availsync-bench-'));
  return { dir, drop: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function tempDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `avs_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

/** Sign up, create `n` agents; returns their keys. */
export async function setup(url: string, n: number): Promise<string[]> {
  const res = await fetch(`${url}/v1/auth/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: `bench-${randomUUID()}@example.com`, password: 'benchmark-password', workspace_name: 'Bench' }),
  });
  const cookie = /availsync_session=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1];
  const { csrf_token: csrf, workspace } = (await res.json()) as { csrf_token: string; workspace: { id: string } };
  const keys: string[] = [];
  for (let i = 0; i < n; i++) {
    const a = await fetch(`${url}/v1/orgs/${workspace.id}/agents`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: `availsync_session=${cookie}`, 'x-csrf-token': csrf },
      body: JSON.stringify({ name: `bench-${i}` }),
    });
    keys.push(((await a.json()) as { api_key: string }).api_key);
  }
  return keys;
}
