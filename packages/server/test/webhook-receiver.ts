/** A real HTTP receiver for webhook tests: records every delivery; answers with the status a test sets. */
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  json: Record<string, unknown>;
}

export async function startReceiver() {
  const received: Received[] = [];
  let status = 200;
  /** Called for each delivery before it is answered; a test may hold the answer (crash tests). */
  let hold: ((r: Received) => Promise<void>) | undefined;
  const waiters: { n: number; done: () => void }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const r: Received = { headers: req.headers, body, json: JSON.parse(body) as Record<string, unknown> };
      received.push(r);
      for (const w of waiters.filter((w) => received.length >= w.n)) w.done();
      if (hold) await hold(r);
      res.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    received,
    setStatus: (s: number) => {
      status = s;
    },
    setHold: (fn: ((r: Received) => Promise<void>) | undefined) => {
      hold = fn;
    },
    /** Resolves once `n` deliveries have arrived (bounded by the test runner's timeout, not a timed assertion). */
    until(n: number): Promise<void> {
      if (received.length >= n) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ n, done: resolve }));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
export type Receiver = Awaited<ReturnType<typeof startReceiver>>;

/** The check an endpoint makes, as docs/webhooks.md shows it. */
export function verifySignature(secret: string, header: string, body: string): boolean {
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('=') as [string, string]));
  const expected = createHmac('sha256', secret).update(`${parts.t}.${body}`).digest('hex');
  return parts.v1 !== undefined && expected.length === parts.v1.length && timingSafeEqual(Buffer.from(expected), Buffer.from(parts.v1));
}

/** Wait (yielding to I/O) until `cond` holds. */
export async function until(cond: () => boolean | Promise<boolean>, what = 'condition'): Promise<void> {
  for (let i = 0; i < 20_000; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`never: ${what}`);
}
