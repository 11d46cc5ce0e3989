/**
 * One peer's writes: those waiting for room in the provider's transmit queue (EAGAIN keeps
 * them here, in order, for the next progress call) and the in-flight table that maps each
 * completion back to its write.
 */
import type { NativeEndpoint, WriteSegment } from '../../native/fabric.js';
import { FI } from '../provider-config.js';

const EAGAIN = -11;
/** flush() status when `canPost` refused a write: the peer is gone, nothing was posted to it. */
export const PEER_GONE = -0x10000;

/** The writes of one grain transfer: the commit (or completion) follows the last of them. */
export interface TransferGroup {
  remaining: number;
  startSlice: number;
  endSlice: number;
  /** The local slot's validSlices when the transfer was posted. */
  validAtPost: number;
  remoteSlot: number;
}

/** What a write carries, as the media protocol that queued it knows it. */
export interface Write {
  /** Grain index, or the window's head index for samples. */
  index: bigint;
  postNs: bigint;
  bytes: number;
  segs: WriteSegment[];
  remoteAddr: bigint;
  rkey: bigint;
  /** The immediate, or -1 for none. */
  immediate: number;
  /** The last write of a transfer: its completion completes the grain (or sample window). */
  last: boolean;
  /** Samples: the window's sample count. */
  count?: number;
  /** Grains: the transfer this data write belongs to. */
  group?: TransferGroup;
  /** A liveness probe (zero bytes, no immediate), not part of any transfer. */
  probe?: boolean;
  /** Grains: the commit write's scratch header, released on completion. */
  scratch?: number;
}

export class WriteQueue {
  private readonly inflight = new Map<number, Write>();
  private queue: Write[] = [];
  private seq = 0;
  private probes = 0;
  /** Writes the provider refused with FI_EAGAIN so far (each stays queued). */
  deferred = 0;

  /** Writes queued or in flight. */
  get size(): number { return this.inflight.size + this.queue.length; }
  /** Of those, the ones that carry media (not liveness probes). */
  get transfers(): number { return this.size - this.probes; }
  get inFlight(): number { return this.inflight.size; }
  get queued(): number { return this.queue.length; }

  push(w: Write): void {
    if (w.probe) this.probes++;
    this.queue.push(w);
  }

  /**
   * Posts queued writes in order, at most `budget` (room left in the completion queue),
   * until the provider says EAGAIN. `canPost`, when given, is asked before each write;
   * false stops with PEER_GONE. Returns 0, or the first failing status (the queue is then
   * left as it is: the peer is being torn down).
   */
  flush(ep: NativeEndpoint, dest: bigint, ctxHigh: bigint, budget = Infinity, canPost?: () => boolean): number {
    let i = 0;
    let rc = 0;
    const n = Math.min(this.queue.length, Math.max(0, budget));
    for (; i < n; i++) {
      const w = this.queue[i];
      if (canPost && !canPost()) {
        rc = PEER_GONE;
        break;
      }
      // Bit 31 of the low word is the native follow loop's (engine/native-follow.ts).
      const seq = (this.seq = (this.seq + 1) & 0x7fffffff);
      rc = ep.write(w.segs, dest, w.remoteAddr, w.rkey, w.immediate, FI.DELIVERY_COMPLETE, (ctxHigh << 32n) | BigInt(seq));
      if (rc === EAGAIN) {
        this.deferred++;
        rc = 0;
        break;
      }
      if (rc !== 0) break;
      this.inflight.set(seq, w);
    }
    if (i > 0) this.queue.splice(0, i);
    return rc;
  }

  /** The write a completion with this sequence number belongs to (removed from the table). */
  take(seq: number): Write | undefined {
    const w = this.inflight.get(seq);
    this.inflight.delete(seq);
    if (w?.probe) this.probes--;
    return w;
  }

  /** The oldest write still in flight. */
  oldest(): Write | undefined { return this.inflight.values().next().value; }

  /** Forgets every write; returns them (so scratch buffers can be released). */
  clear(): Write[] {
    const all = [...this.inflight.values(), ...this.queue];
    this.inflight.clear();
    this.queue = [];
    this.probes = 0;
    return all;
  }
}
