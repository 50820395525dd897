/**
 * The Availsync MCP server: SPEC §8.2's ten tools on the official MCP SDK, built on @availsync/node.
 *
 * Every tool has an input and an output schema and a description written for a model (when to call it).
 * A result is one line of text a model can act on, plus `structuredContent` (the API's answer, snake_case).
 * API failures, a missing or wrong key and an unreachable server come back as `isError` results with the
 * reason, never as a crash. Logs go to stderr only: stdout is the MCP channel.
 */
import {
  type AvailsyncClient,
  AvailsyncError,
  type BlockingClaim,
  type BlockingPath,
  type Claim,
  createAvailsyncClient,
  type FetchLike,
  VERSION as SDK_VERSION,
} from '@availsync/node';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod';

export const MCP_VERSION = '0.1.0';
export const DEFAULT_API_URL = 'http://127.0.0.1:8787';
export const HEARTBEAT_INTERVAL_MS = 60_000;

export interface McpConfig {
  apiKey: string | undefined;
  agentId: string | undefined;
  apiUrl: string;
}

export function configFromEnv(env: NodeJS.ProcessEnv): McpConfig {
  return {
    apiKey: env.AVAILSYNC_API_KEY?.trim() || undefined,
    agentId: env.AVAILSYNC_AGENT_ID?.trim() || undefined,
    apiUrl: env.AVAILSYNC_API_URL?.trim() || DEFAULT_API_URL,
  };
}

/** Why the server cannot work at all (no key, a bad URL), or null. Shown at start-up and on every call. */
export function configProblem(config: McpConfig): string | null {
  if (!config.apiKey) {
    return (
      'Availsync is not configured: AVAILSYNC_API_KEY is not set for the availsync MCP server. Ask the user to add the agent ' +
      "API key (avs_live_...) and AVAILSYNC_AGENT_ID to this MCP server's environment (npx @availsync/setup does it), then restart the client."
    );
  }
  try {
    new URL(config.apiUrl);
  } catch {
    return `Availsync is not configured: AVAILSYNC_API_URL is not a URL (${config.apiUrl}).`;
  }
  return null;
}

/** A model-readable reason for an API error (never the key). */
export function explainError(err: unknown, apiUrl: string): string {
  if (err instanceof AvailsyncError) {
    const req = err.requestId ? ` (request ${err.requestId})` : '';
    if (err.kind === 'auth' && err.status === 401) {
      return `Availsync rejected the API key (${err.code}): AVAILSYNC_API_KEY is wrong, rotated or revoked. Ask the user to update it (npx @availsync/setup).${req}`;
    }
    if (err.kind === 'network' || err.kind === 'timeout') {
      return `The Availsync server at ${apiUrl} cannot be reached (${err.code}: ${err.message}). No claim was taken: tell the user before editing shared files.`;
    }
    if (err.code === 'claim_not_active') {
      const status = typeof err.body?.status === 'string' ? err.body.status : 'not active';
      return `The claim is no longer active (${status}): its lease ended. Start a new run with availsync_start_run before editing.${req}`;
    }
    if (err.kind === 'plan_limit') return `Availsync plan limit reached: ${err.message}.${req}`;
    return `Availsync error ${err.code}${err.status ? ` (HTTP ${err.status})` : ''}: ${err.message}${req}`;
  }
  return `Unexpected error: ${err instanceof Error ? err.message : String(err)}`;
}

function holder(b: BlockingClaim | null | undefined): string {
  if (!b) return 'another run';
  const who = b.agent_name ? `${b.agent_name} (${b.agent_id})` : b.agent_id;
  return `${who}, claim ${b.id}${b.reason ? ` "${b.reason}"` : ''}, until ${b.expires_at}`;
}

function blockers(list: BlockingPath[]): string {
  return list.map((b) => `${b.path} (held as ${b.held_path} by ${b.agent_id}, claim ${b.claim_id}, until ${b.expires_at})`).join('; ');
}

function claimLine(c: Claim): string {
  return `claim ${c.id} on ${c.resource}, ${c.status}, expires ${c.expires_at}, fencing token ${c.fencing_token}, ${c.working_set.length} file(s) in its working set`;
}

// ---------------------------------------------------------------------------------------------------
// Schemas

const resource = z
  .string()
  .min(3)
  .describe('The resource, type:key: "repo:owner/name" for a git repository (use the origin remote\'s owner/name), or "project:<key>"');
const claimId = z.string().min(1).describe('The claim id (clm_...) returned by availsync_start_run');
const paths = z
  .array(z.string().min(1))
  .min(1)
  .max(500)
  .describe('Repo-relative POSIX paths; a trailing "/" means a whole directory; globs *, ?, ** allowed');
const time = z.string().describe('RFC 3339 time, e.g. 2026-06-01T10:00:00Z');

const blockingClaim = z.looseObject({
  id: z.string(),
  agent_id: z.string(),
  agent_name: z.string().nullable().optional(),
  reason: z.string().nullable().optional(),
  expires_at: z.string(),
});
const claimSchema = z.looseObject({
  id: z.string(),
  resource: z.string(),
  status: z.string(),
  mode: z.string(),
  fencing_token: z.number(),
  expires_at: z.string(),
  working_set: z.array(z.looseObject({ path: z.string(), mode: z.string(), expires_at: z.string() })),
});
const blockingPath = z.looseObject({ path: z.string(), claim_id: z.string(), agent_id: z.string(), mode: z.string() });
const holdSchema = z.looseObject({ id: z.string(), resource: z.string(), start_at: z.string(), end_at: z.string(), status: z.string() });
const window = z.looseObject({ start_at: z.string(), end_at: z.string() });

const workingSetOut = {
  action: z.enum(['updated', 'partial_proceed', 'blocked']),
  claimed_paths: z.array(z.string()).optional(),
  blocked_paths: z.array(z.string()).optional(),
  blocking: z.array(blockingPath).optional(),
  working_set: z.array(z.looseObject({ path: z.string(), mode: z.string() })).optional(),
};

// ---------------------------------------------------------------------------------------------------

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
}

export const stderrLogger = (stream: { write(s: string): unknown } = process.stderr): Logger => ({
  info: (msg) => stream.write(`availsync-mcp: ${msg}\n`),
  warn: (msg) => stream.write(`availsync-mcp: WARNING: ${msg}\n`),
});

export interface CreateServerOptions {
  config: McpConfig;
  logger?: Logger;
  fetch?: FetchLike;
}

type Result = CallToolResult;

function ok(text: string, structured: object): Result {
  return { content: [{ type: 'text', text }], structuredContent: structured as Record<string, unknown> };
}
function fail(text: string): Result {
  return { content: [{ type: 'text', text }], isError: true };
}

export function createMcpServer(opts: CreateServerOptions) {
  const { config } = opts;
  const logger = opts.logger ?? stderrLogger();
  const problem = configProblem(config);
  const client: AvailsyncClient | null = problem
    ? null
    : createAvailsyncClient({
        apiKey: config.apiKey as string,
        agentId: config.agentId,
        baseUrl: config.apiUrl,
        fetch: opts.fetch,
        timeoutMs: 15_000,
        maxRetries: 1,
        userAgent: `availsync-mcp/${MCP_VERSION} availsync-node/${SDK_VERSION} node/${process.version}`,
      });

  const server = new McpServer(
    { name: 'availsync', version: MCP_VERSION },
    {
      instructions:
        'Availsync coordinates AI agents working on the same repositories. Before editing files in a repository, call ' +
        'availsync_start_run on repo:owner/name; if it says skip_run, do not edit: tell the user who holds it and until when. ' +
        'Declare the files you edit with availsync_update_working_set, extend long runs with availsync_extend_run, and always ' +
        'call availsync_finish_run when done.',
    },
  );

  /** Run an API call; turn configuration and API errors into isError results with the reason. */
  const call = async (tool: string, fn: (c: AvailsyncClient) => Promise<Result>): Promise<Result> => {
    if (!client) return fail(problem as string);
    try {
      return await fn(client);
    } catch (err) {
      const text = explainError(err, config.apiUrl);
      logger.warn(`${tool}: ${text}`);
      return fail(text);
    }
  };

  server.registerTool(
    'availsync_start_run',
    {
      title: 'Start a guarded run',
      description:
        'Call before editing files in this repo (or before any shared task: a migration, a release). Takes a time-bounded ' +
        'lease on the resource so other agents do not work on it at the same time. Answer "proceed": go ahead, keep the ' +
        'claim_id, declare files with availsync_update_working_set, call availsync_finish_run when done. Answer "skip_run": ' +
        'another agent holds it; do not edit, tell the user who holds it and until when. In observe mode no lease is taken ' +
        'and the answer says whether it would have been blocked.',
      inputSchema: {
        resource,
        duration_minutes: z.number().int().min(1).max(720).optional().describe('Lease length (default: the workspace default, 30)'),
        reason: z.string().max(500).optional().describe('What you are about to do; shown to agents you block'),
        idempotency_key: z.string().max(200).optional().describe('Same key for a retried start of the same logical run'),
        preempt: z.boolean().optional().describe('Take over strictly lower-priority claims (only when the user asked)'),
        paths: paths.optional().describe('Files you will edit: claimed in the working set right after the start'),
      },
      outputSchema: {
        action: z.enum(['proceed', 'skip_run']),
        mode: z.enum(['enforce', 'observe']),
        claim: claimSchema.nullable().optional(),
        reason: z.string().nullable().optional(),
        retry_after: z.string().nullable().optional(),
        blocking_claim: blockingClaim.nullable().optional(),
        shadow_mode: z.boolean().optional(),
        would_have_blocked: z.boolean().optional(),
        shadow_decision: z.looseObject({ action: z.string(), blocking_claim: blockingClaim.nullable().optional() }).optional(),
        working_set: z.looseObject(workingSetOut).optional(),
      },
    },
    (args) =>
      call('availsync_start_run', async (c) => {
        const res = await c.work.start({
          resource: args.resource,
          durationMinutes: args.duration_minutes,
          reason: args.reason,
          idempotencyKey: args.idempotency_key,
          preempt: args.preempt,
        });
        if (res.action === 'skip_run') {
          return ok(
            `skip_run: do not edit ${args.resource}. ${res.reason}: held by ${holder(res.blocking_claim)}. Retry after ${res.retry_after}, or tell the user.`,
            res,
          );
        }
        if (res.mode === 'observe') {
          const would = res.would_have_blocked
            ? ` In enforce mode this would have been blocked: held by ${holder(res.shadow_decision.blocking_claim)}.`
            : '';
          return ok(
            `proceed (observe mode: no lease was taken, nothing is enforced for this agent).${would} You may edit ${args.resource}.`,
            res,
          );
        }
        let text = `proceed: ${claimLine(res.claim)}. Keep claim_id ${res.claim.id}; call availsync_finish_run with it when done.`;
        let structured: Record<string, unknown> = { ...res };
        if (args.paths) {
          // The run has started: a failure here must not hide its claim id from the model.
          try {
            const ws = await c.work.updateWorkingSet(res.claim.id, { paths: args.paths, op: 'add' });
            structured = { ...res, working_set: ws };
            text +=
              ws.action === 'updated'
                ? ` Claimed ${args.paths.length} path(s).`
                : ` Some paths are held by another run, do not edit them: ${blockers(ws.blocking)}.`;
          } catch (err) {
            text += ` Claiming the paths failed (${explainError(err, config.apiUrl)}); call availsync_update_working_set before editing them.`;
          }
        }
        return ok(text, structured);
      }),
  );

  server.registerTool(
    'availsync_update_working_set',
    {
      title: 'Claim files in the run',
      description:
        'Call before editing specific files inside a run, with the paths you are about to change (op "add" to add to what you ' +
        'hold, "set" to replace it, "remove" when done with some). If a path is held by another run the answer says which and by ' +
        'whom: do not edit those files. mode "review" only makes your reading visible and never blocks.',
      inputSchema: {
        claim_id: claimId,
        paths,
        op: z.enum(['add', 'set', 'remove']).optional().describe('Default "add"'),
        mode: z.enum(['edit', 'delete', 'review']).optional().describe('Default "edit"'),
        resource: resource
          .optional()
          .describe('Default: the claim\'s resource; "repo:owner/name" to coordinate on a repo from a project claim'),
        lease_seconds: z.number().int().min(30).max(3600).optional().describe("File lease, default 600, never past the run's expiry"),
      },
      outputSchema: workingSetOut,
    },
    (args) =>
      call('availsync_update_working_set', async (c) => {
        const res = await c.work.updateWorkingSet(args.claim_id, {
          paths: args.paths,
          op: args.op ?? 'add',
          mode: args.mode,
          resource: args.resource,
          leaseSeconds: args.lease_seconds,
        });
        if (res.action === 'updated') {
          return ok(`updated: you now hold ${res.working_set.length} file claim(s) in this run. Edit them.`, res);
        }
        if (res.action === 'partial_proceed') {
          return ok(
            `partial_proceed: claimed ${res.claimed_paths.join(', ')}; do not edit ${res.blocked_paths.join(', ')}: ${blockers(res.blocking)}.`,
            res,
          );
        }
        return ok(`blocked: do not edit ${res.blocked_paths.join(', ')}: ${blockers(res.blocking)}. Tell the user or wait.`, res);
      }),
  );

  server.registerTool(
    'availsync_extend_run',
    {
      title: 'Extend a run',
      description:
        'Call when a run will outlast its lease (before expires_at), to keep other agents out. The new expiry is now + ' +
        'duration. If the answer says the claim is no longer active, stop editing and start a new run.',
      inputSchema: {
        claim_id: claimId,
        duration_minutes: z.number().int().min(1).max(720).optional().describe("Default: the claim's original duration"),
        paths: paths.optional().describe('Refresh these file claims (op "add") in the same call'),
      },
      outputSchema: { action: z.literal('extended'), claim: claimSchema, working_set: z.looseObject(workingSetOut).optional() },
    },
    (args) =>
      call('availsync_extend_run', async (c) => {
        const res = await c.work.extend(args.claim_id, {
          durationMinutes: args.duration_minutes,
          workingSet: args.paths ? { paths: args.paths, op: 'add' } : undefined,
        });
        return ok(`extended: ${claimLine(res.claim)}.`, res);
      }),
  );

  server.registerTool(
    'availsync_finish_run',
    {
      title: 'Finish a run',
      description:
        'Call when you are done with the work (or give up), with the claim_id from availsync_start_run, so other agents can ' +
        'proceed. Releases the lease and every file claim. Safe to call more than once.',
      inputSchema: {
        claim_id: claimId,
        outcome: z.enum(['finished', 'error', 'noop', 'cancelled']).optional().describe('Default "finished"'),
        reason: z.string().max(500).optional().describe('A short summary for the audit log'),
      },
      outputSchema: { action: z.enum(['finished', 'already_finished']), claim: claimSchema },
    },
    (args) =>
      call('availsync_finish_run', async (c) => {
        const res = await c.work.finish(args.claim_id, { outcome: args.outcome, reason: args.reason });
        return ok(
          res.action === 'finished'
            ? `finished: claim ${res.claim.id} on ${res.claim.resource} released (${res.claim.outcome}).`
            : `already_finished: claim ${res.claim.id} was already ${res.claim.status}; nothing to do.`,
          res,
        );
      }),
  );

  server.registerTool(
    'availsync_check',
    {
      title: 'Check a resource',
      description:
        'Call to ask whether a run on a resource would proceed now, without taking it (for example before planning work). ' +
        'To actually start, call availsync_start_run.',
      inputSchema: { resource, duration_minutes: z.number().int().min(1).max(720).optional() },
      outputSchema: {
        available: z.boolean(),
        action: z.enum(['proceed', 'skip_run']),
        mode: z.enum(['enforce', 'observe']),
        reason: z.string().nullable(),
        blocking_claim: blockingClaim.nullable(),
        retry_after: z.string().nullable(),
      },
    },
    (args) =>
      call('availsync_check', async (c) => {
        const res = await c.work.check({ resource: args.resource, durationMinutes: args.duration_minutes });
        const observe = res.mode === 'observe' ? ' (observe mode: nothing is enforced for this agent)' : '';
        return ok(
          res.available
            ? `available: ${args.resource} is free now${observe}.`
            : `held: ${args.resource}: ${res.reason ?? 'blocked'}; held by ${holder(res.blocking_claim)}${observe}.`,
          res,
        );
      }),
  );

  server.registerTool(
    'availsync_list_claims',
    {
      title: 'List my claims',
      description:
        "Call to find this agent's runs (for example a claim_id you lost track of, or whether a run is still active). Newest first; active ones include their files.",
      inputSchema: {
        resource: resource.optional(),
        status: z.enum(['active', 'released', 'expired', 'preempted']).optional(),
        limit: z.number().int().min(1).max(100).optional().describe('Default 20'),
      },
      outputSchema: {
        data: z.array(claimSchema),
        pagination: z.looseObject({ total: z.number(), has_more: z.boolean() }),
      },
    },
    (args) =>
      call('availsync_list_claims', async (c) => {
        const res = await c.work.list({ resource: args.resource, status: args.status, limit: args.limit ?? 20 });
        const text =
          res.data.length === 0
            ? 'No claims.'
            : `${res.pagination.total} claim(s): ${res.data
                .slice(0, 5)
                .map((cl) => `${cl.id} ${cl.resource} ${cl.status}${cl.status === 'active' ? ` until ${cl.expires_at}` : ''}`)
                .join('; ')}${res.data.length > 5 ? '; …' : ''}.`;
        return ok(text, res);
      }),
  );

  server.registerTool(
    'availsync_get_claim',
    {
      title: 'Get a claim',
      description:
        'Call to look at one claim by id: yours (is it still active, when does it expire) or one that blocked you (has it been released yet).',
      inputSchema: { claim_id: z.string().min(1).describe('clm_...') },
      outputSchema: { claim: claimSchema },
    },
    (args) =>
      call('availsync_get_claim', async (c) => {
        const res = await c.work.get(args.claim_id);
        return ok(`${claimLine(res.claim)}.`, res);
      }),
  );

  server.registerTool(
    'availsync_check_availability',
    {
      title: 'Check availability',
      description:
        'Call before scheduling something on a shared resource at a future time (a release slot, a calendar): returns busy and ' +
        'free windows and the first free slot of the length you need. Reserve it with availsync_create_hold.',
      inputSchema: {
        resource: z.string().min(3).describe('type:key, e.g. release:prod or calendar:alice'),
        from: time.optional().describe('Default now'),
        to: time.optional().describe('Default 7 days after from'),
        duration_minutes: z.number().int().min(1).max(44_640).optional().describe('Find the first free window of this length'),
      },
      outputSchema: {
        resource: z.string(),
        from: z.string(),
        to: z.string(),
        busy: z.array(z.looseObject({ start_at: z.string(), end_at: z.string(), hold_id: z.string() })),
        free: z.array(window),
        first_free_slot: window.nullable().optional(),
      },
    },
    (args) =>
      call('availsync_check_availability', async (c) => {
        const res = await c.availability.get({
          resource: args.resource,
          from: args.from,
          to: args.to,
          durationMinutes: args.duration_minutes,
        });
        const first = res.first_free_slot ? ` First free slot: ${res.first_free_slot.start_at} → ${res.first_free_slot.end_at}.` : '';
        return ok(
          `${res.resource}: ${res.busy.length} busy window(s), ${res.free.length} free window(s) from ${res.from} to ${res.to}.${first}`,
          res,
        );
      }),
  );

  server.registerTool(
    'availsync_create_hold',
    {
      title: 'Hold a time window',
      description:
        'Call to reserve a future window on a resource (a release slot, a meeting) so nobody else books it. If it overlaps ' +
        'another hold the answer is "conflict" with the next free slot: offer that to the user instead.',
      inputSchema: {
        resource: z.string().min(3).describe('type:key, e.g. release:prod'),
        start_at: time,
        end_at: time,
        reason: z.string().max(500).optional(),
        ttl_minutes: z.number().int().min(1).max(10_080).optional().describe('Tentative: the hold lapses unless confirmed'),
        idempotency_key: z.string().max(200).optional(),
      },
      outputSchema: {
        action: z.enum(['held', 'conflict']),
        hold: holdSchema.optional(),
        conflicts: z.array(z.looseObject({})).optional(),
        next_free_slot: window.nullable().optional(),
      },
    },
    (args) =>
      call('availsync_create_hold', async (c) => {
        try {
          const res = await c.holds.create({
            resource: args.resource,
            startAt: args.start_at,
            endAt: args.end_at,
            reason: args.reason,
            ttlMinutes: args.ttl_minutes,
            idempotencyKey: args.idempotency_key,
          });
          const h = res.hold;
          return ok(`held: ${h.id} on ${h.resource} from ${h.start_at} to ${h.end_at}. Release it with availsync_release_hold.`, {
            action: 'held',
            hold: h,
          });
        } catch (err) {
          if (!(err instanceof AvailsyncError) || err.code !== 'hold_conflict') throw err;
          const conflicts = (err.body?.conflicts ?? []) as Record<string, unknown>[];
          const next = (err.body?.next_free_slot ?? null) as { start_at: string; end_at: string } | null;
          return ok(
            `conflict: ${args.resource} is already held in that window (${conflicts.length} hold(s)).${next ? ` Next free slot: ${next.start_at} → ${next.end_at}.` : ''}`,
            { action: 'conflict', conflicts, next_free_slot: next },
          );
        }
      }),
  );

  server.registerTool(
    'availsync_release_hold',
    {
      title: 'Release a hold',
      description: 'Call when a reserved window is no longer needed, with the hold id (hld_...). Safe to call more than once.',
      inputSchema: { hold_id: z.string().min(1).describe('hld_...') },
      outputSchema: { action: z.enum(['released', 'already_released']), hold: holdSchema },
    },
    (args) =>
      call('availsync_release_hold', async (c) => {
        const res = await c.holds.release(args.hold_id);
        return ok(`${res.action}: hold ${res.hold.id} on ${res.hold.resource}.`, res);
      }),
  );

  /** Check the key (GET /v1/agent) and log the outcome to stderr: what a user sees when the client starts. */
  async function verify(): Promise<{ ok: boolean; message: string }> {
    if (!client) {
      logger.warn(problem as string);
      return { ok: false, message: problem as string };
    }
    try {
      const { agent } = await client.agent.me();
      const message = `connected to ${config.apiUrl} as ${agent.name} (${agent.id}), ${agent.effective_mode} mode${
        agent.effective_mode === 'observe' ? ': decisions are recorded, nothing is enforced' : ''
      }`;
      logger.info(message);
      return { ok: true, message };
    } catch (err) {
      const message = explainError(err, config.apiUrl);
      logger.warn(message);
      return { ok: false, message };
    }
  }

  /** POST /v1/mcp/heartbeat now and every 60 s (an unref'd timer: it never keeps the process alive). */
  function startHeartbeat(intervalMs = HEARTBEAT_INTERVAL_MS) {
    if (!client) return () => {};
    let warned = false;
    const beat = () => {
      client.mcp.heartbeat({ client: 'availsync-mcp', version: MCP_VERSION }).then(
        () => {
          warned = false;
        },
        (err: unknown) => {
          if (!warned) logger.warn(`heartbeat failed: ${explainError(err, config.apiUrl)}`);
          warned = true;
        },
      );
    };
    beat();
    const timer = setInterval(beat, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  return { server, client, verify, startHeartbeat };
}
