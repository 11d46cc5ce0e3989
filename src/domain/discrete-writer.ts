/**
 * Writer of a discrete (grain) flow: video/v210, video/v210a, video/smpte291.
 *
 * Publishing order differs from upstream on purpose (docs/domain-format.md §3.2): slot header first, then
 * headIndex, lastWriteTime, an atomic syncCounter increment and FUTEX_WAKE(INT_MAX), so a
 * reader that sees the new head also sees the new slot header. `flags` is always written.
 */
import { FabricsError } from '../errors.js';
import { badArg } from './fail.js';
import type { FlowFiles } from './flow-files.js';
import type { GrainSlot } from './flow-header.js';
import { FlowWriterBase } from './flow-writer-base.js';
import { GRAIN_HEADER_VERSION, GRAIN_INFO_SIZE } from './layout.js';
import { taiNow } from './time.js';

export interface GrainInfo {
  index: bigint;
  flags: number;
  grainSize: number;
  totalSlices: number;
  validSlices: number;
}

export interface GrainWriteAccess {
  /** Absolute grain index and the slot it maps to. */
  index: bigint;
  slot: number;
  /** The slot header as it was before this open (upstream returns the stale flags/validSlices). */
  previous: GrainInfo;
  /** Whole payload, zero-copy over the mapping. */
  payload: Uint8Array;
  /** One view per used plane (v210a: fill then key). */
  planes: Uint8Array[];
}

export interface GrainCommit {
  /** Must equal the opened index when given. */
  index?: bigint;
  /** Default: totalSlices (a complete grain). */
  validSlices?: number;
  /** Default 0; bit 0 is MXL_GRAIN_FLAG_INVALID. */
  flags?: number;
}

export class DiscreteFlowWriter extends FlowWriterBase {
  readonly kind = 'discrete' as const;
  private openIndex: bigint | undefined;

  constructor(files: FlowFiles, created: boolean) {
    super(files, created);
  }

  private slotOf(index: bigint): GrainSlot {
    return this.files.slots[Number(index % BigInt(this.geometry.grainCount))];
  }

  /**
   * Opens grain `index` for writing. The slot's index is published at once and its
   * validSlices reset to 0, so no reader (ours or upstream) takes the slot's previous grain
   * for this one or reads the old grain while it is overwritten.
   */
  openGrain(index: bigint): GrainWriteAccess {
    this.ensureOpen();
    if (typeof index !== 'bigint' || index < 0n) throw badArg('grain index must be a non-negative bigint', 'index');
    const s = this.slotOf(index);
    const previous: GrainInfo = { index: s.index, flags: s.flags, grainSize: s.grainSize, totalSlices: s.totalSlices, validSlices: s.validSlices };
    s.validSlices = 0;
    s.index = index;
    this.openIndex = index;
    const g = this.geometry;
    const planes: Uint8Array[] = [];
    for (let p = 0; p < 4 && g.sliceSizes[p] > 0; p++) {
      planes.push(s.payload.subarray(g.planeOffsets[p], g.planeOffsets[p] + g.sliceSizes[p] * g.totalSlices));
    }
    return { index, slot: s.slot, previous, payload: s.payload, planes };
  }

  /** The grain currently open, if any. */
  get openedIndex(): bigint | undefined {
    return this.openIndex;
  }

  /**
   * Commits the open grain, fully or partially (validSlices < totalSlices keeps it open for
   * more commits). Every commit wakes readers.
   */
  commitGrain(commit: GrainCommit = {}): void {
    this.ensureOpen();
    const index = this.openIndex;
    if (index === undefined) throw badArg('no grain is open: call openGrain first', 'index');
    if (commit.index !== undefined && commit.index !== index) throw badArg(`commit of grain ${commit.index} but grain ${index} is open`, 'index');
    const total = this.geometry.totalSlices;
    const valid = commit.validSlices ?? total;
    if (!Number.isInteger(valid) || valid < 0 || valid > total) throw badArg(`validSlices must be 0..${total} (got ${valid})`, 'validSlices');
    const flags = commit.flags ?? 0;
    if (!Number.isInteger(flags) || flags < 0 || flags > 0xffffffff) throw badArg('flags must be a u32', 'flags');
    const s = this.slotOf(index);
    this.publish(s, index, valid, flags);
    if (valid === total) this.openIndex = undefined;
  }

  /** Abandons the open grain without publishing. */
  cancelGrain(): void {
    this.openIndex = undefined;
  }

  private publish(s: GrainSlot, index: bigint, valid: number, flags: number): void {
    s.grainSize = this.geometry.grainSize;
    s.totalSlices = this.geometry.totalSlices;
    s.flags = flags;
    s.validSlices = valid;
    const h = this.files.header;
    h.headIndex = index;
    h.lastWriteTime = taiNow();
    this.signal();
  }

  /**
   * For the fabrics target: publishes the grain a remote RDMA write already placed in slot
   * `slot` (header and payload). Takes the index from the landed header (u64 at 8), rewrites
   * the local geometry fields, stores validSlices and flags (the landed flags unless given),
   * then headIndex, lastWriteTime, syncCounter and the wake. Returns the grain index.
   */
  commitLanded(slot: number, validSlices: number, flags?: number): bigint {
    this.ensureOpen();
    const g = this.geometry;
    if (!Number.isInteger(slot) || slot < 0 || slot >= g.grainCount) throw badArg(`slot must be 0..${g.grainCount - 1} (got ${slot})`, 'slot');
    if (!Number.isInteger(validSlices) || validSlices < 0 || validSlices > g.totalSlices) {
      throw badArg(`validSlices must be 0..${g.totalSlices} (got ${validSlices})`, 'validSlices');
    }
    const s = this.files.slots[slot];
    const index = s.index;
    if (Number(index % BigInt(g.grainCount)) !== slot) {
      throw new FabricsError('MXL_ERR_INVALID_ARG', `landed grain index ${index} does not belong in slot ${slot}`, { field: 'index' });
    }
    s.u32[0] = GRAIN_HEADER_VERSION;
    s.u32[1] = GRAIN_INFO_SIZE;
    this.publish(s, index, validSlices, flags ?? s.flags);
    return index;
  }

  /** Whole mapping of each grain file (8192 + grainSize bytes), index = slot. */
  grainBuffers(): ArrayBuffer[] {
    this.ensureOpen();
    return this.files.grainFiles.map((f) => f.buffer);
  }

  /** Header of slot `slot` (for tools and the fabrics engine). */
  grainSlot(slot: number): GrainSlot {
    return this.files.slots[slot];
  }
}
