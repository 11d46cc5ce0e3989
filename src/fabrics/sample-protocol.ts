/**
 * The audio wire protocol (docs/protocol.md §4.7): the target exposes a ring of bounce-buffer
 * entries, each a 16-byte header {u64 headIndex, u64 count} followed by the samples of
 * every channel, channel-major; the initiator gathers a window of its own ring into entry
 * k (rotating) and the immediate is k. Pure functions, shared by both sides.
 */
import { FabricsError } from '../errors.js';
import { windowFragments } from '../domain/audio-window.js';

export const ENTRY_HEADER_SIZE = 16;

export interface SampleLayout {
  channelCount: number;
  /** Samples per channel ring (L). */
  bufferLength: number;
  /** Bytes per sample: 4 (float32) or 8 (float64). */
  wordSize: number;
}

export const bytesPerSample = (l: SampleLayout): number => l.channelCount * l.wordSize;

/** Bounce buffer of a target whose flow has sync batch `syncBatch` (upstream AudioBounceBuffer). */
export function bounceGeometry(l: SampleLayout, syncBatch: number): { entryCount: number; entrySize: number } {
  if (!Number.isInteger(syncBatch) || syncBatch < 1) {
    // Upstream divides by zero here (docs/protocol.md §8 item 14).
    throw new FabricsError('MXL_ERR_INVALID_ARG', `the flow's maxSyncBatchSizeHint must be >= 1 to size the bounce buffer (got ${syncBatch})`, { field: 'maxSyncBatchSizeHint' });
  }
  const one = bytesPerSample(l);
  const payload = one * syncBatch;
  return { entryCount: Math.ceil((l.bufferLength * one) / payload), entrySize: ENTRY_HEADER_SIZE + payload };
}

/** Most samples per channel one entry of `entrySize` bytes carries. */
export const entryCapacity = (entrySize: number, l: SampleLayout): number => Math.floor((entrySize - ENTRY_HEADER_SIZE) / bytesPerSample(l));

export interface ByteRange { offset: number; length: number }

/**
 * Byte ranges of window (end, count) in a planar channels buffer, channel-major: for each
 * channel its fragment before the wrap, then the one after (if any). Concatenated, they
 * are the entry payload the target expects.
 */
export function windowRanges(l: SampleLayout, end: bigint, count: number): ByteRange[] {
  const frags = windowFragments(end, count, l.bufferLength);
  const stride = l.bufferLength * l.wordSize;
  const out: ByteRange[] = [];
  for (let c = 0; c < l.channelCount; c++) {
    for (const f of frags) out.push({ offset: c * stride + f.start * l.wordSize, length: f.length * l.wordSize });
  }
  return out;
}

/** Splits a gather list into groups of at most `limit` segments (the provider's iov limit). */
export function splitByIovLimit<T>(segments: T[], limit: number): T[][] {
  const n = Math.max(1, Math.floor(limit));
  const out: T[][] = [];
  for (let i = 0; i < segments.length; i += n) out.push(segments.slice(i, i + n));
  return out;
}
