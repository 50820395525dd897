/**
 * Client addresses as rate limits see them. Limits group IPv6 clients by their /64 (one subscriber usually
 * holds a whole /64 and can pick any address in it); IPv4 and IPv4-mapped IPv6 addresses stand alone.
 * (Which address a request came from, past trusted proxies, is the HTTP layer's: http/client-address.ts.)
 */
import { isIP } from 'node:net';

/** `::ffff:1.2.3.4` → `1.2.3.4`; brackets and zone ids dropped; anything else as given. */
export function normalizeAddress(addr: string): string {
  const bare = addr.trim().replace(/^\[|\]$/g, '');
  const noZone = bare.includes('%') ? bare.slice(0, bare.indexOf('%')) : bare;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(noZone);
  return mapped?.[1] ?? noZone;
}

/** Eight 16-bit groups of an IPv6 address (embedded IPv4 tail included), or undefined. */
function ipv6Groups(addr: string): number[] | undefined {
  if (isIP(addr) !== 6) return undefined;
  let text = addr.toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : Array.from({ length: 8 - h.length - t.length }, () => '0');
  const groups = [...h, ...fill, ...t].map((g) => Number.parseInt(g, 16));
  return groups.length === 8 && groups.every((g) => g >= 0 && g <= 0xffff) ? groups : undefined;
}

/** The key an address is limited under: IPv4 as is, IPv6 as its /64 (`2001:db8:0:1::/64`). */
export function limitKeyOf(addr: string): string {
  const n = normalizeAddress(addr);
  if (isIP(n) === 4) return n;
  const groups = ipv6Groups(n);
  if (!groups) return n;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}
