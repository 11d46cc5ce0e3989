/**
 * Audio targets (docs/protocol.md §4.7): one registered bounce entry per region; the immediate is
 * the entry index. The entry header (head index, count) is checked against the entry's
 * capacity and half our ring, then the samples are unpacked with our own ring length and
 * published.
 */
import { bounceGeometry, entryCapacity } from '../sample-protocol.js';
import { type SampleRing, unpackEntry } from '../sample-ring.js';
import type { BounceBufferInfo } from '../target-info.js';
import type { DropSink } from './drops.js';
import type { ReceiveCounters, ReceiverMedia } from './receiver.js';

/** One window of samples that landed (audio targets). */
export interface LandedSamples {
  /** One past the newest sample (exclusive end). */
  headIndex: bigint;
  count: number;
  /** Bounce-buffer entry it came through. */
  entry: number;
  committed: boolean;
  arrivalNs: bigint;
}

export class SampleReceiver implements ReceiverMedia {
  readonly kind = 'samples' as const;
  readonly buffers: readonly ArrayBuffer[];
  readonly regionLength: number;
  readonly bounce: BounceBufferInfo;
  private readonly entries: Uint8Array[];
  private readonly heads: BigUint64Array[];
  private readonly channels: Uint8Array;
  /** Most samples one entry may say it holds: its capacity and half our ring. */
  private readonly maxCount: number;

  constructor(private readonly ring: SampleRing, private readonly autoCommit: boolean, private readonly counters: ReceiveCounters, private readonly drop: DropSink, private readonly onSamples: (s: LandedSamples) => void) {
    const g = bounceGeometry(ring.layout, ring.syncBatch);
    this.regionLength = g.entrySize;
    const buffers = Array.from({ length: g.entryCount }, () => new ArrayBuffer(g.entrySize));
    this.buffers = buffers;
    this.entries = buffers.map((b) => new Uint8Array(b));
    this.heads = buffers.map((b) => new BigUint64Array(b, 0, 2));
    this.bounce = { entryCount: BigInt(g.entryCount), entrySize: BigInt(g.entrySize) };
    this.channels = new Uint8Array(ring.channels);
    this.maxCount = Math.min(entryCapacity(g.entrySize, ring.layout), Math.floor(ring.layout.bufferLength / 2));
  }

  land(imm: number, len: number, _conn: bigint): boolean {
    const ring = this.ring;
    if (imm >= this.entries.length) return this.drop('entry-range', `bounce entry ${imm} is outside the ${this.entries.length}-entry buffer`, imm);
    const h = this.heads[imm];
    const head = h[0];
    const count = Number(h[1]);
    if (!(count >= 1) || count > this.maxCount) return this.drop('sample-count', `entry ${imm} says ${count} samples; it holds 1..${this.maxCount}`, imm);
    if (head < BigInt(count)) return this.drop('sample-count', `entry ${imm} ends at sample ${head}, before its ${count} samples`, imm);
    unpackEntry(this.entries[imm], ring.layout, this.channels, head, count);
    if (this.autoCommit) ring.commit!(head, count);
    this.counters.sampleBatches++;
    this.counters.samples += count;
    this.counters.bytes += len;
    this.onSamples({ headIndex: head, count, entry: imm, committed: this.autoCommit, arrivalNs: process.hrtime.bigint() });
    return true;
  }
}
