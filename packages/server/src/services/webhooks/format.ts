/** What a delivery carries: the event as SSE's `data` (protocol LiveEvent), or a Slack-compatible text. */
import type { LiveEvent } from '@availsync/protocol';
import { iso } from '../../clock.js';
import type { EventRow } from '../../storage/queries/events.js';

export type DeliveryEvent = Omit<LiveEvent, 'type'> & { type: string };

export function liveEvent(row: EventRow): DeliveryEvent {
  return {
    id: Number(row.seq),
    type: row.type,
    created_at: iso(Number(row.created_at)),
    workspace_id: row.org_id,
    data: JSON.parse(row.data) as Record<string, unknown>,
  };
}

const str = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? String(v) : undefined);

/** One line a person reads in a channel: the type, then what it is about. */
export function slackText(e: DeliveryEvent): string {
  const d = e.data;
  const agent = d.agent as { name?: unknown; id?: unknown } | undefined;
  const parts = [
    str(d.resource),
    str(agent?.name) ?? str(d.agent_name) ?? str(agent?.id) ?? str(d.agent_id),
    str(d.reason_code) ?? str(d.reason),
  ].filter((p): p is string => p !== undefined);
  return `Availsync: ${e.type}${parts.length ? ` — ${parts.join(' · ')}` : ''} (${e.created_at})`;
}

export function deliveryBody(format: string, e: DeliveryEvent): string {
  return format === 'slack' ? JSON.stringify({ text: slackText(e) }) : JSON.stringify(e);
}
