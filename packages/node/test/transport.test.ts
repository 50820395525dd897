/**
 * The transport against a scripted HTTP server: which failures are retried (and which never are), the
 * same Idempotency-Key on every retry, backoff and Retry-After, timeouts, the caller's AbortSignal,
 * network errors, and errors that never carry the key. Waits are observed through `onRetry`, never timed.
 */
import assert from 'node:assert/strict';
import { after, afterEach, beforeEach, describe, it, mock } from 'node:test';
import { inspect } from 'node:util';
import { aborted, deferred, fakeClaim, json, MIN, scriptedServer } from '@availsync/testkit';
import { Transport } from '../src/http.js';
import { AvailsyncError, createAvailsyncClient, type FetchLike, type RetryInfo } from '../src/index.js';

const KEY = `avs_live_${'K'.repeat(43)}`;
const servers: { close(): Promise<void> }[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function scripted(script: Parameters<typeof scriptedServer>[0]) {
  const s = await scriptedServer(script);
  servers.push(s);
  return s;
}

function client(url: string, extra: Record<string, unknown> = {}) {
  const retries: RetryInfo[] = [];
  const c = createAvailsyncClient({
    apiKey: KEY,
    agentId: 'agt_scripted',
    baseUrl: url,
    retryBaseDelayMs: 1,
    retryMaxDelayMs: 4,
    onRetry: (info) => retries.push(info),
    ...extra,
  });
  return { c, retries };
}

const errorBody = (error: string, message = 'scripted') => ({ error, message, request_id: 'req_scripted' });

function noKeyIn(err: unknown) {
  for (const text of [JSON.stringify(err), inspect(err, { depth: 10, showHidden: true }), String(err), (err as Error).stack ?? '']) {
    assert.ok(!text.includes(KEY), `the key leaked into: ${text.slice(0, 200)}`);
  }
}

describe('transport: retries only where safe', () => {
  it('start: 503 then 200 is retried with the same generated Idempotency-Key', async () => {
    const s = await scripted((_req, res, i) => {
      if (i === 0) return json(res, 503, errorBody('service_unavailable'));
      json(res, 200, { action: 'proceed', mode: 'enforce', claim: fakeClaim(), retry_after: null });
    });
    const { c, retries } = client(s.url);
    const started = await c.work.start({ resource: 'repo:owner/repo' });
    assert.equal(started.action, 'proceed');
    assert.equal(s.requests.length, 2);
    const [k1, k2] = s.requests.map((r) => r.headers['idempotency-key']);
    assert.match(String(k1), /^avs-node-[0-9a-f-]{36}$/);
    assert.equal(k2, k1, 'the retry reuses the key, so a replay cannot create a second claim');
    assert.equal(s.requests[0]?.headers.authorization, `Bearer ${KEY}`);
    assert.deepEqual(JSON.parse(s.requests[0]?.body ?? '{}'), { agent_id: 'agt_scripted', resource: 'repo:owner/repo' });
    assert.equal(retries.length, 1);
    assert.equal(retries[0]?.fromRetryAfter, false);
  });

  it('a caller-given idempotencyKey is sent unchanged on every attempt', async () => {
    const s = await scripted((_req, res, i) => {
      if (i < 2) return json(res, 500, errorBody('internal_error'));
      json(res, 201, { hold: { id: 'hld_1' } });
    });
    const { c } = client(s.url);
    await c.holds.create({
      resource: 'release:prod',
      startAt: new Date(0),
      endAt: '1970-01-01T01:00:00.000Z',
      idempotencyKey: 'nightly-1',
    });
    assert.deepEqual(
      s.requests.map((r) => r.headers['idempotency-key']),
      ['nightly-1', 'nightly-1', 'nightly-1'],
    );
    assert.deepEqual(JSON.parse(s.requests[0]?.body ?? '{}'), {
      agent_id: 'agt_scripted',
      resource: 'release:prod',
      start_at: '1970-01-01T00:00:00.000Z',
      end_at: '1970-01-01T01:00:00.000Z',
    });
  });

  it('gives up after maxRetries and throws the last error', async () => {
    const s = await scripted((_req, res) => json(res, 502, errorBody('internal_error', 'bad gateway')));
    const { c, retries } = client(s.url, { maxRetries: 3 });
    const err = await c.agent.me().catch((e: unknown) => e);
    assert.ok(err instanceof AvailsyncError);
    assert.equal(err.kind, 'api');
    assert.equal(err.status, 502);
    assert.equal(s.requests.length, 4);
    assert.deepEqual(
      retries.map((r) => r.attempt),
      [1, 2, 3],
    );
    for (const r of retries) {
      const ceiling = Math.min(4, 2 ** (r.attempt - 1));
      assert.ok(r.delayMs >= ceiling / 2 - 1 && r.delayMs <= ceiling, `jittered backoff within its ceiling: ${r.delayMs} <= ${ceiling}`);
    }
  });

  it('a POST without an Idempotency-Key that is not idempotent is never retried on 5xx or network errors', async () => {
    const s = await scripted((_req, res) => json(res, 503, errorBody('service_unavailable')));
    const transport = new Transport({
      apiKey: KEY,
      baseUrl: s.url,
      timeoutMs: 1000,
      maxRetries: 3,
      fetch: globalThis.fetch as unknown as FetchLike,
      retryBaseDelayMs: 1,
      retryMaxDelayMs: 2,
      maxRetryAfterMs: 1000,
    });
    const err = await transport.request({ method: 'POST', path: '/v1/thing', body: {}, idempotent: false }).catch((e: unknown) => e);
    assert.ok(err instanceof AvailsyncError);
    assert.equal(err.status, 503);
    assert.equal(s.requests.length, 1);
    assert.equal(s.requests[0]?.headers['idempotency-key'], undefined);
  });

  it('4xx answers are not retried', async () => {
    const s = await scripted((_req, res) =>
      json(res, 402, {
        ...errorBody('plan_limit_reached', 'The free plan allows 3 active claims'),
        details: { limit: 'active_claims', current: 3, max: 3, plan: 'free' },
      }),
    );
    const { c } = client(s.url);
    const err = await c.work.start({ resource: 'repo:owner/repo' }).catch((e: unknown) => e);
    assert.ok(err instanceof AvailsyncError);
    assert.equal(err.kind, 'plan_limit');
    assert.equal(err.code, 'plan_limit_reached');
    assert.equal(err.details?.limit, 'active_claims');
    assert.equal(err.requestId, 'req_scripted');
    assert.equal(s.requests.length, 1);
  });

  it('429 honours Retry-After in seconds and as an HTTP date', async () => {
    const s = await scripted((_req, res, i) => {
      if (i === 0) return json(res, 429, errorBody('rate_limited'), { 'retry-after': '1' });
      if (i === 1) return json(res, 429, errorBody('rate_limited'), { 'retry-after': new Date(Date.now() - 1000).toUTCString() });
      json(res, 200, { data: [], pagination: { limit: 50, offset: 0, total: 0, has_more: false } });
    });
    const { c, retries } = client(s.url);
    const list = await c.work.list();
    assert.equal(list.pagination.total, 0);
    assert.deepEqual(
      retries.map((r) => [r.delayMs, r.fromRetryAfter, r.error.kind]),
      [
        [1000, true, 'rate_limit'],
        [0, true, 'rate_limit'],
      ],
    );
  });

  it('a Retry-After longer than maxRetryAfterMs is not waited for: the error says how long', async () => {
    const s = await scripted((_req, res) => json(res, 429, errorBody('rate_limited'), { 'retry-after': '120' }));
    const { c, retries } = client(s.url);
    const err = await c.agent.me().catch((e: unknown) => e);
    assert.ok(err instanceof AvailsyncError);
    assert.equal(err.kind, 'rate_limit');
    assert.equal(err.retryAfterMs, 120_000);
    assert.equal(retries.length, 0);
    assert.equal(s.requests.length, 1);
  });

  it('timeouts: each attempt is bounded by timeoutMs, retried on idempotent calls, then kind timeout', async () => {
    const s = await scripted(() => {
      /* never answers */
    });
    const { c, retries } = client(s.url, { timeoutMs: 50, maxRetries: 1 });
    const err = await c.work.get('clm_1').catch((e: unknown) => e);
    assert.ok(err instanceof AvailsyncError);
    assert.equal(err.kind, 'timeout');
    assert.equal(err.code, 'timeout');
    assert.equal(err.status, null);
    assert.equal(retries.length, 1, 'one retry after the first attempt timed out');
    // The retried attempt may itself time out before the server has read it on a loaded machine, so the
    // server's count is at least one; the retry itself is proven above.
    assert.ok(s.requests.length >= 1);
    noKeyIn(err);
  });

  it('a per-call timeoutMs overrides the client default', async () => {
    const s = await scripted(() => {});
    const { c } = client(s.url, { maxRetries: 0 });
    const err = await c.agent.me({ timeoutMs: 30 }).catch((e: unknown) => e);
    assert.ok(err instanceof AvailsyncError && err.kind === 'timeout');
  });

  for (const timeoutMs of [0, Number.POSITIVE_INFINITY]) {
    it(`timeoutMs ${timeoutMs} means no timeout: a slow answer still arrives`, async () => {
      const s = await scripted((_req, res) => {
        setTimeout(() => json(res, 200, { action: 'finished', claim: fakeClaim({ status: 'released' }) }), 100);
      });
      const { c, retries } = client(s.url, { timeoutMs, maxRetries: 0 });
      const done = await c.work.finish('clm_scripted', { outcome: 'finished' });
      assert.equal(done.action, 'finished');
      assert.equal(retries.length, 0);
      assert.equal(s.requests.length, 1);
    });
  }

  it('the default timeout is 30 s', async () => {
    const { DEFAULT_TIMEOUT_MS } = await import('../src/index.js');
    assert.equal(DEFAULT_TIMEOUT_MS, 30_000);
  });

  it("the caller's AbortSignal cancels the call and its retries, rejecting with the signal's reason", async () => {
    const s = await scripted(() => {});
    const { c, retries } = client(s.url);
    const controller = new AbortController();
    const call = c.work.list({}, { signal: controller.signal });
    // Abort once the request has reached the server.
    while (s.requests.length === 0) await new Promise((r) => setImmediate(r));
    const reason = new Error('operator cancelled');
    controller.abort(reason);
    await assert.rejects(call, (e) => e === reason);
    assert.equal(retries.length, 0);
    const pre = new AbortController();
    pre.abort();
    await assert.rejects(c.agent.me({ signal: pre.signal }), (e: unknown) => (e as Error).name === 'AbortError');
  });

  it('network errors: a dropped connection is retried on idempotent calls; kind network, never the key', async () => {
    const s = await scripted((_req, res, i) => {
      if (i === 0) {
        res.socket?.destroy();
        return;
      }
      json(res, 200, { action: 'finished', claim: fakeClaim({ status: 'released' }) });
    });
    const { c, retries } = client(s.url);
    const done = await c.work.finish('clm_scripted', { outcome: 'finished' });
    assert.equal(done.action, 'finished');
    assert.equal(retries[0]?.error.kind, 'network');

    const closed = await scriptedServer(() => {});
    await closed.close();
    const { c: nothere } = client(closed.url, { maxRetries: 1 });
    const err = await nothere.agent.me().catch((e: unknown) => e);
    assert.ok(err instanceof AvailsyncError);
    assert.equal(err.kind, 'network');
    assert.equal(err.code, 'network_error');
    assert.ok(err.message.startsWith(`Could not reach Availsync at ${closed.url}`));
    assert.match(err.message, /ECONNREFUSED/);
    noKeyIn(err);
  });

  it('a custom fetch whose error echoes the key: the key is scrubbed from the error', async () => {
    const leaky: FetchLike = async (_url, init) => {
      throw new Error(`proxy refused request with headers ${JSON.stringify(init.headers)}`);
    };
    const c = createAvailsyncClient({ apiKey: KEY, baseUrl: 'http://127.0.0.1:9', fetch: leaky, maxRetries: 0 });
    const err = await c.agent.me().catch((e: unknown) => e);
    assert.ok(err instanceof AvailsyncError && err.kind === 'network');
    noKeyIn(err);
    assert.match(err.message, /\[redacted api key\]/);
  });

  it('non-JSON error pages (a proxy) become kind api with code http_<status>', async () => {
    const s = await scripted((_req, res) => {
      res.writeHead(418, { 'content-type': 'text/html' });
      res.end('<html><body>I am a teapot</body></html>');
    });
    const { c } = client(s.url);
    const err = await c.agent.me().catch((e: unknown) => e);
    assert.ok(err instanceof AvailsyncError);
    assert.equal(err.code, 'http_418');
    assert.equal(err.kind, 'api');
    assert.match(err.message, /teapot/);
  });

  it('a 2xx that is not JSON is an invalid_response error, not a crash', async () => {
    const s = await scripted((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>login page</html>');
    });
    const { c } = client(s.url);
    const err = await c.agent.me().catch((e: unknown) => e);
    assert.ok(err instanceof AvailsyncError);
    assert.equal(err.code, 'invalid_response');
  });

  it('sends a User-Agent and query parameters; camelCase options become snake_case fields', async () => {
    const s = await scripted((req, res) => {
      if (req.url.startsWith('/v1/availability')) {
        return json(res, 200, { resource: 'release:prod', from: 'a', to: 'b', busy: [], free: [], first_free_slot: null });
      }
      json(res, 200, { ok: true });
    });
    const { c } = client(s.url);
    await c.availability.get({ resource: 'release:prod', from: new Date(0), durationMinutes: 30 });
    await c.activity.reportUsage({ claimId: 'clm_1', model: 'gpt-5-codex', inputTokens: 10, outputTokens: 20, costUsd: 0.01 });
    await c.conflicts.check({ resource: 'release:prod', startAt: '2030-01-01T00:00:00.000Z', endAt: '2030-01-01T01:00:00.000Z' });
    await c.mcp.heartbeat({ client: 'availsync-mcp', version: '0.1.0' });
    await c.work.updateWorkingSet('clm_1', { paths: ['src/'], leaseSeconds: 600, mode: 'review', op: 'add' });
    await c.holds.list({ resource: 'release:prod', status: 'active' });
    const [avail, usage, conflicts, heartbeat, ws, holds] = s.requests;
    assert.match(String(avail?.headers['user-agent']), /^availsync-node\/\d+\.\d+\.\d+ node\/v/);
    assert.equal(avail?.url, '/v1/availability?resource=release%3Aprod&from=1970-01-01T00%3A00%3A00.000Z&duration_minutes=30');
    assert.deepEqual(JSON.parse(usage?.body ?? ''), {
      claim_id: 'clm_1',
      model: 'gpt-5-codex',
      input_tokens: 10,
      output_tokens: 20,
      cost_usd: 0.01,
    });
    assert.deepEqual(JSON.parse(conflicts?.body ?? ''), {
      resource: 'release:prod',
      start_at: '2030-01-01T00:00:00.000Z',
      end_at: '2030-01-01T01:00:00.000Z',
    });
    assert.equal(heartbeat?.url, '/v1/mcp/heartbeat');
    assert.deepEqual(JSON.parse(ws?.body ?? ''), { claim_id: 'clm_1', paths: ['src/'], mode: 'review', lease_seconds: 600, op: 'add' });
    assert.equal(holds?.url, '/v1/holds?resource=release%3Aprod&status=active');
  });
});

/**
 * The lease's timers on a mocked clock (node:test mock timers for setTimeout and Date) with an in-process
 * fetch, so no answer waits on a socket and nothing depends on how fast this machine runs: the test moves
 * time and then lets the SDK's promise chains settle.
 */
describe('withClaim lease loss without an answer from the server', () => {
  const T0 = Date.parse('2026-11-24T09:00:00.000Z');
  const LEASE_MS = 2 * MIN;
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T0 }));
  afterEach(() => mock.timers.reset());

  /** Every promise reaction queued so far runs (setImmediate is not mocked; the fetch double does no I/O). */
  const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

  /** A FetchLike answering from `answer(path)` at once, recording each path with the mocked time it arrived. */
  function inProcess(answer: (path: string) => { status: number; body: unknown }) {
    const calls: { path: string; at: number }[] = [];
    const fetch: FetchLike = async (url) => {
      const path = new URL(url).pathname;
      calls.push({ path, at: Date.now() });
      const { status, body } = answer(path);
      return { status, headers: new Headers({ 'content-type': 'application/json' }), text: async () => JSON.stringify(body) };
    };
    return { fetch, calls, extends: () => calls.filter((c) => c.path === '/v1/work/run/extend') };
  }

  const started = () => {
    const now = Date.now();
    const claim = fakeClaim({ started_at: new Date(now).toISOString(), expires_at: new Date(now + LEASE_MS).toISOString() });
    return { action: 'proceed', mode: 'enforce', claim, retry_after: null };
  };

  it("extends failing past the lease's end abort the signal (lease_lost, status expired)", async () => {
    const START_LATENCY = 5_000;
    const api = inProcess((path) => {
      if (path === '/v1/work/run/start') {
        mock.timers.tick(START_LATENCY); // a slow answer: the lease was granted 5 s after start was sent
        return { status: 200, body: started() };
      }
      if (path === '/v1/work/run/extend') return { status: 503, body: errorBody('service_unavailable') };
      return { status: 200, body: { action: 'finished', claim: fakeClaim({ status: 'released' }) } };
    });
    const { c } = client('http://availsync.test', { fetch: api.fetch, maxRetries: 0 });
    let abortedAt = 0;
    const run = c.work.withClaim('repo:owner/repo', { autoExtendIntervalMs: 25_000 }, async ({ signal }) => {
      const reason = await aborted(signal);
      abortedAt = Date.now();
      return reason;
    });
    await settle();
    for (let i = 1; i <= 4; i++) {
      mock.timers.tick(25_000);
      await settle();
      assert.equal(api.extends().length, i, `extend ${i} was sent ${i * 25} s after the answer`);
      assert.equal(abortedAt, 0, 'the lease still has time left, so the signal is not aborted');
    }
    mock.timers.tick(LEASE_MS - START_LATENCY - 4 * 25_000 - 1);
    await settle();
    assert.equal(abortedAt, 0, '1 ms before the lease ends the signal is not aborted');
    mock.timers.tick(1);
    await settle();
    assert.equal(abortedAt, T0 + LEASE_MS, "aborted at the lease's end measured from when start was sent, never later than the server's");
    const result = await run;
    assert.ok(result.action === 'proceed');
    const reason = result.result as AvailsyncError;
    assert.ok(reason instanceof AvailsyncError);
    assert.equal(reason.code, 'lease_lost');
    assert.equal(reason.details?.status, 'expired');
    assert.equal(result.leaseLost, reason);
    assert.ok(result.autoExtendError instanceof AvailsyncError, 'the failed extends are reported beside the result');
    assert.equal(result.autoExtendError.status, 503);
    assert.equal(reason.cause, result.autoExtendError, 'the loss carries the last extend error as its cause');
    assert.deepEqual(
      api.extends().map((e) => e.at - T0),
      [30_000, 55_000, 80_000, 105_000],
      'one extend every interval, chained after the last one failed, and none after the loss',
    );
    const finish = api.calls.at(-1);
    assert.equal(finish?.path, '/v1/work/run/finish');
  });

  it("autoExtendIntervalMs 'auto' extends every half of the lease the server granted", async () => {
    let renewals = 0;
    const api = inProcess((path) => {
      if (path === '/v1/work/run/start') return { status: 200, body: started() };
      if (path === '/v1/work/run/extend') {
        renewals += 1;
        const now = Date.now();
        const claim = fakeClaim({
          renewal_count: renewals,
          started_at: new Date(T0).toISOString(),
          expires_at: new Date(now + LEASE_MS).toISOString(),
        });
        return { status: 200, body: { action: 'extended', claim } };
      }
      return { status: 200, body: { action: 'finished', claim: fakeClaim({ status: 'released' }) } };
    });
    const { c } = client('http://availsync.test', { fetch: api.fetch });
    const done = deferred();
    const run = c.work.withClaim('repo:owner/repo', { autoExtendIntervalMs: 'auto' }, async ({ claim, signal }) => {
      await Promise.race([done.promise, aborted(signal)]);
      return { renewals: claim?.current.renewal_count, lost: signal.aborted };
    });
    await settle();
    mock.timers.tick(LEASE_MS / 2 - 1);
    await settle();
    assert.equal(api.extends().length, 0, 'no extend before half of the 2-minute lease');
    mock.timers.tick(1);
    await settle();
    assert.deepEqual(
      api.extends().map((e) => e.at - T0),
      [LEASE_MS / 2],
      'the first extend at half the granted lease',
    );
    mock.timers.tick(LEASE_MS / 2);
    await settle();
    mock.timers.tick(LEASE_MS / 2);
    await settle();
    assert.deepEqual(
      api.extends().map((e) => e.at - T0),
      [LEASE_MS / 2, LEASE_MS, (3 * LEASE_MS) / 2],
      'then every half lease, well past the first lease end, with the lease kept alive',
    );
    done.resolve();
    const result = await run;
    assert.ok(result.action === 'proceed');
    assert.deepEqual(result.result, { renewals: 3, lost: false });
    assert.equal(result.leaseLost, undefined);
  });
});

describe('withClaim timers', () => {
  it('leaves no timer running once it returns (every timer it set fired or was cleared)', async () => {
    const s = await scripted((req, res) => {
      if (req.url === '/v1/work/run/start')
        return json(res, 200, { action: 'proceed', mode: 'enforce', claim: fakeClaim(), retry_after: null });
      if (req.url === '/v1/work/run/extend') return json(res, 200, { action: 'extended', claim: fakeClaim({ renewal_count: 1 }) });
      json(res, 200, { action: 'finished', claim: fakeClaim({ status: 'released' }) });
    });
    const { c } = client(s.url);
    const live = new Set<unknown>();
    let tracked = 0;
    const realSet = globalThis.setTimeout;
    const realClear = globalThis.clearTimeout;
    const ours = () => /packages[\\/]node[\\/]src/.test(new Error().stack ?? '');
    globalThis.setTimeout = ((fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      const track = ours();
      const handle: unknown = realSet(
        (...a: unknown[]) => {
          live.delete(handle);
          fn(...a);
        },
        ms,
        ...args,
      );
      if (track) {
        live.add(handle);
        tracked += 1;
      }
      return handle;
    }) as typeof setTimeout;
    globalThis.clearTimeout = ((h: Parameters<typeof clearTimeout>[0]) => {
      live.delete(h);
      realClear(h);
    }) as typeof clearTimeout;
    let extendsSeen = 0;
    try {
      const result = await c.work.withClaim('repo:owner/repo', { durationMinutes: 30, autoExtendIntervalMs: 2 }, async () => {
        while (extendsSeen < 2) {
          await new Promise((r) => setImmediate(r));
          extendsSeen = s.requests.filter((r) => r.url === '/v1/work/run/extend').length;
        }
      });
      assert.equal(result.action, 'proceed');
    } finally {
      globalThis.setTimeout = realSet;
      globalThis.clearTimeout = realClear;
    }
    assert.ok(tracked >= 4, 'the spy saw the SDK timers (timeouts, extends, the lease deadline)');
    assert.equal(live.size, 0, 'no SDK timer is left pending');
  });
});
