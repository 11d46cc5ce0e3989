/**
 * Reader of a continuous flow (docs/domain-format.md §2.5). Window (E, n) is OK when it lies inside the newest
 * ⌊L/2⌋ samples ending at headIndex; the other half of the ring is the writer's.
 */
import { badArg } from './fail.js';
import type { FlowFiles } from './flow-files.js';
import { FlowReaderBase } from './flow-reader-base.js';
import { channelViews, windowFragments, type RingFragment, type SampleArray } from './audio-window.js';
import { waitForStatus, waitForStatusSync, type ReadStatus } from './reader-wait.js';

export interface SamplesReadResult {
  status: ReadStatus;
  /** E: one past the last sample asked for. */
  index: bigint;
  count: number;
  headIndex: bigint;
  fragments: RingFragment[];
  /** channels[c][f]: zero-copy views (status OK only; empty otherwise). */
  channels: SampleArray[][];
}

export class ContinuousFlowReader extends FlowReaderBase {
  readonly kind = 'continuous' as const;

  constructor(files: FlowFiles) {
    super(files);
  }

  /** ⌊L/2⌋ (mxlFlowReaderGetMaxReadLengthSamples). */
  get maxReadLength(): number {
    return Math.floor(this.geometry.bufferLength / 2);
  }

  /** Where window (end, count) stands against head `head`: TOO_EARLY, OK or TOO_LATE. */
  private place(end: bigint, count: number, head: bigint): ReadStatus {
    if (end > head) return 'TOO_EARLY';
    const half = BigInt(this.maxReadLength);
    const minIndex = head > half ? head - half : 0n;
    return end >= minIndex && end - minIndex >= BigInt(count) ? 'OK' : 'TOO_LATE';
  }

  private evaluate(end: bigint, count: number, fragments: RingFragment[]): SamplesReadResult {
    const head = this.files.header.headIndex;
    const status = this.place(end, count, head);
    const g = this.geometry;
    const channels = status === 'OK' ? channelViews(this.files.channels!.buffer, g.channelCount, g.bufferLength, g.wordSize, fragments) : [];
    return { status, index: end, count, headIndex: head, fragments, channels };
  }

  /**
   * getSamplesSync(end, count).status without a wait and without the views (an initiator
   * checks every window it sends); TOO_EARLY goes through getSamplesSync for its
   * flow-replaced check.
   */
  samplesStatus(end: bigint, count: number): ReadStatus {
    this.ensureOpen();
    if (typeof end !== 'bigint' || end < 0n) throw badArg('index must be a non-negative bigint', 'index');
    if (!Number.isInteger(count) || count < 1 || count > this.maxReadLength) throw badArg(`sample count must be 1 … ${this.maxReadLength} (got ${count})`, 'count');
    const st = this.place(end, count, this.files.header.headIndex);
    return st === 'TOO_EARLY' ? this.getSamplesSync(end, count).status : st;
  }

  private prepare(end: bigint, count: number): RingFragment[] {
    this.ensureOpen();
    if (typeof end !== 'bigint' || end < 0n) throw badArg('index must be a non-negative bigint', 'index');
    return windowFragments(end, count, this.geometry.bufferLength);
  }

  /** Waits (off the main thread) up to timeoutMs (default 1000) for window (end, count). */
  async getSamples(end: bigint, count: number, timeoutMs = 1000): Promise<SamplesReadResult> {
    const frags = this.prepare(end, count);
    const r = await waitForStatus(this.files, () => this.evaluate(end, count, frags), timeoutMs, () => !this.closed);
    return this.closed ? { ...r, channels: [] } : r;
  }

  /** Same, synchronously (timeoutMs 0 = non-blocking). */
  getSamplesSync(end: bigint, count: number, timeoutMs = 0): SamplesReadResult {
    const frags = this.prepare(end, count);
    return waitForStatusSync(this.files, () => this.evaluate(end, count, frags), timeoutMs);
  }

  /** The whole `channels` mapping. */
  channelsBuffer(): ArrayBuffer {
    this.ensureOpen();
    return this.files.channels!.buffer;
  }
}
