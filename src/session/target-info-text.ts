/**
 * Turning the text an operator gives (`-t` values, files, HTTP bodies) into a TargetInfo,
 * with one hint per kind of mistake. Shared by every TargetInfo source.
 */
import { FabricsError } from '../errors.js';
import { TargetInfo } from '../fabrics/target-info.js';

/** TargetInfo files and HTTP bodies: enough for 65536 regions in base64. */
export const MAX_TARGET_INFO_BYTES = 8 << 20;

export interface ParsedTargetInfo {
  /** The text as given, trimmed (what addTarget takes). */
  text: string;
  info: TargetInfo;
}

const oneLine = (s: string): string => s.split('\n').map((l) => l.trim()).filter(Boolean).join(' ');

/**
 * Parses `text` read from `from` ('inline', a file path or a URL); every failure is
 * MXL_ERR_INVALID_ARG naming where the text came from and what to do.
 */
export function parseTargetInfoText(text: string, from: string, which: string): ParsedTargetInfo {
  try {
    return { text: text.trim(), info: TargetInfo.parse(text) };
  } catch (e) {
    const msg = oneLine((e as Error).message);
    const unreadable = /neither JSON nor base64|does not decode|malformed JSON|not a JSON object|empty string|too long/.test(msg);
    const hint = !unreadable ? 'this is not a complete TargetInfo: copy it again from the target (its -t file or its "Target info:" log line)'
      : from === 'inline' ? 'pass the base64 text the target logs after "Target info:", or @FILE'
        : /^https?:/.test(from) ? 'the URL must serve the TargetInfo the target publishes with --info-http' : 'the file must hold the raw JSON the target wrote';
    throw new FabricsError('MXL_ERR_INVALID_ARG', `${which} (${from}): ${msg}: ${hint}`, { field: 'target-info', cause: e });
  }
}

/** What changed between two TargetInfos, for the log ("id, address, keys"). */
export function describeChange(a: TargetInfo, b: TargetInfo): string {
  const parts: string[] = [];
  if (a.id !== b.id) parts.push(`id ${a.id} -> ${b.id}`);
  if (a.addressFormat !== b.addressFormat || !a.fabricAddress.equals(b.fabricAddress)) parts.push(`address ${a.printableAddress} -> ${b.printableAddress}`);
  const keys = a.regions.length !== b.regions.length || a.regions.some((r, i) => r.rkey !== b.regions[i].rkey || r.addr !== b.regions[i].addr || r.len !== b.regions[i].len);
  if (keys) parts.push('keys');
  return parts.length > 0 ? parts.join(', ') : 'nothing';
}
