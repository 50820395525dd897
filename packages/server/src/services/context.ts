/** What every service is handed and speaks in: its dependencies, the caller (Principal), and Reply/Presenter. */
import type { Selectable } from 'kysely';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Role } from '../domain/roles.js';
import type { Logger } from '../logger.js';
import type { AgentsTable, OrgsTable } from '../storage/schema.js';
import type { Store } from '../storage/store.js';

export type AgentRow = Selectable<AgentsTable>;
export type OrgRow = Selectable<OrgsTable>;

/** What every service receives: handed in as interfaces so tests pass a manual clock and a temp store. */
export interface ServiceDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  config: Pick<
    Config,
    | 'defaultPlan'
    | 'secureCookies'
    | 'activityRetentionDays'
    | 'eventRetentionDays'
    | 'eventStreams'
    | 'idempotencyRetentionHours'
    | 'trustProxy'
    | 'signupsPerHour'
    | 'publicUrl'
    | 'smtpUrl'
    | 'smtpFrom'
    | 'secretsKey'
    | 'webhookAllowPrivate'
  >;
}

/** Who is calling: an agent with its key, or a workspace user with a session cookie. */
export type Principal =
  | {
      kind: 'agent';
      org: OrgRow;
      agent: AgentRow;
      /** Taken from this node's key cache: its transaction confirms it (services/principals.ts). */
      unconfirmed?: { hash: string; fingerprint: string } | undefined;
    }
  | { kind: 'user'; org: OrgRow; userId: string; sessionHash: string; role: Role };

export type Actor = { type: 'agent' | 'user' | 'system'; id: string | null };

export function actorOf(p: Principal): Actor {
  return p.kind === 'agent' ? { type: 'agent', id: p.agent.id } : { type: 'user', id: p.userId };
}

/** Idempotency keys are scoped to the agent or user that sent them. */
export function idempotencyScope(p: Principal): string {
  return p.kind === 'agent' ? p.agent.id : p.userId;
}

/**
 * An outcome as the interface answers it: what an idempotent request keeps for its replays (services/
 * idempotency.ts), so that a replay answers exactly as the first request did. Built by a Presenter.
 */
export interface Reply<B = unknown> {
  status: number;
  body: B;
  headers?: Record<string, string>;
}

/**
 * Outcome → Reply. The interface supplies it (http/replies.ts): a route hands one to the use case it
 * calls, and services that answer as a route would (a hook's start, the setup test) are given one when
 * the services are composed (server.ts). Services never build a status themselves.
 */
export type Presenter<O, B = unknown> = (outcome: O) => Reply<B>;
