/**
 * Live events (GET /v1/events, Server-Sent Events) and the webhooks that carry the same events. One event
 * per committed change, written in the change's own transaction; `id` increases per workspace in the order
 * subscribers see events, so `Last-Event-ID` resumes with nothing lost and nothing repeated.
 */
import { z } from 'zod';

export const EVENT_TYPES = [
  'claim.started',
  'claim.extended',
  'claim.finished',
  'claim.released',
  'claim.expired',
  'claim.preempted',
  'run.skipped',
  'working_set.updated',
  'working_set.blocked',
  'hold.created',
  'hold.confirmed',
  'hold.released',
  'hold.expired',
  'queue.joined',
  'queue.left',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];
export const EventTypeSchema = z.enum(EVENT_TYPES);

/** What an agent key may subscribe to: its workspace's claim, working-set and hold events. */
export const AGENT_EVENT_PREFIXES = ['claim.', 'run.', 'working_set.', 'hold.', 'queue.'] as const;

export function isAgentVisibleEvent(type: string): boolean {
  return AGENT_EVENT_PREFIXES.some((p) => type.startsWith(p));
}

/** A heartbeat comment is sent this often so proxies keep an idle stream open. */
export const EVENT_HEARTBEAT_SECONDS = 15;
/** Events are kept at least this long (Last-Event-ID can resume within it). */
export const EVENT_RETENTION_DAYS = 7;

export const LiveEvent = z.object({
  id: z.number().int().positive().describe('Increasing per workspace; send it back as Last-Event-ID to resume'),
  type: EventTypeSchema,
  created_at: z.string().describe('RFC 3339'),
  workspace_id: z.string(),
  data: z.record(z.string(), z.unknown()),
});
export type LiveEvent = z.infer<typeof LiveEvent>;
