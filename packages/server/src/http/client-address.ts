/**
 * The client address of a request, and the key it is rate limited under.
 *
 * Without `AVAILSYNC_TRUST_PROXY` the socket's peer is the client and `X-Forwarded-For` is ignored (anyone
 * can send it). With it, the server walks `X-Forwarded-For` from the right, past the proxies it trusts:
 * a hop count (`1` = one proxy in front), or a comma list of proxy addresses and CIDRs (`10.0.0.0/8,
 * ::1`). Node's `net.BlockList` does the CIDR matching and `net.isIP` the parsing, so no dependency.
 * The key an address is limited under (its /64 for IPv6) is domain/addresses.ts.
 */
import { BlockList, isIP, isIPv4 } from 'node:net';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';
import { normalizeAddress as normalize } from '../domain/addresses.js';

export type TrustProxy = { kind: 'none' } | { kind: 'hops'; hops: number } | { kind: 'list'; list: BlockList; text: string };

export const NO_PROXY: TrustProxy = { kind: 'none' };

export class TrustProxyError extends Error {}

/** Parse `AVAILSYNC_TRUST_PROXY`: empty → none, a whole number → hops, else addresses and CIDRs. */
export function parseTrustProxy(value: string | undefined): TrustProxy {
  const text = value?.trim() ?? '';
  if (text === '' || text === '0' || text.toLowerCase() === 'false') return NO_PROXY;
  if (/^\d+$/.test(text)) {
    const hops = Number(text);
    if (hops > 32) throw new TrustProxyError('AVAILSYNC_TRUST_PROXY: at most 32 proxy hops');
    return { kind: 'hops', hops };
  }
  const list = new BlockList();
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (!entry) continue;
    const [addr = '', bits, ...rest] = entry.split('/');
    const family = isIP(addr);
    if (family === 0 || rest.length > 0) throw new TrustProxyError(`AVAILSYNC_TRUST_PROXY: "${entry}" is not an address or CIDR`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) {
      list.addAddress(addr, type);
      // The same address as the other family's spelling (127.0.0.1 arrives as ::ffff:127.0.0.1 on a dual-stack socket).
      if (family === 4) list.addAddress(`::ffff:${addr}`, 'ipv6');
      continue;
    }
    const prefix = Number(bits);
    if (!/^\d+$/.test(bits) || prefix > (family === 4 ? 32 : 128)) {
      throw new TrustProxyError(`AVAILSYNC_TRUST_PROXY: "${entry}" has a bad prefix length`);
    }
    list.addSubnet(addr, prefix, type);
    if (family === 4) list.addSubnet(`::ffff:${addr}`, 96 + prefix, 'ipv6');
  }
  return { kind: 'list', list, text };
}

/** An `X-Forwarded-For` entry: a bare address, or `1.2.3.4:5678` / `[::1]:5678`. Undefined when not an address. */
function forwardedAddress(entry: string): string | undefined {
  let e = entry.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(e);
  if (bracketed?.[1]) e = bracketed[1];
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(e)) e = e.slice(0, e.lastIndexOf(':'));
  const n = normalize(e);
  return isIP(n) ? n : undefined;
}

function trusted(trust: TrustProxy, addr: string, hop: number): boolean {
  if (trust.kind === 'none') return false;
  if (trust.kind === 'hops') return hop < trust.hops;
  return trust.list.check(addr, isIPv4(addr) ? 'ipv4' : 'ipv6');
}

/**
 * The client address: the socket peer, or, behind trusted proxies, the right-most `X-Forwarded-For` entry
 * that is not itself a trusted proxy. A malformed entry stops the walk at the last good address.
 * `'unknown'` when there is no socket (in-process requests).
 */
export function clientAddress(socketAddress: string | undefined, forwardedFor: string | undefined, trust: TrustProxy): string {
  let addr = socketAddress ? normalize(socketAddress) : 'unknown';
  if (trust.kind === 'none' || !forwardedFor) return addr;
  const chain = forwardedFor.split(',').reverse();
  for (let hop = 0; hop < chain.length && trusted(trust, addr, hop); hop++) {
    const next = forwardedAddress(chain[hop] ?? '');
    if (next === undefined) break;
    addr = next;
  }
  return addr;
}

/** The caller's address: the socket peer, or X-Forwarded-For past trusted proxies (AVAILSYNC_TRUST_PROXY). */
export function requestAddress(c: Context, trust: TrustProxy): string {
  let peer: string | undefined;
  try {
    peer = getConnInfo(c).remote.address;
  } catch {
    peer = undefined; // in-process (app.request): no socket
  }
  return clientAddress(peer, c.req.header('x-forwarded-for'), trust);
}
