/**
 * Fault-injection scenarios 3, 5 and 6 on PostgreSQL with several real server processes:
 * - three nodes, two of them with their process clock shifted (+1 h, −10 min): no node's own clock may
 *   enter a lease decision;
 * - kill -9 of one node among three while the others serve; a PostgreSQL restart under load (the API
 *   answers 503 with the error envelope, then recovers by itself);
 * - a paused node (SIGSTOP) that may hold a resource's row lock: the others keep deciding.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PG_ENABLED, type Res } from '@availsync/testkit';
import {
  type ApiClient,
  apiClient,
  createTestDatabase,
  killAllServerProcesses,
  prng,
  type ServerProcess,
  startServerProcess,
  type TestDatabase,
} from '../procs.js';
import { type ClaimRow, checkHistory, type FileRow, History } from './history.js';

const SKEW = fileURLToPath(new URL('./skew.mjs', import.meta.url));
const HOUR = 3_600_000;

async function dbNow(db: TestDatabase): Promise<number> {
  const { rows } = await db.pool.query('select (extract(epoch from clock_timestamp()) * 1000)::bigint as now');
  return Number(rows[0].now);
}

async function readRows(db: TestDatabase) {
  const claims = (await db.pool.query('select * from claims')).rows as ClaimRow[];
  const files = (await db.pool.query('select * from file_claims')).rows as FileRow[];
  return { claims, files };
}

interface Node {
  server: ServerProcess;
  api: ApiClient;
  alive: boolean;
}

async function startNode(db: TestDatabase, skewMs: number, env: Record<string, string> = {}): Promise<Node> {
  const server = await startServerProcess({
    databaseUrl: db.url,
    env: { NODE_OPTIONS: `--import=${SKEW}`, AVAILSYNC_TEST_CLOCK_SKEW_MS: String(skewMs), ...env },
  });
  return { server, api: apiClient(server.url), alive: true };
}

/** A client bound to one node that moves to the next live node when its node stops answering. */
async function onSomeNode(nodes: Node[], home: number, call: (api: ApiClient) => Promise<Res>): Promise<Res> {
  let last: unknown;
  for (let i = 0; i < nodes.length * 3; i++) {
    const node = nodes[(home + i) % nodes.length] as Node;
    if (!node.alive) continue;
    try {
      const res = await call(node.api);
      if (res.status < 500) return res;
      last = new Error(`status ${res.status}`);
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw last;
}

/** A mixed workload: start (with retries under the same key), extend, working set, finish. */
async function workload(nodes: Node[], keys: string[], history: History, opts: { seconds: number; seed: number }) {
  const rand = prng(opts.seed);
  const deadline = Date.now() + opts.seconds * 1000;
  await Promise.all(
    keys.map(async (key, p) => {
      while (Date.now() < deadline) {
        const resource = `repo:cluster/hot-${Math.floor(rand() * 4)}`;
        const ikey = randomUUID();
        const body = { resource, duration_minutes: 1 + Math.floor(rand() * 3), preempt: rand() < 0.15 };
        const started = await history
          .run(p, 'start', { resource, idempotencyKey: ikey }, () =>
            onSomeNode(nodes, p, (api) => api.start(key, body, { idempotencyKey: ikey })),
          )
          .catch(() => undefined);
        const claimId = started?.body?.claim?.id as string | undefined;
        if (!claimId) continue;
        if (rand() < 0.5) {
          await history.run(p, 'extend', { claimId }, () =>
            onSomeNode(nodes, p + 1, (api) => api.extend(key, claimId, { duration_minutes: 2 })),
          );
        }
        if (rand() < 0.4) {
          const paths = [['src/', 'src/a.ts', 'src/*.ts', 'docs/**', `own/${p}.ts`][Math.floor(rand() * 5)] as string];
          await history.run(p, 'working-set', { claimId }, () =>
            onSomeNode(nodes, p + 2, (api) =>
              api.request('POST', '/v1/work/run/working-set', { key, body: { claim_id: claimId, resource: 'repo:cluster/mono', paths } }),
            ),
          );
        }
        await history.run(p, 'finish', { claimId }, () => onSomeNode(nodes, p, (api) => api.finish(key, claimId)));
      }
    }),
  );
}

describe('faults: a PostgreSQL cluster of server processes', { skip: !PG_ENABLED && 'PostgreSQL suite skipped' }, () => {
  let db: TestDatabase;
  let nodes: Node[] = [];
  const keys: string[] = [];
  before(async () => {
    db = await createTestDatabase();
    // Node 0 keeps the true clock; node 1 runs an hour ahead, node 2 ten minutes behind.
    nodes = [await startNode(db, 0), await startNode(db, HOUR), await startNode(db, -10 * 60_000)];
    const session = await nodes[0]!.api.signup();
    for (let i = 0; i < 12; i++)
      keys.push((await nodes[i % 3]!.api.createAgent(session, { name: `n${i}`, priority: 100 + (i % 3) * 100 })).key);
  });
  after(async () => {
    await killAllServerProcesses();
    await db?.drop();
  });

  it('skewed process clocks (+1 h, −10 min) never enter a lease decision', async () => {
    const skewed = execFileSync(process.execPath, [`--import=${SKEW}`, '-e', 'process.stdout.write(String(Date.now()))'], {
      env: { ...process.env, AVAILSYNC_TEST_CLOCK_SKEW_MS: String(HOUR) },
    }).toString();
    assert.ok(Number(skewed) - Date.now() > HOUR - 60_000, 'the preload really shifts a process clock');

    const history = new History();
    const t0 = await dbNow(db);
    await workload(nodes, keys, history, { seconds: 8, seed: Number(process.env.FAULT_SEED ?? 3) });
    const t1 = await dbNow(db);
    const { claims, files } = await readRows(db);
    assert.deepEqual(checkHistory(history, claims, files, t1), []);
    assert.ok(claims.length > 20, `${claims.length} claims`);
    for (const c of claims) {
      // Every timestamp comes from the database clock: none is an hour ahead or ten minutes behind.
      assert.ok(Number(c.started_at) >= t0 - 1000 && Number(c.started_at) <= t1 + 1000, `started_at of ${c.id} is off the database clock`);
      if (c.released_at != null) assert.ok(Number(c.released_at) <= t1 + 1000 && Number(c.released_at) >= Number(c.started_at));
      assert.ok(Number(c.expires_at) <= t1 + 10 * 60_000, `expires_at of ${c.id} is off the database clock`);
    }
  });

  it('kill -9 of one node while the others serve: nothing acknowledged is lost', async () => {
    const history = new History();
    const run = workload(nodes, keys, history, { seconds: 6, seed: 11 });
    await new Promise((r) => setTimeout(r, 1500));
    nodes[1]!.alive = false;
    await nodes[1]!.server.kill('SIGKILL');
    await run;
    const { claims, files } = await readRows(db);
    assert.deepEqual(checkHistory(history, claims, files, await dbNow(db)), []);
    assert.ok(history.completions('start', 'proceed').length > 5);
    // Bring the node back for the next scenarios.
    nodes[1] = await startNode(db, HOUR);
  });

  it('a paused node that may hold a row lock does not stop the others (idle transactions are ended)', async () => {
    const a = await startNode(db, 0, { AVAILSYNC_PG_IDLE_TX_TIMEOUT_MS: '1500' });
    const history = new History();
    const resource = 'repo:cluster/paused';
    // A burst of starts on node A, paused mid-flight: some of its transactions may hold the row lock.
    const burst = keys
      .slice(0, 8)
      .map((key, p) =>
        history.run(100 + p, 'start', { resource }, () => a.api.start(key, { resource, duration_minutes: 1 })).catch(() => undefined),
      );
    await new Promise((r) => setImmediate(r));
    a.server.child.kill('SIGSTOP');
    try {
      // Node 0 must still decide on the same resource: PostgreSQL ends A's idle transaction.
      const res = await history.run(0, 'start', { resource }, () => nodes[0]!.api.start(keys[9]!, { resource, duration_minutes: 1 }));
      assert.ok(res && res.status === 200, `node 0 answered ${res?.status}`);
    } finally {
      a.server.child.kill('SIGCONT');
    }
    await Promise.all(burst);
    const { claims, files } = await readRows(db);
    assert.deepEqual(checkHistory(history, claims, files, await dbNow(db)), []);
    // The resumed node serves again by itself.
    const again = await a.api.request('GET', '/health');
    assert.equal(again.status, 200);
    await a.server.stop();
  });

  it('a PostgreSQL restart under load: 503 with the error envelope, then recovery without restarting nodes', async (t) => {
    const version = existsSync('/etc/postgresql') ? readdirSync('/etc/postgresql')[0] : undefined;
    if (!version) {
      t.skip('pg_ctlcluster is not installed here, so PostgreSQL cannot be restarted by the test');
      return;
    }
    if (process.env.AVAILSYNC_TEST_PG_RESTART === '0') {
      t.skip('disabled by AVAILSYNC_TEST_PG_RESTART=0');
      return;
    }
    const history = new History();
    const run = workload(nodes, keys, history, { seconds: 8, seed: 23 });
    const unavailable: Res[] = [];
    const seen = new Map<string, number>();
    let restarting = true;
    const probe = (async () => {
      while (restarting) {
        const res = await nodes[0]!.api.request('GET', '/v1/work/claims?limit=1', { key: keys[0]! }).catch((err: unknown) => String(err));
        const label = typeof res === 'string' ? res.slice(0, 60) : String(res.status);
        seen.set(label, (seen.get(label) ?? 0) + 1);
        if (typeof res !== 'string' && res.status === 503) unavailable.push(res);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await new Promise((r) => setTimeout(r, 1500));
    // Asynchronously: the probe above must keep running while PostgreSQL is down.
    await promisify(execFile)('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'stop', '-m', 'fast']);
    await new Promise((r) => setTimeout(r, 500));
    await promisify(execFile)('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start']);
    await new Promise((r) => setTimeout(r, 1000));
    restarting = false;
    await Promise.all([run, probe]);
    assert.ok(
      unavailable.length > 0,
      `the API said 503 while the database was down (seen: ${JSON.stringify([...seen])}; node 0 stderr: ${nodes[0]!.server.stderr().slice(-3000)})`,
    );
    for (const res of unavailable) {
      assert.equal(res.body.error, 'service_unavailable');
      assert.match(res.body.request_id, /^req_/);
    }
    // Recovered by itself: every node answers again.
    for (const node of nodes) {
      const res = await node.api.start(keys[0]!, { resource: `project:after-restart-${randomUUID()}` });
      assert.equal(res.status, 200);
    }
    const { claims, files } = await readRows(db);
    assert.deepEqual(checkHistory(history, claims, files, await dbNow(db)), []);
  });
});
