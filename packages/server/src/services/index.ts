/**
 * The services, composed: each a use case's home, taking its dependencies (store, clock, logger, config)
 * as ServiceDeps and answering with outcomes, never HTTP. server.ts builds them (createServices) with the
 * HTTP layer's replies for the few places a service answers as a route would.
 */
import { AccountSecurityService } from './account-security.js';
import { AccountService } from './accounts.js';
import { ActivityRecorder, ActivityService } from './activity.js';
import { type AgentCreated, AgentService } from './agents.js';
import { AuditLogService } from './audit-read.js';
import type { Presenter, ServiceDeps } from './context.js';
import { EventFeed } from './events/feed.js';
import { EventStreams } from './events/stream.js';
import { HoldService } from './holds.js';
import { createHookServices, type HookServices } from './hooks/index.js';
import { InviteService } from './invites.js';
import { createMailer, type Mailer } from './mailer.js';
import { MemberService } from './members.js';
import { OperationsService } from './operations.js';
import { PlanService } from './plans.js';
import { PresenceService } from './presence.js';
import { PrincipalService } from './principals.js';
import { RetentionService } from './retention.js';
import { RulesService } from './rules.js';
import { SetupCheckService, type SetupReplies } from './setup-checks.js';
import { ValueReportService } from './value-report.js';
import { createWebhooks, type WebhookService, type WebhookWorker } from './webhooks/index.js';
import { type StartOutcome, WorkService } from './work/index.js';

export interface Services {
  deps: ServiceDeps;
  work: WorkService;
  accounts: AccountService;
  agents: AgentService;
  /** Agent API keys to principals, with the claim path's key cache. */
  keys: PrincipalService;
  holds: HoldService;
  hooks: HookServices;
  // governance (issue 4)
  activity: ActivityService;
  rules: RulesService;
  plans: PlanService;
  audit: AuditLogService;
  value: ValueReportService;
  setup: SetupCheckService;
  presence: PresenceService;
  retention: RetentionService;
  /** Diagnostics and the database's health, for the HTTP layer's /health, /metrics and error handler. */
  ops: OperationsService;
  /** This process's reader of the event log: every live subscriber (SSE, webhooks) listens to it. */
  events: EventFeed;
  /** GET /v1/events subscriptions on this node, over `events`. */
  eventStreams: EventStreams;
  // teams (issue 19)
  mailer: Mailer;
  members: MemberService;
  invites: InviteService;
  accountSecurity: AccountSecurityService;
  // webhooks (issue 18)
  webhooks: WebhookService;
  /** This process's delivery worker (server.ts starts and stops it). */
  webhookWorker: WebhookWorker;
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
  const keys = new PrincipalService(deps);
  const work = new WorkService(deps, keys, replies.start);
  const recorder = new ActivityRecorder(deps);
  const mailer = createMailer(deps.config, deps.logger);
  const events = new EventFeed({ store: deps.store, clock: deps.clock, logger: deps.logger, notifications: deps.store.notifications });
  const { webhooks, worker } = createWebhooks(deps, events);
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
    value: new ValueReportService(deps),
    setup: new SetupCheckService(deps, work, recorder, replies),
    presence: new PresenceService(deps),
    retention: new RetentionService(deps, {
      activityDays: deps.config.activityRetentionDays,
      eventDays: deps.config.eventRetentionDays,
      idempotencyHours: deps.config.idempotencyRetentionHours,
    }),
    ops: new OperationsService(deps),
    events,
    eventStreams: new EventStreams(deps.store, events, deps.config.eventStreams),
    mailer,
    members: new MemberService(deps),
    invites: new InviteService(deps, mailer),
    accountSecurity: new AccountSecurityService(deps, mailer),
    webhooks,
    webhookWorker: worker,
  };
}

export type { Presenter, Principal, Reply, ServiceDeps } from './context.js';
