import { AccountService } from './accounts.js';
import { ActivityRecorder, ActivityService } from './activity.js';
import { type AgentCreated, AgentService } from './agents.js';
import { AuditLogService } from './audit-log.js';
import { ConnectionService, type SetupReplies } from './connection.js';
import type { Presenter, ServiceDeps } from './context.js';
import { HoldService } from './holds.js';
import { createHookServices, type HookServices } from './hooks/index.js';
import { KeyService } from './keys.js';
import { PlanService } from './plans.js';
import { RetentionService } from './retention.js';
import { RulesService } from './rules.js';
import { ValueService } from './value.js';
import { type StartOutcome, WorkService } from './work/index.js';

export interface Services {
  deps: ServiceDeps;
  work: WorkService;
  accounts: AccountService;
  agents: AgentService;
  keys: KeyService;
  holds: HoldService;
  hooks: HookServices;
  // governance (issue 4)
  activity: ActivityService;
  rules: RulesService;
  plans: PlanService;
  audit: AuditLogService;
  value: ValueService;
  connection: ConnectionService;
  retention: RetentionService;
}

/**
 * The interface's answers the services give where they answer as a route would (http/replies.ts supplies
 * them): a start or an agent create made in process keeps its idempotency record in its route's form, and
 * the setup test reports each step as its route would have answered.
 */
export interface ServiceReplies extends SetupReplies {
  start: Presenter<StartOutcome, StartOutcome>;
  agentCreated: Presenter<AgentCreated, AgentCreated>;
}

/** Every service, wired once: `replies` from the interface (server.ts passes http/replies.ts). */
export function assembleServices(deps: ServiceDeps, replies: ServiceReplies): Services {
  const keys = new KeyService(deps);
  const work = new WorkService(deps, keys, replies.start);
  const recorder = new ActivityRecorder(deps);
  return {
    deps,
    work,
    accounts: new AccountService(deps),
    agents: new AgentService(deps, work, replies.agentCreated),
    keys,
    holds: new HoldService(deps, work),
    hooks: createHookServices(deps, work),
    activity: new ActivityService(deps, recorder),
    rules: new RulesService(deps),
    plans: new PlanService(deps, recorder),
    audit: new AuditLogService(deps),
    value: new ValueService(deps),
    connection: new ConnectionService(deps, work, recorder, replies),
    retention: new RetentionService(deps, {
      activityDays: deps.config.activityRetentionDays,
      idempotencyHours: deps.config.idempotencyRetentionHours,
    }),
  };
}

export type { Presenter, Principal, Reply, ServiceDeps } from './context.js';
