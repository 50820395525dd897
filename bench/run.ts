/**
 * npm run bench — figures and ratios, never pass/fail.
 *
 * A claim = POST /v1/work/run/start (authenticated, with an Idempotency-Key, audit rows written) + finish.
 * Every scenario runs real server processes (the built dist) with the load generator on the same machine.
 * Every scenario first runs its own load for BENCH_WARMUP seconds (default 2) and discards it: a freshly started
 * server compiles its hot paths and opens its database connections in its first second, and those requests
 * would otherwise make up most of a 5 s run's slowest 1 %. BENCH_WARMUP=0 measures from a cold start.
 * BENCH_DETAIL=1 prints each HTTP scenario's latency distribution (p50 … p99.9, max).
 * Env: BENCH_SECONDS (default 5), BENCH_ONLY (comma list: sqlite,sqlite-full,pg1,pg3,floors,mcp,redis,growth,activity,hooks; also handoff and webhooks on request),
 * BENCH_FLOWS (see suite()), BENCH_NODE_ARGS (flags for the server processes, e.g. --cpu-prof),
 * BENCH_GROWTH_CLAIMS (default 1000000), BENCH_GROWTH_RESOURCES (default 100000).
 * BENCH_COMPARE=<other checkout>/packages/server/dist/main.js: the server scenarios only, this build and the other
 * alternating for BENCH_ROUNDS rounds (default 3), then each scenario's range and median per build and their
 * ratio. On a noisy machine only interleaved runs tell two builds apart.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { activityCost } from './activity.js';
import { adversarialWorkingSet } from './adversarial.js';
import { inProcessFloor } from './floor.js';
import { seedGrowth } from './growth.js';
import { handoffBench } from './handoff.js';
import { hookBench } from './hooks.js';
import type { RunResult } from './loadgen.js';
import { mcpToolCalls } from './mcp.js';
import { redisLockFloor } from './redis.js';
import { type Node, setup, startNode, tempDatabase, tempDataDir } from './servers.js';
import { webhookBench } from './webhooks.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
const DETAIL = process.env.BENCH_DETAIL === '1';
const ONLY = new Set((process.env.BENCH_ONLY ?? 'sqlite,sqlite-full,pg1,pg3,floors,mcp,redis,growth,activity,hooks').split(','));
const root = new URL('..', import.meta.url).pathname;

/** What every scenario reports, whatever generated the load. */
interface Measured {
  seconds: number;
  requests: number;
  ok: number;
  skipped: number;
  errors: number;
  p50: number;
  p99: number;
  /** The discarded warm-up's p99 (for a scenario's first run, a freshly started server's), shown beside the steady state. */
  warmupP99?: number;
}

function fromRun(r: RunResult): Measured {
  return {
    seconds: r.seconds,
    requests: r.requests,
    ok: r.ok,
    skipped: r.skipped,
    errors: r.errors,
    p50: r.latency.percentile(50),
    p99: r.latency.percentile(99),
  };
}

interface Row {
  name: string;
  clients: number;
  result: Measured;
  flowsPerSecond: number;
  requestsPerSecond: number;
  loop?: { eventLoopP99Ms: number; peakRssMb: number };
}
const rows: Row[] = [];

function record(name: string, clients: number, result: Measured, loop?: Row['loop']) {
  const row: Row = {
    name,
    clients,
    result,
    flowsPerSecond: result.ok / result.seconds,
    requestsPerSecond: result.requests / result.seconds,
    ...(loop ? { loop } : {}),
  };
  rows.push(row);
  const p50 = result.p50.toFixed(2);
  const p99 = result.p99.toFixed(2);
  const warm = result.warmupP99 === undefined ? '' : `  (warm-up p99 ${result.warmupP99.toFixed(0)} ms)`;
  const extra = `${loop ? `  loop p99 ${loop.eventLoopP99Ms.toFixed(1)} ms  rss ${loop.peakRssMb.toFixed(0)} MB` : ''}${warm}`;
  console.log(
    `${name.padEnd(44)} c=${String(clients).padStart(2)}  ${row.flowsPerSecond.toFixed(0).padStart(6)} ok/s  ${row.requestsPerSecond.toFixed(0).padStart(6)} req/s  p50 ${p50.padStart(6)} ms  p99 ${p99.padStart(6)} ms  skip ${result.skipped}  err ${result.errors}${extra}`,
  );
  return row;
}

type Flow = 'uncontended' | 'contended' | 'noop' | 'working-set';

/**
 * One HTTP scenario with autocannon: `clients` keep-alive connections, each running its flow in a loop.
 * A connection's `setupRequest` decides the next request (start, or finish of the claim it holds), so a
 * claim is start + finish on one connection, and a skipped start is simply followed by another start.
 */
async function measure(nodes: Node[], keys: string[], flow: Flow, clients: number, label: string, loopStats = false) {
  const tally = { ok: 0, skipped: 0, errors: 0 };
  let counter = 0;
  let phase: 'warm-up' | 'measured' = 'warm-up';
  /** Per-cycle context: autocannon keeps it across the steps of one cycle, then starts afresh. */
  interface Ctx {
    key?: string;
    claimId?: string;
  }
  // Working sets: each of `clients` claims holds its own project and edits 50 paths of one shared repo.
  const wsClaims: { id: string; key: string }[] = [];
  if (flow === 'working-set') {
    for (let i = 0; i < clients; i++) {
      const key = keys[i % keys.length]!;
      const r = await fetch(`${nodes[i % nodes.length]!.url}/v1/work/run/start`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ resource: `project:ws-${label}-${i}`, duration_minutes: 60 }),
      });
      wsClaims.push({ id: ((await r.json()) as { claim: { id: string } }).claim.id, key });
    }
  }
  const json = (key: string) => ({ 'content-type': 'application/json', authorization: `Bearer ${key}` });
  const counted = (status: number) => {
    if (status === 200) tally.ok += 1;
    else tally.errors += 1;
  };
  let steps: any[];
  if (flow === 'noop') {
    steps = [{ method: 'GET', path: '/v1/agent', headers: json(keys[0]!), onResponse: counted }];
  } else if (flow === 'working-set') {
    steps = [
      {
        setupRequest: (req: any) => {
          const n = counter++;
          const ws = wsClaims[n % wsClaims.length]!;
          const paths = Array.from({ length: 50 }, (_, k) => `src/run-${n % wsClaims.length}/file-${(k + n) % 80}.ts`);
          return {
            ...req,
            method: 'POST',
            path: '/v1/work/run/working-set',
            headers: json(ws.key),
            body: JSON.stringify({ claim_id: ws.id, resource: 'repo:bench/mono', paths }),
          };
        },
        onResponse: counted,
      },
    ];
  } else {
    steps = [
      {
        setupRequest: (req: any, ctx: Ctx) => {
          const n = counter++;
          ctx.key = keys[n % keys.length]!;
          // Uncontended: a rotating pool far larger than the connections, so a resource is always free.
          // Each run's resources are its own: a run stops mid-claim, and those claims hold for 5 minutes.
          const resource =
            flow === 'contended' ? `repo:bench/${phase}-hot-${n % 8}` : `repo:bench/${label}-c${clients}-${phase}-${n % 4096}`;
          return {
            ...req,
            method: 'POST',
            path: '/v1/work/run/start',
            headers: { ...json(ctx.key), 'idempotency-key': randomUUID() },
            body: JSON.stringify({ resource, duration_minutes: 5 }),
          };
        },
        onResponse: (status: number, body: string, ctx: Ctx) => {
          if (status !== 200) {
            tally.errors += 1;
            return;
          }
          const parsed = JSON.parse(body) as { action: string; claim?: { id: string } };
          if (parsed.action === 'proceed' && parsed.claim) ctx.claimId = parsed.claim.id;
          else tally.skipped += 1;
        },
      },
      {
        // Returning nothing ends the cycle: a skipped start is followed by the next start.
        setupRequest: (req: any, ctx: Ctx) =>
          ctx.claimId
            ? {
                ...req,
                method: 'POST',
                path: '/v1/work/run/finish',
                headers: json(ctx.key!),
                body: JSON.stringify({ claim_id: ctx.claimId }),
              }
            : undefined,
        onResponse: counted,
      },
    ];
  }
  const connections = Math.max(1, Math.round(clients / nodes.length));
  const load = (duration: number) =>
    Promise.all(nodes.map((node) => autocannon({ url: node.url, connections, duration, requests: steps })));
  const warmup = WARMUP > 0 ? await load(WARMUP) : undefined;
  phase = 'measured';
  Object.assign(tally, { ok: 0, skipped: 0, errors: 0 });
  for (const n of nodes) n.resetStats();
  const perNode = await load(SECONDS);
  if (DETAIL) {
    for (const r of perNode) {
      const l = r.latency;
      console.log(`  latency ms: p50 ${l.p50} p75 ${l.p75} p90 ${l.p90} p97.5 ${l.p97_5} p99 ${l.p99} p99.9 ${l.p99_9} max ${l.max}`);
    }
  }
  let loop: Row['loop'];
  if (loopStats) {
    const stats = await Promise.all(nodes.map((n) => n.stats()));
    loop = { eventLoopP99Ms: Math.max(...stats.map((s) => s.eventLoopP99Ms)), peakRssMb: Math.max(...stats.map((s) => s.peakRssMb)) };
  }
  const requests = perNode.reduce((a, r) => a + r.requests.total, 0);
  const seconds = Math.max(...perNode.map((r) => r.duration));
  const result: Measured = {
    seconds,
    requests,
    ...tally,
    p50: Math.max(...perNode.map((r) => r.latency.p50)),
    p99: Math.max(...perNode.map((r) => r.latency.p99)),
    ...(warmup ? { warmupP99: Math.max(...warmup.map((r) => r.latency.p99)) } : {}),
  };
  return record(`${label} ${flow}`, clients, result, loop);
}

/** BENCH_FLOWS narrows a suite to some of its scenarios (comma list: uncontended-1,uncontended,contended,working-set,working-set-adversarial,noop). */
const FLOWS = process.env.BENCH_FLOWS ? new Set(process.env.BENCH_FLOWS.split(',')) : undefined;

async function suite(label: string, nodes: Node[], opts: { extras: boolean }) {
  const keys = await setup(nodes[0]!.url, 32);
  const wanted = (name: string) => !FLOWS || FLOWS.has(name);
  if (wanted('uncontended-1')) await measure(nodes, keys, 'uncontended', 1, label);
  if (wanted('uncontended')) await measure(nodes, keys, 'uncontended', 32, label, true);
  if (wanted('contended')) await measure(nodes, keys, 'contended', 32, label);
  if (opts.extras) {
    if (wanted('working-set')) await measure(nodes, keys, 'working-set', 32, label);
    if (wanted('working-set-adversarial')) {
      const r = await adversarialWorkingSet(nodes[0]!, keys, 32, SECONDS, WARMUP);
      const row = record(`${label} working-set adversarial (caps)`, 32, fromRun(r));
      const normal = find(`${label} working-set`);
      console.log(
        `  answers by status ${JSON.stringify(r.statuses)}${normal ? `; p99 ÷ working-set p99 ${(row.result.p99 / normal.result.p99).toFixed(2)}` : ''}`,
      );
    }
    if (wanted('noop')) await measure(nodes, keys, 'noop', 32, label);
  }
}

function find(name: string, clients = 32): Row | undefined {
  return rows.find((r) => r.name === name && r.clients === clients);
}

function ratio(label: string, a?: Row, b?: Row, field: 'flowsPerSecond' | 'requestsPerSecond' = 'flowsPerSecond') {
  if (!a || !b) return;
  console.log(`${label.padEnd(58)} ${(a[field] / b[field]).toFixed(2)}`);
}

/** The scenarios that run server processes: each on a fresh store, with `main` (default: this build). */
async function serverSuites(main?: string) {
  if (ONLY.has('sqlite')) {
    const data = tempDataDir();
    const node = await startNode({ AVAILSYNC_DATA_DIR: data.dir }, main);
    await suite('sqlite', [node], { extras: true });
    await node.stop();
    data.drop();
  }
  if (ONLY.has('sqlite-full')) {
    const data = tempDataDir();
    const node = await startNode({ AVAILSYNC_DATA_DIR: data.dir, AVAILSYNC_SQLITE_SYNCHRONOUS: 'FULL' }, main);
    await suite('sqlite-full', [node], { extras: false });
    await node.stop();
    data.drop();
  }
  if (ONLY.has('pg1')) {
    const db = await tempDatabase();
    const node = await startNode({ DATABASE_URL: db.url }, main);
    await suite('pg1', [node], { extras: true });
    await node.stop();
    await db.drop();
  }
  if (ONLY.has('pg3')) {
    const db = await tempDatabase();
    const first = await startNode({ DATABASE_URL: db.url }, main);
    const others = await Promise.all([startNode({ DATABASE_URL: db.url }, main), startNode({ DATABASE_URL: db.url }, main)]);
    const nodes = [first, ...others];
    await suite('pg3', nodes, { extras: false });
    await Promise.all(nodes.map((n) => n.stop()));
    await db.drop();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

/** BENCH_COMPARE: the server scenarios for this build and another, alternating (ABBA…), then per-build summaries. */
async function compare(other: string, rounds: number) {
  const runs: { build: 'this' | 'other'; row: Row }[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const build of round % 2 === 0 ? (['other', 'this'] as const) : (['this', 'other'] as const)) {
      console.log(`— round ${round + 1} of ${rounds}: ${build === 'this' ? 'this build' : other}`);
      const first = rows.length;
      await serverSuites(build === 'this' ? undefined : other);
      for (const row of rows.slice(first)) runs.push({ build, row });
    }
  }
  console.log(`\nthis build vs ${other}: claims/s (requests/s for no-op), range (median), p99 median; ${rounds} rounds`);
  const scenarios = [...new Set(runs.map((r) => `${r.row.name}\u0000${r.row.clients}`))];
  for (const scenario of scenarios) {
    const [name, clients] = scenario.split('\u0000') as [string, string];
    const summary = (build: 'this' | 'other') => {
      const mine = runs.filter((r) => r.build === build && r.row.name === name && String(r.row.clients) === clients).map((r) => r.row);
      const rate = mine.map((r) => (name.endsWith('noop') ? r.requestsPerSecond : r.flowsPerSecond));
      return { min: Math.min(...rate), max: Math.max(...rate), median: median(rate), p99: median(mine.map((r) => r.result.p99)) };
    };
    const a = summary('this');
    const b = summary('other');
    const show = (s: typeof a) => `${s.min.toFixed(0)}–${s.max.toFixed(0)} (${s.median.toFixed(0)}) p99 ${s.p99.toFixed(0)} ms`;
    console.log(
      `${`${name} c=${clients}`.padEnd(34)} this ${show(a).padEnd(30)} other ${show(b).padEnd(30)} ×${(a.median / b.median).toFixed(2)}`,
    );
  }
}

async function main() {
  console.log(`Availsync benchmark — ${SECONDS}s per scenario after ${WARMUP}s of warm-up, node ${process.version}, ${join(root)}`);
  console.log('building…');
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'ignore' });

  const other = process.env.BENCH_COMPARE;
  if (other) {
    await compare(other, Number(process.env.BENCH_ROUNDS ?? 3));
    return;
  }
  await serverSuites();
  if (ONLY.has('floors')) {
    for (const kind of ['sqlite', 'postgres'] as const) {
      for (const clients of [1, 32]) {
        const r = await inProcessFloor(kind, clients, SECONDS, WARMUP);
        record(`${kind === 'sqlite' ? 'sqlite' : 'pg1'} in-process start+finish`, clients, fromRun(r));
      }
    }
  }
  if (ONLY.has('mcp'))
    for (const r of await mcpToolCalls({ seconds: SECONDS, warmup: WARMUP, setup })) record(r.name, r.clients, fromRun(r.run));
  if (ONLY.has('activity')) {
    for (const kind of ['sqlite', 'postgres'] as const) {
      const a = await activityCost(kind);
      console.log(
        `activity recording (${kind}): ${(a.recordedUs - a.plainUs).toFixed(1)} µs added per request ` +
          `(${a.plainUs.toFixed(1)} → ${a.recordedUs.toFixed(1)} µs in-process, writes included), ` +
          `batched writes ${a.rowsPerSecond.toFixed(0)} rows/s`,
      );
    }
  }
  if (ONLY.has('handoff')) await handoffBench();
  if (ONLY.has('hooks')) for (const h of await hookBench(SECONDS, WARMUP)) record(h.name, h.clients, fromRun(h.result));
  if (ONLY.has('redis')) {
    for (const clients of [1, 32]) {
      const r = await redisLockFloor(clients, SECONDS, WARMUP);
      if (r) record('redis SET NX PX + DEL', clients, fromRun(r));
    }
  }
  if (ONLY.has('webhooks')) await webhookBench(SECONDS);
  if (ONLY.has('growth')) {
    for (const kind of ['sqlite', 'pg1'] as const) {
      const claims = Number(process.env.BENCH_GROWTH_CLAIMS ?? 1_000_000);
      const resources = Number(process.env.BENCH_GROWTH_RESOURCES ?? 100_000);
      const env = kind === 'sqlite' ? tempDataDir() : undefined;
      const db = kind === 'pg1' ? await tempDatabase() : undefined;
      const nodeEnv: Record<string, string> = env ? { AVAILSYNC_DATA_DIR: env.dir } : { DATABASE_URL: db!.url };
      let node = await startNode(nodeEnv);
      const keys = await setup(node.url, 32);
      await measure([node], keys, 'uncontended', 32, `${kind}-empty`);
      await node.stop();
      const t0 = performance.now();
      await seedGrowth(kind, env?.dir ?? db!.url, claims, resources);
      console.log(`  seeded ${claims} claims and ${resources} resources in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      node = await startNode(nodeEnv);
      await measure([node], keys, 'uncontended', 32, `${kind}-loaded`);
      await node.stop();
      env?.drop();
      await db?.drop();
    }
  }

  console.log('\nratios (claims/s unless noted)');
  ratio('HTTP ÷ in-process, sqlite, 32 clients', find('sqlite uncontended'), find('sqlite in-process start+finish'));
  ratio('HTTP ÷ in-process, pg1, 32 clients', find('pg1 uncontended'), find('pg1 in-process start+finish'));
  ratio('claim requests/s ÷ authenticated no-op requests/s, sqlite', find('sqlite uncontended'), find('sqlite noop'), 'requestsPerSecond');
  ratio('claim requests/s ÷ authenticated no-op requests/s, pg1', find('pg1 uncontended'), find('pg1 noop'), 'requestsPerSecond');
  ratio(
    'MCP remote ÷ stdio, tool calls/s, 1 client',
    find('sqlite mcp remote start+finish (per call)', 1),
    find('sqlite mcp stdio start+finish (per call)', 1),
    'requestsPerSecond',
  );
  ratio(
    'MCP remote ÷ stdio, tool calls/s, 8 clients',
    find('sqlite mcp remote start+finish (per call)', 8),
    find('sqlite mcp stdio start+finish (per call)', 8),
    'requestsPerSecond',
  );
  ratio('PostgreSQL (1 node) ÷ SQLite, 32 clients', find('pg1 uncontended'), find('sqlite uncontended'));
  ratio('SQLite synchronous=FULL ÷ default, 32 clients', find('sqlite-full uncontended'), find('sqlite uncontended'));
  ratio('3 nodes ÷ 1 node (PostgreSQL), 32 clients', find('pg3 uncontended'), find('pg1 uncontended'));
  ratio('Availsync sqlite ÷ Redis lock, 32 clients', find('sqlite uncontended'), find('redis SET NX PX + DEL'));
  ratio('Availsync sqlite ÷ Redis lock, 1 client', find('sqlite uncontended', 1), find('redis SET NX PX + DEL', 1));
  ratio('loaded ÷ empty database, sqlite', find('sqlite-loaded uncontended'), find('sqlite-empty uncontended'));
  ratio('loaded ÷ empty database, pg1', find('pg1-loaded uncontended'), find('pg1-empty uncontended'));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
