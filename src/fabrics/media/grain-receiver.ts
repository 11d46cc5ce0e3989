/**
 * Grain targets (docs/protocol.md §4.5): an immediate `slot | sliceEnd << 16` says that slices up
 * to sliceEnd of the grain in `slot` landed. Everything a peer wrote is checked before it
 * is published: the slot, the slice end, the header's geometry and that the header's
 * index belongs in that slot; a failed check drops the grain with a reason and the target
 * goes on.
 */
import { FabricsError } from '../../errors.js';
import { GRAIN_HEADER_VERSION } from '../../domain/layout.js';
import { type GrainLayout, regionLength, unpackImmediate } from '../grain-protocol.js';
import { type GrainRing, SlotHeader } from '../grain-ring.js';
import type { DropSink } from './drops.js';
import type { ReceiveCounters, ReceiverMedia } from './receiver.js';

/** One grain (or slice range) that landed. */
export interface LandedGrain {
  index: bigint;
  slot: number;
  /** Valid slices after this transfer (the immediate's slice end). */
  validSlices: number;
  totalSlices: number;
  /** Whether it was committed into the local flow here. */
  committed: boolean;
  /** process.hrtime.bigint() when the completion was read. */
  arrivalNs: bigint;
  flags: number;
}

export class GrainReceiver implements ReceiverMedia {
  readonly kind = 'grains' as const;
  readonly buffers: readonly ArrayBuffer[];
  readonly regionLength: number;
  readonly layout: GrainLayout;
  private readonly headers: SlotHeader[];
  /** Per slot, the grain index, slice end and connection it last landed (-1n: nothing yet). */
  private readonly lastIndex: bigint[];
  private readonly lastEnd: number[];
  private readonly lastConn: bigint[];

  constructor(private readonly ring: GrainRing, private readonly autoCommit: boolean, private readonly counters: ReceiveCounters, private readonly drop: DropSink, private readonly onLanded: (g: LandedGrain) => void) {
    this.layout = ring.layout;
    this.buffers = [...ring.slots];
    this.regionLength = regionLength(ring.layout);
    this.headers = ring.slots.map((b, i) => new SlotHeader(b, i));
    this.lastIndex = ring.slots.map(() => -1n);
    this.lastEnd = ring.slots.map(() => 0);
    this.lastConn = ring.slots.map(() => -1n);
  }

  land(imm: number, len: number, conn: bigint): boolean | 'duplicate' {
    const { slot, sliceEnd } = unpackImmediate(imm);
    const layout = this.layout;
    const n = this.headers.length;
    if (slot >= n) return this.drop('slot-range', `slot ${slot} is outside the ${n}-slot ring`, imm);
    if (sliceEnd > layout.totalSlices) return this.drop('slice-range', `slice end ${sliceEnd} is past the grain's ${layout.totalSlices} slices`, imm);
    const h = this.headers[slot];
    // The ring's memory was released under the target (its flow writer closed): the views
    // are detached, so nothing here may read them. The writer refuses the commit; a drop.
    if (h.u32.length === 0) return this.refuse(slot, sliceEnd, imm);
    if (h.grainSize !== layout.grainSize || h.totalSlices !== layout.totalSlices || h.u32[0] !== GRAIN_HEADER_VERSION) {
      // The peer's grain header disagrees with our flow: keep our flow consistent, refuse the grain.
      h.restore(layout.grainSize, layout.totalSlices);
      this.counters.geometryMismatches++;
      return this.drop('geometry', 'the sender flow has another grain geometry (grain size or slice count)', imm);
    }
    const index = h.index;
    if (Number(index % BigInt(n)) !== slot) return this.drop('index-slot', `landed grain index ${index} does not belong in slot ${slot} of a ${n}-slot ring`, imm);
    // Nothing new for this slot. From another connection: a redundant sender's copy. From
    // the same one: a re-send, or (no flow control) the sender rewrote the slot before the
    // completion for the grain before was read here, which then named this grain's header:
    // that grain is lost, and publishing this one twice would hide it.
    if (index === this.lastIndex[slot] && sliceEnd <= this.lastEnd[slot]) {
      if (conn !== this.lastConn[slot]) {
        this.counters.duplicates++;
        return 'duplicate';
      }
      return this.drop('repeat', `grain ${index} already landed slices up to ${this.lastEnd[slot]} in slot ${slot}: a re-send, or the sender rewrote the slot before the target read the completion for the grain before it (the target is a ring behind; that grain is lost)`, imm);
    }
    let committed = false;
    if (this.autoCommit) {
      if (!this.commit(slot, sliceEnd, imm)) return false;
      committed = true;
    } else {
      h.validSlices = sliceEnd;
    }
    this.lastIndex[slot] = index;
    this.lastEnd[slot] = sliceEnd;
    this.lastConn[slot] = conn;
    this.counters.grains++;
    this.counters.bytes += len;
    this.onLanded({ index, slot, validSlices: sliceEnd, totalSlices: layout.totalSlices, committed, arrivalNs: process.hrtime.bigint(), flags: h.flags });
    return true;
  }

  /** ring.commitLanded; a refusal (the ring checks what land() checked) is a drop, never a throw at a peer's write. */
  private commit(slot: number, sliceEnd: number, imm: number): boolean {
    try {
      this.ring.commitLanded!(slot, sliceEnd);
      return true;
    } catch (e) {
      return this.drop('index-slot', e instanceof FabricsError ? e.message : String(e), imm);
    }
  }

  /** A grain into memory that is gone: the writer's refusal, or (user buffers) a drop saying so. */
  private refuse(slot: number, sliceEnd: number, imm: number): false {
    if (this.autoCommit && !this.commit(slot, sliceEnd, imm)) return false; // the writer's refusal, counted
    return this.drop('index-slot', 'the ring\'s buffers were released (detached): the grain has nowhere to be read', imm);
  }
}
