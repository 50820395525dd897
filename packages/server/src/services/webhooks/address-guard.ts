/**
 * SSRF protection for webhook URLs: only http(s), and only hosts whose every address is public unicast
 * (ipaddr.js's `unicast` range: loopback, private, link-local, unique local, multicast, unspecified,
 * carrier-grade NAT and reserved ranges are refused), unless AVAILSYNC_WEBHOOK_ALLOW_PRIVATE=1. Checked at
 * create and at every delivery; the delivery connects to the address that was checked (deliver.ts hands
 * it to the socket), so a DNS answer that changes between the check and the connect cannot redirect it.
 */
import { lookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';

export interface CheckedTarget {
  url: URL;
  address: string;
  family: 4 | 6;
}

export class TargetRefused extends Error {
  constructor(
    message: string,
    readonly reason: 'scheme' | 'unresolvable' | 'private_address',
  ) {
    super(message);
  }
}

/** Whether an address may be called without AVAILSYNC_WEBHOOK_ALLOW_PRIVATE. */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  // process(): an IPv4-mapped IPv6 address (::ffff:127.0.0.1) is judged as the IPv4 address it is.
  return ipaddr.process(address).range() === 'unicast';
}

export async function checkTarget(raw: string, allowPrivate: boolean): Promise<CheckedTarget> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TargetRefused('The URL is not an absolute URL', 'scheme');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new TargetRefused('Only http:// and https:// URLs are delivered to', 'scheme');
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  let addresses: { address: string; family: number }[];
  if (ipaddr.isValid(host)) {
    addresses = [{ address: host, family: host.includes(':') ? 6 : 4 }];
  } else {
    try {
      addresses = await lookup(host, { all: true, verbatim: true });
    } catch {
      throw new TargetRefused(`The host ${host} does not resolve`, 'unresolvable');
    }
  }
  const first = addresses[0];
  if (!first) throw new TargetRefused(`The host ${host} does not resolve`, 'unresolvable');
  if (!allowPrivate) {
    const refused = addresses.find((a) => !isPublicAddress(a.address));
    if (refused) {
      throw new TargetRefused(
        `The host ${host} resolves to ${refused.address}, a loopback, private or reserved address (AVAILSYNC_WEBHOOK_ALLOW_PRIVATE=1 allows it)`,
        'private_address',
      );
    }
  }
  return { url, address: first.address, family: first.family === 6 ? 6 : 4 };
}
