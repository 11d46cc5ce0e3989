/** What a target's media protocol (grains or samples) provides to the facade. */
import type { BounceBufferInfo } from '../target-info.js';

export interface ReceiverMedia {
  readonly kind: 'grains' | 'samples';
  /** The buffers to register, one remote region each, and their length. */
  readonly buffers: readonly ArrayBuffer[];
  readonly regionLength: number;
  /** Audio: the bounce buffer geometry published in the TargetInfo. */
  readonly bounce?: BounceBufferInfo;
  /** Handles one arrived immediate (`len` bytes); true when something landed. */
  land(immediate: number, len: number): boolean;
}

/** The target counters the receivers keep. */
export interface ReceiveCounters {
  grains: number;
  sampleBatches: number;
  samples: number;
  bytes: number;
  geometryMismatches: number;
}
