import { AccountSecurityService } from './account-security.js';
import { AccountService } from './accounts.js';
import { ActivityRecorder, ActivityService } from './activity.js';
import { AgentService } from './agents.js';
import { AuditLogService } from './audit-log.js';
import { ConnectionService } from './connection.js';
import type { ServiceDeps } from './context.js';
import { HoldService } from './holds.js';
import { createHookServices, type HookServices } from './hooks/index.js';
import { InviteService } from './invites.js';
import { KeyService } from './keys.js';
import { createMailer, type Mailer } from './mailer.js';
import { MemberService } from './members.js';
import { PlanService } from './plans.js';
import { RetentionService } from './retention.js';
import { RulesService } from './rules.js';
import { ValueService } from './value.js';
import { WorkService } from './work.js';

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
  // teams (issue 19)
  mailer: Mailer;
  members: MemberService;
  invites: InviteService;
  accountSecurity: AccountSecurityService;
}

export function createServices(deps: ServiceDeps): Services {
  const keys = new KeyService(deps);
  const work = new WorkService(deps, keys);
  const recorder = new ActivityRecorder(deps);
  const mailer = createMailer(deps.config, deps.logger);
  return {
    deps,
    work,
    accounts: new AccountService(deps),
    agents: new AgentService(deps, work),
    keys,
    holds: new HoldService(deps, work),
    hooks: createHookServices(deps, work),
    activity: new ActivityService(deps, recorder),
    rules: new RulesService(deps),
    plans: new PlanService(deps, recorder),
    audit: new AuditLogService(deps),
    value: new ValueService(deps),
    connection: new ConnectionService(deps, work, recorder),
    retention: new RetentionService(deps, {
      activityDays: deps.config.activityRetentionDays,
      idempotencyHours: deps.config.idempotencyRetentionHours,
    }),
    mailer,
    members: new MemberService(deps),
    invites: new InviteService(deps, mailer),
    accountSecurity: new AccountSecurityService(deps, mailer),
  };
}

export type { Principal, Reply, ServiceDeps } from './context.js';
