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

/** True when every page of the payload carries `index`. */
export function verifyGrain(payload: Uint8Array, index: bigint): boolean {
  const v = view(payload);
  for (let off = 0; off + 8 <= payload.byteLength; off += STAMP_STRIDE) if (v.getBigUint64(off, true) !== index) return false;
  return true;
}

/** Exactly representable float32 sample s of channel c: a ramp that differs per channel. */
export const audioSample = (s: bigint, c: number): number => Math.fround(((Number(s % 65536n) + c * 257) % 65536) / 65536 - 0.5);
