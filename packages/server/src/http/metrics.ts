/**
 * Prometheus metrics, on only when AVAILSYNC_METRICS_TOKEN is set. One registry per app, never
 * prom-client's global one: several servers in one process (tests) keep their series apart.
 *
 * Per request: two clock reads, one Map lookup and two increments on pre-bound label children (prom-client
 * hashes a label set on every `inc(labels)`; the children are made once per route × method × status).
 * The route label is the route table's pattern of the handler that answered (`/v1/work/claims/:claim_id`),
 * never the raw path, so ids cannot blow up the series count; a path no route serves is `unmatched`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Presenter, Principal } from '../services/context.js';
import type { IdempotentReply } from '../services/idempotency.js';
import type { Services } from '../services/index.js';
import type { StartInput, StartOutcome, WorkService } from '../services/work/index.js';
import type { AppEnv, RouteInfo } from './env.js';
import { startReply } from './replies.js';

const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const TX_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export interface Metrics {
  registry: Registry;
  /** Counts and times every request; register it before any route. */
  middleware: MiddlewareHandler<AppEnv>;
  /** Starts of this node waiting in a resource queue. */
  queueWaiters: Gauge;
  /** Webhook delivery attempts by outcome (success, failure, refused), counted by the delivery worker. */
  webhookDeliveries: Counter<'outcome'>;
  /** Whether `Authorization` carries the metrics token (constant time). */
  authorized(header: string | undefined): boolean;
  render(): Promise<{ body: string; contentType: string }>;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();

export function createMetrics(opts: { token: string; services: Services; routes: () => readonly RouteInfo[] }): Metrics {
  const { services } = opts;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const requests = new Counter({
    name: 'availsync_http_requests_total',
    help: 'HTTP requests answered, by route pattern, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'availsync_http_request_duration_seconds',
    help: 'Time to answer an HTTP request (until the handler returned its response), by route pattern',
    labelNames: ['route'] as const,
    buckets: HTTP_BUCKETS,
    registers: [registry],
  });
  const claimsStarted = new Counter({
    name: 'availsync_claims_started_total',
    help: 'Run starts decided (not idempotent replays), by effective mode and action',
    labelNames: ['mode', 'action'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'availsync_claims_active',
    help: 'Claims whose status is active (read from the database at scrape time, capped)',
    registers: [registry],
    async collect() {
      this.set(await services.ops.activeClaims());
    },
  });
  const queueWaiters = new Gauge({
    name: 'availsync_queue_waiters',
    help: 'Requests waiting in the wait queue for a resource',
    registers: [registry],
    // This node's waiting starts (each node reports its own).
    collect() {
      this.set(services.work.queueWaiting);
    },
  });
  // Counted by the webhook delivery worker (services/webhooks/worker.ts), one per attempt.
  const webhookDeliveries = new Counter({
    name: 'availsync_webhook_deliveries_total',
    help: 'Webhook delivery attempts, by outcome',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const transactions = new Histogram({
    name: 'availsync_db_transaction_duration_seconds',
    help: 'Store transactions as their caller sees them (SQLite: including the wait for the one writer)',
    buckets: TX_BUCKETS,
    registers: [registry],
  });

  new Gauge({
    name: 'availsync_webhook_backlog',
    help: 'Events not yet delivered to enabled webhooks (read from the database at scrape time, capped)',
    registers: [registry],
    async collect() {
      this.set(await services.webhookWorker.backlog());
    },
  });
  services.webhookWorker.onAttempt = (outcome) => webhookDeliveries.inc({ outcome });

  services.ops.timeTransactions((seconds) => transactions.observe(seconds));
  countStarts(services.work, (mode, action) => claimsStarted.inc({ mode, action }));

  let known = new Set<string>();
  let knownCount = -1;
  const label = (pattern: string, handlerMethod: string, status: number): string => {
    const routes = opts.routes();
    if (routes.length !== knownCount) {
      known = new Set(routes.map((r) => r.path));
      knownCount = routes.length;
    }
    if (known.has(pattern)) return pattern;
    // The dashboard's catch-all GET handler (Hono spells `*` as `/*`), when it served a page or a file.
    if (pattern === '/*' && handlerMethod === 'GET' && status !== 404) return 'dashboard';
    return 'unmatched';
  };
  const children = new Map<string, { count: () => void; time: (s: number) => void }>();

  const middleware: MiddlewareHandler<AppEnv> = async (c, next) => {
    const t0 = performance.now();
    try {
      await next();
    } finally {
      const seconds = (performance.now() - t0) / 1000;
      const method = c.req.method;
      const status = c.res.status;
      // The handler that ran last answered: Hono leaves routeIndex on it.
      const handler = matchedRoutes(c).at(c.req.routeIndex);
      const route = handler ? label(handler.path, handler.method, status) : 'unmatched';
      const key = `${route} ${method} ${status}`;
      let child = children.get(key);
      if (!child) {
        const counter = requests.labels(route, method, String(status));
        const histogram = duration.labels(route);
        child = { count: () => counter.inc(), time: (s) => histogram.observe(s) };
        children.set(key, child);
      }
      child.count();
      child.time(seconds);
    }
  };

  const expected = sha256(`Bearer ${opts.token}`);
  return {
    registry,
    middleware,
    queueWaiters,
    webhookDeliveries,
    authorized: (header) => header !== undefined && timingSafeEqual(sha256(header), expected),
    async render() {
      return { body: await registry.metrics(), contentType: registry.contentType };
    },
  };
}

/**
 * Count run starts by their decision: `present` (which answers the outcome) sees the decision's mode and
 * action, and legacy claims, hooks and setup tests go through `start` too. Counted once the start has
 * returned a reply that is not an idempotent replay, so a rolled-back attempt is not.
 */
function countStarts(work: WorkService, count: (mode: string, action: string) => void): void {
  const start = work.start.bind(work) as (
    p: Principal,
    input: StartInput,
    present?: Presenter<StartOutcome>,
    route?: string,
  ) => Promise<IdempotentReply<unknown>>;
  work.start = ((p: Principal, input: StartInput, present?: Presenter<StartOutcome>, route?: string) => {
    let decided: StartOutcome | undefined;
    const counted: Presenter<StartOutcome> = (outcome) => {
      decided = outcome;
      // No presenter: an in-process start, which answers as run/start does.
      return (present ?? startReply)(outcome);
    };
    return start(p, input, counted, route).then((result) => {
      // A replay may have decided too (in a transaction then rolled back for the stored reply): not counted.
      if (!result.replayed && decided) count(decided.mode, decided.action);
      return result;
    });
  }) as WorkService['start'];
}
