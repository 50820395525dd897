/**
 * What recording activity costs (recording never slows the request it records):
 * - per request: the same in-process request with and without the middleware (its writes included, as
 *   they share the event loop);
 * - the batched writes off the request path: rows per second into `activity_events` (+ the monthly counter).
 */

import { Hono } from 'hono';
import { systemClock } from '../packages/server/src/clock.js';
import { loadConfig } from '../packages/server/src/config.js';
import type { AppEnv } from '../packages/server/src/http/env.js';
import { recordActivity } from '../packages/server/src/http/middleware/activity.js';
import { silentLogger } from '../packages/server/src/logger.js';
import { ActivityRecorder } from '../packages/server/src/services/activity.js';
import type { Principal } from '../packages/server/src/services/context.js';
import { createPostgresStore, createSqliteStore } from '../packages/server/src/storage/store.js';
import { tempDatabase, tempDataDir } from './servers.js';

export interface ActivityCost {
  kind: 'sqlite' | 'postgres';
  plainUs: number;
  recordedUs: number;
  rowsPerSecond: number;
}

export async function activityCost(kind: 'sqlite' | 'postgres', requests = 40_000, rows = 50_000): Promise<ActivityCost> {
  const data = kind === 'sqlite' ? tempDataDir() : undefined;
  const db = kind === 'postgres' ? await tempDatabase() : undefined;
  const store = data
    ? createSqliteStore({ dataDir: data.dir, clock: systemClock })
    : createPostgresStore({ url: db!.url, clock: systemClock });
  await store.migrate();
  const config = loadConfig({ LOG_LEVEL: 'silent' });
  const recorder = new ActivityRecorder({ store, clock: systemClock, logger: silentLogger, config });
  const principal = {
    kind: 'agent',
    org: { id: 'org_bench', plan: 'unlimited' },
    agent: { id: 'agt_bench' },
  } as unknown as Principal;

  const app = new Hono<AppEnv>();
  const auth = async (c: { set: (k: 'principal' | 'requestId', v: never) => void }, next: () => Promise<void>) => {
    c.set('principal', principal as never);
    c.set('requestId', 'req_bench' as never);
    await next();
  };
  const handler = (c: { json: (o: unknown) => Response }) => c.json({ action: 'proceed', claim: { resource: 'repo:bench/app' } });
  app.get('/plain', auth, handler);
  app.get('/recorded', auth, recordActivity(recorder, { method: 'GET', path: '/recorded' }), handler);

  const time = async (path: string, n: number) => {
    const t0 = performance.now();
    // Yield to the event loop after each request, as a real server does between sockets: the recorder's
    // timer and its writes then run inside the measured time, as they would in production.
    for (let i = 0; i < n; i++) {
      await (await app.request(path)).arrayBuffer();
      await new Promise((resolve) => setImmediate(resolve));
    }
    return ((performance.now() - t0) * 1000) / n;
  };
  await time('/plain', 3_000); // warm-up
  await time('/recorded', 3_000);
  // Interleaved rounds, best of each: the JIT and the machine's noise treat both alike.
  let plainUs = Number.POSITIVE_INFINITY;
  let recordedUs = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 8; round++) {
    plainUs = Math.min(plainUs, await time('/plain', requests / 8));
    recordedUs = Math.min(recordedUs, await time('/recorded', requests / 8));
  }
  await recorder.flush();

  for (let i = 0; i < rows; i++) {
    recorder.record({
      org_id: 'org_bench',
      agent_id: 'agt_bench',
      type: 'work',
      method: 'POST',
      route: '/v1/work/run/start',
      status_code: 200,
      action: 'proceed',
      resource: 'repo:bench/app',
      latency_ms: 1.23,
      request_id: 'req_bench',
    });
  }
  const t0 = performance.now();
  await recorder.close();
  const rowsPerSecond = rows / ((performance.now() - t0) / 1000);

  await store.close();
  data?.drop();
  await db?.drop();
  return { kind, plainUs, recordedUs, rowsPerSecond };
}
