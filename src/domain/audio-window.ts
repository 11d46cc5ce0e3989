/**
 * Where a continuous window `(E, n)` lives in the ring (docs/domain-format.md §2.5): positions (E−n) … (E−1)
 * mod L, as one fragment or two when it wraps. With our exclusive-end convention (docs/domain-format.md §4.4)
 * sample s is at position s mod L and E is one past the newest sample.
 */
import { badArg } from './fail.js';

export interface RingFragment {
  /** First ring position. */
  start: number;
  /** Samples in this fragment. */
  length: number;
}

export function windowFragments(end: bigint, count: number, bufferLength: number): RingFragment[] {
  if (!Number.isInteger(count) || count < 1) throw badArg(`sample count must be >= 1 (got ${count})`, 'count');
  const half = Math.floor(bufferLength / 2);
  if (count > half) throw badArg(`sample count ${count} exceeds half the ring (${half})`, 'count');
  const L = BigInt(bufferLength);
  const start = Number((((end - BigInt(count)) % L) + L) % L);
  const stop = Number(end % L);
  if (start < stop) return [{ start, length: count }];
  return [
    { start, length: bufferLength - start },
    { start: 0, length: count - (bufferLength - start) },
  ].filter((f) => f.length > 0);
}

export type SampleArray = Float32Array | Float64Array;

/** Zero-copy typed views of each fragment of each channel: result[channel][fragment]. */
export function channelViews(buffer: ArrayBuffer, channelCount: number, bufferLength: number, wordSize: number, frags: RingFragment[]): SampleArray[][] {
  const Ctor = wordSize === 8 ? Float64Array : Float32Array;
  const stride = bufferLength * wordSize;
  const out: SampleArray[][] = [];
  for (let c = 0; c < channelCount; c++) {
    out.push(frags.map((f) => new Ctor(buffer, c * stride + f.start * wordSize, f.length)));
  }
  return out;
}
