/**
 * Who may reach the operator endpoints (`/-/…`): a list of IP addresses and CIDR blocks
 * (WEB_OPERATOR_ALLOW), like nginx's `allow`. The list is complete: setting it replaces the
 * loopback default, so "10.0.0.0/8" alone refuses 127.0.0.1 too. Matching is node's BlockList.
 */
import { BlockList, isIP } from 'node:net';

export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/** "10.0.0.0/8", "::1", "192.168.1.7" → a block; undefined when it is neither. */
export function parseCidr(value: string): Cidr | undefined {
  const [address = '', bits, extra] = value.trim().split('/');
  if (extra !== undefined) return undefined;
  const version = isIP(address);
  if (version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  if (bits !== undefined && !/^\d{1,3}$/.test(bits)) return undefined;
  const prefix = bits === undefined ? max : Number(bits);
  if (prefix > max) return undefined;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** A predicate over peer addresses (as `socket.remoteAddress` gives them, IPv4-mapped included). */
export function createPeerAllow(entries: readonly string[]): (address: string) => boolean {
  const list = new BlockList();
  for (const entry of entries) {
    const cidr = parseCidr(entry);
    if (cidr === undefined) throw new RangeError(`not an IP address or CIDR block: ${entry}`);
    list.addSubnet(cidr.address, cidr.prefix, cidr.family);
  }
  return (address: string): boolean => {
    // A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d; match it as IPv4.
    const plain = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
    const version = isIP(plain);
    if (version === 0) return false;
    return list.check(plain, version === 4 ? 'ipv4' : 'ipv6');
  };
}
