/** What a target's media protocol (grains or samples) provides to the facade. */
import type { BounceBufferInfo } from '../target-info.js';

export interface ReceiverMedia {
  readonly kind: 'grains' | 'samples';
  /** The buffers to register, one remote region each, and their length. */
  readonly buffers: readonly ArrayBuffer[];
  readonly regionLength: number;
  /** Audio: the bounce buffer geometry published in the TargetInfo. */
  readonly bounce?: BounceBufferInfo;
  /**
   * Handles one arrived immediate (`len` bytes) from connection `conn` (MSG; 0n on RDM):
   * true when something landed, 'duplicate' for another connection's copy of what already
   * landed (a redundant sender: not published again, but that connection is alive).
   */
  land(immediate: number, len: number, conn: bigint): boolean | 'duplicate';
}

/** The target counters the receivers keep. */
export interface ReceiveCounters {
  grains: number;
  sampleBatches: number;
  samples: number;
  bytes: number;
  geometryMismatches: number;
  /** Copies of a grain range that another connection had already landed (redundant senders). */
  duplicates: number;
}
