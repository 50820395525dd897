/**
 * The one tool table: the ten Availsync tools, used by the stdio server and by the API
 * server's remote /mcp alike. Each tool has a title, a description written for a model (when to call it),
 * input and output schemas from @availsync/protocol, annotations, and a handler that takes an
 * @availsync/node client and the arguments and returns one short line a model can act on plus the
 * structured result.
 *
 * `registerTools` puts the table on an McpServer: API failures (and a configuration problem) become
 * `isError` results with the reason, never protocol errors; `structuredContent` is the API's answer as the
 * tool's output schema reads it.
 */

import { type AvailsyncClient, AvailsyncError, type BlockingClaim, type BlockingPath, type Claim } from '@availsync/node';
import {
  McpCheckAvailabilityInput,
  McpCheckAvailabilityResult,
  McpCheckInput,
  McpCheckResult,
  McpCreateHoldInput,
  McpCreateHoldResult,
  McpExtendRunInput,
  McpExtendRunResult,
  McpFinishRunInput,
  McpFinishRunResult,
  McpGetClaimInput,
  McpGetClaimResult,
  McpListClaimsInput,
  McpListClaimsResult,
  McpReleaseHoldInput,
  McpReleaseHoldResult,
  McpStartRunInput,
  McpStartRunResult,
  McpUpdateWorkingSetInput,
  McpWorkingSetResult,
} from '@availsync/protocol';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult, ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import type * as z from 'zod';

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

export const MCP_VERSION = '0.1.0';

/** What the server tells a model about the tools as a whole (the MCP `instructions`). */
export const SERVER_INSTRUCTIONS =
  'Availsync coordinates AI agents working on the same repositories. Before editing files in a repository, call ' +
  'availsync_start_run on repo:owner/name; if it says skip_run, do not edit: tell the user who holds it and until when. ' +
  'Declare the files you edit with availsync_update_working_set, extend long runs with availsync_extend_run, and always ' +
  'call availsync_finish_run when done.';

/** What a handler may use besides the client: the server's URL, for messages. */
export interface ToolContext {
  apiUrl: string;
}

/** A handler's answer: one line for the model and the structured result (checked against outputSchema). */
export interface ToolAnswer {
  text: string;
  structured: object;
}

type AnyObject = z.ZodObject<z.ZodRawShape>;

export interface ToolDefinition<I extends AnyObject = AnyObject, O extends AnyObject = AnyObject> {
  name: string;
  title: string;
  description: string;
  inputSchema: I;
  outputSchema: O;
  annotations: ToolAnnotations;
  handler(client: AvailsyncClient, args: z.output<I>, ctx: ToolContext): Promise<ToolAnswer>;
}

function tool<I extends AnyObject, O extends AnyObject>(def: ToolDefinition<I, O>): ToolDefinition {
  return def as unknown as ToolDefinition;
}

const READ_ONLY: ToolAnnotations = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };
const WRITE: ToolAnnotations = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false };
const IDEMPOTENT_WRITE: ToolAnnotations = { ...WRITE, idempotentHint: true };

export const TOOLS: readonly ToolDefinition[] = [
  tool({
    name: 'availsync_start_run',
    title: 'Start a guarded run',
    description:
      'Call before editing files in this repo (or before any shared task: a migration, a release). Takes a time-bounded ' +
      'lease on the resource so other agents do not work on it at the same time. Answer "proceed": go ahead, keep the ' +
      'claim_id, declare files with availsync_update_working_set, call availsync_finish_run when done. Answer "skip_run": ' +
      'another agent holds it; do not edit, tell the user who holds it and until when. In observe mode no lease is taken ' +
      'and the answer says whether it would have been blocked.',
    inputSchema: McpStartRunInput,
    outputSchema: McpStartRunResult,
    annotations: WRITE,
    async handler(c, args, ctx) {
      const res = await c.work.start({
        resource: args.resource,
        durationMinutes: args.duration_minutes,
        reason: args.reason,
        idempotencyKey: args.idempotency_key,
        preempt: args.preempt,
        waitSeconds: args.wait_seconds,
      });
      if (res.action === 'skip_run') {
        return {
          text: `skip_run: do not edit ${args.resource}. ${res.reason}: held by ${holder(res.blocking_claim)}. Retry after ${res.retry_after}, or tell the user.`,
          structured: res,
        };
      }
      if (res.mode === 'observe') {
        const would = res.would_have_blocked
          ? ` In enforce mode this would have been blocked: held by ${holder(res.shadow_decision.blocking_claim)}.`
          : '';
        return {
          text: `proceed (observe mode: no lease was taken, nothing is enforced for this agent).${would} You may edit ${args.resource}.`,
          structured: res,
        };
      }
      let text = `proceed: ${claimLine(res.claim)}. Keep claim_id ${res.claim.id}; call availsync_finish_run with it when done.`;
      let structured: object = res;
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
          text += ` Claiming the paths failed (${explainError(err, ctx.apiUrl)}); call availsync_update_working_set before editing them.`;
        }
      }
      return { text, structured };
    },
  }),

  tool({
    name: 'availsync_update_working_set',
    title: 'Claim files in the run',
    description:
      'Call before editing specific files inside a run, with the paths you are about to change (op "add" to add to what you ' +
      'hold, "set" to replace it, "remove" when done with some). If a path is held by another run the answer says which and by ' +
      'whom: do not edit those files. mode "review" only makes your reading visible and never blocks.',
    inputSchema: McpUpdateWorkingSetInput,
    outputSchema: McpWorkingSetResult,
    annotations: WRITE,
    async handler(c, args) {
      const res = await c.work.updateWorkingSet(args.claim_id, {
        paths: args.paths,
        op: args.op ?? 'add',
        mode: args.mode,
        resource: args.resource,
        leaseSeconds: args.lease_seconds,
      });
      if (res.action === 'updated') {
        return { text: `updated: you now hold ${res.working_set.length} file claim(s) in this run. Edit them.`, structured: res };
      }
      if (res.action === 'partial_proceed') {
        return {
          text: `partial_proceed: claimed ${res.claimed_paths.join(', ')}; do not edit ${res.blocked_paths.join(', ')}: ${blockers(res.blocking)}.`,
          structured: res,
        };
      }
      return {
        text: `blocked: do not edit ${res.blocked_paths.join(', ')}: ${blockers(res.blocking)}. Tell the user or wait.`,
        structured: res,
      };
    },
  }),

  tool({
    name: 'availsync_extend_run',
    title: 'Extend a run',
    description:
      'Call when a run will outlast its lease (before expires_at), to keep other agents out. The new expiry is now + ' +
      'duration. If the answer says the claim is no longer active, stop editing and start a new run.',
    inputSchema: McpExtendRunInput,
    outputSchema: McpExtendRunResult,
    annotations: WRITE,
    async handler(c, args) {
      const res = await c.work.extend(args.claim_id, {
        durationMinutes: args.duration_minutes,
        workingSet: args.paths ? { paths: args.paths, op: 'add' } : undefined,
      });
      return { text: `extended: ${claimLine(res.claim)}.`, structured: res };
    },
  }),

  tool({
    name: 'availsync_finish_run',
    title: 'Finish a run',
    description:
      'Call when you are done with the work (or give up), with the claim_id from availsync_start_run, so other agents can ' +
      'proceed. Releases the lease and every file claim. Safe to call more than once.',
    inputSchema: McpFinishRunInput,
    outputSchema: McpFinishRunResult,
    annotations: IDEMPOTENT_WRITE,
    async handler(c, args) {
      const res = await c.work.finish(args.claim_id, { outcome: args.outcome, reason: args.reason });
      return {
        text:
          res.action === 'finished'
            ? `finished: claim ${res.claim.id} on ${res.claim.resource} released (${res.claim.outcome}).`
            : `already_finished: claim ${res.claim.id} was already ${res.claim.status}; nothing to do.`,
        structured: res,
      };
    },
  }),

  tool({
    name: 'availsync_check',
    title: 'Check a resource',
    description:
      'Call to ask whether a run on a resource would proceed now, without taking it (for example before planning work). ' +
      'To actually start, call availsync_start_run.',
    inputSchema: McpCheckInput,
    outputSchema: McpCheckResult,
    annotations: READ_ONLY,
    async handler(c, args) {
      const res = await c.work.check({ resource: args.resource, durationMinutes: args.duration_minutes });
      const observe = res.mode === 'observe' ? ' (observe mode: nothing is enforced for this agent)' : '';
      return {
        text: res.available
          ? `available: ${args.resource} is free now${observe}.`
          : `held: ${args.resource}: ${res.reason ?? 'blocked'}; held by ${holder(res.blocking_claim)}${observe}.`,
        structured: res,
      };
    },
  }),

  tool({
    name: 'availsync_list_claims',
    title: 'List my claims',
    description:
      "Call to find this agent's runs (for example a claim_id you lost track of, or whether a run is still active). Newest first; active ones include their files.",
    inputSchema: McpListClaimsInput,
    outputSchema: McpListClaimsResult,
    annotations: READ_ONLY,
    async handler(c, args) {
      const res = await c.work.list({ resource: args.resource, status: args.status, limit: args.limit ?? 20 });
      const text =
        res.data.length === 0
          ? 'No claims.'
          : `${res.pagination.total} claim(s): ${res.data
              .slice(0, 5)
              .map((cl) => `${cl.id} ${cl.resource} ${cl.status}${cl.status === 'active' ? ` until ${cl.expires_at}` : ''}`)
              .join('; ')}${res.data.length > 5 ? '; …' : ''}.`;
      return { text, structured: res };
    },
  }),

  tool({
    name: 'availsync_get_claim',
    title: 'Get a claim',
    description:
      'Call to look at one claim by id: yours (is it still active, when does it expire) or one that blocked you (has it been released yet).',
    inputSchema: McpGetClaimInput,
    outputSchema: McpGetClaimResult,
    annotations: READ_ONLY,
    async handler(c, args) {
      const res = await c.work.get(args.claim_id);
      return { text: `${claimLine(res.claim)}.`, structured: res };
    },
  }),

  tool({
    name: 'availsync_check_availability',
    title: 'Check availability',
    description:
      'Call before scheduling something on a shared resource at a future time (a release slot, a calendar): returns busy and ' +
      'free windows and the first free slot of the length you need. Reserve it with availsync_create_hold.',
    inputSchema: McpCheckAvailabilityInput,
    outputSchema: McpCheckAvailabilityResult,
    annotations: READ_ONLY,
    async handler(c, args) {
      const res = await c.availability.get({
        resource: args.resource,
        from: args.from,
        to: args.to,
        durationMinutes: args.duration_minutes,
      });
      const first = res.first_free_slot ? ` First free slot: ${res.first_free_slot.start_at} → ${res.first_free_slot.end_at}.` : '';
      return {
        text: `${res.resource}: ${res.busy.length} busy window(s), ${res.free.length} free window(s) from ${res.from} to ${res.to}.${first}`,
        structured: res,
      };
    },
  }),

  tool({
    name: 'availsync_create_hold',
    title: 'Hold a time window',
    description:
      'Call to reserve a future window on a resource (a release slot, a meeting) so nobody else books it. If it overlaps ' +
      'another hold the answer is "conflict" with the next free slot: offer that to the user instead.',
    inputSchema: McpCreateHoldInput,
    outputSchema: McpCreateHoldResult,
    annotations: WRITE,
    async handler(c, args) {
      try {
        const { hold } = await c.holds.create({
          resource: args.resource,
          startAt: args.start_at,
          endAt: args.end_at,
          reason: args.reason,
          ttlMinutes: args.ttl_minutes,
          idempotencyKey: args.idempotency_key,
        });
        return {
          text: `held: ${hold.id} on ${hold.resource} from ${hold.start_at} to ${hold.end_at}. Release it with availsync_release_hold.`,
          structured: { action: 'held', hold },
        };
      } catch (err) {
        if (!(err instanceof AvailsyncError) || err.code !== 'hold_conflict') throw err;
        const conflicts = (err.body?.conflicts ?? []) as unknown[];
        const next = (err.body?.next_free_slot ?? null) as { start_at: string; end_at: string } | null;
        return {
          text: `conflict: ${args.resource} is already held in that window (${conflicts.length} hold(s)).${next ? ` Next free slot: ${next.start_at} → ${next.end_at}.` : ''}`,
          structured: { action: 'conflict', conflicts, next_free_slot: next },
        };
      }
    },
  }),

  tool({
    name: 'availsync_release_hold',
    title: 'Release a hold',
    description: 'Call when a reserved window is no longer needed, with the hold id (hld_...). Safe to call more than once.',
    inputSchema: McpReleaseHoldInput,
    outputSchema: McpReleaseHoldResult,
    annotations: IDEMPOTENT_WRITE,
    async handler(c, args) {
      const res = await c.holds.release(args.hold_id);
      return { text: `${res.action}: hold ${res.hold.id} on ${res.hold.resource}.`, structured: res };
    },
  }),
];

// ---------------------------------------------------------------------------------------------------

export interface RegisterToolsOptions extends ToolContext {
  /** The client every call uses, or null when the server cannot work at all (then `problem` is the answer). */
  client: AvailsyncClient | null;
  problem?: string | null;
  /** Told about each failed call (the stdio server logs it to stderr). */
  onFailure?: (tool: string, text: string) => void;
}

/** Run one tool: its answer as a result, or the reason it failed as an `isError` result. */
export async function runTool(def: ToolDefinition, args: unknown, opts: RegisterToolsOptions): Promise<CallToolResult> {
  const fail = (text: string): CallToolResult => ({ content: [{ type: 'text', text }], isError: true });
  if (!opts.client) return fail(opts.problem ?? 'Availsync is not configured.');
  let answer: ToolAnswer;
  try {
    answer = await def.handler(opts.client, args as never, opts);
  } catch (err) {
    const text = explainError(err, opts.apiUrl);
    opts.onFailure?.(def.name, text);
    return fail(text);
  }
  // The answer as the output schema reads it: fields the schema does not name are left out.
  const parsed = def.outputSchema.safeParse(answer.structured);
  if (!parsed.success) {
    const text = `Unexpected answer from Availsync for ${def.name}: ${parsed.error.issues[0]?.message ?? 'invalid shape'}`;
    opts.onFailure?.(def.name, text);
    return fail(text);
  }
  return { content: [{ type: 'text', text: answer.text }], structuredContent: parsed.data as Record<string, unknown> };
}

/** Register the tool table on `server`. */
export function registerTools(server: McpServer, opts: RegisterToolsOptions): void {
  for (const def of TOOLS) {
    server.registerTool(
      def.name,
      {
        title: def.title,
        description: def.description,
        inputSchema: def.inputSchema,
        outputSchema: def.outputSchema,
        annotations: def.annotations,
      },
      (args: unknown) => runTool(def, args, opts),
    );
  }
}

/**
 * The Availsync MCP server: its name, version and instructions, with the tool table registered. The one
 * builder for the stdio server (createMcpServer) and the remote one (handleStreamableHttp).
 */
export function createToolServer(opts: RegisterToolsOptions): McpServer {
  const server = new McpServer({ name: 'availsync', version: MCP_VERSION }, { instructions: SERVER_INSTRUCTIONS });
  registerTools(server, opts);
  return server;
}
