/**
 * Writer of a continuous (audio) flow. Sample numbering is exclusive-end (docs/domain-format.md §4.4): sample s
 * lives at ring position s mod L and a commit of window (E, n) sets headIndex = E, one past
 * the newest sample. Readers are woken by upstream's sync-batch rule (docs/domain-format.md §3.3).
 */
import { badArg } from './fail.js';
import type { FlowFiles } from './flow-files.js';
import { FlowWriterBase } from './flow-writer-base.js';
import { channelViews, windowFragments, type RingFragment, type SampleArray } from './audio-window.js';
import { SyncBatchTracker } from './sync-batch.js';

export interface SamplesWriteAccess {
  /** E: one past the last sample of the window. */
  index: bigint;
  count: number;
  fragments: RingFragment[];
  /** channels[c][f]: zero-copy view of fragment f of channel c. */
  channels: SampleArray[][];
}

export class ContinuousFlowWriter extends FlowWriterBase {
  readonly kind = 'continuous' as const;
  private readonly batch: SyncBatchTracker;
  private open: { index: bigint; count: number } | undefined;

  constructor(files: FlowFiles, created: boolean) {
    super(files, created);
    this.batch = new SyncBatchTracker(files.geometry.maxSyncBatchSizeHint, files.geometry.maxCommitBatchSizeHint);
  }

  /** ⌊L/2⌋: the largest window (mxlFlowWriterGetMaxWriteLengthSamples). */
  get maxWriteLength(): number {
    return Math.floor(this.geometry.bufferLength / 2);
  }

  /** Opens window (E = index, n = count) for writing; returns views of the ring. */
  openSamples(index: bigint, count: number): SamplesWriteAccess {
    this.ensureOpen();
    if (typeof index !== 'bigint' || index < BigInt(count)) throw badArg('index must be a bigint >= count', 'index');
    const g = this.geometry;
    const fragments = windowFragments(index, count, g.bufferLength);
    this.open = { index, count };
    return { index, count, fragments, channels: channelViews(this.files.channels!.buffer, g.channelCount, g.bufferLength, g.wordSize, fragments) };
  }

  /**
   * Commits window (E = index, n = count) whose samples are already in the channels buffer
   * (a fabrics target copies them there itself): openSamples() then commitSamples(), the same
   * checks, without building the views.
   */
  commitWindow(index: bigint, count: number): boolean {
    this.ensureOpen();
    if (typeof index !== 'bigint' || index < BigInt(count)) throw badArg('index must be a bigint >= count', 'index');
    windowFragments(index, count, this.geometry.bufferLength); // count in 1 … ⌊L/2⌋
    this.open = { index, count };
    return this.commitSamples();
  }

  /** Commits the open window: headIndex = E, then a wake if a sync batch completed. Returns whether readers were signalled. */
  commitSamples(): boolean {
    this.ensureOpen();
    if (!this.open) throw badArg('no samples are open: call openSamples first', 'index');
    const { index } = this.open;
    this.open = undefined;
    this.files.header.headIndex = index;
    if (!this.batch.shouldSignal(index)) return false;
    this.signal();
    return true;
  }

  /** The whole `channels` mapping (channelCount × bufferLength × wordSize bytes, planar). */
  channelsBuffer(): ArrayBuffer {
    this.ensureOpen();
    return this.files.channels!.buffer;
  }
}
