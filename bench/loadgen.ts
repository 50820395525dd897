/**
 * A closed-loop driver for the in-process floors (services called directly, a Redis client): N workers,
 * each running one flow in a loop for a fixed time, with every operation's latency recorded.
 */

export interface HttpResult {
  status: number;
  body: any;
}

export class Latencies {
  #values: number[] = [];
  add(ms: number) {
    this.#values.push(ms);
  }
  get count() {
    return this.#values.length;
  }
  percentile(p: number): number {
    if (this.#values.length === 0) return Number.NaN;
    const sorted = Float64Array.from(this.#values).sort();
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
  }
}

export interface RunResult {
  seconds: number;
  requests: number;
  flows: number;
  ok: number;
  skipped: number;
  errors: number;
  latency: Latencies;
}

type Flow = (i: number, timed: <T>(p: () => Promise<T>) => Promise<T>) => Promise<'ok' | 'skip' | 'error'>;

/**
 * Run `flow(clientIndex, timed)` in a loop on `clients` concurrent workers for `seconds`, after running it
 * the same way for `warmupSeconds` and discarding what that measured. `timed` wraps a request and records
 * its latency. A flow returns 'ok' | 'skip' | 'error'.
 */
export async function runClosedLoop(clients: number, seconds: number, flow: Flow, warmupSeconds = 0): Promise<RunResult> {
  if (warmupSeconds > 0) await loop(clients, warmupSeconds, flow);
  return loop(clients, seconds, flow);
}

async function loop(clients: number, seconds: number, flow: Flow): Promise<RunResult> {
  const latency = new Latencies();
  const result: RunResult = { seconds, requests: 0, flows: 0, ok: 0, skipped: 0, errors: 0, latency };
  const timed = async <T>(p: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await p();
    latency.add(performance.now() - t0);
    result.requests += 1;
    return r;
  };
  const deadline = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      while (performance.now() < deadline) {
        let outcome: 'ok' | 'skip' | 'error';
        try {
          outcome = await flow(i, timed);
        } catch {
          outcome = 'error';
        }
        result.flows += 1;
        if (outcome === 'ok') result.ok += 1;
        else if (outcome === 'skip') result.skipped += 1;
        else result.errors += 1;
      }
    }),
  );
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}
