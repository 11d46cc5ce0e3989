/**
 * Fabric addresses as fi_getname returns them, and their printable forms
 * (docs/protocol.md §2.6, §3.2). Used for TargetInfo validation and interface listings.
 */
import { FabricsError } from '../errors.js';

export const AddrFormat = {
  FI_SOCKADDR: 1,
  FI_SOCKADDR_IN: 2,
  FI_SOCKADDR_IN6: 3,
  FI_SOCKADDR_IB: 4,
  FI_ADDR_STR: 9,
  FI_ADDR_EFA: 12,
  FI_SOCKADDR_IP: 17,
} as const;

export const SUPPORTED_ADDR_FORMATS: readonly number[] = Object.values(AddrFormat);

const AF_INET = 2;
const AF_INET6 = 10;

function ipv6Text(b: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] << 8) | b[i + 1]).toString(16));
  // Compress the longest run of zero groups, as inet_ntop does.
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

export interface ParsedAddress { host: string; port?: number; printable: string }

/** Decodes raw address bytes of a known format; throws MXL_ERR_INVALID_ARG when they do not fit it. */
export function parseFabricAddress(format: number, raw: Uint8Array): ParsedAddress {
  const bad = (why: string) =>
    new FabricsError('MXL_ERR_INVALID_ARG', `fabric address does not match addressFormat ${format}: ${why}`, { field: 'fabricAddress' });
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  switch (format) {
    case AddrFormat.FI_SOCKADDR_IN: {
      if (raw.length < 16) throw bad(`a sockaddr_in is 16 bytes, got ${raw.length}`);
      if (dv.getUint16(0, true) !== AF_INET) throw bad('family is not AF_INET');
      const port = dv.getUint16(2, false);
      const host = `${raw[4]}.${raw[5]}.${raw[6]}.${raw[7]}`;
      return { host, port, printable: `fi_sockaddr_in://${host}:${port}` };
    }
    case AddrFormat.FI_SOCKADDR_IN6: {
      if (raw.length < 28) throw bad(`a sockaddr_in6 is 28 bytes, got ${raw.length}`);
      if (dv.getUint16(0, true) !== AF_INET6) throw bad('family is not AF_INET6');
      const port = dv.getUint16(2, false);
      const host = ipv6Text(raw.subarray(8, 24));
      return { host, port, printable: `fi_sockaddr_in6://[${host}]:${port}` };
    }
    case AddrFormat.FI_SOCKADDR:
    case AddrFormat.FI_SOCKADDR_IP: {
      const fam = raw.length >= 2 ? dv.getUint16(0, true) : -1;
      if (fam === AF_INET) return parseFabricAddress(AddrFormat.FI_SOCKADDR_IN, raw);
      if (fam === AF_INET6) return parseFabricAddress(AddrFormat.FI_SOCKADDR_IN6, raw);
      throw bad('unknown socket address family');
    }
    case AddrFormat.FI_ADDR_STR: {
      if (raw.length === 0) throw bad('empty address string');
      const end = raw.indexOf(0);
      const s = Buffer.from(raw.subarray(0, end < 0 ? raw.length : end)).toString('latin1');
      if (!/^[\x20-\x7e]+$/.test(s)) throw bad('address string is not printable');
      return { host: s, printable: s };
    }
    case AddrFormat.FI_ADDR_EFA: {
      if (raw.length < 24) throw bad(`an EFA address is at least 24 bytes, got ${raw.length}`);
      const gid = ipv6Text(raw.subarray(0, 16));
      const qpn = dv.getUint16(16, true);
      const qkey = dv.getUint32(20, true);
      return { host: gid, printable: `fi_addr_efa://[${gid}]:${qpn}:${qkey}` };
    }
    case AddrFormat.FI_SOCKADDR_IB: {
      if (raw.length < 48) throw bad(`a sockaddr_ib is 48 bytes, got ${raw.length}`);
      const gid = ipv6Text(raw.subarray(8, 24));
      return { host: gid, printable: `fi_sockaddr_ib://[${gid}]` };
    }
    default:
      throw new FabricsError('MXL_ERR_INVALID_ARG', `unsupported addressFormat ${format}: expected one of ${SUPPORTED_ADDR_FORMATS.join(', ')}`, { field: 'addressFormat' });
  }
}

/** Host text of an fi_info src_addr, or undefined when it is not an IP/GID address. */
export function hostOf(format: number, raw: Uint8Array | null): string | undefined {
  if (!raw) return undefined;
  try {
    return parseFabricAddress(format, raw).host;
  } catch {
    return undefined;
  }
}
