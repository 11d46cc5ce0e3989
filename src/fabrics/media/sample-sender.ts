/**
 * Audio initiators (docs/protocol.md §4.7): the local channels ring is registered once; each
 * window is copied once, channel-major, into a registered staging slot shared by every target
 * it goes to, and sent as one write per target: the 16-byte entry header from our own
 * registered copy, then the staged payload, into the target's next bounce entry, with the
 * entry index as the immediate. Gathering the ring's channel fragments directly took one
 * write per 4 segments (the tcp and shm iov limit): 5 writes and 5 completions per 16-channel
 * window (docs/bench.md, paced CPU).
 */
import { FabricsError } from '../../errors.js';
import { addon } from '../../native/index.js';
import type { NativeDomain, NativeMemoryRegion, WriteSegment } from '../../native/fabric.js';
import type { BounceState, Peer } from '../engine/peer.js';
import type { Write } from '../engine/write-queue.js';
import { type OpenedFabric, randomKey } from '../fabric-setup.js';
import { FI } from '../provider-config.js';
import { ENTRY_HEADER_SIZE, type ByteRange, bytesPerSample, entryCapacity, splitByIovLimit, windowRanges } from '../sample-protocol.js';
import type { SampleRing } from '../sample-ring.js';
import type { TargetInfo } from '../target-info.js';
import type { SenderMedia, WriteOutcome } from './sender.js';

/**
 * Registered staging slots for window payloads. A slot is taken per window, referenced by
 * every write that reads it, and free again once the last of them completed or was
 * abandoned (a slow target keeps only its own slots). Slots are never smaller than
 * `minBytes` (one sync batch), so a steady stream reuses the same two or three.
 */
class StagingPool {
  /** refs: writes that read the slot; held: the current window's slot (more targets may still take it). */
  private readonly slots: { bytes: Uint8Array; mr: NativeMemoryRegion; refs: number; held: boolean }[] = [];
  private readonly free: number[] = [];

  constructor(private readonly domain: NativeDomain, private readonly minBytes: number) {}

  /** A slot of at least `bytes`, held until drop(). */
  take(bytes: number): number {
    for (let i = this.free.length - 1; i >= 0; i--) {
      const id = this.free[i];
      if (this.slots[id].bytes.byteLength >= bytes) {
        this.free.splice(i, 1);
        this.slots[id].held = true;
        return id;
      }
    }
    const buf = new ArrayBuffer(Math.max(bytes, this.minBytes));
    this.slots.push({ bytes: new Uint8Array(buf), mr: new (addon().MemoryRegion)(this.domain, buf, 0, buf.byteLength, FI.WRITE, randomKey()), refs: 0, held: true });
    return this.slots.length - 1;
  }

  bytes(id: number): Uint8Array { return this.slots[id].bytes; }
  mr(id: number): NativeMemoryRegion { return this.slots[id].mr; }
  ref(id: number): void { this.slots[id].refs++; }

  /** One write that read slot `id` is done with it. */
  release(id: number): void {
    const s = this.slots[id];
    if (s && --s.refs === 0 && !s.held) this.free.push(id);
  }

  /** No more targets take the window in slot `id`. */
  drop(id: number): void {
    const s = this.slots[id];
    s.held = false;
    if (s.refs === 0) this.free.push(id);
  }

  close(): void {
    for (const s of this.slots) s.mr.close();
    this.slots.length = 0;
    this.free.length = 0;
  }
}

export class SampleSender implements SenderMedia {
  readonly kind = 'samples' as const;
  private readonly src: Uint8Array;
  private readonly staging: StagingPool;
  /** Staging slot of the window ranges() checked last, once a target's queue() copied it; -1 before. */
  private staged = -1;
  private stagedBytes = 0;

  constructor(private readonly fabric: OpenedFabric, readonly ring: SampleRing) {
    this.src = new Uint8Array(ring.channels);
    const l = ring.layout;
    this.staging = new StagingPool(fabric.domain, Math.max(1, Math.min(ring.syncBatch, Math.floor(l.bufferLength / 2))) * bytesPerSample(l));
  }

  check(info: TargetInfo): void {
    this.geometry(info);
  }

  private geometry(info: TargetInfo): { entryCount: number; entrySize: number } {
    const bb = info.bounceBufferInfo;
    if (!bb) throw new FabricsError('MXL_ERR_INVALID_ARG', 'TargetInfo has no bounceBufferInfo: it describes a grain (video/data) target, this initiator sends samples', { field: 'bounceBufferInfo' });
    const entryCount = Number(bb.entryCount);
    const entrySize = Number(bb.entrySize);
    if (entryCount < 1 || entryCount > 1 << 20) throw new FabricsError('MXL_ERR_INVALID_ARG', `bounceBufferInfo.entryCount ${bb.entryCount} is out of range`, { field: 'bounceBufferInfo.entryCount' });
    const l = this.ring.layout;
    if (entrySize < ENTRY_HEADER_SIZE + l.channelCount * l.wordSize) throw new FabricsError('MXL_ERR_INVALID_ARG', `bounceBufferInfo.entrySize ${bb.entrySize} cannot hold one sample of ${l.channelCount} channels`, { field: 'bounceBufferInfo.entrySize' });
    const bad = info.regions.findIndex((r) => r.len !== BigInt(entrySize));
    if (bad >= 0) throw new FabricsError('MXL_ERR_INVALID_ARG', `TargetInfo region ${bad} is ${info.regions[bad].len} bytes, not the bounce entry size ${entrySize}`, { field: `regions[${bad}].len` });
    return { entryCount, entrySize };
  }

  /** Registers our copy of the entry headers for this target. */
  attach(peer: Peer): void {
    const { entryCount, entrySize } = this.geometry(peer.info);
    const buf = new ArrayBuffer(ENTRY_HEADER_SIZE * entryCount);
    const mr = new (addon().MemoryRegion)(this.fabric.domain, buf, 0, buf.byteLength, FI.WRITE, randomKey());
    peer.bounce = { entryCount, entrySize, headers: new BigUint64Array(buf), mr, k: 0 } satisfies BounceState;
  }

  /** The most samples per channel one transfer can carry to every peer. */
  maxSamples(peers: Iterable<Peer>): number {
    let n = Math.floor(this.ring.layout.bufferLength / 2);
    for (const p of peers) if (p.bounce) n = Math.min(n, entryCapacity(p.bounce.entrySize, this.ring.layout));
    return n;
  }

  /** Byte ranges of window (end, count); throws when the window is not in the local ring. */
  ranges(end: bigint, count: number): ByteRange[] {
    const st = this.ring.status?.(end, count) ?? 'OK';
    if (st !== 'OK') {
      throw new FabricsError(st === 'TOO_LATE' ? 'MXL_ERR_OUT_OF_RANGE_TOO_LATE' : st === 'TOO_EARLY' ? 'MXL_ERR_OUT_OF_RANGE_TOO_EARLY' : 'MXL_ERR_FLOW_INVALID',
        `samples [${end - BigInt(count)}, ${end}) are not in the local ring (${st})`, { field: 'index' });
    }
    this.settle();
    return windowRanges(this.ring.layout, end, count);
  }

  /** The previous window is done being queued: a slot no target took goes back. */
  private settle(): void {
    if (this.staged >= 0) this.staging.drop(this.staged);
    this.staged = -1;
  }

  /** Queues window (end, count) into the peer's next bounce entry; the first target copies it into a staging slot. */
  queue(peer: Peer, end: bigint, count: number, ranges: ByteRange[]): boolean {
    if (this.staged < 0) {
      let bytes = 0;
      for (const r of ranges) bytes += r.length;
      const id = this.staging.take(bytes);
      const dst = this.staging.bytes(id);
      const src = this.src;
      let off = 0;
      for (const r of ranges) {
        dst.set(src.subarray(r.offset, r.offset + r.length), off);
        off += r.length;
      }
      this.staged = id;
      this.stagedBytes = bytes;
    }
    const id = this.staged;
    const b = peer.bounce!;
    const k = b.k;
    b.k = k + 1 === b.entryCount ? 0 : k + 1;
    b.headers[k * 2] = end;
    b.headers[k * 2 + 1] = BigInt(count);
    const region = peer.info.regions[k % peer.info.regions.length];
    const segs: WriteSegment[] = [[b.mr, k * ENTRY_HEADER_SIZE, ENTRY_HEADER_SIZE], [this.staging.mr(id), 0, this.stagedBytes]];
    const bytes = ENTRY_HEADER_SIZE + this.stagedBytes;
    const now = process.hrtime.bigint();
    if ((this.fabric.info.txIovLimit ?? 4) >= 2) {
      this.staging.ref(id);
      peer.writes.push({ index: end, count, postNs: now, last: true, bytes, segs, remoteAddr: region.addr, rkey: region.rkey, immediate: k, scratch: id });
      return true;
    }
    // One segment per write: the header, then the payload at the next remote offset.
    const groups = splitByIovLimit(segs, 1);
    let offset = 0;
    groups.forEach((g, i) => {
      const n = g[0][2];
      const last = i === groups.length - 1;
      const uses = g[0][0] !== b.mr;
      if (uses) this.staging.ref(id);
      peer.writes.push({ index: end, count, postNs: now, last, bytes: n, segs: g, remoteAddr: region.addr + BigInt(offset), rkey: region.rkey, immediate: last ? k : -1, scratch: uses ? id : undefined });
      offset += n;
    });
    return true;
  }

  completed(_peer: Peer, w: Write): WriteOutcome {
    if (w.scratch !== undefined) this.staging.release(w.scratch);
    return w.last ? 'done' : 'partial';
  }

  abandoned(_peer: Peer, writes: Write[]): void {
    for (const w of writes) if (w.scratch !== undefined) this.staging.release(w.scratch);
  }

  close(): void {
    this.settle();
    this.staging.close();
  }
}
