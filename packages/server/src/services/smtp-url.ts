/**
 * AVAILSYNC_SMTP_URL: `smtp://[user:pass@]host[:port]` (STARTTLS when the server offers it, port 587 by
 * default) or `smtps://…` (TLS from the first byte, port 465 by default). User and password are
 * percent-decoded. The password is never logged and never in an error message: `redactSmtpUrl` is the
 * only form of the URL anything prints.
 */

export interface SmtpTarget {
  host: string;
  port: number;
  secure: boolean;
  auth?: { user: string; pass: string };
}

function parse(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

/** What is wrong with the URL, in words that never repeat it (it may hold a password); undefined if fine. */
export function smtpUrlProblem(value: string): string | undefined {
  const url = parse(value);
  if (!url) return 'AVAILSYNC_SMTP_URL must be a URL: smtp://user:pass@host:port or smtps://user:pass@host:port';
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') return 'AVAILSYNC_SMTP_URL must start with smtp:// or smtps://';
  if (!url.hostname) return 'AVAILSYNC_SMTP_URL names no host';
  if (url.pathname !== '' && url.pathname !== '/') return 'AVAILSYNC_SMTP_URL takes no path';
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
  } catch {
    return 'AVAILSYNC_SMTP_URL has a malformed percent-encoding in its user or password';
  }
  return undefined;
}

export function parseSmtpUrl(value: string): SmtpTarget {
  const problem = smtpUrlProblem(value);
  if (problem) throw new Error(problem);
  const url = parse(value) as URL;
  const secure = url.protocol === 'smtps:';
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const target: SmtpTarget = { host, port: url.port ? Number(url.port) : secure ? 465 : 587, secure };
  if (url.username) target.auth = { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) };
  return target;
}

/** The URL as logs may show it: the password replaced by `***`. */
export function redactSmtpUrl(value: string): string {
  const url = parse(value);
  if (!url) return '(invalid AVAILSYNC_SMTP_URL)';
  if (url.password) url.password = '***';
  return url.toString().replace(/\/$/, '');
}
