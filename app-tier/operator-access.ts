/**
 * Who may read the app tier's operator endpoints (/metrics, /-/workers): loopback always, plus
 * the addresses and CIDR blocks of `operatorAllow` (APP_OPERATOR_ALLOW), for a multi-box
 * placement where the web box scrapes the app box.
 */
import { BlockList, isIP } from 'node:net';

export interface OperatorPeer {
  /** The socket's peer address, as node reports it (IPv4-mapped IPv6 included). */
  readonly remoteAddress: string | undefined;
  /** The request's header fields (node's req.headers shape). */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** `::ffff:10.1.2.3` (an IPv4 peer on a dual-stack socket) is checked as `10.1.2.3`. */
function normalise(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped?.[1] ?? address;
}

/** Throws TypeError for an entry that is neither an address nor a CIDR block (config.ts validates first). */
export function createOperatorAccess(allow: readonly string[]): (peer: OperatorPeer) => boolean {
  const list = new BlockList();
  list.addSubnet('127.0.0.0', 8, 'ipv4');
  list.addAddress('::1', 'ipv6');
  for (const entry of allow) {
    const [address = '', prefix] = entry.split('/');
    const family = isIP(address);
    if (family === 0) throw new TypeError(`operatorAllow: ${JSON.stringify(entry)} is not an IP address or CIDR block`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return (peer) => {
    // A request that a proxy forwarded (the web tier adds X-Forwarded-For and Forwarded, RFC
    // 7239) is on behalf of some other client: the loopback peer is the proxy, not the
    // operator. Operator endpoints are scraped directly, never through the web tier.
    if (peer.headers['x-forwarded-for'] !== undefined || peer.headers['forwarded'] !== undefined) return false;
    if (peer.remoteAddress === undefined) return false;
    const address = normalise(peer.remoteAddress);
    const family = isIP(address);
    if (family === 0) return false;
    return list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  };
}
