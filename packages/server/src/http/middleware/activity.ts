/**
 * Activity recording for agent-key requests, as a small factory the router adds to every route
 * an agent key may call, after authentication.
 *
 * It never slows or fails the request it records: the row is queued in memory (services/activity.ts writes
 * batches) and the answer's `action` is taken from the JSON the handler sends, not by re-reading the
 * response. It also enforces the plan's monthly API calls: once they are used up, agent routes answer
 * 402 plan_limit_reached, except the calls that end work or keep a client alive: finishing a
 * run, releasing a claim or a hold, and heartbeats are neither refused nor counted, so a spent quota
 * never strands a lease and an idle MCP client does not spend the workspace's quota.
 */
import type { ActivityTypeValue } from '@availsync/protocol';
import type { Context, MiddlewareHandler } from 'hono';
import type { ActivityRecorder } from '../../services/activity.js';
import type { AppEnv } from '../env.js';
import { ApiError, httpStatus } from '../errors.js';

/** The activity type of a route, from its path. */
export function activityTypeOf(path: string): ActivityTypeValue {
  if (path.startsWith('/v1/work/')) return 'work';
  if (path.startsWith('/v1/holds') || path.startsWith('/v1/availability') || path.startsWith('/v1/conflicts')) return 'hold';
  if (path === '/v1/activity/usage') return 'usage';
  if (path === '/v1/mcp/heartbeat') return 'heartbeat';
  return 'other';
}

/** Routes a spent monthly quota never refuses (and that never count toward it). */
export const QUOTA_EXEMPT = new Set([
  'POST /v1/work/run/finish',
  'DELETE /v1/work/claims/:claim_id',
  'DELETE /v1/holds/:hold_id',
  'POST /v1/mcp/heartbeat',
]);

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** The answer's action; an observe-mode start that would have been blocked reads `shadow_skip_run`. */
function actionOf(body: unknown): string | null {
  if (!isObject(body)) return null;
  const action = str(body.action);
  if (action === 'proceed' && body.mode === 'observe' && body.would_have_blocked === true) return 'shadow_skip_run';
  return action ?? null;
}

/** The resource the request was about: as asked (body or query), else as answered (claim, hold). */
function resourceOf(c: Context<AppEnv>, body: unknown): string | null {
  const valid = (target: string): unknown => {
    try {
      return (c.req as unknown as { valid(t: string): unknown }).valid(target);
    } catch {
      return undefined;
    }
  };
  for (const input of [valid('json'), valid('query')]) {
    if (!isObject(input)) continue;
    const resource = str(input.resource);
    if (resource) return resource;
    const type = str(input.resource_type);
    const key = str(input.resource_key);
    if (type && key) return `${type}:${key}`;
  }
  if (isObject(body)) {
    for (const field of ['claim', 'hold']) {
      const obj = body[field];
      if (isObject(obj) && str(obj.resource)) return str(obj.resource) ?? null;
    }
    if (str(body.resource)) return str(body.resource) ?? null;
  }
  return null;
}

export function recordActivity(recorder: ActivityRecorder, route: { method: string; path: string }): MiddlewareHandler<AppEnv> {
  const type = activityTypeOf(route.path);
  const counted = type !== 'heartbeat' && !QUOTA_EXEMPT.has(`${route.method} ${route.path}`);
  return async (c, next) => {
    const p = c.get('principal');
    if (p?.kind !== 'agent') return next();
    const t0 = performance.now();
    let sent: unknown;
    const json = c.json;
    c.json = ((object: unknown, ...rest: unknown[]) => {
      sent = object;
      return (json as (...args: unknown[]) => Response)(object, ...rest);
    }) as typeof c.json;
    let status = 500;
    let refused = false;
    try {
      if (counted) {
        try {
          await recorder.ensureMonthlyCapacity(p.org);
        } catch (err) {
          refused = err instanceof ApiError && err.code === 'plan_limit_reached';
          throw err;
        }
      }
      await next();
      status = c.res.status;
    } catch (err) {
      status = err instanceof ApiError ? httpStatus(err) : 500;
      throw err;
    } finally {
      try {
        recorder.record({
          org_id: p.org.id,
          agent_id: p.agent.id,
          type,
          method: route.method,
          route: route.path,
          status_code: status,
          action: actionOf(sent),
          resource: resourceOf(c, sent),
          latency_ms: performance.now() - t0,
          request_id: c.get('requestId'),
          counted: counted && !refused,
        });
      } catch {
        /* recording never fails a request */
      }
    }
  };
}
