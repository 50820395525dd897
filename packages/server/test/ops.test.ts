/**
 * Operations, in process on both stores: GET /metrics (token, series, route labels, one registry
 * per app), GET /health/ready (not ready before migrations, with an unreachable database, and on PostgreSQL
 * with a search_path naming a schema without the tables), and the audit export's formats, filters,
 * pagination and backpressure.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createTestServer, makeStore, readResponse, STORES, type TestServer, testConfig } from '@availsync/testkit';
import { exportAudit, parseExportArgs } from '../src/audit-export.js';
import { ManualClock } from '../src/clock.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { createApp } from '../src/http/app.js';
import { newId } from '../src/ids.js';
import { silentLogger } from '../src/logger.js';
import { createAvailsync, createServices } from '../src/server.js';
import { createPostgresStore, type Store } from '../src/storage/store.js';
import { createTestDatabase } from './procs.js';

const TOKEN = 'metrics-token-0123456789';

/** Prometheus text → `name{label="v",…}` (labels sorted) → value. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not an exposition line: ${line}`);
    const labels = [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => `${k}="${v}"`).sort();
    out.set(labels.length ? `${m[1]}{${labels.join(',')}}` : (m[1] as string), Number(m[3]));
  }
  return out;
}
const series = (name: string, labels: Record<string, string> = {}) => {
  const l = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort();
  return l.length ? `${name}{${l.join(',')}}` : name;
};

async function scrape(t: TestServer) {
  const res = await t.app.request('/metrics', { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return { text, values: parseMetrics(text) };
}

for (const kind of STORES) {
  describe(`GET /metrics [${kind}]`, () => {
    let t: TestServer;
    before(async () => {
      t = await createTestServer(kind, { config: { metricsToken: TOKEN } });
    });
    after(async () => {
      await t.close();
    });

    it('wants the bearer token: missing, wrong, or decorated → 401 with the error envelope', async () => {
      for (const authorization of [
        undefined,
        `Bearer ${TOKEN}x`,
        `Bearer ${TOKEN.slice(0, -1)}`,
        TOKEN,
        `bearer  ${TOKEN}`,
        `Basic ${TOKEN}`,
      ]) {
        const res = await t.request('GET', '/metrics', authorization === undefined ? {} : { headers: { authorization } });
        assert.equal(res.status, 401, String(authorization));
        assert.equal(res.body.error, 'unauthorized');
        assert.equal(typeof res.body.request_id, 'string');
        assert.doesNotMatch(JSON.stringify(res.body), new RegExp(TOKEN));
      }
    });

    it('counts requests by route pattern (never raw ids), starts by mode and action, and reads active claims', async () => {
      const before = (await scrape(t)).values;
      const { session, key } = await t.workspace();
      const observer = await t.createAgent(session, { name: 'watcher', mode: 'observe' });
      const first = await t.start(key, { resource: 'repo:acme/metrics' });
      assert.equal(first.body.action, 'proceed');
      const claimId = first.body.claim.id as string;
      assert.equal((await t.start(key, { resource: 'repo:acme/metrics' })).body.action, 'skip_run');
      assert.equal((await t.start(observer.key, { resource: 'repo:acme/metrics' })).body.mode, 'observe');
      // An idempotent replay is an answer, not a decision: counted as a request, not as a start.
      const idem = { headers: { 'idempotency-key': 'metrics-once' } };
      for (let i = 0; i < 2; i++) {
        const res = await t.request('POST', '/v1/work/run/start', { key, body: { resource: 'repo:acme/metrics-2' }, ...idem });
        assert.equal(res.body.action, 'proceed');
      }
      // The legacy route decides through the same start.
      assert.equal((await t.request('POST', '/v1/work/claim', { key, body: { resource: 'repo:acme/metrics-3' } })).status, 201);
      assert.equal((await t.request('GET', `/v1/work/claims/${claimId}`, { key })).status, 200);
      assert.equal((await t.request('GET', '/v1/no/such/route')).status, 404);

      const { text, values } = await scrape(t);
      const delta = (name: string, labels: Record<string, string> = {}) =>
        (values.get(series(name, labels)) ?? 0) - (before.get(series(name, labels)) ?? 0);
      assert.equal(delta('availsync_claims_started_total', { mode: 'enforce', action: 'proceed' }), 3);
      assert.equal(delta('availsync_claims_started_total', { mode: 'enforce', action: 'skip_run' }), 1);
      assert.equal(delta('availsync_claims_started_total', { mode: 'observe', action: 'proceed' }), 1);
      const active = await t.store.db
        .selectFrom('claims')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('status', '=', 'active')
        .executeTakeFirstOrThrow();
      assert.equal(values.get('availsync_claims_active'), Number(active.n));
      assert.equal(Number(active.n), 3);

      const req = (route: string, method: string, status: string) => delta('availsync_http_requests_total', { route, method, status });
      assert.equal(req('/v1/work/run/start', 'POST', '200'), 5);
      assert.equal(req('/v1/work/claim', 'POST', '201'), 1);
      assert.equal(req('/v1/work/claims/:claim_id', 'GET', '200'), 1);
      assert.equal(req('/v1/auth/signup', 'POST', '201'), 1);
      assert.equal(req('/v1/orgs/:org_id/agents', 'POST', '201'), 2);
      assert.equal(req('unmatched', 'GET', '404'), 1);
      assert.equal(delta('availsync_http_request_duration_seconds_count', { route: '/v1/work/run/start' }), 5);
      assert.ok(delta('availsync_db_transaction_duration_seconds_count') >= 6, 'transactions are timed');
      // Labels come from the route table: no id, path, or key of a request shows up.
      for (const raw of [claimId, session.orgId, '/v1/no/such/route', key]) assert.equal(text.includes(raw), false, raw);
      const routes = new Set([...t.routes.map((r) => r.path), 'unmatched', 'dashboard']);
      for (const m of text.matchAll(/route="([^"]*)"/g)) assert.ok(routes.has(m[1] as string), `route label ${m[1]}`);

      // The queue and webhooks do not exist yet: their series are there, at zero.
      assert.equal(values.get('availsync_queue_waiters'), 0);
      assert.match(text, /^# TYPE availsync_webhook_deliveries_total counter$/m);
      // The process defaults, in this app's own registry.
      for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds']) {
        assert.ok(values.has(name), name);
      }
    });

    it('keeps one registry per app: a second server in the process counts only its own requests', async () => {
      const other = await createTestServer(kind, { config: { metricsToken: TOKEN } });
      try {
        const { values } = await scrape(other);
        assert.equal(
          values.get(series('availsync_http_requests_total', { route: '/v1/work/run/start', method: 'POST', status: '200' })),
          undefined,
        );
        assert.equal(values.get('availsync_claims_active'), 0);
        assert.equal((await scrape(t)).values.has(series('availsync_claims_started_total', { mode: 'enforce', action: 'proceed' })), true);
      } finally {
        await other.close();
      }
    });
  });
}

describe('AVAILSYNC_METRICS_TOKEN', () => {
  it('is off when unset or empty, refused when too short to be a secret', () => {
    assert.equal(loadConfig({}).metricsToken, undefined);
    assert.equal(loadConfig({ AVAILSYNC_METRICS_TOKEN: '' }).metricsToken, undefined);
    assert.equal(loadConfig({ AVAILSYNC_METRICS_TOKEN: TOKEN }).metricsToken, TOKEN);
    assert.throws(
      () => loadConfig({ AVAILSYNC_METRICS_TOKEN: 'short' }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /AVAILSYNC_METRICS_TOKEN: .*at least 16/);
        assert.doesNotMatch(err.message, /short/, 'the value itself is not echoed');
        return true;
      },
    );
  });
});

describe('GET /metrics without AVAILSYNC_METRICS_TOKEN', () => {
  it('is 404 (the error envelope), whatever the credentials', async () => {
    const t = await createTestServer('sqlite');
    try {
      const attempts: Record<string, string>[] = [{}, { authorization: `Bearer ${TOKEN}` }, { authorization: 'Bearer ' }];
      for (const headers of attempts) {
        const res = await t.request('GET', '/metrics', { headers });
        assert.equal(res.status, 404);
        assert.equal(res.body.error, 'not_found');
      }
      // The route is in the table (the shared security suite covers it) as a public route.
      assert.deepEqual(
        t.routes.filter((r) => r.path === '/metrics' || r.path === '/health/ready').map((r) => [r.method, r.path, r.auth]),
        [
          ['GET', '/health/ready', 'public'],
          ['GET', '/metrics', 'public'],
        ],
      );
    } finally {
      await t.close();
    }
  });
});

/** An app over a store that was never migrated (createAvailsync would migrate it first). */
function unmigratedApp(store: Store, clock: ManualClock) {
  const services = createServices({ store, clock, logger: silentLogger, config: testConfig });
  return createApp({ services, logger: silentLogger, secureCookies: false }).app;
}

for (const kind of STORES) {
  describe(`GET /health/ready [${kind}]`, () => {
    it('is 503 until the migrations are applied, then 200; /health is liveness throughout', async () => {
      const clock = new ManualClock(Date.now());
      const made = makeStore(kind, clock);
      try {
        const app = unmigratedApp(made.store, clock);
        const notReady = await readResponse(await app.request('/health/ready'));
        assert.equal(notReady.status, 503);
        assert.equal(notReady.body.ready, false);
        assert.deepEqual(
          notReady.body.checks.map((c: { name: string; ok: boolean }) => [c.name, c.ok]),
          [
            ['database', true],
            ['migrations', false],
            ['schema', false],
          ],
        );
        assert.equal((await app.request('/health')).status, 200);

        await made.store.migrate();
        const ready = await readResponse(await app.request('/health/ready'));
        assert.equal(ready.status, 200, JSON.stringify(ready.body));
        assert.deepEqual(
          ready.body.checks.map((c: { ok: boolean }) => c.ok),
          [true, true, true],
        );
      } finally {
        await made.store.close();
        await made.drop();
      }
    });
  });
}

if (STORES.includes('postgres')) {
  describe('GET /health/ready [postgres]: the database and the search path', () => {
    it('is 503 while the database does not answer', async () => {
      const clock = new ManualClock(Date.now());
      const store = createPostgresStore({ url: 'postgres://postgres@127.0.0.1:1/test', clock, poolSize: 1 });
      try {
        const res = await readResponse(await unmigratedApp(store, clock).request('/health/ready'));
        assert.equal(res.status, 503);
        assert.deepEqual(
          res.body.checks.map((c: { name: string; ok: boolean }) => [c.name, c.ok]),
          [['database', false]],
        );
      } finally {
        await store.close();
      }
    });

    it('a search_path naming a schema without the tables: listening and live, but not ready (no more 500s in disguise)', async () => {
      // The reported case: the tables are in public, the server's URL sets search_path to a missing schema.
      // migrate() finds public's bookkeeping and applies nothing; every query then fails.
      const db = await createTestDatabase();
      try {
        const clock = new ManualClock(Date.now());
        const setup = createPostgresStore({ url: db.url, clock, poolSize: 1 });
        await setup.migrate();
        await setup.close();
        const url = `${db.url}?options=${encodeURIComponent('-c search_path=missing')}`;
        const instance = await createAvailsync({
          config: { ...testConfig, databaseUrl: url },
          clock,
          logger: silentLogger,
          sweeper: false,
        });
        try {
          const health = await readResponse(await instance.app.request('/health'));
          assert.equal(health.status, 200);
          const ready = await readResponse(await instance.app.request('/health/ready'));
          assert.equal(ready.status, 503);
          assert.equal(ready.body.ready, false);
          const schema = ready.body.checks.find((c: { name: string }) => c.name === 'schema');
          assert.equal(schema.ok, false);
          assert.match(schema.message, /does not exist/);
          assert.match(schema.message, /search_path/);
          assert.equal(ready.body.checks.find((c: { name: string }) => c.name === 'migrations').ok, false);
        } finally {
          await instance.close();
        }
        // The same database through a search_path naming the schema that holds the tables: ready.
        const good = await createAvailsync({
          config: { ...testConfig, databaseUrl: `${db.url}?options=${encodeURIComponent('-c search_path=public')}` },
          clock,
          logger: silentLogger,
          sweeper: false,
        });
        try {
          assert.equal((await good.app.request('/health/ready')).status, 200);
        } finally {
          await good.close();
        }
      } finally {
        await db.drop();
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------------
// export audit

/** Collects what is written; each write is taken only on a later turn of the event loop (a slow reader). */
class SlowSink extends Writable {
  chunks: string[] = [];
  maxBuffered = 0;
  constructor() {
    super({ highWaterMark: 64, decodeStrings: false });
  }
  override _write(chunk: string, _enc: BufferEncoding, done: (err?: Error | null) => void) {
    this.maxBuffered = Math.max(this.maxBuffered, this.writableLength);
    this.chunks.push(String(chunk));
    setImmediate(done);
  }
  get text() {
    return this.chunks.join('');
  }
}

/** RFC 4180 records (quoted fields may hold commas, quotes and line breaks). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += ch;
  }
  assert.equal(field, '', 'the last record ends with CRLF');
  return rows;
}

for (const kind of STORES) {
  describe(`export audit [${kind}]`, () => {
    let t: TestServer;
    const T0 = Date.parse('2026-06-01T00:00:00.000Z');
    const orgA = `org_exp_a_${kind}`;
    const orgB = `org_exp_b_${kind}`;
    const seeded: {
      id: string;
      org_id: string;
      event: string;
      resource: string | null;
      details: Record<string, unknown>;
      created_at: number;
    }[] = [];
    before(async () => {
      t = await createTestServer(kind);
      const tricky = [
        'plain',
        'with, a comma',
        'with "quotes" inside',
        'two\nlines',
        'crlf\r\nline',
        '"starts with a quote',
        'unicode ✓ — ünïcödé',
        '',
      ];
      for (let i = 0; i < 20; i++) {
        const text = tricky[i % tricky.length] as string;
        seeded.push({
          id: newId('audit'),
          org_id: i % 4 === 3 ? orgB : orgA,
          event: i % 2 ? 'claim.started' : 'rule.created',
          resource: i % 5 === 4 ? null : `repo:acme/${text}`,
          details: { text, n: i, nested: { list: [1, 'two', null], quote: '"' } },
          created_at: T0 + i * 1000,
        });
      }
      await t.store.db
        .insertInto('audit_events')
        .values(
          seeded.map((s, i) => ({
            ...s,
            actor_type: i % 3 ? 'agent' : 'user',
            actor_id: i % 7 === 6 ? null : `agt_${i}`,
            claim_id: i % 2 ? `clm_${i}` : null,
            details: JSON.stringify(s.details),
          })),
        )
        .execute();
    });
    after(async () => {
      await t.close();
    });

    const run = async (args: string[], batch = 3) => {
      const opts = parseExportArgs(args);
      assert.notEqual(typeof opts, 'string', String(opts));
      const sink = new SlowSink();
      const rows = await exportAudit(t.store, { ...(opts as Exclude<typeof opts, string>), batch }, sink);
      return { rows, sink };
    };
    const ours = (line: { org_id: string }) => line.org_id === orgA || line.org_id === orgB;

    it('ndjson: every row once, in creation order, details as JSON, across batches', async () => {
      const { sink } = await run(['audit', '--format', 'ndjson']);
      assert.ok(sink.text.endsWith('\n'));
      const lines = sink.text
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l))
        .filter(ours);
      assert.equal(lines.length, seeded.length);
      for (const [i, s] of seeded.entries()) {
        const l = lines[i];
        assert.equal(l.id, s.id);
        assert.equal(l.org_id, s.org_id);
        assert.equal(l.event, s.event);
        assert.equal(l.resource, s.resource);
        assert.deepEqual(l.details, s.details);
        assert.equal(l.created_at, new Date(s.created_at).toISOString());
        assert.deepEqual(Object.keys(l), [
          'id',
          'created_at',
          'org_id',
          'event',
          'actor_type',
          'actor_id',
          'resource',
          'claim_id',
          'details',
        ]);
      }
      assert.equal(lines[6].actor_id, null);
    });

    it('csv: a header, then fields quoted where they hold commas, quotes or line breaks', async () => {
      const { sink } = await run(['audit', '--format=csv']);
      const [header, ...records] = parseCsv(sink.text);
      assert.deepEqual(header, ['id', 'created_at', 'org_id', 'event', 'actor_type', 'actor_id', 'resource', 'claim_id', 'details']);
      const mine = records.filter((r) => r[2] === orgA || r[2] === orgB);
      assert.equal(mine.length, seeded.length);
      for (const [i, s] of seeded.entries()) {
        const r = mine[i] as string[];
        assert.equal(r.length, 9);
        assert.equal(r[0], s.id);
        assert.equal(r[1], new Date(s.created_at).toISOString());
        assert.equal(r[6], s.resource ?? '');
        assert.deepEqual(JSON.parse(r[8] as string), s.details);
      }
      // Quoting as RFC 4180 has it, seen in the raw text.
      assert.ok(sink.text.includes('"repo:acme/with, a comma"'));
      assert.ok(sink.text.includes('"repo:acme/with ""quotes"" inside"'));
      assert.ok(sink.text.includes('"repo:acme/two\nlines"'));
    });

    it('--from (inclusive), --to (exclusive) and --org filter', async () => {
      const from = new Date(T0 + 5000).toISOString();
      const to = new Date(T0 + 12_000).toISOString();
      const { rows, sink } = await run(['audit', '--format', 'ndjson', '--from', from, '--to', to]);
      const ids = sink.text
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l))
        .filter(ours)
        .map((l) => l.id);
      assert.deepEqual(
        ids,
        seeded.filter((s) => s.created_at >= T0 + 5000 && s.created_at < T0 + 12_000).map((s) => s.id),
      );
      assert.equal(rows, 7);

      const byOrg = await run(['audit', '--format', 'ndjson', '--org', orgB], 2);
      const got = byOrg.sink.text
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l).id);
      assert.deepEqual(
        got,
        seeded.filter((s) => s.org_id === orgB).map((s) => s.id),
      );
      const none = await run(['audit', '--format', 'csv', '--org', 'org_nobody']);
      assert.equal(none.rows, 0);
      assert.equal(none.sink.text, 'id,created_at,org_id,event,actor_type,actor_id,resource,claim_id,details\r\n');
    });

    it('waits for a slow reader: never more than one batch buffered', async () => {
      const { sink } = await run(['audit', '--format', 'ndjson'], 2);
      const largestChunk = Math.max(...sink.chunks.map((c) => c.length));
      assert.ok(sink.chunks.length >= seeded.length / 2);
      assert.ok(sink.maxBuffered <= largestChunk, `${sink.maxBuffered} buffered, largest write ${largestChunk}`);
    });
  });
}

describe('export audit: arguments', () => {
  it('refuses what it does not understand', () => {
    for (const args of [
      [],
      ['activity', '--format', 'csv'],
      ['audit'],
      ['audit', '--format', 'xml'],
      ['audit', '--format', 'csv', '--from', 'yesterday'],
      ['audit', '--format', 'csv', '--to', '12'],
      ['audit', '--format', 'csv', '--from', '2026-02-01', '--to', '2026-01-01'],
      ['audit', '--format', 'csv', '--bogus'],
      ['audit', '--format', 'csv', 'extra'],
      ['audit', '--format', 'csv', '--org', ''],
    ]) {
      assert.equal(typeof parseExportArgs(args), 'string', args.join(' '));
    }
    assert.deepEqual(parseExportArgs(['audit', '--format', 'csv', '--from', '2026-01-01', '--org', 'org_1']), {
      format: 'csv',
      from: Date.parse('2026-01-01'),
      org: 'org_1',
    });
  });
});
