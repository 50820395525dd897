/**
 * The dashboard's one live connection per tab to GET /v1/events (cookie auth). Pages that used to poll
 * reload when an event arrives instead (debounced: a burst of events costs one reload), and fall back to
 * their timer only while the stream is down. A fetch-based reader rather than EventSource, because every
 * call names its workspace in the X-Availsync-Workspace header (api.ts), which EventSource cannot send.
 * It reconnects with Last-Event-ID; an id past retention (409) reconnects from now and reloads everything.
 */
import { useEffect, useState } from 'react';
import { currentWorkspace } from './api';

type Listener = () => void;
type Status = 'connecting' | 'live' | 'offline';

const listeners = new Set<Listener>();
const statusListeners = new Set<(s: Status) => void>();
let status: Status = 'connecting';
let running: AbortController | undefined;
let lastId: string | undefined;
let debounce: ReturnType<typeof setTimeout> | undefined;
let connectedWorkspace: string | undefined;

function setStatus(s: Status) {
  status = s;
  for (const fn of statusListeners) fn(s);
}

function touched() {
  if (debounce) return;
  debounce = setTimeout(() => {
    debounce = undefined;
    for (const fn of [...listeners]) fn();
  }, 300);
}

async function connect(signal: AbortSignal) {
  while (!signal.aborted) {
    try {
      const headers: Record<string, string> = { accept: 'text/event-stream' };
      const ws = currentWorkspace();
      if (ws) headers['X-Availsync-Workspace'] = ws;
      if (lastId) headers['Last-Event-ID'] = lastId;
      const res = await fetch('/v1/events', { headers, credentials: 'same-origin', signal });
      if (res.status === 409) {
        lastId = undefined;
        touched();
        continue;
      }
      if (res.status !== 200 || !res.body) throw new Error(String(res.status));
      setStatus('live');
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        for (let cut = buf.indexOf('\n\n'); cut >= 0; cut = buf.indexOf('\n\n')) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          const id = block.split('\n').find((l) => l.startsWith('id:'));
          if (id) {
            lastId = id.slice(3).trim();
            touched();
          }
        }
      }
    } catch {
      // offline, signed out, or aborted: try again below
    }
    if (signal.aborted) return;
    setStatus('offline');
    await new Promise((r) => setTimeout(r, 3000));
  }
}

function ensureConnected() {
  if (running && connectedWorkspace === currentWorkspace()) return;
  if (running) {
    // The workspace switcher moved on: ids are per workspace, so the resume point resets.
    running.abort();
    lastId = undefined;
  }
  connectedWorkspace = currentWorkspace();
  running = new AbortController();
  void connect(running.signal);
}

/** Call `fn` (debounced) whenever an event arrives; while `live` is false the caller keeps polling. */
export function useLiveReload(fn: Listener, enabled: boolean): boolean {
  const live = useLiveStatus() === 'live';
  useEffect(() => {
    if (!enabled) return;
    listeners.add(fn);
    ensureConnected();
    return () => {
      listeners.delete(fn);
    };
  }, [fn, enabled]);
  return live;
}

export function useLiveStatus(): Status {
  const [s, setS] = useState(status);
  useEffect(() => {
    statusListeners.add(setS);
    return () => {
      statusListeners.delete(setS);
    };
  }, []);
  return s;
}

/** A small dot: live (updates as they happen), or offline (polling). */
export function LiveIndicator() {
  const s = useLiveStatus();
  const label = s === 'live' ? 'Live' : s === 'connecting' ? 'Connecting…' : 'Offline: refreshing every few seconds';
  return (
    <span className={`live-indicator ${s}`} title={label} aria-label={label} role="status">
      <span aria-hidden="true">{s === 'live' ? '●' : '○'}</span> {s === 'live' ? 'Live' : ''}
    </span>
  );
}
