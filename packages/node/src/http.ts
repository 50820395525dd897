/**
 * The transport: one `request()` that every method goes through. It adds the key, a per-attempt timeout
 * and the caller's AbortSignal, turns error answers into AvailsyncError, and retries only where a retry
 * cannot do harm:
 *
 * - 429 on any call (a rate-limited request was not processed);
 * - network errors, timeouts and 5xx on idempotent calls only: GETs and DELETEs, POSTs whose effect is the
 *   same however often they land (extend, finish, working-set, check, heartbeat), and POSTs that carry an
 *   Idempotency-Key (start, holds.create, usage), which is generated once per call and sent unchanged on
 *   every retry, so a replay returns the first answer instead of creating a second claim.
 *
 * Backoff is exponential with full jitter, capped; a Retry-After header (seconds or an HTTP date) sets the
 * wait instead, and a wait longer than `maxRetryAfterMs` is not waited for: the error is thrown with
 * `retryAfterMs` so the caller can decide.
 */
import { randomUUID } from 'node:crypto';
import { AvailsyncError, kindOfStatus, redact } from './errors.js';
import type { ErrorBody } from './types.js';
import { VERSION } from './version.js';

/** The part of a fetch Response the SDK reads. */
export interface FetchResponseLike {
  status: number;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}

export interface FetchInitLike {
  method: string;
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

/** `globalThis.fetch` or any function with its shape (undici, node-fetch, a test double). */
export type FetchLike = (url: string, init: FetchInitLike) => Promise<FetchResponseLike>;

export interface RetryInfo {
  /** The attempt that failed, from 1. */
  attempt: number;
  /** How long the SDK waits before the next attempt. */
  delayMs: number;
  /** Whether the wait came from the server's Retry-After. */
  fromRetryAfter: boolean;
  error: AvailsyncError;
  method: string;
  path: string;
}

export interface TransportOptions {
  apiKey: string;
  baseUrl: string;
  timeoutMs: number;
  maxRetries: number;
  fetch: FetchLike;
  retryBaseDelayMs: number;
  retryMaxDelayMs: number;
  maxRetryAfterMs: number;
  userAgent?: string;
  onRetry?: (info: RetryInfo) => void;
}

/** Per-call options every method accepts as its last argument. */
export interface RequestOptions {
  /** Abort this call (and its retries). The promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Override the client's timeout for each attempt of this call (0 or Infinity: none). */
  timeoutMs?: number;
  /** Override the client's maxRetries for this call (0 disables retries). */
  maxRetries?: number;
}

export interface Call {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  query?: Record<string, string | number | boolean | undefined | null>;
  body?: unknown;
  /** Safe to repeat: retried on network errors, timeouts and 5xx. */
  idempotent: boolean;
  /** Send this Idempotency-Key (or generate one when `true`); implies `idempotent`. */
  idempotencyKey?: string | true;
  /** Error statuses whose body is an answer, not an error (working-set's 409 `blocked`). */
  accept?: (status: number, body: unknown) => boolean;
  options?: RequestOptions;
}

export interface Answer<T> {
  status: number;
  body: T;
  headers: FetchResponseLike['headers'];
  requestId: string | null;
  /** Attempts made, from 1. */
  attempts: number;
  /** The server answered with a stored idempotent replay. */
  replayed: boolean;
}

const sleep = (ms: number, signal: AbortSignal | undefined) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Seconds or an HTTP date, in milliseconds from now; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (value == null || value.trim() === '') return null;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

export function generateIdempotencyKey(): string {
  return `avs-node-${randomUUID()}`;
}

function buildUrl(baseUrl: string, path: string, query: Call['query']): string {
  const url = new URL(baseUrl.replace(/\/+$/, '') + path);
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
  }
  return url.toString();
}

export class Transport {
  constructor(private readonly opts: TransportOptions) {}

  get baseUrl(): string {
    return this.opts.baseUrl;
  }

  async request<T>(call: Call): Promise<Answer<T>> {
    const o = this.opts;
    const signal = call.options?.signal;
    const maxRetries = Math.max(0, call.options?.maxRetries ?? o.maxRetries);
    const timeoutMs = call.options?.timeoutMs ?? o.timeoutMs;
    const idempotencyKey = call.idempotencyKey === true ? generateIdempotencyKey() : call.idempotencyKey;
    const idempotent = call.idempotent || idempotencyKey !== undefined;
    const url = buildUrl(o.baseUrl, call.path, call.query);
    const headers: Record<string, string> = {
      authorization: `Bearer ${o.apiKey}`,
      accept: 'application/json',
      'user-agent': o.userAgent ?? `availsync-node/${VERSION} node/${typeof process === 'undefined' ? 'unknown' : process.version}`,
    };
    if (call.body !== undefined) headers['content-type'] = 'application/json';
    if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
    const body = call.body === undefined ? undefined : JSON.stringify(call.body);

    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw signal.reason;
      let error: AvailsyncError;
      try {
        const answer = await this.attempt<T>(url, call, headers, body, timeoutMs, signal);
        return { ...answer, attempts: attempt };
      } catch (err) {
        if (!(err instanceof AvailsyncError)) throw err; // the caller's abort, or a bug
        error = err;
      }
      const retryable =
        error.status === 429 ||
        (idempotent && (error.kind === 'network' || error.kind === 'timeout' || (error.status !== null && error.status >= 500)));
      if (!retryable || attempt > maxRetries) throw error;
      let delayMs: number;
      let fromRetryAfter = false;
      if (error.retryAfterMs !== null) {
        if (error.retryAfterMs > o.maxRetryAfterMs) throw error;
        delayMs = error.retryAfterMs;
        fromRetryAfter = true;
      } else {
        const ceiling = Math.min(o.retryMaxDelayMs, o.retryBaseDelayMs * 2 ** (attempt - 1));
        delayMs = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
      }
      o.onRetry?.({ attempt, delayMs, fromRetryAfter, error, method: call.method, path: call.path });
      await sleep(delayMs, signal);
    }
  }

  private async attempt<T>(
    url: string,
    call: Call,
    headers: Record<string, string>,
    body: string | undefined,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<Omit<Answer<T>, 'attempts'>> {
    const o = this.opts;
    // One controller per attempt: aborted by the caller's signal or by this attempt's timeout.
    // (AbortSignal.any needs Node 20.3; the SDK supports Node 18.)
    const controller = new AbortController();
    let timedOut = false;
    // 0 or Infinity: no timeout at all (setTimeout would fire at once, or after 1 ms for Infinity).
    const timer =
      timeoutMs > 0 && Number.isFinite(timeoutMs)
        ? setTimeout(() => {
            timedOut = true;
            controller.abort();
          }, timeoutMs)
        : undefined;
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      let res: FetchResponseLike;
      let text: string;
      try {
        res = await o.fetch(url, { method: call.method, headers, body, signal: controller.signal });
        text = await res.text();
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (timedOut) {
          throw new AvailsyncError({
            kind: 'timeout',
            code: 'timeout',
            message: `${call.method} ${call.path} timed out after ${timeoutMs} ms (Availsync at ${o.baseUrl})`,
          });
        }
        throw this.networkError(call, err);
      }
      const requestId = res.headers.get('x-request-id');
      let parsed: unknown;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      const replayed = res.headers.get('idempotent-replayed') === 'true';
      if (res.status >= 200 && res.status < 300) {
        if (parsed === undefined || parsed === null || typeof parsed !== 'object') {
          throw new AvailsyncError({
            kind: 'api',
            code: 'invalid_response',
            status: res.status,
            requestId,
            message: `${call.method} ${call.path}: the server answered ${res.status} without a JSON object (is ${o.baseUrl} an Availsync server?)`,
          });
        }
        return { status: res.status, body: parsed as T, headers: res.headers, requestId, replayed };
      }
      if (call.accept?.(res.status, parsed)) {
        return { status: res.status, body: parsed as T, headers: res.headers, requestId, replayed };
      }
      throw this.httpError(call, res, parsed, text, requestId);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private networkError(call: Call, err: unknown): AvailsyncError {
    const key = this.opts.apiKey;
    const cause = err as { message?: unknown; code?: unknown; cause?: { message?: unknown; code?: unknown } } | null;
    const detail = [cause?.message, cause?.cause?.message].filter((m): m is string => typeof m === 'string' && m !== '').join(': ');
    const code = typeof cause?.cause?.code === 'string' ? cause.cause.code : typeof cause?.code === 'string' ? cause.code : undefined;
    const safe = new Error(redact(detail || String(err), key));
    if (code) (safe as Error & { code?: string }).code = code;
    return new AvailsyncError({
      kind: 'network',
      code: 'network_error',
      message: redact(`Could not reach Availsync at ${this.opts.baseUrl} (${call.method} ${call.path}): ${detail || 'network error'}`, key),
      cause: safe,
    });
  }

  private httpError(call: Call, res: FetchResponseLike, parsed: unknown, text: string, requestId: string | null): AvailsyncError {
    const key = this.opts.apiKey;
    const envelope =
      parsed !== null && typeof parsed === 'object' && typeof (parsed as ErrorBody).error === 'string' ? (parsed as ErrorBody) : null;
    const code = envelope?.error ?? `http_${res.status}`;
    const serverMessage =
      typeof envelope?.message === 'string' && envelope.message !== ''
        ? envelope.message
        : text
          ? text.slice(0, 200).replace(/\s+/g, ' ').trim()
          : `HTTP ${res.status}`;
    const message = redact(
      `${serverMessage} (${call.method} ${call.path} → ${res.status} ${code}${requestId ? `, ${requestId}` : ''})`,
      key,
    );
    return new AvailsyncError({
      kind: kindOfStatus(res.status, code),
      code,
      status: res.status,
      requestId: requestId ?? (typeof envelope?.request_id === 'string' ? envelope.request_id : null),
      details: envelope?.details ?? null,
      body: envelope,
      retryAfterMs: parseRetryAfter(res.headers.get('retry-after')),
      message,
    });
  }
}
