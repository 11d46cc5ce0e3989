/**
 * The grain wire protocol (docs/protocol.md §4.3-4.6), as pure functions: which RMA writes carry
 * a grain or a slice range, and how the 32-bit immediate is packed. Used by the initiator
 * to post and by the target to validate.
 */
import { FabricsError } from '../errors.js';
import { GRAIN_PAYLOAD_OFFSET } from '../domain/layout.js';

/** Grain file header size; the payload starts here in every slot region (the domain's payload offset). */
export const GRAIN_HEADER_SIZE = GRAIN_PAYLOAD_OFFSET;
export const MAX_SLOTS = 65536;

export interface GrainLayout {
  grainSize: number;
  totalSlices: number;
  /** Bytes per slice for each plane; unused planes are 0. */
  sliceSizes: readonly number[];
}

export interface PlannedWrite {
  /** Offset inside the slot region (header start), same on both sides. */
  offset: number;
  length: number;
  /** The immediate, on the last write of a transfer only. */
  immediate?: number;
}

export const packImmediate = (slot: number, sliceEnd: number): number => ((slot & 0xffff) | ((sliceEnd & 0xffff) << 16)) >>> 0;
export const unpackImmediate = (v: number): { slot: number; sliceEnd: number } => ({ slot: v & 0xffff, sliceEnd: v >>> 16 });

export const regionLength = (l: GrainLayout): number => GRAIN_HEADER_SIZE + l.grainSize;

export function activePlanes(l: GrainLayout): number {
  let n = 0;
  while (n < l.sliceSizes.length && l.sliceSizes[n] > 0) n++;
  return Math.max(n, 1);
}

/**
 * Writes for transferring slices [start, end) of a grain into slot `slot` of a target
 * ring. Full grains go as one write (header and every plane); partial ranges as one
 * write per plane, with the header only when start is 0; start == end == 0 sends the
 * header alone (invalid grains).
 */
export function planGrainTransfer(l: GrainLayout, slot: number, start: number, end: number): PlannedWrite[] {
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start) {
    throw new FabricsError('MXL_ERR_INVALID_ARG', `slice range [${start}, ${end}) is not a valid range`, { field: 'slices' });
  }
  if (end > l.totalSlices) {
    throw new FabricsError('MXL_ERR_INVALID_ARG', `slice end ${end} is past the grain's ${l.totalSlices} slices`, { field: 'endSlice' });
  }
  const imm = packImmediate(slot, end);
  if (start === 0 && end === l.totalSlices) return [{ offset: 0, length: regionLength(l), immediate: imm }];
  const planes = activePlanes(l);
  const writes: PlannedWrite[] = [];
  let planeBase = GRAIN_HEADER_SIZE;
  for (let p = 0; p < planes; p++) {
    const size = l.sliceSizes[p];
    if (p === 0 && start === 0) writes.push({ offset: 0, length: GRAIN_HEADER_SIZE + end * size });
    else writes.push({ offset: planeBase + start * size, length: (end - start) * size });
    planeBase += size * l.totalSlices;
  }
  writes[writes.length - 1].immediate = imm;
  return writes;
}
