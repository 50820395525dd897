/**
 * Agent keys pasted where they do not belong (a URL path, a field) must not be echoed back or logged.
 * Whatever follows `avs_live_` is replaced, so not even a prefix of the secret survives.
 */
const KEY = /avs_live_[0-9A-Za-z_-]+/g;
export const REDACTED_KEY = 'avs_live_[redacted]';

export function redactKeys(text: string): string {
  return text.includes('avs_live_') ? text.replace(KEY, REDACTED_KEY) : text;
}
