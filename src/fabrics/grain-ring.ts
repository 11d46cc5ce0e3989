/**
 * The memory a target receives grains into, or an initiator sends them from: one region
 * per ring slot, each laid out like an MXL grain file (GRAIN_HEADER_SIZE bytes of header, then payload).
 * Built from an MXL flow writer/reader (zero copy: the grain files themselves) or from
 * user buffers.
 */
import { FabricsError } from '../errors.js';
import { GrainSlot } from '../domain/flow-header.js';
import { GRAIN_HEADER_VERSION, GRAIN_INFO_SIZE } from '../domain/layout.js';
import { GRAIN_HEADER_SIZE, type GrainLayout, MAX_SLOTS, regionLength } from './grain-protocol.js';

export interface GrainRing {
  layout: GrainLayout;
  /** One buffer per slot, each at least regionLength(layout) bytes. */
  slots: readonly ArrayBuffer[];
  /**
   * Publishes a grain that landed in `slot` with `validSlices` valid (target side, flow
   * writers only): sets the header, head index, write time, bumps the futex and wakes
   * readers. Returns the grain index read from the landed header.
   */
  commitLanded?(slot: number, validSlices: number): bigint;
}

/** Regions from user-supplied buffers (upstream's former mxlFabricsRegionsFromUserBuffers). */
export function ringFromBuffers(buffers: readonly (ArrayBuffer | ArrayBufferView)[], layout: GrainLayout): GrainRing {
  if (buffers.length === 0) throw new FabricsError('MXL_ERR_INVALID_ARG', 'at least one grain buffer is needed', { field: 'regions' });
  if (buffers.length > MAX_SLOTS) throw new FabricsError('MXL_ERR_INVALID_ARG', `at most ${MAX_SLOTS} grain buffers`, { field: 'regions' });
  const need = regionLength(layout);
  const slots = buffers.map((b, i) => {
    const ab = b instanceof ArrayBuffer ? b : (b.byteOffset === 0 && b.buffer instanceof ArrayBuffer ? b.buffer : undefined);
    if (!ab) throw new FabricsError('MXL_ERR_INVALID_ARG', `grain buffer ${i} must be an ArrayBuffer (or a view at offset 0)`, { field: `regions[${i}]` });
    if (ab.byteLength < need) {
      throw new FabricsError('MXL_ERR_INVALID_ARG', `grain buffer ${i} has ${ab.byteLength} bytes; the layout needs ${need} (${GRAIN_HEADER_SIZE} header + ${layout.grainSize} payload)`, { field: `regions[${i}]` });
    }
    return ab;
  });
  return { layout, slots };
}

/**
 * The header of one slot, as the domain reads it (Atomics on the fields that change), plus
 * the repair a target needs after a peer with another geometry overwrote it.
 */
export class SlotHeader extends GrainSlot {
  constructor(buf: ArrayBuffer, slot = 0) {
    super(buf, slot, 0);
  }

  /** Rewrites the geometry fields (after a peer with another geometry overwrote them). */
  restore(grainSize: number, totalSlices: number): void {
    this.u32[0] = GRAIN_HEADER_VERSION;
    this.u32[1] = GRAIN_INFO_SIZE;
    this.grainSize = grainSize;
    this.totalSlices = totalSlices;
  }
}
