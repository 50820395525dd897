/**
 * BENCH_ONLY=handoff: the wait queue's hand-off. A holder finishes while another agent waits
 * (`wait_seconds`); the latency is from sending the finish to the waiter's `proceed` answer (the finish's
 * own round trip included: an upper bound). One node (SQLite, PostgreSQL) and two PostgreSQL nodes (holder
 * on one, waiter on the other: the claim's end reaches the waiter by NOTIFY).
 */
import { type Node, setup, startNode, tempDatabase, tempDataDir } from './servers.js';

const post = async (url: string, key: string, path: string, body: unknown) => {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return (await res.json()) as { action: string; claim?: { id: string } };
};

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

/** `rounds` hand-offs between two agents, the holder on `holderNode`, the waiter on `waiterNode`. */
async function handoffs(holderNode: Node, waiterNode: Node, keys: string[], rounds: number): Promise<number[]> {
  const resource = `repo:bench/handoff-${Date.now()}`;
  const lat: number[] = [];
  let [holder, waiter] = keys as [string, string];
  let [hNode, wNode] = [holderNode, waiterNode];
  let held = await post(hNode.url, holder, '/v1/work/run/start', { resource });
  for (let i = 0; i < rounds; i++) {
    const pending = post(wNode.url, waiter, '/v1/work/run/start', { resource, wait_seconds: 30 });
    // Let the waiter join the queue (its request is decided and committed well within this).
    await new Promise((r) => setTimeout(r, 15));
    const t0 = performance.now();
    await post(hNode.url, holder, '/v1/work/run/finish', { claim_id: held.claim?.id });
    const got = await pending;
    lat.push(performance.now() - t0);
    if (got.action !== 'proceed') throw new Error(`hand-off ${i}: ${JSON.stringify(got)}`);
    held = got;
    [holder, waiter] = [waiter, holder];
    [hNode, wNode] = [wNode, hNode];
  }
  return lat;
}

export async function handoffBench(rounds = Number(process.env.BENCH_HANDOFF_ROUNDS ?? 200)): Promise<void> {
  const report = (name: string, lat: number[]) =>
    console.log(`hand-off ${name}: p50 ${pct(lat, 50).toFixed(2)} ms, p99 ${pct(lat, 99).toFixed(2)} ms (${lat.length} hand-offs)`);

  const data = tempDataDir();
  const sqlite = await startNode({ AVAILSYNC_DATA_DIR: data.dir });
  try {
    report('sqlite, one node', await handoffs(sqlite, sqlite, await setup(sqlite.url, 2), rounds));
  } finally {
    await sqlite.stop();
    data.drop();
  }

  const db = await tempDatabase();
  const [a, b] = [await startNode({ DATABASE_URL: db.url }), await startNode({ DATABASE_URL: db.url })];
  try {
    const keys = await setup(a.url, 2);
    report('postgres, one node', await handoffs(a, a, keys, rounds));
    report('postgres, across two nodes', await handoffs(a, b, keys, rounds));
  } finally {
    await Promise.all([a.stop(), b.stop()]);
    await db.drop();
  }
}
