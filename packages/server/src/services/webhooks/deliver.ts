/**
 * One delivery attempt: sign, POST to the checked address, read a little of the answer. Redirects are
 * not followed (a 3xx is a failure); 10 s per attempt; the answer's body is read up to a small cap and
 * then dropped, so a hostile endpoint can neither hold the worker nor fill its memory.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { WEBHOOK_EVENT_ID_HEADER, WEBHOOK_SIGNATURE_HEADER } from '@availsync/protocol';
import { VERSION } from '../../version.js';
import { type CheckedTarget, checkTarget, TargetRefused } from './address-guard.js';

export const ATTEMPT_TIMEOUT_MS = 10_000;
const RESPONSE_CAP_BYTES = 4_096;

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. */
export function signature(secret: string, unixSeconds: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

export interface AttemptResult {
  ok: boolean;
  status: number | null;
  error: string | null;
  durationMs: number;
}

export interface Attempt {
  url: string;
  secret: string;
  eventId: string;
  body: string;
  /** The clock's now (ms): the signature's timestamp. */
  now: number;
  allowPrivate: boolean;
}

function post(target: CheckedTarget, headers: Record<string, string>, body: string): Promise<{ status: number }> {
  const pinned: LookupFunction = (_host, opts, cb) => {
    if ((opts as { all?: boolean }).all)
      (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [
        { address: target.address, family: target.family },
      ]);
    else cb(null, target.address, target.family);
  };
  const mod = target.url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(target.url, { method: 'POST', headers, lookup: pinned, timeout: ATTEMPT_TIMEOUT_MS, agent: false }, (res) => {
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > RESPONSE_CAP_BYTES) res.destroy();
      });
      const done = () => resolve({ status: res.statusCode ?? 0 });
      res.on('end', done);
      res.on('close', done);
      res.on('error', done);
    });
    // One deadline for the whole attempt (connect, send, answer), not only for an idle socket.
    const deadline = setTimeout(() => req.destroy(new Error(`no answer within ${ATTEMPT_TIMEOUT_MS / 1000} s`)), ATTEMPT_TIMEOUT_MS);
    deadline.unref();
    req.on('timeout', () => req.destroy(new Error(`no answer within ${ATTEMPT_TIMEOUT_MS / 1000} s`)));
    req.on('error', (err) => reject(err));
    req.on('close', () => clearTimeout(deadline));
    req.end(body);
  });
}

export async function attempt(a: Attempt): Promise<AttemptResult> {
  const t0 = performance.now();
  const elapsed = () => Math.round(performance.now() - t0);
  let target: CheckedTarget;
  try {
    target = await checkTarget(a.url, a.allowPrivate);
  } catch (err) {
    const message = err instanceof TargetRefused ? err.message : String(err);
    return { ok: false, status: null, error: `refused: ${message}`, durationMs: elapsed() };
  }
  const t = Math.floor(a.now / 1000);
  const headers = {
    'content-type': 'application/json',
    'user-agent': `Availsync-Webhooks/${VERSION}`,
    [WEBHOOK_EVENT_ID_HEADER.toLowerCase()]: a.eventId,
    [WEBHOOK_SIGNATURE_HEADER.toLowerCase()]: signature(a.secret, t, a.body),
    'content-length': String(Buffer.byteLength(a.body)),
  };
  try {
    const { status } = await post(target, headers, a.body);
    const ok = status >= 200 && status < 300;
    return { ok, status, error: ok ? null : `HTTP ${status}`, durationMs: elapsed() };
  } catch (err) {
    return { ok: false, status: null, error: (err as Error).message.slice(0, 300), durationMs: elapsed() };
  }
}
