/**
 * What the work use cases answer, in the protocol's vocabulary: each a union discriminated by `action`.
 * No HTTP here: the routes (http/routes/work.ts, through http/replies.ts) choose each outcome's status,
 * and the body where the HTTP answer differs from the outcome (claim_not_active, the legacy claim).
 */
import type { RunExtendResponse, RunFinishResponse, RunStartResponse, WorkingSetResult } from '@availsync/protocol';

/** proceed (with a claim), skip_run (with the blocking claim), or observe mode's shadow decision. */
export type StartOutcome = RunStartResponse;

/** A change refused because the claim's lease has ended (expired, released, preempted): it is never revived. */
export interface NotActive {
  action: 'not_active';
  /** The claim's status: expired, released or preempted. */
  status: string;
}

/** updated, partial_proceed or blocked; or the claim is no longer active. */
export type WorkingSetOutcome = WorkingSetResult | NotActive;

/** extended (with the working set's change, when one was asked); or the claim is no longer active. */
export type ExtendOutcome = RunExtendResponse | NotActive;

/** finished, or already_finished (a finish is safe to repeat). */
export type FinishOutcome = RunFinishResponse;
