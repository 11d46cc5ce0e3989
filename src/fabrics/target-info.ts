/**
 * TargetInfo: what a target publishes and an initiator needs (docs/protocol.md §3): the target's
 * fabric address, one remote region per ring slot (or audio bounce entry), and an id.
 * toString() produces upstream's compact JSON with sorted keys; parse() also accepts the
 * base64-wrapped JSON that upstream's demo prints.
 */
import { randomBytes } from 'node:crypto';
import { FabricsError } from '../errors.js';
import { SUPPORTED_ADDR_FORMATS, parseFabricAddress } from './address.js';
import { FABRIC_PROVIDER_NAMES, type ProviderName } from './provider.js';

export interface RemoteRegion {
  /** Remote address: the virtual address with FI_MR_VIRT_ADDR, else 0 (offset addressing). */
  addr: bigint;
  len: bigint;
  rkey: bigint;
}

export interface BounceBufferInfo {
  entryCount: bigint;
  /** Includes the 16-byte entry header. */
  entrySize: bigint;
}

const U64_MAX = (1n << 64n) - 1n;

function invalid(message: string, field?: string): FabricsError {
  return new FabricsError('MXL_ERR_INVALID_ARG', `invalid TargetInfo: ${message}`, { field });
}

function decString(v: unknown, field: string): bigint {
  if (typeof v !== 'string') throw invalid(`${field} must be a decimal string, got ${v === null ? 'null' : typeof v}`, field);
  if (!/^\d{1,20}$/.test(v)) throw invalid(`${field} must be a decimal string, got ${JSON.stringify(v.slice(0, 40))}`, field);
  const n = BigInt(v);
  if (n > U64_MAX) throw invalid(`${field} does not fit in 64 bits`, field);
  return n;
}

/**
 * Padded base64, checked without backtracking: a repeated group like (?:[..]{4})* needs
 * regex stack per repetition and throws RangeError on megabytes of input.
 */
const BASE64_CHARS = /^[A-Za-z0-9+/]*={0,2}$/;
const isPaddedBase64 = (s: string): boolean => s.length % 4 === 0 && BASE64_CHARS.test(s);

/** Longest TargetInfo text accepted: 65536 regions of 20-digit numbers, base64-wrapped, fit. */
export const MAX_TARGET_INFO_CHARS = 8 << 20;

export function newEndpointId(): bigint {
  return randomBytes(8).readBigUInt64LE(0);
}

export class TargetInfo {
  constructor(
    readonly id: bigint,
    readonly provider: ProviderName,
    readonly addressFormat: number,
    readonly fabricAddress: Buffer,
    readonly regions: readonly RemoteRegion[],
    readonly bounceBufferInfo?: BounceBufferInfo,
  ) {}

  /** Upstream's compact JSON: keys byte-sorted, numbers only for addressFormat, `/` escaped. */
  toString(): string {
    const b64 = this.fabricAddress.toString('base64').replace(/\//g, '\\/');
    const regions = this.regions.map((r) => `{"addr":"${r.addr}","len":"${r.len}","rkey":"${r.rkey}"}`).join(',');
    const bounce = this.bounceBufferInfo
      ? `"bounceBufferInfo":{"entryCount":"${this.bounceBufferInfo.entryCount}","entrySize":"${this.bounceBufferInfo.entrySize}"},`
      : '';
    return `{"addressFormat":${this.addressFormat},${bounce}"fabricAddress":"${b64}","id":"${this.id}","provider":"${this.provider}","regions":[${regions}]}`;
  }

  /** The demo convention: base64 of the JSON text. */
  toBase64(): string {
    return Buffer.from(this.toString(), 'utf8').toString('base64');
  }

  toJSON(): unknown {
    return JSON.parse(this.toString());
  }

  /** Same peer, same memory: address bytes + format, regions and id (upstream operator==). */
  equals(o: TargetInfo): boolean {
    return (
      this.id === o.id &&
      this.addressFormat === o.addressFormat &&
      this.fabricAddress.equals(o.fabricAddress) &&
      this.regions.length === o.regions.length &&
      this.regions.every((r, i) => r.addr === o.regions[i].addr && r.len === o.regions[i].len && r.rkey === o.regions[i].rkey)
    );
  }

  /** Printable peer address, e.g. fi_sockaddr_in://127.0.0.1:1312. */
  get printableAddress(): string {
    return parseFabricAddress(this.addressFormat, this.fabricAddress).printable;
  }

  /**
   * Parses upstream's JSON or its base64 wrapping. Every problem is MXL_ERR_INVALID_ARG with
   * the offending field named (upstream reports most of them as MXL_ERR_UNKNOWN).
   */
  static parse(text: string): TargetInfo {
    if (typeof text !== 'string') throw invalid('expected a string');
    if (text.length > MAX_TARGET_INFO_CHARS) throw invalid(`text too long (${text.length} characters; at most ${MAX_TARGET_INFO_CHARS})`);
    let s = text.trim();
    if (s.length === 0) throw invalid('empty string');
    // A JSON array is JSON too: let it reach the "not a JSON object" check.
    if (!s.startsWith('{') && !s.startsWith('[')) {
      const compact = s.replace(/\s+/g, '');
      if (!isPaddedBase64(compact)) throw invalid('neither JSON nor base64-wrapped JSON');
      s = Buffer.from(compact, 'base64').toString('utf8').trim();
      if (!s.startsWith('{')) throw invalid('base64 text does not decode to a JSON object');
    }
    let doc: unknown;
    try {
      doc = JSON.parse(s);
    } catch (e) {
      throw invalid(`malformed JSON (${(e as Error).message})`);
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid('not a JSON object');
    const o = doc as Record<string, unknown>;
    // Own properties only: "constructor" or "toString" are not fields of a TargetInfo.
    const has = (x: object, k: string) => Object.hasOwn(x, k);

    if (!has(o, 'addressFormat')) throw invalid('missing addressFormat', 'addressFormat');
    const fmt = o.addressFormat;
    if (typeof fmt !== 'number' || !Number.isInteger(fmt)) throw invalid('addressFormat must be an integer', 'addressFormat');
    if (!SUPPORTED_ADDR_FORMATS.includes(fmt)) throw invalid(`unsupported addressFormat ${fmt}`, 'addressFormat');

    if (!has(o, 'provider')) throw invalid('missing provider', 'provider');
    if (typeof o.provider !== 'string') throw invalid('provider must be a string', 'provider');
    if (!(FABRIC_PROVIDER_NAMES as readonly string[]).includes(o.provider)) throw invalid(`unknown provider ${JSON.stringify(o.provider)}`, 'provider');

    if (!has(o, 'fabricAddress')) throw invalid('missing fabricAddress', 'fabricAddress');
    if (typeof o.fabricAddress !== 'string' || o.fabricAddress.length === 0) throw invalid('fabricAddress must be a non-empty base64 string', 'fabricAddress');
    if (!isPaddedBase64(o.fabricAddress)) throw invalid('fabricAddress is not valid padded base64', 'fabricAddress');
    const address = Buffer.from(o.fabricAddress, 'base64');
    try {
      parseFabricAddress(fmt, address);
    } catch (e) {
      throw invalid((e as Error).message, 'fabricAddress');
    }

    if (!has(o, 'id')) throw invalid('missing id', 'id');
    const id = decString(o.id, 'id');

    if (!has(o, 'regions')) throw invalid('missing regions', 'regions');
    if (!Array.isArray(o.regions)) throw invalid('regions must be an array', 'regions');
    if (o.regions.length === 0) throw invalid('regions is empty: a target exposes at least one grain', 'regions');
    if (o.regions.length > 65536) throw invalid(`${o.regions.length} regions: the immediate data carries at most 65536 slots`, 'regions');
    const regions = o.regions.map((r: unknown, i: number): RemoteRegion => {
      if (typeof r !== 'object' || r === null || Array.isArray(r)) throw invalid(`regions[${i}] must be an object`, `regions[${i}]`);
      const rr = r as Record<string, unknown>;
      for (const k of ['addr', 'len', 'rkey']) if (!has(rr, k)) throw invalid(`regions[${i}] is missing ${k}`, `regions[${i}].${k}`);
      const len = decString(rr.len, `regions[${i}].len`);
      if (len === 0n) throw invalid(`regions[${i}].len is 0`, `regions[${i}].len`);
      return { addr: decString(rr.addr, `regions[${i}].addr`), len, rkey: decString(rr.rkey, `regions[${i}].rkey`) };
    });

    let bounce: BounceBufferInfo | undefined;
    if (has(o, 'bounceBufferInfo') && o.bounceBufferInfo !== undefined) {
      const b = o.bounceBufferInfo;
      if (typeof b !== 'object' || b === null || Array.isArray(b)) throw invalid('bounceBufferInfo must be an object', 'bounceBufferInfo');
      const bb = b as Record<string, unknown>;
      bounce = { entryCount: decString(bb.entryCount, 'bounceBufferInfo.entryCount'), entrySize: decString(bb.entrySize, 'bounceBufferInfo.entrySize') };
    }
    return new TargetInfo(id, o.provider as ProviderName, fmt, address, regions, bounce);
  }
}
