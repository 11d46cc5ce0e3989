/**
 * The memory a target receives grains into, or an initiator sends them from: one region
 * per ring slot, each laid out like an MXL grain file (8192-byte header, then payload).
 * Built from an MXL flow writer/reader (zero copy: the grain files themselves) or from
 * user buffers.
 */
import { FabricsError } from '../errors.js';
import { type GrainLayout, MAX_SLOTS, regionLength } from './grain-protocol.js';

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
  /** Index of the newest grain available in the local ring (initiator side). */
  headIndex?(): bigint;
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
      throw new FabricsError('MXL_ERR_INVALID_ARG', `grain buffer ${i} has ${ab.byteLength} bytes; the layout needs ${need} (8192 header + ${layout.grainSize} payload)`, { field: `regions[${i}]` });
    }
    return ab;
  });
  return { layout, slots };
}

/** Header field offsets inside a slot region (mxl-domain-format.md §2.2). */
export const Hdr = { VERSION: 0, SIZE: 4, INDEX: 8, FLAGS: 16, GRAIN_SIZE: 20, TOTAL_SLICES: 24, VALID_SLICES: 26 } as const;

/** Typed views over one slot's header; Atomics-safe for the fields that change. */
export class SlotHeader {
  private readonly u64: BigUint64Array;
  private readonly u32: Uint32Array;
  private readonly u16: Uint16Array;
  constructor(buf: ArrayBuffer) {
    this.u64 = new BigUint64Array(buf, 0, 2);
    this.u32 = new Uint32Array(buf, 0, 7);
    this.u16 = new Uint16Array(buf, 0, 14);
  }
  get index(): bigint { return Atomics.load(this.u64, 1); }
  set index(v: bigint) { Atomics.store(this.u64, 1, v); }
  get flags(): number { return this.u32[4]; }
  set flags(v: number) { this.u32[4] = v; }
  get version(): number { return this.u32[0]; }
  get grainSize(): number { return this.u32[5]; }
  get totalSlices(): number { return this.u16[12]; }
  get validSlices(): number { return Atomics.load(this.u16, 13); }
  set validSlices(v: number) { Atomics.store(this.u16, 13, v); }
  /** Rewrites the geometry fields (after a peer with another geometry overwrote them). */
  restore(version: number, grainSize: number, totalSlices: number): void {
    this.u32[0] = version;
    this.u32[1] = 4096;
    this.u32[5] = grainSize;
    this.u16[12] = totalSlices;
  }
}
