/**
 * How the HTTP API answers each use case's outcome: its status, and its body where that is not the outcome
 * itself (an error envelope, the legacy claim). Routes hand these to the services they call, so an
 * idempotent request keeps exactly this reply for its replays; `serviceReplies` gives the services the
 * ones they need to answer as a route would (server.ts). A body with `error` gets its request id when
 * sent (registry.ts send), never in what is kept.
 */
import type { UsageReport } from '@availsync/protocol';
import type { ApiError } from '../errors.js';
import type { AgentCreated } from '../services/agents.js';
import type { Reply } from '../services/context.js';
import type { HoldConfirmOutcome, HoldCreateOutcome } from '../services/holds.js';
import type { ServiceReplies } from '../services/index.js';
import type { ExtendOutcome, FinishOutcome, StartOutcome, WorkingSetOutcome } from '../services/work/index.js';
import { httpStatus } from './errors.js';

/** POST /v1/work/run/start: every outcome is a 200 whose body is the outcome. */
export function startReply(o: StartOutcome): Reply<StartOutcome> {
  return { status: 200, body: o };
}

/** Legacy POST /v1/work/claim: the same decision, shaped as 201 { claim } or 409 conflict; observe mode as run/start. */
export function legacyClaimReply(o: StartOutcome): Reply {
  if (o.action === 'proceed' && o.mode === 'enforce') return { status: 201, body: { claim: o.claim } };
  if (o.action === 'skip_run') {
    return {
      status: 409,
      body: { error: 'conflict', message: o.reason, blocking_claim: o.blocking_claim, retry_after: o.retry_after },
    };
  }
  return startReply(o);
}

/** A change of a claim whose lease has ended: 409 claim_not_active with the claim's status. */
function claimNotActive(status: string): Reply {
  return {
    status: 409,
    body: {
      error: 'claim_not_active',
      message: `The claim is ${status}; an ended lease is never revived. Start a new run.`,
      status,
    },
  };
}

/** POST /v1/work/run/extend and /v1/work/claims/:id/extend. */
export function extendReply(o: ExtendOutcome): Reply {
  return o.action === 'not_active' ? claimNotActive(o.status) : { status: 200, body: o };
}

/** POST /v1/work/run/working-set: updated and partial_proceed 200, blocked 409. */
export function workingSetReply(o: WorkingSetOutcome): Reply {
  if (o.action === 'not_active') return claimNotActive(o.status);
  return { status: o.action === 'blocked' ? 409 : 200, body: o };
}

/** POST /v1/work/run/finish: finished or already_finished, both 200. */
export function finishReply(o: FinishOutcome): Reply<FinishOutcome> {
  return { status: 200, body: o };
}

/** POST /v1/orgs/:org_id/agents: 201 { agent, api_key }. */
export function agentCreatedReply(o: AgentCreated): Reply<AgentCreated> {
  return { status: 201, body: o };
}

/** POST /v1/holds: 201 { hold }, or 409 hold_conflict with the overlapping holds and the next free slot. */
export function holdCreatedReply(o: HoldCreateOutcome): Reply {
  if (o.outcome === 'created') return { status: 201, body: { hold: o.hold } };
  const n = o.conflicts_count;
  return {
    status: 409,
    body: {
      error: 'hold_conflict',
      message: `The window overlaps ${n} active hold${n === 1 ? '' : 's'} on ${o.resource}`,
      conflicts: o.conflicts,
      conflicts_count: o.conflicts_count,
      conflicts_truncated: o.conflicts_truncated,
      next_free_slot: o.next_free_slot,
    },
  };
}

/** POST /v1/holds/:id/confirm: 200, or 409 conflict with the status of a hold no longer active. */
export function holdConfirmReply(o: HoldConfirmOutcome): Reply {
  if (o.action !== 'not_active') return { status: 200, body: o };
  return {
    status: 409,
    body: { error: 'conflict', message: `The hold is ${o.status}; it can no longer be confirmed. Create a new hold.`, status: o.status },
  };
}

/** POST /v1/activity/usage: 201 { usage }. */
export function usageReply(usage: UsageReport): Reply<{ usage: UsageReport }> {
  return { status: 201, body: { usage } };
}

/** An error as the setup test reports a step's: its status and the envelope without a request id. */
export function errorReply(err: ApiError): Reply {
  return { status: httpStatus(err), body: { error: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } };
}

export const serviceReplies: ServiceReplies = {
  start: startReply,
  agentCreated: agentCreatedReply,
  workingSet: workingSetReply,
  extend: extendReply,
  finish: finishReply,
  error: errorReply,
};
