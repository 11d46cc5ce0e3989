/**
 * Grain initiators (docs/protocol.md §4.3): every slot of the local ring is registered in place;
 * a transfer writes the header and the slices of one grain into the target slot
 * `index mod regions`, and the immediate `slot | sliceEnd << 16` tells the target.
 *
 * Torn-grain protection (default): the grain is written WITHOUT the immediate; once that
 * write completed, the local slot is checked to still hold the same grain (the writer
 * reopens a slot by storing a new index first, src/domain/discrete-writer.ts), and only
 * then a small commit write of the header carries the immediate. A grain whose slot was
 * reopened meanwhile is committed as INVALID (flag bit 0, no valid slices), so no target,
 * ours or upstream's, publishes a mix of two grains. `protectTorn: false` is upstream's
 * single write with the immediate; a reopened slot is then only reported ('overrun').
 */
import { FabricsError } from '../../errors.js';
import { addon } from '../../native/index.js';
import type { NativeMemoryRegion } from '../../native/fabric.js';
import { GRAIN_FLAG_INVALID, GRAIN_HEADER_VERSION, GRAIN_INFO_SIZE, GrainOffset } from '../../domain/layout.js';
import type { Peer } from '../engine/peer.js';
import type { TransferGroup, Write } from '../engine/write-queue.js';
import { type OpenedFabric, randomKey } from '../fabric-setup.js';
import { GRAIN_HEADER_SIZE, type GrainLayout, packImmediate, planGrainTransfer, regionLength } from '../grain-protocol.js';
import { type GrainRing, SlotHeader } from '../grain-ring.js';
import { FI } from '../provider-config.js';
import type { TargetInfo } from '../target-info.js';
import { HeaderScratch } from './header-scratch.js';
import type { SenderMedia, WriteOutcome } from './sender.js';

/** A commit writes the header's fields up to and including validSlices. */
export const COMMIT_BYTES = GrainOffset.validSlices + 2;

export class GrainSender implements SenderMedia {
  readonly kind = 'grains' as const;
  readonly layout: GrainLayout;
  private readonly mrs: NativeMemoryRegion[] = [];
  private readonly headers: SlotHeader[];
  private readonly scratch: HeaderScratch;
  /**
   * Per peer, the remote slots transfers are still writing: the grain and how many of its
   * transfers (slice ranges). Another grain for a busy slot is skipped: its payload would
   * land under the first one's commit, and the target would read one grain's immediate
   * with the other's header.
   */
  private readonly busy = new WeakMap<Peer, Map<number, { index: bigint; n: number }>>();

  constructor(fabric: OpenedFabric, ring: GrainRing, readonly protectTorn: boolean) {
    this.layout = ring.layout;
    this.headers = ring.slots.map((b) => new SlotHeader(b));
    this.scratch = new HeaderScratch(fabric.domain);
    const len = regionLength(this.layout);
    try {
      for (const buf of ring.slots) this.mrs.push(new (addon().MemoryRegion)(fabric.domain, buf, 0, len, FI.WRITE, randomKey()));
    } catch (e) {
      this.close();
      throw e;
    }
  }

  check(info: TargetInfo): void {
    if (info.bounceBufferInfo) throw new FabricsError('MXL_ERR_INVALID_ARG', 'TargetInfo describes an audio (continuous) target; this initiator sends grains', { field: 'bounceBufferInfo' });
    const need = BigInt(regionLength(this.layout));
    const bad = info.regions.findIndex((r) => r.len !== need);
    if (bad >= 0) {
      throw new FabricsError('MXL_ERR_INVALID_ARG',
        `TargetInfo region ${bad} is ${info.regions[bad].len} bytes but local grains are ${need} (${GRAIN_HEADER_SIZE} + ${this.layout.grainSize}): the target flow has another format or size`, { field: `regions[${bad}].len` });
    }
  }

  attach(): void {}

  get slotCount(): number { return this.headers.length; }
  /** The registrations of the local slots, by slot (the native follow loop sends from them). */
  get regions(): NativeMemoryRegion[] { return this.mrs; }

  /** Checks a transfer request before anything is posted; returns the local slot. */
  validate(index: bigint, startSlice: number, endSlice: number): number {
    if (typeof index !== 'bigint' || index < 0n) throw new FabricsError('MXL_ERR_INVALID_ARG', `grain index must be a non-negative bigint, got ${String(index)}`, { field: 'index' });
    const total = this.layout.totalSlices;
    if (!Number.isInteger(startSlice) || !Number.isInteger(endSlice) || startSlice < 0 || endSlice < startSlice) {
      throw new FabricsError('MXL_ERR_INVALID_ARG', `slice range [${startSlice}, ${endSlice}) is not a valid range: need 0 <= start <= end`, { field: 'slices' });
    }
    if (endSlice > total) throw new FabricsError('MXL_ERR_INVALID_ARG', `slice end ${endSlice} is past the grain's ${total} slices`, { field: 'endSlice' });
    const localSlot = Number(index % BigInt(this.headers.length));
    const held = this.headers[localSlot].index;
    if (held !== index) {
      throw new FabricsError(held > index ? 'MXL_ERR_OUT_OF_RANGE_TOO_LATE' : 'MXL_ERR_OUT_OF_RANGE_TOO_EARLY',
        `grain ${index} is not in the local ring (slot ${localSlot} holds ${held})`, { field: 'index' });
    }
    return localSlot;
  }

  /**
   * Queues the writes of slices [start, end) of grain `index` (in local slot `localSlot`)
   * for `peer`; false when the peer's slot for it is still busy with an earlier grain.
   */
  queue(peer: Peer, index: bigint, localSlot: number, start: number, end: number): boolean {
    const remoteSlot = Number(index % BigInt(peer.info.regions.length));
    let busy = this.busy.get(peer);
    if (!busy) this.busy.set(peer, (busy = new Map()));
    const b = busy.get(remoteSlot);
    if (b && b.index !== index) return false;
    if (b) b.n++;
    else busy.set(remoteSlot, { index, n: 1 });
    const region = peer.info.regions[remoteSlot];
    const writes = planGrainTransfer(this.layout, remoteSlot, start, end);
    const now = process.hrtime.bigint();
    const mr = this.mrs[localSlot];
    const group: TransferGroup = { remaining: writes.length, startSlice: start, endSlice: end, validAtPost: this.headers[localSlot].validSlices, remoteSlot };
    for (let w = 0; w < writes.length; w++) {
      const wr = writes[w];
      const last = w === writes.length - 1;
      peer.writes.push({
        index, postNs: now, bytes: wr.length, segs: [[mr, wr.offset, wr.length]], remoteAddr: region.addr + BigInt(wr.offset), rkey: region.rkey,
        // Two-phase: no immediate here, the commit carries it.
        immediate: this.protectTorn ? -1 : (wr.immediate ?? -1), last: last && !this.protectTorn, group,
      });
    }
    return true;
  }

  /** One transfer to `slot` of `peer` is over. */
  private release(peer: Peer, slot: number): void {
    const busy = this.busy.get(peer);
    const b = busy?.get(slot);
    if (b && --b.n === 0) busy!.delete(slot);
  }

  /** Whether the local slot still holds the grain the group sent, unchanged. */
  private intact(index: bigint, g: TransferGroup): boolean {
    const h = this.headers[Number(index % BigInt(this.headers.length))];
    return h.index === index && h.validSlices >= g.validAtPost;
  }

  completed(peer: Peer, w: Write): WriteOutcome {
    const g = w.group!;
    if (w.scratch !== undefined) {
      this.scratch.give(w.scratch);
      this.release(peer, g.remoteSlot);
      return w.last ? 'done' : 'partial'; // a valid commit completes the grain; an INVALID one does not
    }
    if (--g.remaining > 0) return 'partial';
    if (!this.protectTorn) {
      this.release(peer, g.remoteSlot);
      return this.intact(w.index, g) ? 'done' : 'overrun';
    }
    // Copy the header first, then check: a reopen after the check cannot reach the copy.
    const id = this.scratch.take();
    const hdr = this.scratch.bytes(id);
    const local = this.headers[Number(w.index % BigInt(this.headers.length))];
    hdr.set(new Uint8Array(local.buffer, 0, COMMIT_BYTES));
    const copyIndex = new DataView(hdr.buffer, hdr.byteOffset).getBigUint64(GrainOffset.index, true);
    const ok = copyIndex === w.index && this.intact(w.index, g);
    if (!ok) this.invalidHeader(hdr, w.index);
    // The range's end, not the writer's count now: a writer further on would otherwise let the
    // target's readers see slices as valid before their data landed.
    else new DataView(hdr.buffer, hdr.byteOffset, COMMIT_BYTES).setUint16(GrainOffset.validSlices, g.endSlice, true);
    const region = peer.info.regions[g.remoteSlot];
    const [smr, soff] = this.scratch.region(id);
    peer.writes.push({
      index: w.index, postNs: w.postNs, bytes: COMMIT_BYTES, segs: [[smr, soff, COMMIT_BYTES]], remoteAddr: region.addr, rkey: region.rkey,
      immediate: packImmediate(g.remoteSlot, ok ? g.endSlice : 0), last: ok, scratch: id, group: g,
    });
    return ok ? 'partial' : 'torn';
  }

  /** A header that says: grain `index`, INVALID, nothing valid. */
  private invalidHeader(hdr: Uint8Array, index: bigint): void {
    hdr.fill(0, 0, COMMIT_BYTES);
    const dv = new DataView(hdr.buffer, hdr.byteOffset, COMMIT_BYTES);
    dv.setUint32(GrainOffset.version, GRAIN_HEADER_VERSION, true);
    dv.setUint32(GrainOffset.size, GRAIN_INFO_SIZE, true);
    dv.setBigUint64(GrainOffset.index, index, true);
    dv.setUint32(GrainOffset.flags, GRAIN_FLAG_INVALID, true);
    dv.setUint32(GrainOffset.grainSize, this.layout.grainSize, true);
    dv.setUint16(GrainOffset.totalSlices, this.layout.totalSlices, true);
  }

  abandoned(peer: Peer, writes: Write[]): void {
    for (const w of writes) if (w.scratch !== undefined) this.scratch.give(w.scratch);
    this.busy.delete(peer); // a peer that failed starts again with every slot free
  }

  close(): void {
    for (const mr of this.mrs) mr.close();
    this.scratch.close();
  }
}
