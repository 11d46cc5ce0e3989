/**
 * Audio initiators (docs/protocol.md §4.7): the local channels ring is registered once; each
 * window is gathered into the target's next bounce entry, a 16-byte entry header from our
 * own registered copy first, and the entry index is the immediate of the last write.
 */
import { FabricsError } from '../../errors.js';
import { addon } from '../../native/index.js';
import type { NativeMemoryRegion, WriteSegment } from '../../native/fabric.js';
import type { BounceState, Peer } from '../engine/peer.js';
import type { Write } from '../engine/write-queue.js';
import { type OpenedFabric, randomKey } from '../fabric-setup.js';
import { FI } from '../provider-config.js';
import { ENTRY_HEADER_SIZE, type ByteRange, entryCapacity, splitByIovLimit, windowRanges } from '../sample-protocol.js';
import type { SampleRing } from '../sample-ring.js';
import type { TargetInfo } from '../target-info.js';
import type { SenderMedia, WriteOutcome } from './sender.js';

export class SampleSender implements SenderMedia {
  readonly kind = 'samples' as const;
  private readonly mr: NativeMemoryRegion;

  constructor(private readonly fabric: OpenedFabric, readonly ring: SampleRing) {
    this.mr = new (addon().MemoryRegion)(fabric.domain, ring.channels, 0, ring.channels.byteLength, FI.WRITE, randomKey());
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
    return windowRanges(this.ring.layout, end, count);
  }

  /** Queues window (end, count) into the peer's next bounce entry. */
  queue(peer: Peer, end: bigint, count: number, ranges: ByteRange[]): boolean {
    const b = peer.bounce!;
    const k = b.k;
    b.k = (b.k + 1) % b.entryCount;
    b.headers[k * 2] = end;
    b.headers[k * 2 + 1] = BigInt(count);
    const segs: WriteSegment[] = [[b.mr, k * ENTRY_HEADER_SIZE, ENTRY_HEADER_SIZE], ...ranges.map((r): WriteSegment => [this.mr, r.offset, r.length])];
    const region = peer.info.regions[k % peer.info.regions.length];
    const groups = splitByIovLimit(segs, this.fabric.info.txIovLimit ?? 4);
    const now = process.hrtime.bigint();
    let offset = 0;
    groups.forEach((g, i) => {
      const bytes = g.reduce((n, sg) => n + sg[2], 0);
      const last = i === groups.length - 1;
      peer.writes.push({ index: end, count, postNs: now, last, bytes, segs: g, remoteAddr: region.addr + BigInt(offset), rkey: region.rkey, immediate: last ? k : -1 });
      offset += bytes;
    });
    return true;
  }

  completed(_peer: Peer, w: Write): WriteOutcome {
    return w.last ? 'done' : 'partial';
  }

  abandoned(): void {}

  close(): void { this.mr.close(); }
}
