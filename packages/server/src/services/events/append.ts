/**
 * Building and appending live events from the use cases that make the changes: one event per
 * committed change, appended in the change's own transaction (storage/queries/events.ts appendEvents:
 * a deferred insert, so the claim path pays no extra round trip). `data` carries what a subscriber needs
 * without asking back: the claim or hold as the API shows it, the resource, the agent.
 */
import type { EventType } from '@availsync/protocol';
import { appendEvents } from '../../storage/queries/events.js';
import type { Store, Tx } from '../../storage/store.js';
import { type Actor, actorOf, type Principal } from '../context.js';

export interface EventAgent {
  id: string;
  /** Null where the use case did not read it (a change made by a user or the system). */
  name: string | null;
}

/** The agent as far as the caller knows it: its name is known when it is the acting agent. */
export function agentOf(agentId: string, p?: Principal): EventAgent {
  return { id: agentId, name: p?.kind === 'agent' && p.agent.id === agentId ? p.agent.name : null };
}

/** The acting principal, as subscribers see it (the system's own changes: the sweeper). */
export function actorData(p: Principal | undefined): Actor {
  return p ? actorOf(p) : { type: 'system', id: null };
}

/** Append one event of `type` in `trx`; `data` is the event's payload as subscribers receive it. */
export function emitEvent(
  store: Store,
  trx: Tx,
  orgId: string,
  type: EventType,
  now: number,
  data: Record<string, unknown>,
): Promise<void> {
  return appendEvents(store, trx, [{ org_id: orgId, type, created_at: now, data }]);
}
