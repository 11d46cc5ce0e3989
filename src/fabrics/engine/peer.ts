/**
 * One target as an initiator sees it: its state, its endpoint (and, RDM, its address
 * vector), its writes and its counters. Every way a peer goes away, a failure that backs
 * off or a removal, goes through close().
 */
import type { NativeAddressVector, NativeEndpoint, NativeMemoryRegion, NativeProcessWatch } from '../../native/fabric.js';
import type { TargetInfo } from '../target-info.js';
import { type Write, WriteQueue } from './write-queue.js';

/**
 * 'connecting': opened, not yet proven there; 'connected': the target answered (moving or
 * idle); 'down': it was connected and is gone (disconnect, stall, write error), a retry is
 * pending; 'backoff': an attempt failed before it connected, a retry is pending; 'closed':
 * removed.
 */
export type PeerState = 'connecting' | 'connected' | 'down' | 'backoff' | 'closed';

export interface PeerStatus {
  id: bigint;
  state: PeerState;
  /** Writes queued or posted. */
  inFlight: number;
  /** Of those, waiting to be posted (provider queue or completion queue full). */
  queued: number;
  grains: number;
  bytes: number;
  skipped: number;
  /** Session number: 1 at addTarget, +1 at each replaceTarget. */
  epoch: number;
  /** Grains sent as INVALID because their local slot was reopened in flight. */
  tornPrevented: number;
  errors: number;
  lastError?: string;
}

/** Audio: the target's bounce buffer as this initiator uses it. */
export interface BounceState { entryCount: number; entrySize: number; headers: BigUint64Array; mr: NativeMemoryRegion; k: number }

export class Peer {
  state: PeerState = 'connecting';
  ep?: NativeEndpoint;
  /** RDM only: the peer's own address vector and the target's address in it. */
  av?: NativeAddressVector;
  fiAddr = 0n;
  /**
   * shm only: the target's process, asked before each write (connection/shm-peer.ts), and
   * the address of a target whose process was seen to exit (never opened again).
   */
  process?: NativeProcessWatch;
  exitedAddress?: string;
  /** Endpoints opened for this peer (names shm endpoints uniquely). */
  attempts = 0;
  readonly writes = new WriteQueue();
  bounce?: BounceState;
  retryAt = 0;
  /** process.hrtime.bigint() of the last open and of the last probe. */
  openedAtNs = 0n;
  probedAtNs = 0n;
  grains = 0;
  bytes = 0;
  skipped = 0;
  tornPrevented = 0;
  errors = 0;
  lastError?: string;

  epoch = 1;
  /** Date.now() when the peer last stopped being connected (0: it never was, or is now). */
  downSinceMs = 0;
  /** Date.now() of the last completion from this peer (it answered then). */
  lastAnswerMs = 0;
  /** replaceTarget: the id the session replaced, reported when the new one connects. */
  resumeFrom?: bigint;

  /** `ctx`: this peer's tag in the high 32 bits of every write context. */
  constructor(public info: TargetInfo, readonly ctx: bigint) {}

  get id(): bigint { return this.info.id; }

  status(): PeerStatus {
    return { id: this.info.id, state: this.state, inFlight: this.writes.size, queued: this.writes.queued, grains: this.grains, bytes: this.bytes, skipped: this.skipped, epoch: this.epoch, tornPrevented: this.tornPrevented, errors: this.errors, lastError: this.lastError };
  }

  /** Whether a new transfer may be queued: connected and below the in-flight bound. */
  accepts(maxInFlight: number): boolean {
    return this.state === 'connected' && this.writes.size < maxInFlight;
  }

  /**
   * Tears the peer's connection down. 'down' or 'backoff' (a failure, `reason` recorded)
   * retries after `retryAt`; 'closed' (removed) also releases what the media attached. A
   * graceful close shuts a connected MSG endpoint down first. Returns the writes that were
   * pending.
   */
  close(next: 'down' | 'backoff' | 'closed', opts: { reason?: string; retryAt?: number; graceful?: boolean } = {}): Write[] {
    if (this.ep) {
      if (opts.graceful && this.state === 'connected' && !this.av) this.ep.shutdown();
      this.ep.close();
    }
    this.ep = undefined;
    this.av?.close();
    this.av = undefined;
    this.process?.close();
    this.process = undefined;
    const pending = this.writes.clear();
    if (this.state === 'connected') this.downSinceMs = Date.now();
    if (next !== 'closed') {
      this.errors++;
      this.lastError = opts.reason;
      this.retryAt = opts.retryAt ?? 0;
    } else {
      this.bounce?.mr.close();
      this.bounce = undefined;
    }
    this.state = next;
    return pending;
  }

  /**
   * A new session with another TargetInfo (the target restarted): the connection and the
   * media attachment go, the counters stay, the epoch moves on. The caller reopens.
   */
  replace(info: TargetInfo): Write[] {
    const previous = this.info.id;
    const pending = this.close('closed');
    this.info = info;
    this.epoch++;
    this.resumeFrom = previous;
    this.state = 'backoff';
    // The target went away after its last answer, whether or not we had noticed yet.
    if (this.lastAnswerMs > 0) this.downSinceMs = this.lastAnswerMs;
    else if (this.downSinceMs === 0) this.downSinceMs = Date.now();
    return pending;
  }
}
