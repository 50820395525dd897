/**
 * GET /v1/events: the workspace's live events as Server-Sent Events. Everything that can
 * refuse does so before the stream starts (bad types or id: 400; an id past retention: 409; too many
 * streams: 429), so an EventSource sees a plain error answer, not a stream that ends at once.
 */
import { EVENT_HEARTBEAT_SECONDS, EVENT_TYPES, LiveEvent } from '@availsync/protocol';
import { createRoute, z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { parseLastEventId, parseTypes } from '../../services/events/stream.js';
import type { Router } from '../registry.js';

const EventsQuery = z.object({
  types: z
    .string()
    .max(1_000)
    .optional()
    .openapi({ description: `Comma-separated event types to receive (default every type): ${EVENT_TYPES.join(', ')}` }),
  last_event_id: z
    .string()
    .max(20)
    .optional()
    .openapi({ description: 'Resume after this id, for clients that cannot send the Last-Event-ID header' }),
});

export function eventRoutes(r: Router) {
  const { eventStreams, deps } = r.services;
  const heartbeatMs = EVENT_HEARTBEAT_SECONDS * 1_000;

  r.add(
    'either',
    createRoute({
      method: 'get',
      path: '/v1/events',
      operationId: 'streamEvents',
      tags: ['Events'],
      summary: 'Live events (Server-Sent Events)',
      description:
        'Each message has `id` (increasing; send it back as Last-Event-ID to resume with nothing lost or repeated), `event` (the type) ' +
        'and `data` (the event JSON). A comment line is sent every 15 s. A workspace session receives every event, an agent key its ' +
        "workspace's claim, run, working-set, hold and queue events. 409 (details.reason `events_expired`): the id is older than the " +
        'retention window, so reload the state and reconnect without it. A subscriber that does not keep up is disconnected: it ' +
        'resumes with its Last-Event-ID.',
      request: { query: EventsQuery },
      responses: {
        200: {
          description: 'The event stream; each `data:` line is one event',
          content: { 'text/event-stream': { schema: LiveEvent } },
        },
        409: { description: 'events_expired: the Last-Event-ID is past retention' },
        429: { description: 'Too many open streams for this workspace' },
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const types = parseTypes(q.types);
      const after = parseLastEventId(c.req.header('last-event-id') ?? q.last_event_id);
      const sub = await eventStreams.open(c.get('principal'), { after, types });
      // Proxies that buffer (nginx) pass the stream through as it is written.
      c.header('X-Accel-Buffering', 'no');
      const res = streamSSE(c, async (stream) => {
        const stop = new AbortController();
        const end = () => {
          stop.abort();
          sub.close();
        };
        stream.onAbort(end);
        // Cut off for not draining, or closed at shutdown: the loop below ends the answer; a write stuck
        // behind a full socket is aborted instead.
        let writing = false;
        sub.onEnd = () => {
          if (writing) stream.abort();
        };
        const write = async (text: string) => {
          writing = true;
          try {
            await stream.write(text);
          } finally {
            writing = false;
          }
        };
        try {
          // A first line at once, so the client knows the stream is open before any event.
          await write(': connected\n\n');
          while (!stop.signal.aborted) {
            const batch = await sub.take();
            if (sub.overflowed || sub.closed) break;
            if (batch.length > 0) {
              for (const e of batch) await write(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
              continue;
            }
            const beat = new AbortController();
            const onStop = () => beat.abort();
            stop.signal.addEventListener('abort', onStop, { once: true });
            const woke = await Promise.race([
              sub.changed().then(() => 'event' as const),
              deps.clock.sleep(heartbeatMs, beat.signal).then(() => 'beat' as const),
            ]);
            beat.abort();
            stop.signal.removeEventListener('abort', onStop);
            if (woke === 'beat' && !stop.signal.aborted) await write(': heartbeat\n\n');
          }
        } finally {
          end();
        }
      });
      // Every /v1 answer is no-store; streamSSE's default is no-cache.
      res.headers.set('Cache-Control', 'no-store');
      return res;
    },
  );
}
