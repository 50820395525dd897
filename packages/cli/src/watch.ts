/**
 * `availsync watch [resource] [--types a,b] [--json]`: the workspace's live events (GET /v1/events), one
 * line per event for people (colours only on a TTY, NO_COLOR honoured) or one JSON object per line. The
 * stream is resumed with Last-Event-ID after a dropped connection, so nothing is lost or repeated; Ctrl-C
 * ends it cleanly (exit 0).
 */
import { type CliConfig, EXIT } from './config.js';
import type { Io, Ui } from './ui.js';

export interface WatchOptions {
  resource?: string | undefined;
  types?: string | undefined;
  json: boolean;
  /** Ends the watch (Ctrl-C). */
  signal: AbortSignal;
  /** Between reconnects (ms; default 1 000). */
  retryMs?: number;
}

interface LiveEvent {
  id: number;
  type: string;
  created_at: string;
  data: Record<string, unknown>;
}

/** One human line: time, type, resource, who, and the claim or hold's id. */
export function describeEvent(e: LiveEvent, ui: Ui): string {
  const d = e.data as {
    resource?: string;
    agent?: { id: string; name: string | null };
    claim?: { id: string };
    hold?: { id: string };
    blocking_claim?: { id: string; agent_name: string | null };
    reason?: string | null;
  };
  const colour =
    e.type.endsWith('started') || e.type.endsWith('created')
      ? 'green'
      : e.type.includes('skipped') || e.type.includes('blocked') || e.type.includes('preempted') || e.type.includes('expired')
        ? 'yellow'
        : 'cyan';
  const who = d.agent ? (d.agent.name ?? d.agent.id) : '';
  const subject = d.claim?.id ?? d.hold?.id ?? '';
  const extra = d.blocking_claim ? ` held by ${d.blocking_claim.agent_name ?? d.blocking_claim.id}` : '';
  return [
    ui.c('dim', e.created_at),
    ui.c(colour, e.type.padEnd(19)),
    d.resource ?? '',
    who && `by ${who}`,
    ui.c('dim', subject),
    extra.trim(),
  ]
    .filter((x) => x !== '')
    .join('  ');
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

export async function watch(config: CliConfig, o: WatchOptions, ui: Ui, io: Io): Promise<number> {
  const url = new URL('/v1/events', config.apiUrl);
  if (o.types) url.searchParams.set('types', o.types);
  let lastId: number | undefined;
  let announced = false;
  while (!o.signal.aborted) {
    let res: Response;
    try {
      res = await fetch(url, {
        headers: {
          authorization: `Bearer ${config.apiKey}`,
          accept: 'text/event-stream',
          ...(lastId !== undefined ? { 'last-event-id': String(lastId) } : {}),
        },
        signal: o.signal,
      });
    } catch {
      if (o.signal.aborted) break;
      ui.warn(`cannot reach ${config.apiUrl}; retrying`);
      await sleep(o.retryMs ?? 1_000, o.signal);
      continue;
    }
    if (res.status !== 200) {
      const body = (await res.json().catch(() => ({}))) as { message?: string; details?: { reason?: string } };
      if (res.status === 409 && body.details?.reason === 'events_expired') {
        // Past retention: start again from now (what was missed is gone from the log).
        ui.warn('events were missed past the retention window; continuing from now');
        lastId = undefined;
        continue;
      }
      if (res.status >= 500 || res.status === 429) {
        await sleep(o.retryMs ?? 1_000, o.signal);
        continue;
      }
      ui.error(body.message ?? `the server answered ${res.status}`);
      return res.status === 400 ? EXIT.usage : EXIT.api;
    }
    // On stderr, so --json's stdout stays one JSON object per line.
    if (!announced) ui.info(`watching ${o.resource ?? 'the workspace'} (Ctrl-C to stop)`);
    announced = true;
    try {
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const decoder = new TextDecoder();
      let buf = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        for (let cut = buf.indexOf('\n\n'); cut >= 0; cut = buf.indexOf('\n\n')) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          const data = block
            .split('\n')
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5).replace(/^ /, ''))
            .join('\n');
          if (!data) continue;
          const e = JSON.parse(data) as LiveEvent;
          lastId = e.id;
          if (o.resource && e.data.resource !== o.resource) continue;
          io.stdout.write(`${o.json ? JSON.stringify(e) : describeEvent(e, ui)}\n`);
        }
      }
    } catch {
      // The connection dropped (or Ctrl-C): resume below with the last id.
    }
    if (!o.signal.aborted) await sleep(o.retryMs ?? 1_000, o.signal);
  }
  return 0;
}
