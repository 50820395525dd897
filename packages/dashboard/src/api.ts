/**
 * The dashboard's one way to call the API: same-origin, the session cookie, the CSRF token from
 * GET /v1/session on every state-changing call, and errors carried as the API's own words.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
    readonly requestId?: string,
  ) {
    super(message);
  }
}

let csrfToken = '';
let onExpired: ((message: string) => void) | undefined;

export function setCsrfToken(token: string) {
  csrfToken = token;
}

let workspace: string | undefined;
/** The workspace every call acts in (the one the URL names): sent as X-Availsync-Workspace. */
export function setWorkspace(id: string | undefined) {
  workspace = id;
}

export function currentWorkspace(): string | undefined {
  return workspace;
}

/** Called when a signed-in call answers 401: the session expired or was signed out elsewhere. */
export function onSessionExpired(fn: (message: string) => void) {
  onExpired = fn;
}

/** The API's message, with each field of a validation error spelled out. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    const details = err.details;
    if (err.code === 'invalid_request' && details && typeof details === 'object') {
      const parts = Object.entries(details).map(([k, v]) => `${k}: ${String(v)}`);
      if (parts.length > 0) return `${err.message} — ${parts.join('; ')}`;
    }
    if (err.code === 'plan_limit_reached' && details) {
      const d = details as { limit?: string; current?: number; max?: number; plan?: string };
      return `${err.message} (${d.limit}: ${d.current} of ${d.max} on the ${d.plan} plan)`;
    }
    return err.message;
  }
  if (err instanceof TypeError) return 'The server could not be reached. Check that it is running and try again.';
  return err instanceof Error ? err.message : String(err);
}

export async function api<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET') headers['X-CSRF-Token'] = csrfToken;
  if (workspace) headers['X-Availsync-Workspace'] = workspace;
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let data: unknown = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = { message: text };
  }
  if (!res.ok) {
    const e = data as { error?: string; message?: string; details?: Record<string, unknown>; request_id?: string };
    const err = new ApiError(
      res.status,
      e.error ?? 'http_error',
      e.message ?? `The server answered ${res.status}`,
      e.details,
      e.request_id,
    );
    const isAuthCall = path.startsWith('/v1/auth/');
    if (res.status === 401 && !isAuthCall) onExpired?.('Your session has expired. Sign in again.');
    throw err;
  }
  return data as T;
}

export function qs(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
