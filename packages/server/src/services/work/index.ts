/**
 * Work coordination: the WorkService other services and the HTTP routes call. Each use case lives in its
 * own module and returns an outcome (outcomes.ts), never an HTTP answer:
 *   start.ts         start (and the legacy claim, through its route's presenter), check
 *   lifecycle.ts     extend, finish, release, releaseAllOf
 *   working-sets.ts  working-set updates, findBlocking (shared with the git guard)
 *   reads.ts         get, list, resources
 *   sweeper.ts       lapsed leases
 * with access.ts (who may act on a claim), expiry.ts (ending lapsed leases) and claims-view.ts (claims as
 * the API shows them) beneath them. The SQL is in storage/queries/.
 */
import type { CheckResponse, Claim, WorkingSetUpdate } from '@availsync/protocol';
import type { Executor, Tx } from '../../storage/store.js';
import type { AgentRow, Presenter, Principal, ServiceDeps } from '../context.js';
import type { IdempotentReply } from '../idempotency.js';
import type { PrincipalService } from '../principals.js';
import { actingAgent } from './access.js';
import type { WorkContext } from './context.js';
import { type ExtendInput, extend, type FinishInput, finish, release, releaseAllOf } from './lifecycle.js';
import type { ExtendOutcome, FinishOutcome, StartOutcome, WorkingSetOutcome } from './outcomes.js';
import { QueueWaker } from './queue.js';
import { type ClaimListFilter, getClaim, listClaims, listResources } from './reads.js';
import { check, type StartInput, start } from './start.js';
import { sweepClaims } from './sweeper.js';
import { updateWorkingSet } from './working-sets.js';

export type { ExtendOutcome, FinishOutcome, NotActive, StartOutcome, WorkingSetOutcome } from './outcomes.js';
export type { StartInput } from './start.js';

export class WorkService {
  private readonly ctx: WorkContext;

  /**
   * `presentStart`: how POST /v1/work/run/start answers a start (http/replies.ts). A start made in process
   * (a hook's, the setup test's) keeps its idempotency record in that form too, so a replay answers the same
   * whoever sent the key.
   */
  constructor(
    deps: ServiceDeps,
    keys: PrincipalService,
    private readonly presentStart: Presenter<StartOutcome, StartOutcome>,
  ) {
    this.ctx = { deps, store: deps.store, keys, queue: new QueueWaker(deps.store) };
  }

  /** The agent a request acts as: the key's own agent, or `agent_id` of the session's workspace. */
  actingAgent(p: Principal, agentId: string | undefined, ex: Executor = this.ctx.store.db): Promise<AgentRow> {
    return actingAgent(ex, p, agentId);
  }

  /**
   * Start a run. `present` answers the outcome (and is what an Idempotency-Key keeps for replays): the
   * route's, or run/start's. `route` names the request in the key's fingerprint.
   */
  start(p: Principal, input: StartInput): Promise<IdempotentReply<StartOutcome>>;
  start<B>(p: Principal, input: StartInput, present: Presenter<StartOutcome, B>, route?: string): Promise<IdempotentReply<B>>;
  start(p: Principal, input: StartInput, present: Presenter<StartOutcome, unknown> = this.presentStart, route = 'run/start') {
    return start(this.ctx, p, input, present, route);
  }

  /** The start's decision without mutating anything. */
  check(p: Principal, input: StartInput): Promise<CheckResponse> {
    return check(this.ctx, p, input);
  }

  extend(p: Principal, claimId: string, input: ExtendInput): Promise<ExtendOutcome> {
    return extend(this.ctx, p, claimId, input);
  }

  finish(
    p: Principal,
    claimId: string,
    input: FinishInput,
    event: 'claim.finished' | 'claim.released' = 'claim.finished',
  ): Promise<FinishOutcome> {
    return finish(this.ctx, p, claimId, input, event);
  }

  release(p: Principal, claimId: string) {
    return release(this.ctx, p, claimId);
  }

  /** Release every active claim of an agent inside the caller's transaction (the agent is being deleted). */
  releaseAllOf(trx: Tx, p: Principal, agentId: string): Promise<void> {
    return releaseAllOf(this.ctx, trx, p, agentId);
  }

  updateWorkingSet(p: Principal, claimId: string, input: WorkingSetUpdate): Promise<WorkingSetOutcome> {
    return updateWorkingSet(this.ctx, p, claimId, input);
  }

  get(p: Principal, claimId: string): Promise<Claim> {
    return getClaim(this.ctx, p, claimId);
  }

  list(p: Principal, q: ClaimListFilter) {
    return listClaims(this.ctx, p, q);
  }

  resources(p: Principal, q: { limit: number; offset: number }) {
    return listResources(this.ctx, p, q);
  }

  /** How many starts of this process wait in a resource queue (the queue-waiters gauge). */
  get queueWaiting(): number {
    return this.ctx.queue.size;
  }

  /** Mark lapsed leases expired (with audit) and drop lapsed file claims. Safe on many nodes at once. */
  sweep(batch = 500): Promise<number> {
    return sweepClaims(this.ctx, batch);
  }
}
