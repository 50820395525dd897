/**
 * Fault-injection scenarios 4 and 7 on the embedded store: `kill -9` of the server process at random
 * points, restarted on the same data directory several times, while clients keep working and retry
 * indefinite outcomes with the same idempotency keys. Checked from the history and the SQLite rows.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Res } from '@availsync/testkit';
import Database from 'better-sqlite3';
import { type ApiClient, apiClient, killAllServerProcesses, prng, type ServerProcess, startServerProcess } from '../procs.js';
import { type ClaimRow, checkHistory, type FileRow, History } from './history.js';

const LONG = process.env.STRESS === 'long';
const CRASHES = LONG ? 12 : 4;
const WORKERS = 16;

/** The live server, replaced on every restart; callers wait while it is down. */
class Cluster {
  api!: ApiClient;
  server!: ServerProcess;
  #up: Promise<void> = Promise.resolve();
  #markUp: () => void = () => {};
  constructor(readonly dataDir: string) {}
  async start() {
    this.server = await startServerProcess({ dataDir: this.dataDir });
    this.api = apiClient(this.server.url);
    this.#markUp();
  }
  async crash() {
    this.#up = new Promise((resolve) => {
      this.#markUp = resolve;
    });
    await this.server.kill('SIGKILL');
  }
  up() {
    return this.#up;
  }
}

/** Retry an indefinite outcome (connection refused mid-crash, 5xx) with the same request, as a client would. */
async function withRetries(cluster: Cluster, attempt: () => Promise<Res | undefined>): Promise<Res | undefined> {
  for (let i = 0; i < 20; i++) {
    const res = await attempt();
    if (res && res.status < 500) return res;
    await cluster.up();
  }
  return undefined;
}

function readRows(dir: string) {
  const db = new Database(join(dir, 'availsync.db'), { readonly: true });
  try {
    return {
      claims: db.prepare('select * from claims').all() as ClaimRow[],
      files: db.prepare('select * from file_claims').all() as FileRow[],
    };
  } finally {
    db.close();
  }
}

describe('faults: kill -9 of the embedded-store server', () => {
  const dirs: string[] = [];
  after(async () => {
    await killAllServerProcesses();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it(`${CRASHES} random crashes under load lose no acknowledged answer and never duplicate a retried start`, async () => {
    const seed = Number(process.env.FAULT_SEED ?? Date.now() % 100000);
    const rand = prng(seed);
    const dir = mkdtempSync(join(tmpdir(), 'availsync-crash-'));
    dirs.push(dir);
    const cluster = new Cluster(dir);
    await cluster.start();
    const session = await cluster.api.signup();
    const agents = [];
    for (let i = 0; i < WORKERS; i++) agents.push(await cluster.api.createAgent(session, { name: `w${i}`, priority: 100 + (i % 3) * 100 }));
    const history = new History();
    let running = true;

    const workers = agents.map(async (agent, p) => {
      while (running) {
        const resource = rand() < 0.6 ? `repo:crash/hot-${Math.floor(rand() * 4)}` : `project:crash-${p}-${Math.floor(rand() * 5)}`;
        const key = randomUUID();
        const body = { resource, duration_minutes: 1 + Math.floor(rand() * 3), preempt: rand() < 0.15 };
        const started = await withRetries(cluster, () =>
          history.run(p, 'start', { resource, idempotencyKey: key }, () => cluster.api.start(agent.key, body, { idempotencyKey: key })),
        );
        const claimId = started?.body?.claim?.id as string | undefined;
        if (!claimId) continue;
        if (rand() < 0.5) {
          await withRetries(cluster, () =>
            history.run(p, 'extend', { claimId }, () => cluster.api.extend(agent.key, claimId, { duration_minutes: 2 })),
          );
        }
        if (rand() < 0.15) continue; // abandoned
        await withRetries(cluster, () => history.run(p, 'finish', { claimId }, () => cluster.api.finish(agent.key, claimId)));
      }
    });

    for (let i = 0; i < CRASHES; i++) {
      await new Promise((r) => setTimeout(r, 300 + Math.floor(rand() * 1200)));
      await cluster.crash();
      await cluster.start();
    }
    await new Promise((r) => setTimeout(r, 500));
    running = false;
    await Promise.all(workers);

    const { claims, files } = readRows(dir);
    const violations = checkHistory(history, claims, files, Date.now());
    assert.deepEqual(violations, [], `seed ${seed}`);
    const infos = history.ops.filter((o) => o.type === 'info').length;
    const proceeds = history.completions('start', 'proceed').length;
    assert.ok(infos > 0, 'the crashes interrupted requests');
    assert.ok(proceeds > WORKERS, `liveness: ${proceeds} grants`);

    // After the last crash every acknowledged, unexpired claim is still served as it was acknowledged.
    for (const op of history.completions('start', 'proceed').slice(-5)) {
      const agent = agents[op.process];
      const got = await cluster.api.getClaim(agent?.key ?? '', op.claimId ?? '');
      assert.equal(got.status, 200);
      assert.equal(got.body.claim.fencing_token, op.token);
    }
    await cluster.server.stop();
  });

  it('an idempotency storm across a crash: one claim, and every answer is the same answer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'availsync-storm-'));
    dirs.push(dir);
    const cluster = new Cluster(dir);
    await cluster.start();
    const session = await cluster.api.signup();
    const agent = await cluster.api.createAgent(session, { name: 'storm' });
    const body = { resource: 'repo:storm/crash', duration_minutes: 30, reason: 'nightly' };
    const fire = () =>
      Array.from({ length: 50 }, () => cluster.api.start(agent.key, body, { idempotencyKey: 'nightly-2026-11-23' }).catch(() => undefined));
    const firstWave = fire();
    await Promise.race(firstWave);
    await cluster.crash();
    const before = (await Promise.all(firstWave)).filter((r): r is Res => r !== undefined && r.status === 200);
    await cluster.start();
    const afterCrash = (await Promise.all(fire())) as Res[];
    assert.ok(afterCrash.every((r) => r.status === 200));
    const bodies = new Set([...before, ...afterCrash].map((r) => JSON.stringify(r.body)));
    assert.equal(bodies.size, 1, 'every answer, before and after the crash, is the same');
    assert.equal(afterCrash[0]?.body.action, 'proceed');
    const { claims } = readRows(dir);
    assert.equal(claims.length, 1);
    await cluster.server.stop();
  });
});
