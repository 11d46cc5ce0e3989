import type { SampleArray } from '../../src/domain/index.js';

/**
 * Payload stamps that let the far side verify a grain and time it without sharing memory:
 * the grain index at the start of every 4 KiB page (a stale, torn or misplaced page shows
 * a different index) and the commit time (TAI ns) right after the first one.
 */
export const STAMP_STRIDE = 4096;

const view = (p: Uint8Array): DataView => new DataView(p.buffer, p.byteOffset, p.byteLength);

/** Writes the stamps of grain `index` committed at `commitTaiNs` into its payload. */
export function stampGrain(payload: Uint8Array, index: bigint, commitTaiNs: bigint): void {
  const v = view(payload);
  for (let off = 0; off + 8 <= payload.byteLength; off += STAMP_STRIDE) v.setBigUint64(off, index, true);
  if (payload.byteLength >= 16) v.setBigUint64(8, commitTaiNs, true);
}

/** The commit time a stamped payload carries. */
export const commitTimeOf = (payload: Uint8Array): bigint => view(payload).getBigUint64(8, true);

/**
 * 'ok' when every page of the payload carries `index`; 'overwritten' when the pages that
 * differ carry a later grain of the same slot (the ring wrapped while we read: the grain is
 * unverified, not corrupt); 'corrupt' otherwise.
 */
export function verifyGrain(payload: Uint8Array, index: bigint, grainCount: number): 'ok' | 'overwritten' | 'corrupt' {
  const v = view(payload);
  const n = BigInt(grainCount);
  let verdict: 'ok' | 'overwritten' = 'ok';
  for (let off = 0; off + 8 <= payload.byteLength; off += STAMP_STRIDE) {
    const got = v.getBigUint64(off, true);
    if (got === index) continue;
    if (got > index && (got - index) % n === 0n) verdict = 'overwritten';
    else return 'corrupt';
  }
  return verdict;
}

/**
 * The audio test signal: sample s of channel c is RAMP[audioPhase(s, c)], an exactly
 * representable float32 ramp that differs per channel, and the next sample's phase is
 * (phase + 1) & 0xffff. Per-sample loops step the phase and look the value up: BigInt or
 * floating-point modulo per sample cost the bench's target process more than the endpoint
 * itself (docs/bench.md, paced CPU).
 */
const RAMP = Float32Array.from({ length: 65536 }, (_, i) => i / 65536 - 0.5);
const audioPhase = (s: bigint, c: number): number => (Number(s % 65536n) + c * 257) & 0xffff;

/** A window's channels as the flow API gives them: per channel, its fragments of the ring. */
type ChannelFragments = readonly (readonly SampleArray[])[];

/** Writes the test signal for the window whose first sample is `start`. */
export function stampAudio(channels: ChannelFragments, start: bigint): void {
  for (let c = 0; c < channels.length; c++) {
    let p = audioPhase(start, c);
    for (const f of channels[c]) for (let i = 0; i < f.length; i++, p = (p + 1) & 0xffff) f[i] = RAMP[p];
  }
}

/** Whether every sample of the window whose first sample is `start` is the test signal. */
export function audioIntact(channels: ChannelFragments, start: bigint): boolean {
  for (let c = 0; c < channels.length; c++) {
    let p = audioPhase(start, c);
    for (const f of channels[c]) for (let i = 0; i < f.length; i++, p = (p + 1) & 0xffff) if (f[i] !== RAMP[p]) return false;
  }
  return true;
}
