/** What a user might pick instead: a Redis lock lifecycle (SET key token NX PX 300000, then DEL). */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { type RunResult, runClosedLoop } from './loadgen.js';

export async function redisLockFloor(clients: number, seconds: number, warmupSeconds = 0): Promise<RunResult | undefined> {
  const url = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const conns = Array.from({ length: Math.min(clients, 32) }, () => new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 }));
  try {
    await Promise.all(conns.map((c) => c.connect()));
  } catch (err) {
    console.log(`redis at ${url} unreachable (${String(err)}): skipping the Redis comparison`);
    for (const c of conns) c.disconnect();
    return undefined;
  }
  const result = await runClosedLoop(
    clients,
    seconds,
    async (i, timed) => {
      const c = conns[i % conns.length]!;
      const key = `availsync-bench:lock:${i}`;
      const ok = await timed(() => c.set(key, randomUUID(), 'PX', 300_000, 'NX'));
      if (ok !== 'OK') return 'skip';
      await timed(() => c.del(key));
      return 'ok';
    },
    warmupSeconds,
  );
  for (const c of conns) c.disconnect();
  return result;
}
