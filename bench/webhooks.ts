/**
 * Webhook throughput (issue 18) on the embedded store and PostgreSQL, one endpoint (order per endpoint
 * means it takes one event at a time: this is the per-endpoint ceiling): deliveries/s to a local receiver
 * while a backlog of up to 500 events drains (appended 10 per transaction), then the lag from an event's
 * commit to its arrival (p50/p99) at a steady 50 events/s.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock } from '../packages/server/src/clock.js';
import { loadConfig } from '../packages/server/src/config.js';
import { silentLogger } from '../packages/server/src/logger.js';
import { createAvailsync } from '../packages/server/src/server.js';
import { appendEvents } from '../packages/server/src/storage/queries/events.js';
import { createPostgresStore, createSqliteStore } from '../packages/server/src/storage/store.js';
import { tempDatabase, tempDataDir } from './servers.js';

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};

export async function webhookBench(
  seconds: number,
): Promise<{ name: string; deliveriesPerSecond: number; lagP50: number; lagP99: number }[]> {
  const out = [];
  for (const kind of ['sqlite', 'postgres'] as const) {
    const arrivals: number[] = [];
    const lags: number[] = [];
    const receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const ev = JSON.parse(Buffer.concat(chunks).toString()) as { data: { t: number } };
        const now = performance.now() + performance.timeOrigin;
        arrivals.push(now);
        lags.push(now - ev.data.t);
        res.end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const temp = kind === 'sqlite' ? tempDataDir() : undefined;
    const db = kind === 'postgres' ? await tempDatabase() : undefined;
    const config = {
      ...loadConfig({}),
      webhookAllowPrivate: true,
      secretsKey: Buffer.alloc(32, 1).toString('base64'),
      logLevel: 'silent' as const,
    };
    const store = temp
      ? createSqliteStore({ dataDir: temp.dir, clock: systemClock })
      : createPostgresStore({ url: (db as { url: string }).url, clock: systemClock });
    const app = await createAvailsync({ config, store, clock: systemClock, logger: silentLogger, sweeper: false });
    const orgId = 'org_bench_webhooks';
    const p = { kind: 'user' as const, org: { id: orgId } as never, userId: 'usr_bench', sessionHash: '', role: 'owner' as const };
    await app.services.webhooks.create(p, { url, events: ['*'] });
    // Throughput: a backlog kept at up to 500 events, drained as fast as the endpoint takes them.
    let appended = 0;
    const batch = async (n: number) => {
      const t = performance.now() + performance.timeOrigin;
      await store.transaction((trx) =>
        appendEvents(
          store,
          trx,
          Array.from({ length: n }, () => ({ org_id: orgId, type: 'claim.started', created_at: Date.now(), data: { t } })),
        ),
      );
      appended += n;
    };
    const drain = async () => {
      const deadline = Date.now() + 30_000;
      while (arrivals.length < appended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    };
    let end = Date.now() + seconds * 1000;
    while (Date.now() < end) {
      await batch(10);
      while (appended - arrivals.length > 500) await new Promise((r) => setTimeout(r, 1));
    }
    await drain();
    const first = arrivals[0] ?? 0;
    const last = arrivals.at(-1) ?? first;
    const throughput = Math.round((arrivals.length / Math.max(1, last - first)) * 1000);
    // Lag: commit to arrival at a steady 50 events/s (5 every 100 ms), below the endpoint's ceiling.
    lags.length = 0;
    end = Date.now() + seconds * 1000;
    while (Date.now() < end) {
      await batch(5);
      await new Promise((r) => setTimeout(r, 100));
    }
    await drain();
    const row = {
      name: `webhooks ${kind === 'sqlite' ? 'sqlite' : 'pg1'} one endpoint`,
      deliveriesPerSecond: throughput,
      lagP50: Math.round(pct(lags, 50) * 10) / 10,
      lagP99: Math.round(pct(lags, 99) * 10) / 10,
      lagAtEventsPerSecond: 50,
      delivered: `${arrivals.length}/${appended}`,
    };
    console.log(JSON.stringify(row));
    out.push(row);
    await app.close();
    receiver.closeAllConnections();
    await new Promise<void>((r) => receiver.close(() => r()));
    temp?.drop();
    await db?.drop();
  }
  return out;
}
