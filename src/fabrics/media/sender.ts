/**
 * What an initiator's media protocol (grains or samples) provides to the facade: the
 * checks of a target's TargetInfo, what it attaches to a peer, and what a completed write
 * means.
 */
import type { Peer } from '../engine/peer.js';
import type { Write } from '../engine/write-queue.js';
import type { TargetInfo } from '../target-info.js';

/**
 * A write completed: 'done' (its transfer is complete at the target), 'partial' (more
 * writes of the transfer are outstanding), or a grain that was not published because its
 * local slot was reopened ('torn'), or published although it may mix two grains
 * ('overrun', when torn protection is off).
 */
export type WriteOutcome = 'done' | 'partial' | 'torn' | 'overrun';

export interface SenderMedia {
  readonly kind: 'grains' | 'samples';
  /** Throws MXL_ERR_INVALID_ARG when the target cannot take this media. */
  check(info: TargetInfo): void;
  /** Resources the peer needs for this media (audio: the bounce headers); released by Peer.close. */
  attach(peer: Peer): void;
  /** Handles one completed write; may queue more writes on the peer. */
  completed(peer: Peer, w: Write): WriteOutcome;
  /** Writes that will never complete (the peer failed or was removed). */
  abandoned(peer: Peer, writes: Write[]): void;
  close(): void;
}
