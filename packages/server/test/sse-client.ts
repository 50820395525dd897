/**
 * A real Server-Sent Events client for the suites (fetch + a stream parser, as the spec's grammar has it):
 * it records every message and comment line, and lets a test wait for a count without any timer.
 */
import { deferred } from '@availsync/testkit';

export interface SseMessage {
  id: string | undefined;
  event: string;
  data: string;
}

export interface SseClient {
  status: number;
  headers: Headers;
  /** The JSON body of a refused answer (not a stream). */
  error: unknown;
  messages: SseMessage[];
  comments: string[];
  /** Parsed `data` of every message. */
  events(): { id: number; type: string; created_at: string; workspace_id: string; data: Record<string, unknown> }[];
  /** Resolves once `n` messages (or `comments` comment lines) have arrived; rejects if the stream ends first. */
  until(n: number, what?: 'messages' | 'comments'): Promise<void>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  close(): void;
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const messages: SseMessage[] = [];
  const comments: string[] = [];
  const waiters: { n: number; what: 'messages' | 'comments'; done: () => void; fail: (e: Error) => void }[] = [];
  const end = deferred<void>();
  let finished = false;
  const check = () => {
    for (const w of [...waiters]) {
      const have = w.what === 'messages' ? messages.length : comments.length;
      if (have >= w.n) {
        waiters.splice(waiters.indexOf(w), 1);
        w.done();
      } else if (finished) {
        waiters.splice(waiters.indexOf(w), 1);
        w.fail(new Error(`stream ended with ${have} ${w.what}, waiting for ${w.n}`));
      }
    }
  };
  const isStream = res.headers.get('content-type')?.startsWith('text/event-stream') ?? false;
  let error: unknown;
  if (!isStream) {
    const text = await res.text();
    try {
      error = JSON.parse(text);
    } catch {
      error = text;
    }
    finished = true;
    end.resolve();
  } else {
    void (async () => {
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const decoder = new TextDecoder();
      let buf = '';
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          buf += decoder.decode(value, { stream: true });
          let cut = buf.indexOf('\n\n');
          while (cut >= 0) {
            const block = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            const msg: SseMessage = { id: undefined, event: 'message', data: '' };
            const data: string[] = [];
            let isMessage = false;
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) comments.push(line.slice(1).trim());
              else {
                const i = line.indexOf(':');
                const field = i < 0 ? line : line.slice(0, i);
                const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
                isMessage = true;
                if (field === 'id') msg.id = value;
                else if (field === 'event') msg.event = value;
                else if (field === 'data') data.push(value);
              }
            }
            if (isMessage) {
              msg.data = data.join('\n');
              messages.push(msg);
            }
            cut = buf.indexOf('\n\n');
          }
          check();
        }
      } catch {
        // aborted by close()
      } finally {
        finished = true;
        check();
        end.resolve();
      }
    })();
  }
  return {
    status: res.status,
    headers: res.headers,
    error,
    messages,
    comments,
    events: () => messages.map((m) => JSON.parse(m.data)),
    until(n, what = 'messages') {
      const d = deferred<void>();
      waiters.push({ n, what, done: () => d.resolve(), fail: (e) => d.reject(e) });
      check();
      return d.promise;
    },
    ended: end.promise,
    close: () => abort.abort(),
  };
}
